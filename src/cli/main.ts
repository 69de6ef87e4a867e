#!/usr/bin/env node
/**
 * The `riverbed` command. Each subcommand lives in its own file and registers itself here.
 * Any RiverbedError becomes one line on stderr and exit code 2; anything else is a bug (exit 70).
 */
import { Command } from 'commander';
import { checkNativeEnvironment } from '../backends/native/host.js';
import { RiverbedError } from '../errors.js';
import { progressEveryFromEnv } from './numbers.js';
import { VERSION } from '../version.js';

/** Registers a subcommand; `argv` lets a command group load only the member being run. */
type Register = (program: Command, argv: string[]) => void | Promise<void>;

/**
 * Subcommand modules, imported on demand: `riverbed coreset …` must not pay for loading the
 * model engine and datasets that `demo` needs (start-up time is part of the CLI benchmark).
 */
const SUBCOMMANDS: Record<string, () => Promise<Register>> = {
  coreset: async () => (await import('./coreset.js')).registerCoreset,
  train: async () => (await import('./train.js')).registerTrain,
  demo: async () => (await import('./demo.js')).registerDemo,
  hvp: async () => (await import('./hvp.js')).registerHvp,
  hessian: async () => (await import('./hessian.js')).registerHessian,
  doctor: async () => (await import('./doctor.js')).registerDoctor,
  schedule: async () => (await import('./schedule.js')).registerSchedule,
  unlearn: async () => (await import('./unlearn.js')).registerUnlearn,
  audit: async () => (await import('./audit.js')).registerAudit,
  landscape: async () => (await import('./landscape.js')).registerLandscape,
  continual: async () => (await import('./continual.js')).registerContinual,
  report: async () => (await import('./report.js')).registerReport,
  bench: async () => (await import('./bench.js')).registerBench,
};

/** The program with the subcommand named in argv registered, or all of them (help, unknown). */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('riverbed')
    .description('Training dynamics of neural networks as tools: CLD coresets, loss trajectories, curvature.')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  const named = argv[2];
  const wanted = named !== undefined && named in SUBCOMMANDS ? [named] : Object.keys(SUBCOMMANDS);
  for (const name of wanted) await (await SUBCOMMANDS[name]!())(program, argv);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    checkNativeEnvironment(); // a bad RIVERBED_THREADS/ISA/NATIVE_POOL_MB stops every command, not only those that load the addon
    progressEveryFromEnv(); // likewise a bad RIVERBED_PROGRESS_EVERY, before an hour of work
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
