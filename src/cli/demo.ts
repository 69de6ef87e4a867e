import type { Command } from 'commander';
import { fail } from '../errors.js';

// PLACEHOLDER: being written in this session; replaced before the release.
export function registerDemo(program: Command): void {
  program.command('demo').description('(not yet built)').action(() => fail('E_INTERNAL', 'demo is not built yet'));
}
