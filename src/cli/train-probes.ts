/**
 * `riverbed train --probe NAME[:every=N] … [--probe-size N]`: probes measured along the run on a
 * fixed probe batch (curvature/train-probes.ts), written into the run directory (--run, else
 * --record) as probes.json and one plot per probe, and kept in checkpoints.
 */
import { join } from 'node:path';
import type { Backend } from '../backends/backend.js';
import { type ProbeSpec, TrainProbes, parseProbe } from '../curvature/train-probes.js';
import type { Dataset } from '../data/dataset.js';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { makeOutputDir } from '../io/output-plan.js';
import type { Mlp } from '../model/mlp.js';
import { Rng } from '../model/rng.js';
import { type LinePlot, writePlot } from '../plot/index.js';

export const PROBE_FILE = 'probes.json';
const PLOTTED: Record<string, { key: string; label: string }> = {
  loss: { key: 'loss', label: 'probe-batch loss' },
  gradnorm: { key: 'gradNorm', label: '‖∇L‖ on the probe batch' },
  sharpness: { key: 'lambdaMax', label: 'λ_max of the probe-batch Hessian' },
  rankme: { key: 'rankme', label: 'RankMe' },
  alphareq: { key: 'alpha', label: 'α-ReQ (eigenspectrum decay α)' },
};

/** The steps at which the update was longer than the ghosts radius (‖Δθ‖ > ρ). */
export function exceededSteps(probes: TrainProbes): number[] {
  return probes.records.filter((r) => r.probe === 'ghosts' && r.values.exceeded === 1).map((r) => r.step);
}

/** The plot of one probe's series. */
function probePlot(probes: TrainProbes, s: ProbeSpec): LinePlot {
  const rs = probes.records.filter((r) => r.probe === s.name);
  const step = rs.map((r) => r.step);
  const every = `every ${s.every} steps`;
  if (s.name === 'ghosts') {
    const over = rs.filter((r) => r.values.exceeded === 1);
    return {
      title: `ghosts-of-softmax radius vs update size (${every}; ▲ update > ρ at ${over.length} of ${rs.length})`,
      xLabel: 'optimizer step',
      yLabel: 'parameter-space distance',
      yScale: 'log',
      series: [
        { name: 'ρ = π / max spread of J·u', x: step, y: rs.map((r) => r.values.rho ?? NaN) },
        { name: '‖Δθ‖ (the update)', x: step, y: rs.map((r) => r.values.updateNorm!) },
        { name: 'update > ρ', x: over.map((r) => r.step), y: over.map((r) => r.values.updateNorm!), pointsOnly: true },
      ],
    };
  }
  if (s.name === 'cond') {
    const names = [...new Set(rs.flatMap((r) => Object.keys(r.values)).filter((k) => k.startsWith('sigmaMax:')).map((k) => k.slice('sigmaMax:'.length)))];
    return {
      title: `condition number σ_max/σ_min of each weight (${every})`,
      xLabel: 'optimizer step',
      yLabel: 'σ_max / σ_min',
      yScale: 'log',
      series: names.map((n) => ({ name: n, x: step, y: rs.map((r) => r.values[`cond:${n}`] ?? NaN) })),
    };
  }
  const p = PLOTTED[s.name]!;
  const layer = s.name === 'rankme' || s.name === 'alphareq' ? ` of layer ${rs[0]?.values.layer ?? '?'}` : '';
  return { title: `${p.label}${layer} (${every})`, xLabel: 'optimizer step', yLabel: p.label, series: [{ name: s.name, x: step, y: rs.map((r) => r.values[p.key] ?? NaN) }] };
}

/** The files --probe writes into the directory. */
export function probeFiles(specs: readonly ProbeSpec[]): string[] {
  return [PROBE_FILE, ...specs.flatMap((s) => [`probe-${s.name}.svg`, `probe-${s.name}.png`])];
}

export function collectProbe(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/** Parses the --probe flags (none: undefined); a directory to write into is required. */
export function probeSpecs(flags: readonly string[] | undefined, dir: string | undefined): ProbeSpec[] | undefined {
  if (!flags || flags.length === 0) return undefined;
  const specs = flags.flatMap((f) => f.split(',')).map((f) => parseProbe(f));
  if (new Set(specs.map((s) => s.name)).size !== specs.length) fail('E_ARG', `a probe is given twice: ${flags.join(', ')}`, { field: '--probe' });
  if (dir === undefined) fail('E_ARG', 'probes are written into the run directory: give --run DIR or --record DIR', { field: '--probe' });
  return specs;
}

/** The probe batch: `size` training rows chosen by Rng.derive(seed, "probe"), uploaded; fixed for the run. */
export function probeBatch(backend: Backend, train: Dataset, size: number, seed: number): { x: ReturnType<Backend['upload']>; labels: ReturnType<Backend['uploadInt']>; y: Int32Array; rows: Int32Array } {
  const n = Math.min(size, train.count);
  const rows = Rng.derive(seed, 'probe').permutation(train.count).subarray(0, n).sort();
  const D = train.features;
  const xs = new Float32Array(n * D);
  const y = new Int32Array(n);
  rows.forEach((r, i) => {
    xs.set(train.inputs.subarray(r * D, (r + 1) * D), i * D);
    y[i] = train.labels[r]!;
  });
  return { x: backend.upload(xs, [n, D]), labels: backend.uploadInt(y, [n]), y, rows: Int32Array.from(rows) };
}

export function makeProbes(model: Mlp, batch: ReturnType<typeof probeBatch>, specs: ProbeSpec[], seed: number): TrainProbes {
  return new TrainProbes(model, { x: batch.x, labels: batch.labels }, batch.y, specs, { seed });
}

/** probes.json and a plot per probe into dir. */
export async function writeProbes(dir: string, probes: TrainProbes, info: Record<string, unknown>): Promise<string[]> {
  const made = makeOutputDir(dir);
  try {
    const out: string[] = [];
    for (const s of probes.specs) {
      const paths = await writePlot(probePlot(probes, s), join(dir, `probe-${s.name}`));
      out.push(paths.svg, paths.png);
    }
    const ghosts = probes.specs.some((s) => s.name === 'ghosts') ? { ghosts: { exceededSteps: exceededSteps(probes) } } : {};
    writeFileAtomic(join(dir, PROBE_FILE), JSON.stringify({ format: 'riverbed.probes', version: 1, ...info, probes: probes.specs, ...ghosts, records: probes.records }, null, 1) + '\n');
    return [join(dir, PROBE_FILE), ...out];
  } catch (e) {
    made.undo();
    throw e;
  }
}
