/**
 * Sections of the evaluation harnesses and the curvature report: `coreset evaluate --out DIR`
 * (evaluation.json), `unlearn evaluate --out DIR` (unlearning.json), `continual --out DIR`
 * (continual.json) and `hessian --out report.json` (eigenvalues, trace, density). The pictures are
 * the ones the commands draw — the coreset and unlearning plot specs are the harnesses' own
 * (coreset/evaluate/report.ts, unlearn/report.ts), after every field they read has been checked.
 */
import { evaluationPlot } from '../coreset/evaluate/report.js';
import type { EvaluationResult } from '../coreset/evaluate.js';
import { dirname, join } from 'node:path';
import { RiverbedError } from '../errors.js';
import { describeModel, parseModelDescription } from '../model/description.js';
import type { Series } from '../plot/index.js';
import { SUMMARY_KEYS, type HarnessResult } from '../unlearn/evaluate.js';
import { harnessPlot } from '../unlearn/report.js';
import { type FieldReader, fieldReader } from './fields.js';
import { manifestTables } from './generic.js';
import { type Cell, type Figure, type Section, type Table, fmt, keyValues, pm } from './model.js';

function model(f: FieldReader, j: unknown, path: string): string {
  try {
    return describeModel(parseModelDescription(f.get(j, path), `${f.file} (${path})`));
  } catch (e) {
    if (e instanceof RiverbedError) f.bad(path, e.message);
    throw e;
  }
}

/** The command's own pictures beside its JSON, which the section draws again from the numbers. */
const pictures = (file: string, names: string[]) => names.flatMap((n) => ['svg', 'png'].map((e) => ({ path: join(dirname(file), `${n}.${e}`), how: 'drawn again from the JSON' })));

const fraction = (x: number) => `${+(100 * x).toPrecision(4)} %`;

// ---- coreset evaluate -------------------------------------------------------------------------

export function evaluationSection(file: string, j: Record<string, unknown>): Section {
  const f = fieldReader(file, 'a riverbed.evaluation result (riverbed coreset evaluate --out DIR)');
  const methods = f.strs(j, 'methods');
  const fractions = f.nums(j, 'fractions');
  const seeds = f.nums(j, 'seeds');
  const data = f.str(j, 'dataset.name');
  const figures: Figure[] = [];
  const tables: Table[] = [];
  const archs = (['source', 'transfer'] as const).filter((a) => a === 'source' || f.has(j, a));
  for (const a of archs) {
    const arch = model(f, j, `${a}.model`);
    const cells = f.arr(j, `${a}.cells`).map((_, i) => {
      const at = `${a}.cells[${i}]`;
      return {
        method: f.str(j, `${at}.method`),
        fraction: f.num(j, `${at}.fraction`),
        size: f.num(j, `${at}.size`),
        steps: f.num(j, `${at}.steps`),
        mean: f.num(j, `${at}.summary.mean`, { nullable: true }),
        std: f.num(j, `${at}.summary.std`, { nullable: true }),
        vs: f.has(j, `${at}.vsRandom`) ? { mean: f.num(j, `${at}.vsRandom.mean`, { nullable: true }), std: f.num(j, `${at}.vsRandom.std`, { nullable: true }) } : undefined,
      };
    });
    const cell = (m: string, fr: number) => cells.find((c) => c.method === m && c.fraction === fr) ?? f.bad(`${a}.cells`, `has no cell for method ${m} at fraction ${fr}`);
    for (const m of methods) for (const fr of fractions) cell(m, fr);
    const full = { mean: f.num(j, `${a}.full.summary.mean`, { nullable: true }), std: f.num(j, `${a}.full.summary.std`, { nullable: true }) };
    const title = a === 'source' ? `${data}: coreset test accuracy (${arch}, ${seeds.length} seeds, mean ± std)` : `${data}: transfer — ${model(f, j, 'source.model')} selects, ${arch} retrains`;
    figures.push({ title, line: evaluationPlot(j as unknown as EvaluationResult, (j as unknown as EvaluationResult)[a]!, title) });
    const rows: Cell[][] = methods.map((m) => [m, ...fractions.map((fr) => pm(100 * cell(m, fr).mean, 100 * cell(m, fr).std, 2, seeds.length))]);
    rows.push([`all data`, pm(100 * full.mean, 100 * full.std, 2, seeds.length), ...fractions.slice(1).map(() => '')]);
    rows.push(['coreset size', ...fractions.map((fr) => cell(methods[0]!, fr).size)], ['retraining steps', ...fractions.map((fr) => cell(methods[0]!, fr).steps)]);
    tables.push({ caption: `Test accuracy (%), ${a === 'source' ? `${arch} selects and retrains` : `retrained as ${arch}`}`, head: ['method', ...fractions.map(fraction)], rows });
    if (methods.includes('random')) {
      tables.push({
        caption: `Paired difference to random (points, same seed and initialisation)${a === 'transfer' ? ', transfer' : ''}`,
        head: ['method', ...fractions.map(fraction)],
        rows: methods.filter((m) => m !== 'random').map((m) => [m, ...fractions.map((fr) => { const v = cell(m, fr).vs; return v ? `${v.mean >= 0 ? '+' : '−'}${pm(Math.abs(100 * v.mean), 100 * v.std, 2, seeds.length)}` : '—'; })]),
      });
    }
  }
  tables.push(keyValues('Settings', j, ['format', 'version', 'methods', 'fractions', 'source', 'transfer', 'manifest']));
  tables.push(...manifestTables(f, j));
  return {
    title: 'Coreset evaluation',
    file,
    format: 'riverbed.evaluation',
    summary: `${methods.length} methods × ${fractions.length} fractions × ${seeds.length} seeds on ${data}: every coreset retrained with the same number of steps, test accuracy reported.`,
    figures,
    tables,
    raw: [{ file, json: j }],
    uses: pictures(file, archs.map((a) => (a === 'source' ? 'evaluation' : 'transfer'))),
  };
}

// ---- unlearn evaluate -------------------------------------------------------------------------

const UNLEARN_HEADS: Record<(typeof SUMMARY_KEYS)[number], [string, number]> = {
  ua: ['UA %', 2], ra: ['RA %', 2], ta: ['TA %', 2], forgetLoss: ['forget loss', 3], retainLoss: ['retain loss', 3], testLoss: ['test loss', 3],
  miaAuc: ['MIA AUC', 3], miaEfficacy: ['MIA-eff %', 1], klForget: ['KL forget', 3], klTest: ['KL test', 4], seconds: ['time s', 2], vsRetrain: ['× retrain', 2],
};

export function unlearningSection(file: string, j: Record<string, unknown>): Section {
  const f = fieldReader(file, 'an unlearning evaluation (riverbed unlearn evaluate --out DIR)');
  const seeds = f.nums(j, 'seeds');
  const data = f.str(j, 'dataset.name');
  const forget = f.strs(j, 'forget.description');
  const arch = model(f, j, 'model');
  const rows = f.arr(j, 'rows').map((_, i) => ({
    method: f.str(j, `rows[${i}].method`),
    s: Object.fromEntries(SUMMARY_KEYS.map((k) => [k, { mean: f.num(j, `rows[${i}].summary.${k}.mean`, { nullable: true }), std: f.num(j, `rows[${i}].summary.${k}.std`, { nullable: true }) }])),
  }));
  const title = `${data}, forget ${forget[0] ?? ''}: forget accuracy vs TA (${arch}, ${seeds.length} seeds)`;
  const table: Table = {
    caption: `Every method against retraining from scratch (mean ± std over ${seeds.length} seed${seeds.length > 1 ? 's' : ''})`,
    head: ['method', ...SUMMARY_KEYS.map((k) => UNLEARN_HEADS[k][0])],
    rows: rows.map((r) => [r.method, ...SUMMARY_KEYS.map((k) => (r.method === 'original' && (k === 'seconds' || k === 'vsRetrain') ? '—' : pm(r.s[k]!.mean, r.s[k]!.std, UNLEARN_HEADS[k][1], seeds.length)))]),
  };
  return {
    title: 'Unlearning evaluation',
    file,
    format: 'riverbed.unlearn-evaluation',
    summary: `Forget ${forget[0] ?? '?'} of ${data} from a ${arch} model; ${rows.length - 1} methods against retraining, ${seeds.length} seeds. UA = 100 − forget accuracy, RA retain accuracy, TA test accuracy on the retained classes, MIA AUC 0.5 = indistinguishable, KL to the retrained model.`,
    figures: [{ title, line: harnessPlot(j as unknown as HarnessResult, title) }],
    tables: [table, keyValues('Settings', j, ['format', 'version', 'rows', 'manifest', 'configs', 'model']), ...manifestTables(f, j)],
    raw: [{ file, json: j }],
    uses: pictures(file, ['unlearning']),
  };
}

// ---- continual ----------------------------------------------------------------------------------

const stat = (v: readonly number[]) => {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean, std: v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0 };
};

export function continualSection(file: string, j: Record<string, unknown>): Section {
  const f = fieldReader(file, 'a riverbed.continual result (riverbed continual --out DIR)');
  const tasks = f.strs(j, 'tasks');
  const methods = f.strs(j, 'methods');
  const seeds = f.nums(j, 'seeds');
  const T = tasks.length;
  if (T === 0) f.bad('tasks', 'is empty');
  const runs = f.arr(j, 'runs').map((_, i) => ({
    method: f.str(j, `runs[${i}].method`),
    accuracy: f.matrix(j, `runs[${i}].accuracy`, T, T),
    averageFinal: f.num(j, `runs[${i}].averageFinal`, { nullable: true }),
    forgetting: f.num(j, `runs[${i}].forgetting`, { nullable: true }),
    seconds: f.num(j, `runs[${i}].seconds`, { nullable: true }),
  }));
  for (const m of methods) if (!runs.some((r) => r.method === m)) f.bad('runs', `has no run of method ${m}`);
  // The command's two pictures, from the same numbers (cli/continual.ts).
  const x = Array.from({ length: T }, (_, i) => i + 1);
  const seen = (acc: number[][], i: number) => acc[i]!.slice(0, i + 1).reduce((a, b) => a + b, 0) / (i + 1);
  const series = (g: (acc: number[][], i: number) => number): Series[] =>
    methods.map((m) => {
      const rs = runs.filter((r) => r.method === m);
      const s = x.map((_, i) => stat(rs.map((r) => g(r.accuracy, i))));
      return { name: m, x, y: s.map((v) => v.mean), yErr: s.map((v) => v.std) };
    });
  const figures: Figure[] = [
    { title: 'Average accuracy on the tasks seen', line: { title: `Average test accuracy on the tasks seen so far (${seeds.length} seeds, ± std)`, xLabel: 'tasks trained', yLabel: 'accuracy', series: series(seen) } },
    { title: 'Accuracy on the first task', line: { title: `Test accuracy on task 1 (${tasks[0]}) after each task`, xLabel: 'tasks trained', yLabel: 'accuracy', series: series((acc, i) => acc[i]![0]!) } },
  ];
  const p = (s: { mean: number; std: number }) => pm(100 * s.mean, 100 * s.std, 1, seeds.length);
  const tables: Table[] = [{
    caption: `Per method (mean ± std over ${seeds.length} seed${seeds.length > 1 ? 's' : ''}; accuracy on the test splits, %)`,
    head: ['method', 'average final accuracy', 'forgetting (points)', 'last task, final', 'first task, final', 'seconds'],
    rows: methods.map((m) => {
      const rs = runs.filter((r) => r.method === m);
      return [m, p(stat(rs.map((r) => r.averageFinal))), p(stat(rs.map((r) => r.forgetting))), p(stat(rs.map((r) => r.accuracy[T - 1]![T - 1]!))), p(stat(rs.map((r) => r.accuracy[T - 1]![0]!))), fmt(rs.reduce((a, r) => a + r.seconds, 0))];
    }),
  }];
  for (const m of methods) {
    const rs = runs.filter((r) => r.method === m);
    tables.push({
      caption: `${m}: accuracy (%) on each task (columns) after training task i (rows), mean over seeds`,
      head: ['after', ...tasks],
      rows: tasks.map((t, i) => [`${i + 1}. ${t}`, ...tasks.map((_, k) => (100 * stat(rs.map((r) => r.accuracy[i]![k]!)).mean).toFixed(2))]),
    });
  }
  tables.push(keyValues('Settings', j, ['format', 'version', 'runs', 'summary', 'manifest']), ...manifestTables(f, j));
  return { title: 'Continual learning', file, format: 'riverbed.continual', summary: `Tasks ${tasks.join(' → ')}; ${methods.join(', ')}; ${seeds.length} seeds.`, figures, tables, raw: [{ file, json: j }], uses: pictures(file, ['accuracy', 'first-task']) };
}

// ---- hessian ------------------------------------------------------------------------------------

/** Density values below this fraction of the peak are drawn at it (as `hessian --plot` does). */
const LOG_FLOOR = 1e-8;

export function hessianSection(file: string, j: Record<string, unknown>): Section {
  const f = fieldReader(file, 'a riverbed.hessian report (riverbed hessian --out)');
  const size = f.num(j, 'size');
  const samples = f.num(j, 'samples');
  const kind = f.has(j, 'parameters.kind') ? String(f.get(j, 'parameters.kind')) : 'hessian';
  const what = kind === 'ggn' ? 'Gauss–Newton' : 'Hessian';
  const figures: Figure[] = [];
  const tables: Table[] = [];
  const key: Cell[][] = [];
  if (f.has(j, 'eigenvalues')) {
    const ev = f.nums(j, 'eigenvalues', { nullable: true });
    const res = f.nums(j, 'residuals', { length: ev.length, nullable: true });
    const top = f.num(j, 'eigen.top', { integer: true, min: 0 });
    tables.push({ caption: `Extreme eigenvalues (Lanczos; converged: ${String(f.get(j, 'eigen.converged'))}, ${fmt(f.num(j, 'eigen.matvecs'))} products)`, head: ['', 'eigenvalue', 'residual ‖Hx − θx‖'], rows: ev.map((v, i) => [i < top ? `top ${i + 1}` : `bottom ${ev.length - i}`, v, res[i]]) });
  }
  if (f.has(j, 'trace')) {
    const iv = f.nums(j, 'trace.interval', { length: 2, nullable: true });
    key.push([`trace (${f.str(j, 'trace.method')})`, f.num(j, 'trace.estimate', { nullable: true })], [`${fmt(100 * f.num(j, 'trace.confidence'))} % interval`, `[${fmt(iv[0])}, ${fmt(iv[1])}]`], ['trace: standard error', f.num(j, 'trace.stderr', { nullable: true })]);
  }
  if (f.has(j, 'lla')) key.push(['LLA ratio (smallest / largest eigenvalue)', f.num(j, 'lla.ratio', { nullable: true })]);
  key.push(['curvature-vector products', f.num(j, 'hvps')], ['seconds', f.num(j, 'seconds')]);
  if (f.has(j, 'density')) {
    const grid = f.nums(j, 'density.grid');
    const values = f.nums(j, 'density.values', { length: grid.length, nullable: true });
    const peak = Math.max(...values.filter(Number.isFinite));
    const probes = f.num(j, 'density.probes');
    const steps = f.num(j, 'density.steps');
    const sigma = f.num(j, 'density.sigma');
    const layer = f.get(j, 'parameters.layer');
    const title = `${what} spectral density (${size.toLocaleString('en')} parameters${Array.isArray(layer) ? `, layer ${layer.join(',')}` : ''}, ${samples} samples)`;
    figures.push({ title, line: { title, xLabel: 'eigenvalue', yLabel: `density (SLQ, ${probes} probes × ${steps} steps, σ = ${sigma.toPrecision(2)})`, yScale: 'log', series: [{ name: 'density', x: grid, y: values.map((v) => Math.max(v, peak * LOG_FLOOR)) }] } });
    key.push(['density: mass', f.num(j, 'density.mass', { nullable: true })], ['density: mean', f.num(j, 'density.mean', { nullable: true })], ['density: σ', sigma]);
  }
  if (f.has(j, 'errorBars')) {
    const comps = f.strs(j, 'errorBars.components');
    const rows = f.arr(j, 'errorBars.rows').map((_, i) => {
      const mean = f.nums(j, `errorBars.rows[${i}].mean`, { length: comps.length, nullable: true });
      const std = f.nums(j, `errorBars.rows[${i}].std`, { length: comps.length, nullable: true });
      return [f.num(j, `errorBars.rows[${i}].size`), ...comps.map((_, k) => `${fmt(mean[k])} ± ${fmt(std[k])}`), f.num(j, `errorBars.rows[${i}].relativeSpread`, { nullable: true })];
    });
    const rec = f.get(j, 'errorBars.recommendedSize');
    tables.push({ caption: `Error bars: ${f.num(j, 'errorBars.repeats')} repeats per subsample size; stable from ${rec === null ? '— (no size tried)' : fmt(rec as number)} samples`, head: ['samples', ...comps, 'relative spread'], rows });
  }
  tables.unshift({ caption: 'Key numbers', head: ['quantity', 'value'], rows: key });
  tables.push(keyValues('Parameters', f.obj(j, 'parameters')), keyValues('The run', j, ['format', 'version', 'parameters', 'eigenvalues', 'residuals', 'eigen', 'trace', 'density', 'lla', 'errorBars']));
  return { title: `${what} spectrum`, file, format: 'riverbed.hessian', summary: `${what} of the mean cross-entropy: ${size} parameters, ${samples} samples.`, figures, tables, raw: [{ file, json: j }] };
}
