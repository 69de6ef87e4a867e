/**
 * `riverbed coreset stability`: how reproducible a method's ranking is. Scores every given recorded
 * run with one method and reports Spearman ρ, Kendall τ-b and top-k Jaccard overlaps for
 *   --compare runs         every pair of runs (different seeds, or different architectures)
 *   --compare checkpoints  within each run: scores from the epochs ≤ --upto (default E/2) vs all
 * Runs are matched sample by sample through `train_indices.npy` (original dataset index): runs with
 * different splits are compared on the samples they share (`n` in the report).
 */
import type { Command } from 'commander';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import type { Backend } from '../backends/backend.js';
import { type MethodParams, type RecordedRun, type ScoreMethodName, loadRecordedRun, methodNeeds, methodScores, parseMethodName } from '../coreset/methods.js';
import { pickRows } from '../coreset/recorded.js';
import { type Agreement, agreement } from '../coreset/stability.js';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { runManifest } from '../io/manifest.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { optionalInt, parseDecimal } from './options.js';

interface StabilityCliOptions {
  method: string;
  run?: string[];
  compare: string;
  upto?: string;
  fractions: string;
  epochs?: string;
  window?: string;
  seed?: string;
  out?: string;
  json?: boolean;
  backend: string;
}

/** The run cut to the checkpoints up to epoch `upTo` (an "init" row stays). */
export function truncateRun(run: RecordedRun, upTo: number): RecordedRun {
  const rows: number[] = [];
  run.checkpoints.forEach((c, r) => {
    if (c === 'init' || c <= upTo) rows.push(r);
  });
  const cut = <T extends Float32Array | Float64Array | Uint8Array>(a: T | undefined, n: number) => (a ? pickRows(a, n, rows) : undefined);
  const t = run.train;
  const out: RecordedRun = {
    ...run,
    checkpoints: rows.map((r) => run.checkpoints[r]!),
    train: { ...t, loss: cut(t.loss, t.samples), correct: cut(t.correct, t.samples), margin: cut(t.margin, t.samples), errorNorm: cut(t.errorNorm, t.samples) },
  };
  if (run.val) out.val = { ...run.val, loss: cut(run.val.loss, run.val.samples) };
  return out;
}

/** The scores of the samples two runs share (by original dataset index), in a's order. */
export function aligned(sa: Float32Array, ia: Int32Array, sb: Float32Array, ib: Int32Array, da: string, db: string): [Float32Array, Float32Array] {
  const pos = new Map<number, number>();
  ib.forEach((v, k) => pos.set(v, k));
  const x: number[] = [];
  const y: number[] = [];
  ia.forEach((v, k) => {
    const m = pos.get(v);
    if (m !== undefined) {
      x.push(sa[k]!);
      y.push(sb[m]!);
    }
  });
  if (x.length < 2) fail('E_SHAPE', `${da} and ${db} share ${x.length} recorded samples (by train_indices.npy); nothing to compare`, { field: '--run' });
  return [Float32Array.from(x), Float32Array.from(y)];
}

function parseFractions(s: string): number[] {
  const f = s.split(',').map((x) => parseDecimal(x, '--fractions', 'comma-separated fractions in (0, 1]'));
  if (f.length === 0 || f.some((x) => !(x > 0 && x <= 1))) fail('E_ARG', `expected comma-separated fractions in (0, 1], got "${s}"`, { field: '--fractions' });
  return f;
}


export interface StabilityReport {
  format: 'riverbed.stability';
  version: 1;
  method: string;
  compare: 'runs' | 'checkpoints';
  pairs: ({ a: string; b: string } & Agreement)[];
  manifest: ReturnType<typeof runManifest>;
}

export async function runStability(o: StabilityCliOptions): Promise<StabilityReport> {
  const method = parseMethodName(o.method, '--method');
  if (method === 'ccs') fail('E_ARG', 'ccs is a sampler, not a score; compare the score it stratifies (--method aum, cld, …)', { field: '--method' });
  const runs = o.run ?? [];
  const compare = o.compare;
  if (compare !== 'runs' && compare !== 'checkpoints') fail('E_ARG', `expected runs or checkpoints, got "${compare}"`, { field: '--compare' });
  if (compare === 'runs' && runs.length < 2) fail('E_ARG', '--compare runs needs at least two --run directories', { field: '--run' });
  if (runs.length < 1) fail('E_ARG', 'give at least one --run DIR', { field: '--run' });
  const fractions = parseFractions(o.fractions);
  const params: MethodParams = { epochs: optionalInt(o.epochs, '--epochs', 1), window: optionalInt(o.window, '--window', 2), seed: optionalInt(o.seed, '--seed', 0) };
  const upto = optionalInt(o.upto, '--upto', 1);
  checkOutputPlan({ inputs: runs.map((path) => ({ flag: '--run', path })), files: [{ flag: '--out', path: o.out }] });
  const loaded: RecordedRun[] = [];
  for (const dir of runs) loaded.push(await loadRecordedRun(dir, methodNeeds(method, params)));
  // original dataset index of every recorded column: runs are compared on the samples they share
  // (loadRecordedRun reads train_indices.npy: any row up to 2^31 − 1, no label-sized limit)
  const ids = loaded.map((r) => r.train.indices ?? Int32Array.from({ length: r.train.samples }, (_, i) => i));
  let backend: Backend | undefined;
  try {
    if (methodNeeds(method, params).val.length) backend = (await selectBackend(parseBackendChoice(o.backend))).backend;
    const p = { ...params, backend };
    const keep = method === 'aum' ? 'lowest' : 'highest';
    const pairs: StabilityReport['pairs'] = [];
    if (compare === 'runs') {
      const scores = [];
      for (const r of loaded) scores.push((await methodScores(method as ScoreMethodName, r, p)).scores);
      for (let i = 0; i < loaded.length; i++) {
        for (let j = i + 1; j < loaded.length; j++) {
          const [x, y] = aligned(scores[i]!, ids[i]!, scores[j]!, ids[j]!, runs[i]!, runs[j]!);
          pairs.push({ a: runs[i]!, b: runs[j]!, ...agreement(x, y, keep, fractions) });
        }
      }
    } else {
      for (const [j, r] of loaded.entries()) {
        const epochs = r.checkpoints.filter((c) => c !== 'init').length;
        const u = upto ?? Math.floor(epochs / 2);
        if (u < 1 || u >= epochs) fail('E_ARG', `--upto must be in 1..${epochs - 1} for ${runs[j]} (${epochs} epochs), got ${u}`, { field: '--upto' });
        const part = await methodScores(method as ScoreMethodName, truncateRun(r, u), p);
        const all = await methodScores(method as ScoreMethodName, r, p);
        pairs.push({ a: `${runs[j]}@epochs≤${u}`, b: `${runs[j]}@all ${epochs}`, ...agreement(part.scores, all.scores, keep, fractions) });
      }
    }
    const parameters = { method, compare, fractions, upto: upto ?? null, ...params };
    const report: StabilityReport = { format: 'riverbed.stability', version: 1, method, compare, pairs, manifest: runManifest({ parameters, inputs: runs, backend: backend?.name ?? null, seeds: params.seed !== undefined ? [params.seed] : [] }) };
    if (o.out) writeFileAtomic(o.out, JSON.stringify(report, null, 2) + '\n');
    return report;
  } finally {
    backend?.dispose();
  }
}

function printReport(r: StabilityReport): void {
  const lines = [`${r.method} stability (${r.compare}):`];
  for (const p of r.pairs) {
    const top = p.topJaccard.map((t) => `top ${(100 * t.fraction).toFixed(0)}% J=${t.jaccard.toFixed(3)}`).join(', ');
    lines.push(`  ${p.a}  vs  ${p.b}: Spearman ${p.spearman.toFixed(4)}, Kendall τ-b ${p.kendall.toFixed(4)}, ${top}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

export function registerCoresetStability(coreset: Command): void {
  coreset
    .command('stability')
    .description('rank agreement (Spearman, Kendall τ-b, top-k Jaccard) of a method\'s scores across runs (seeds, architectures) or checkpoint subsets')
    .requiredOption('--method <name>', 'cld | random | forgetting | el2n | aum | dynunc')
    .option('--run <DIR...>', 'recorded runs (riverbed train --record DIR) of the same samples')
    .option('--compare <what>', 'runs (every pair of runs) | checkpoints (epochs ≤ --upto vs all, per run)', 'runs')
    .option('--upto <epoch>', 'with --compare checkpoints: the early subset ends at this epoch (default E/2)')
    .option('--fractions <list>', 'top-k overlaps at these fractions of N', '0.01,0.1,0.3')
    .option('--epochs <k>', 'el2n: first k epochs')
    .option('--window <J>', 'dynunc: window J')
    .option('--seed <n>', 'random: seed')
    .option('--out <path>', 'write the report JSON (format riverbed.stability, with a run manifest)')
    .option('--backend <name>', 'cld: auto | js | native | webgpu', 'auto')
    .option('--json', 'print the report as JSON')
    .action(async (o: StabilityCliOptions) => {
      const r = await runStability(o);
      if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
      else printReport(r);
    });
}
