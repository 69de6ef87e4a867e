import type { Command } from 'commander';
import { fail } from '../errors.js';

// PLACEHOLDER: being written in this session; replaced before the release.
export function registerDoctor(program: Command): void {
  program.command('doctor').description('(not yet built)').action(() => fail('E_INTERNAL', 'doctor is not built yet'));
}
