import type { Command } from 'commander';
import { fail } from '../errors.js';

// PLACEHOLDER: being written in this session; replaced before the release.
export function registerCoreset(program: Command): void {
  program.command('coreset').description('(not yet built)').action(() => fail('E_INTERNAL', 'coreset is not built yet'));
}
