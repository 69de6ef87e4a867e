/**
 * `riverbed bench`: times riverbed's kernels on this machine and backend, against limits measured
 * here, and reports in a JSON format (`riverbed.bench` v1) meant to be compared across machines.
 * The Python peers of the repository's own benchmarks (bench/) are not part of the package.
 */
import type { Backend, BackendChoice } from '../backends/backend.js';
import { fail } from '../errors.js';
import { type MachineInfo, machineInfo } from './machine.js';
import { BENCH_NAMES, type BenchName, type BenchResult, type BenchSize, type Limits, SIZES, SUITES, measureLimits } from './suites.js';
import type { TimingOptions } from './timing.js';

export { BENCH_NAMES, BENCH_SIZES, type BenchName, type BenchResult, type BenchSize, type Limit, type Limits, hvpFlops, trainEpochFlops } from './suites.js';
export { type Timing, type TimingOptions, timeCalls } from './timing.js';
export type { MachineInfo } from './machine.js';

export interface BenchReport {
  format: 'riverbed.bench';
  version: 1;
  date: string;
  machine: MachineInfo;
  /** Which backend ran the kernels, and why (the choice `auto` made). */
  backend: { name: string; reason: string };
  size: BenchSize;
  timing: Required<TimingOptions>;
  limits: Limits;
  results: BenchResult[];
}

export interface BenchOptions {
  /** Benchmarks to run, in this order (default all). */
  which?: readonly BenchName[];
  backend?: BackendChoice;
  size?: BenchSize;
  timing?: TimingOptions;
  /** Called after each result (progress for a person). */
  onResult?: (r: BenchResult, limits: Limits) => void;
  onLimits?: (limits: Limits, machine: MachineInfo) => void;
}

export async function runBench(o: BenchOptions = {}): Promise<BenchReport> {
  const which = o.which ?? BENCH_NAMES;
  for (const w of which) if (!(BENCH_NAMES as readonly string[]).includes(w)) fail('E_ARG', `unknown benchmark "${w}"; expected ${BENCH_NAMES.join(', ')} or all`, { field: 'benchmark' });
  const size = o.size ?? 'default';
  if (!(size in SIZES)) fail('E_ARG', `unknown size "${size}"; expected ${Object.keys(SIZES).join(' or ')}`, { field: '--size' });
  const timing = { maxTime: o.timing?.maxTime ?? 2, minSamples: o.timing?.minSamples ?? 5 };
  if (!(timing.maxTime > 0 && Number.isFinite(timing.maxTime))) fail('E_ARG', `the time per measurement must be a positive number of seconds, got ${timing.maxTime}`, { field: '--time' });
  if (!(Number.isInteger(timing.minSamples) && timing.minSamples >= 1)) fail('E_ARG', `the fewest samples must be an integer ≥ 1, got ${timing.minSamples}`, { field: '--min-samples' });

  const { selectBackend, createBackend } = await import('../backends/select.js');
  const { nativeAvailability } = await import('../backends/native/host.js');
  const selected = await selectBackend(o.backend ?? 'auto');
  const b = selected.backend;
  // The limits are the machine's (the addon), whichever backend runs the kernels.
  const na = nativeAvailability();
  let native: Backend | undefined;
  try {
    native = b.name === 'native' ? b : na.available ? await createBackend('native') : undefined;
    const machine = machineInfo(b.info());
    const limits = await measureLimits(size, timing, native, na.available ? undefined : na.reason);
    o.onLimits?.(limits, machine);
    const results: BenchResult[] = [];
    for (const w of which) {
      for (const r of await SUITES[w](b, size, timing)) {
        const lim = r.limit ? limits[r.limit] : undefined;
        if (lim) r.ofLimit = r.throughput.value / lim.value;
        results.push(r);
        o.onResult?.(r, limits);
      }
    }
    return { format: 'riverbed.bench', version: 1, date: new Date().toISOString(), machine, backend: { name: b.name, reason: selected.reason }, size, timing, limits, results };
  } finally {
    if (native && native !== b) native.dispose();
    b.dispose();
  }
}

const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : v >= 1 ? `${v.toFixed(v >= 100 ? 0 : 2)} ms` : `${(v * 1000).toFixed(1)} µs`);
const num = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const pct = (f: number) => (f >= 0.1 ? (100 * f).toFixed(0) : (100 * f).toPrecision(2));

/** One line per machine limit. */
export function formatLimits(l: Limits, m: MachineInfo): string {
  const native = m.native.available ? `addon ${m.native.threads} threads, ${m.native.isa}` : `no addon (${m.native.reason})`;
  const head = `${m.cpu}, ${m.cores} cores${m.cpuFlags.length ? ` (${m.cpuFlags.join(' ')})` : ''}; ${native}; ${m.backend.description}; node ${m.node}, riverbed ${m.riverbed}`;
  if (l.unavailable) return `${head}\nlimits: ${l.unavailable}`;
  const line = (name: string, x: NonNullable<Limits['streamRead']>) => `  ${name}: ${num(x.value)} ${x.unit} (${x.how}; ${ms(x.timing.meanMs)} ±${x.timing.rme.toFixed(1)} %)`;
  return `${head}\nlimits measured here:\n${line('streaming read', l.streamRead!)}\n${line('GEMM peak', l.gemmPeak!)}`;
}

/** One line per result. */
export function formatResult(r: BenchResult): string {
  const cfg = Object.entries(r.config).map(([k, v]) => `${k} ${v}`).join(', ');
  const t = r.timing;
  const per = r.samplesPerSecond !== undefined ? `, ${num(r.samplesPerSecond / 1000)} k samples/s` : '';
  const of = r.ofLimit !== undefined ? ` = ${pct(r.ofLimit)} % of the ${r.limit === 'gemmPeak' ? 'GEMM peak' : 'streaming read'}` : '';
  return `${r.name.padEnd(10)} ${ms(t.meanMs)} ±${t.rme.toFixed(1)} % (${t.samples} samples × ${t.callsPerSample}; best ${ms(t.minMs)}) → ${num(r.throughput.value)} ${r.throughput.unit}${of}${per}  [${cfg}]`;
}
