#!/usr/bin/env node
/**
 * The `riverbed` command. Each subcommand lives in its own file and registers itself here.
 * Any RiverbedError becomes one line on stderr and exit code 2; anything else is a bug (exit 70).
 */
import { Command } from 'commander';
import { RiverbedError } from '../errors.js';
import { registerCoreset } from './coreset.js';
import { registerDemo } from './demo.js';
import { registerDoctor } from './doctor.js';
import { registerTrain } from './train.js';
import { VERSION } from '../version.js';

export function buildProgram(): Command {
  const program = new Command('riverbed')
    .description('Training dynamics of neural networks as tools: CLD coresets, loss trajectories, curvature.')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  registerCoreset(program);
  registerTrain(program);
  registerDemo(program);
  registerDoctor(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof RiverbedError) {
      process.stderr.write(`riverbed: error [${err.code}] ${err.message}\n`);
      return 2;
    }
    const code = (err as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      // commander already printed help / version / the usage error.
      const exitCode = (err as { exitCode?: number }).exitCode ?? 1;
      return exitCode;
    }
    process.stderr.write(`riverbed: internal error: ${(err as Error).stack ?? String(err)}\n`);
    return 70;
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
