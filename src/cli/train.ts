import type { Command } from 'commander';
import { fail } from '../errors.js';

// PLACEHOLDER: being written in this session; replaced before the release.
export function registerTrain(program: Command): void {
  program.command('train').description('(not yet built)').action(() => fail('E_INTERNAL', 'train is not built yet'));
}
