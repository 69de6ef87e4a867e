/**
 * `riverbed coreset random|forgetting|el2n|aum|dynunc|ccs`: the baselines, from a recorded run
 * (`--run DIR`, what `riverbed train --record DIR` writes) or from single `.npy` files, with the
 * same outputs as `coreset cld` (selection JSON with `method` and a run manifest, `--scores`,
 * `--indices-npy`, `--json`) and the shared budget options. See docs/coreset-methods.md.
 */
import type { Command } from 'commander';
import type { Backend } from '../backends/backend.js';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import { type MethodName, type MethodParams, METHODS, type RecordedRun, type ScoreMethodName, loadRecordedRun, methodNeeds, methodSelect, parseMethodName, positionsOfRows } from '../coreset/methods.js';
import type { Metric, SplitArrays } from '../coreset/recorded.js';
import { fail } from '../errors.js';
import { runManifest } from '../io/manifest.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { readNpy } from '../io/npy.js';
import { loadLabels } from '../io/trajectory.js';
import { type BudgetCliOptions, addBudgetOptions, parseBudgetOptions, requireSelection } from './budget-options.js';
import { parseDecimal } from './numbers.js';
import { writeSelection } from './coreset-output.js';
import { optionalInt } from './options.js';

interface BaselineCliOptions extends BudgetCliOptions {
  run?: string;
  trainLabels?: string;
  trainLoss?: string;
  trainCorrect?: string;
  trainMargin?: string;
  trainErrorNorm?: string;
  valLoss?: string;
  valLabels?: string;
  out?: string;
  scores?: string;
  indicesNpy?: string;
  json?: boolean;
  seed?: string;
  epochs?: string;
  window?: string;
  over?: string;
  cutoff?: string;
  strata?: string;
  cut?: string;
  reverse?: boolean;
  backend: string;
}

const FILE_FLAG: Record<Metric, keyof BaselineCliOptions> = { loss: 'trainLoss', correct: 'trainCorrect', margin: 'trainMargin', errorNorm: 'trainErrorNorm' };
const FLAG_NAME: Record<Metric, string> = { loss: '--train-loss', correct: '--train-correct', margin: '--train-margin', errorNorm: '--train-error-norm' };

function num(v: string | undefined, flag: string): number | undefined {
  return v === undefined ? undefined : parseDecimal(v, flag);
}

async function matrix(path: string, flag: string, samples: number, metric: Metric): Promise<{ data: Float32Array | Float64Array | Uint8Array; rows: number }> {
  const a = await readNpy(path);
  if (a.shape.length !== 2 || a.shape[1] !== samples) fail('E_SHAPE', `expected [epochs, ${samples}] (the train labels have ${samples} samples), got [${a.shape.join(', ')}]`, { file: path, field: flag });
  const ok = metric === 'correct' ? a.dtype === 'u1' || a.dtype === 'b1' : a.dtype === 'f4' || a.dtype === 'f8';
  if (!ok) fail('E_DTYPE', `expected ${metric === 'correct' ? 'uint8/bool' : 'float32/float64'}, got ${a.dtype}`, { file: path, field: flag });
  return { data: a.data as Float32Array | Float64Array | Uint8Array, rows: a.shape[0]! };
}

/** The run from --run DIR, or from the individual files (every row then counts as a trained epoch). */
async function loadInputs(method: MethodName, o: BaselineCliOptions, params: MethodParams): Promise<{ run: RecordedRun; inputs: string[] }> {
  const need = methodNeeds(method, params);
  if (o.run !== undefined) {
    const given = ['trainLabels', 'trainLoss', 'trainCorrect', 'trainMargin', 'trainErrorNorm', 'valLoss', 'valLabels'].filter((k) => o[k as keyof BaselineCliOptions] !== undefined);
    if (given.length) fail('E_ARG', 'give either --run DIR or the individual .npy files, not both', { field: '--run' });
    return { run: await loadRecordedRun(o.run, need), inputs: [o.run] };
  }
  if (o.trainLabels === undefined) fail('E_ARG', 'give --run DIR (a recorded run) or --train-labels with the metric files', { field: '--run' });
  const labels = await loadLabels(o.trainLabels, 'train labels');
  const train: SplitArrays = { samples: labels.length, labels };
  const inputs = [o.trainLabels];
  let rows = -1;
  let rowsFrom = '';
  const setRows = (r: number, path: string) => {
    if (rows >= 0 && r !== rows) fail('E_SHAPE', `has ${r} epochs but ${rowsFrom} has ${rows}`, { file: path });
    rows = r;
    rowsFrom = path;
  };
  for (const m of need.train) {
    const path = o[FILE_FLAG[m]] as string | undefined;
    if (path === undefined) fail('E_ARG', `${method}${method === 'ccs' ? ` over ${params.over ?? 'aum'}` : ''} needs ${FLAG_NAME[m]}`, { field: FLAG_NAME[m] });
    const a = await matrix(path, FLAG_NAME[m], labels.length, m);
    setRows(a.rows, path);
    (train as unknown as Record<string, unknown>)[m] = a.data;
    inputs.push(path);
  }
  let val: SplitArrays | undefined;
  if (need.val.length) {
    if (o.valLoss === undefined || o.valLabels === undefined) fail('E_ARG', 'CLD scores need --val-loss and --val-labels', { field: o.valLoss === undefined ? '--val-loss' : '--val-labels' });
    const vl = await loadLabels(o.valLabels, 'val labels');
    const a = await readNpy(o.valLoss);
    if (a.shape.length !== 2 || a.shape[1] !== vl.length || (a.dtype !== 'f4' && a.dtype !== 'f8')) {
      fail('E_SHAPE', `expected float [epochs, ${vl.length}], got ${a.dtype} [${a.shape.join(', ')}]`, { file: o.valLoss, field: '--val-loss' });
    }
    setRows(a.shape[0]!, o.valLoss);
    val = { samples: vl.length, labels: vl, loss: a.data as Float32Array | Float64Array };
    inputs.push(o.valLoss, o.valLabels);
  }
  if (rows < 0) rows = 1; // random needs labels only
  return { run: { checkpoints: Array.from({ length: rows }, (_, e) => e + 1), train, val }, inputs };
}

export async function runBaseline(name: string, o: BaselineCliOptions): Promise<void> {
  const method = parseMethodName(name);
  if (o.out === undefined || o.out === '') fail('E_ARG', '--out is required', { field: '--out' });
  // The output rule before anything is read: every input the options name (a --run directory as a whole).
  checkOutputPlan({
    inputs: [
      { flag: '--run', path: o.run },
      ...(['trainLabels', 'trainLoss', 'trainCorrect', 'trainMargin', 'trainErrorNorm', 'valLoss', 'valLabels'] as const).map((k) => ({ flag: `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, path: o[k] })),
      { flag: '--exclude', path: o.exclude },
    ],
    files: [
      { flag: '--out', path: o.out },
      { flag: '--scores', path: o.scores },
      { flag: '--indices-npy', path: o.indicesNpy },
    ],
  });
  const { budget, options, excludeFile, allowEmpty } = await parseBudgetOptions(o);
  const over = o.over !== undefined ? parseMethodName(o.over, '--over') : undefined;
  if (over === 'ccs') fail('E_ARG', 'ccs cannot stratify over itself', { field: '--over' });
  const cut = o.cut;
  if (cut !== undefined && cut !== 'high' && cut !== 'low') fail('E_ARG', `expected high or low, got "${cut}"`, { field: '--cut' });
  const params: MethodParams = {
    seed: optionalInt(o.seed, '--seed', 0) ?? 0,
    epochs: optionalInt(o.epochs, '--epochs', 1),
    window: optionalInt(o.window, '--window', 2),
    over: over as ScoreMethodName | undefined,
    cutoff: num(o.cutoff, '--cutoff'),
    strata: optionalInt(o.strata, '--strata', 1),
    cut,
    reverse: o.reverse,
  };
  const choice = parseBackendChoice(o.backend);
  const { run, inputs } = await loadInputs(method, o, params);
  // a recorded run's columns are not dataset rows: --exclude and the selection speak dataset rows
  let excludedOutsideRun = 0;
  if (options.exclude && run.train.indices) {
    const m = positionsOfRows(run.train, options.exclude);
    options.exclude = m.positions;
    excludedOutsideRun = m.outside;
  }
  let backend: Backend | undefined;
  try {
    if (methodNeeds(method, params).val.length) backend = (await selectBackend(choice)).backend;
    const sel = await methodSelect(method, run, budget, { ...params, ...options, backend });
    requireSelection(sel.indices.length, run.train.samples, { budget, options, allowEmpty });
    const parameters: Record<string, unknown> = { ...budget, budgetMode: options.mode, minPerClass: options.minPerClass ?? 0, exclude: excludeFile ?? null, excluded: options.exclude?.length ?? 0 };
    if (excludedOutsideRun > 0) parameters.excludedOutsideRun = excludedOutsideRun;
    for (const [k, v] of Object.entries(params)) if (v !== undefined && k !== 'backend') parameters[k] = v;
    if (method === 'ccs') parameters.cut = params.cut ?? METHODS[params.over ?? 'aum'].hard;
    parameters.keep = method === 'ccs' ? 'stratified' : sel.keep;
    parameters.checkpointRows = sel.rows;
    const seeds = method === 'random' || method === 'ccs' ? [params.seed!] : [];
    const manifest = runManifest({ parameters, inputs: excludeFile ? [...inputs, excludeFile] : inputs, backend: sel.backend ?? null, seeds });
    writeSelection(
      o.out,
      { method, parameters, backend: sel.backend ?? null, n: run.train.samples, numClasses: sel.numClasses, perClass: sel.perClassSelected, absentClasses: sel.absentClasses, manifest },
      sel.datasetIndices ?? sel.indices,
      o.scores ? { path: o.scores, data: sel.scores } : undefined,
      o.indicesNpy,
      sel.datasetIndices ? sel.indices : undefined,
    );
    // after the write: a refused run prints its one error line only
    if (excludedOutsideRun > 0) process.stderr.write(`riverbed: note: ${excludedOutsideRun} of the --exclude rows are not in the run's training split (train_indices.npy); nothing to exclude there\n`);
    const summary = { out: o.out, scores: o.scores ?? null, indicesNpy: o.indicesNpy ?? null, method, n: run.train.samples, selected: sel.indices.length, numClasses: sel.numClasses, perClass: sel.perClassSelected };
    if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else process.stdout.write(`${method}: selected ${sel.indices.length} of ${run.train.samples} samples (${sel.numClasses} classes) → ${o.out}\n`);
  } finally {
    backend?.dispose();
  }
}

function common(cmd: Command): Command {
  addBudgetOptions(
    cmd
      .option('--run <DIR>', 'a recorded run (riverbed train --record DIR)')
      .option('--train-labels <path>', 'instead of --run: train labels, 1-D .npy of integers'),
  );
  return cmd
    .option('--out <path>', 'selection JSON (format riverbed.selection, version 1, with a run manifest)')
    .option('--scores <path>', 'also write the float32 score of every sample (in input order: a run\'s columns)')
    .option('--indices-npy <path>', 'also write the selected indices as int64 .npy (with --run: dataset rows, as `indices`)')
    .option('--json', 'print a machine-readable summary on stdout')
    .option('--backend <name>', 'auto | js | native | webgpu (used when CLD scores are computed: ccs --over cld)', 'auto');
}

export function registerCoresetBaselines(coreset: Command): void {
  const score = (cmd: Command) => cmd.option('--reverse', 'keep the other end of the ranking');
  common(coreset.command('random').description('uniform random subset of each class, seeded')).option('--seed <n>', 'seed', '0').action((o) => runBaseline('random', o));
  score(common(coreset.command('forgetting').description(`${METHODS.forgetting.title} — ${METHODS.forgetting.paper}; keeps the most forgotten`)))
    .option('--train-correct <path>', 'instead of --run: correctness [epochs, N] uint8')
    .action((o) => runBaseline('forgetting', o));
  score(common(coreset.command('el2n').description(`${METHODS.el2n.title} — ${METHODS.el2n.paper}; keeps the highest`)))
    .option('--train-error-norm <path>', 'instead of --run: error norms [epochs, N]')
    .option('--epochs <k>', 'average over the first k trained epochs (default ⌈E/10⌉)')
    .action((o) => runBaseline('el2n', o));
  score(common(coreset.command('aum').description(`${METHODS.aum.title} — ${METHODS.aum.paper}; keeps the lowest`)))
    .option('--train-margin <path>', 'instead of --run: margins [epochs, N]')
    .action((o) => runBaseline('aum', o));
  score(common(coreset.command('dynunc').description(`${METHODS.dynunc.title} — ${METHODS.dynunc.paper}; keeps the highest`)))
    .option('--train-loss <path>', 'instead of --run: losses [epochs, N]')
    .option('--window <J>', 'sliding window length J (default min(10, E))')
    .action((o) => runBaseline('dynunc', o));
  common(coreset.command('ccs').description(`${METHODS.ccs.title} — ${METHODS.ccs.paper}`))
    .option('--over <method>', 'the score to stratify: cld | el2n | aum | forgetting | dynunc | random', 'aum')
    .option('--cutoff <beta>', 'prune the hardest β fraction of each class first (0 ≤ β < 1)', '0')
    .option('--strata <k>', 'number of equal-width score strata', '50')
    .option('--cut <end>', 'which end of the score is "hard": high | low (default: the method\'s own, see docs)')
    .option('--seed <n>', 'seed of the sampling within strata', '0')
    .option('--epochs <k>', 'with --over el2n: first k epochs')
    .option('--window <J>', 'with --over dynunc: window J')
    .option('--train-loss <path>', 'instead of --run: losses [epochs, N] (over cld, dynunc)')
    .option('--train-correct <path>', 'instead of --run: correctness (over forgetting)')
    .option('--train-margin <path>', 'instead of --run: margins (over aum)')
    .option('--train-error-norm <path>', 'instead of --run: error norms (over el2n)')
    .option('--val-loss <path>', 'instead of --run: validation losses (over cld)')
    .option('--val-labels <path>', 'instead of --run: validation labels (over cld)')
    .action((o) => runBaseline('ccs', o));
}
