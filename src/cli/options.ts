/**
 * Small helpers every subcommand shares: option parsers that fail with one-line E_ARG errors,
 * a progress bar (plain lines off a terminal), stderr notes, and a backend dispose that
 * tolerates a second call. Kept apart from the commands so that importing them loads nothing else.
 */
import { SingleBar } from 'cli-progress';
import type { Backend } from '../backends/backend.js';
import { fail } from '../errors.js';
import { parseDecimal, parseInteger, progressEveryFromEnv } from './numbers.js';
import { type ProgressBar, SILENT, progressLines } from './progress-lines.js';

export { parseDecimal, parseInteger, progressEveryFromEnv } from './numbers.js';
export { type ProgressBar, progressLines } from './progress-lines.js';

export function intOption(field: string, min = 1): (v: string) => number {
  return (v) => parseInteger(v, field, min);
}
export function numberOption(field: string, check: (n: number) => boolean, what: string): (v: string) => number {
  return (v) => {
    const n = parseDecimal(v, field, what);
    if (!check(n)) fail('E_ARG', `expected ${what}, got "${v}"`, { field });
    return n;
  };
}

/**
 * A cli-progress bar on stderr; off a terminal, a plain line now and then (`progressLines`);
 * nothing when `quiet` (--json).
 */
export function progressBar(label: string, quiet = false): ProgressBar {
  if (quiet) return SILENT;
  if (!process.stderr.isTTY) return progressLines(label, process.stderr, progressEveryFromEnv());
  const bar = new SingleBar({
    stream: process.stderr,
    format: `${label.padEnd(16)} {bar} {percentage}% | {value}/{total} | ETA {eta_formatted} {info}`,
    hideCursor: true,
    clearOnComplete: true,
    barsize: 30,
  });
  return {
    start: (total) => bar.start(total, 0, { info: '' }),
    update: (v, payload) => bar.update(v, payload ?? {}),
    stop: () => bar.stop(),
  };
}

/** The onProgress of a run whose total is known only at its first report: starts `bar` then. */
export function startOnFirstReport(bar: ProgressBar): (done: number, total: number, info: string) => void {
  let started = false;
  return (done, total, info) => {
    if (!started) {
      bar.start(total);
      started = true;
    }
    bar.update(done, { info });
  };
}

/** Prints a line on stderr (human progress notes; stdout stays for results). */
export function note(line: string): void {
  process.stderr.write(line + '\n');
}

/** An optional integer flag ≥ min (see `parseInteger`), or undefined when absent. */
export function optionalInt(v: string | undefined, flag: string, min: number): number | undefined {
  return v === undefined ? undefined : parseInteger(v, flag, min);
}

export function disposeQuietly(backend: Backend): void {
  try {
    backend.dispose();
  } catch {
    /* already disposed */
  }
}
