/**
 * In-process timing with Benchmark.js (the `benchmark` package): each measurement is a deferred
 * benchmark, so asynchronous work — a WebGPU dispatch and the wait for its result — is timed to
 * the moment the result is back on the host, not to the moment the call returned. Benchmark.js
 * chooses how many runs make a sample (enough to dwarf the timer's resolution), collects samples
 * until `maxTime` or `minSamples`, and gives the mean, the relative margin of error (95 %) and the
 * samples themselves.
 */
import { createRequire } from 'node:module';
import { fail } from '../errors.js';

/** What a measurement reports: per-call times in milliseconds. */
export interface Timing {
  /** Mean time of one call. */
  meanMs: number;
  /** Fastest sample's mean call time (the least disturbed by other work on the machine). */
  minMs: number;
  /** Relative margin of error of the mean at 95 %, in percent. */
  rme: number;
  /** Samples collected; each sample averages `callsPerSample` calls. */
  samples: number;
  callsPerSample: number;
  /** Every sample's mean call time. */
  sampleMs: number[];
}

export interface TimingOptions {
  /** Most seconds spent collecting samples (Benchmark.js `maxTime`), default 2. */
  maxTime?: number;
  /** Fewest samples (Benchmark.js `minSamples`), default 5. */
  minSamples?: number;
}

/** The slice of Benchmark.js's API used here (the package ships no types). */
interface BenchmarkJs {
  new (options: {
    name: string;
    defer: true;
    fn: (deferred: { resolve(): void }) => void;
    maxTime: number;
    minSamples: number;
    minTime?: number;
    delay?: number;
    initCount?: number;
  }): BenchmarkRun;
}
interface BenchmarkRun {
  on(event: 'complete' | 'error' | 'abort', fn: () => void): BenchmarkRun;
  run(options: { async: boolean }): BenchmarkRun;
  abort(): void;
  error?: unknown;
  count: number;
  stats: { mean: number; rme: number; sample: number[] };
}

let loaded: BenchmarkJs | undefined;
function benchmarkJs(): BenchmarkJs {
  // CommonJS; loaded on first use so that `riverbed --help` never pays for it (or lodash).
  loaded ??= createRequire(import.meta.url)('benchmark') as BenchmarkJs;
  return loaded;
}

/**
 * Times `call` (an async call that resolves once its result is complete: on a GPU, after the
 * read-back or `sync()`). One untimed call first warms caches, pipelines and JIT.
 */
export async function timeCalls(name: string, call: () => Promise<void>, options: TimingOptions = {}): Promise<Timing> {
  const maxTime = options.maxTime ?? 2;
  const minSamples = options.minSamples ?? 5;
  if (!(maxTime > 0)) fail('E_ARG', `the time per measurement must be > 0 s, got ${maxTime}`, { field: '--time' });
  await call();
  const Benchmark = benchmarkJs();
  let failure: unknown;
  const run = await new Promise<BenchmarkRun>((resolve) => {
    const b: BenchmarkRun = new Benchmark({
      name,
      defer: true,
      maxTime,
      minSamples,
      // A slow call (an HVP, a training epoch) is one call per sample; no pause between samples.
      delay: 0,
      fn: (deferred) => {
        call().then(
          () => deferred.resolve(),
          (err: unknown) => {
            failure = err;
            b.abort();
            deferred.resolve();
          },
        );
      },
    });
    b.on('complete', () => resolve(b)).on('error', () => resolve(b)).on('abort', () => resolve(b));
    b.run({ async: true });
  });
  if (failure !== undefined) throw failure;
  if (run.error !== undefined) fail('E_INTERNAL', `timing "${name}" failed: ${String((run.error as Error)?.message ?? run.error)}`);
  const sampleMs = run.stats.sample.map((s) => s * 1000);
  if (sampleMs.length === 0) fail('E_INTERNAL', `timing "${name}" collected no sample`);
  return {
    meanMs: run.stats.mean * 1000,
    minMs: Math.min(...sampleMs),
    rme: run.stats.rme,
    samples: sampleMs.length,
    callsPerSample: run.count,
    sampleMs,
  };
}
