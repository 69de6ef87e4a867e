/**
 * `riverbed coreset evaluate`: does a selection method beat random, at which fraction, with what
 * spread? Trains, records, selects with every method at every fraction, retrains from scratch on
 * every coreset with the same number of steps, and reports held-out test accuracy mean ± std over
 * seeds — table on stdout (or JSON with --json), and with --out DIR: evaluation.json (with the run
 * manifest) plus evaluation.svg/.png (and transfer.svg/.png) written together, atomically.
 *
 * Everything is validated before the data are loaded; bad input is one line and no output.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import { type EvalData, type EvaluateOptions, type EvaluationResult, type RetrainBudget, evaluateCoresets, validateEvaluateOptions } from '../coreset/evaluate.js';
import { evaluationPlot, formatEvaluation, describeArchitecture } from '../coreset/evaluate/report.js';
import { type Dataset, loadNpyDataset, numClasses, splitDataset } from '../data/dataset.js';
import { fail } from '../errors.js';
import { type PendingFile, writeFilesAtomic } from '../io/atomic.js';
import { type ModelDescription, inputField, inputMismatch, loadModelDescription, mlpDescription, outputSize } from '../model/description.js';
import { renderSvg, svgToPng } from '../plot/index.js';
import { runManifest } from '../io/manifest.js';
import { checkOutputPlan, makeOutputDir } from '../io/output-plan.js';
import { disposeQuietly, intOption, note, numberOption, progressBar, startOnFirstReport } from './options.js';

export interface EvaluateCliOptions {
  dataset?: string;
  inputs?: string;
  labels?: string;
  testInputs?: string;
  testLabels?: string;
  valFraction: number;
  testFraction: number;
  trainSize?: number;
  valSize?: number;
  testSize?: number;
  methods: string;
  fractions: string;
  seeds: string;
  epochs: number;
  retrainEpochs?: number;
  retrainSteps?: number;
  hidden?: string;
  model?: string;
  transferHidden?: string;
  targetModel?: string;
  batchSize: number;
  lr: number;
  ccsCutoff: number;
  ccsStrata: number;
  stratTrim: number;
  backend: string;
  out?: string;
  json?: boolean;
}

export const DEFAULT_METHODS = 'random,cld,cld-init,cld-bottom,cld-strat,cld-ccs,forgetting,el2n,aum,dynunc,ccs';

export function registerCoresetEvaluate(coreset: Command): void {
  coreset
    .command('evaluate')
    .description('Compare selection methods: retrain on each coreset with the same budget, report test accuracy mean ± std over seeds.')
    .option('--dataset <name>', 'bundled dataset: mnist | fashion-mnist')
    .option('--inputs <X.npy>', 'inputs [N, D] or images [N, C, H, W], float32/float64 (instead of --dataset)')
    .option('--labels <Y.npy>', 'integer labels [N] (with --inputs)')
    .option('--test-inputs <X.npy>', 'held-out test inputs (default: --test-fraction of --inputs)')
    .option('--test-labels <Y.npy>', 'held-out test labels (with --test-inputs)')
    .option('--val-fraction <f>', '--inputs: share of the non-test samples used for validation', numberOption('--val-fraction', (n) => n > 0 && n < 1, 'a number in (0, 1)'), 0.1)
    .option('--test-fraction <f>', '--inputs without --test-inputs: share held out for testing', numberOption('--test-fraction', (n) => n > 0 && n < 1, 'a number in (0, 1)'), 0.2)
    .option('--train-size <n>', 'bundled datasets: training samples (default all 50 000)', intOption('--train-size'))
    .option('--val-size <n>', 'bundled datasets: validation samples (default 10 000)', intOption('--val-size'))
    .option('--test-size <n>', 'bundled datasets: test samples (default all 10 000)', intOption('--test-size'))
    .option('--methods <list>', 'comma-separated methods', DEFAULT_METHODS)
    .option('--fractions <list>', 'comma-separated coreset fractions in (0, 1]', '0.01,0.05,0.1,0.3')
    .option('--seeds <n>', 'number of seeds (0 … n−1), each a full evaluation', '3')
    .option('--epochs <n>', 'epochs of the recorded full-data run', intOption('--epochs', 2), 8)
    .option('--retrain-epochs <n>', 'budget: epochs over each coreset (steps = ceil(k/batch)·n, the same for every method at a fraction; default 20)', intOption('--retrain-epochs'))
    .option('--retrain-steps <n>', 'budget: exactly n SGD steps on every coreset at every fraction', intOption('--retrain-steps'))
    .option('--hidden <list>', 'hidden widths of the D-…-classes relu MLP that records and retrains (e.g. 128 or 256,128; default 128)')
    .option('--model <M.json>', 'a riverbed.model description (an MLP or a CNN, e.g. examples/cnn.json) that records and retrains, instead of --hidden')
    .option('--transfer-hidden <list>', 'transfer: hidden widths of a second MLP retrained on the same coresets')
    .option('--target-model <M.json>', 'transfer: a riverbed.model description retrained on the same coresets')
    .option('--batch-size <n>', 'mini-batch size', intOption('--batch-size'), 128)
    .option('--lr <x>', 'SGD learning rate (momentum 0.9, cosine schedule)', numberOption('--lr', (n) => n > 0, 'a positive number'), 0.05)
    .option('--ccs-cutoff <f>', 'cld-ccs: share of each class dropped from the low-r end', numberOption('--ccs-cutoff', (n) => n >= 0 && n < 1, 'a number in [0, 1)'), 0.1)
    .option('--ccs-strata <n>', 'cld-ccs: number of strata', intOption('--ccs-strata'), 50)
    .option('--strat-trim <f>', 'cld-strat: share of each class dropped from the low-r end', numberOption('--strat-trim', (n) => n >= 0 && n < 1, 'a number in [0, 1)'), 0)
    .option('--backend <name>', 'auto | js | native | webgpu', 'auto')
    .option('--out <DIR>', 'write evaluation.json and the plots (SVG + PNG) into DIR')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (o: EvaluateCliOptions) => {
      const r = await evaluateCommand(o);
      if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else process.stdout.write(formatEvaluation(r));
    });
}

function parseList(v: string, field: string): string[] {
  const items = v.split(',').map((s) => s.trim());
  if (items.length === 0 || items.some((s) => s === '')) fail('E_ARG', `expected a comma-separated list, got "${v}"`, { field });
  return items;
}

function parseWidths(v: string, field: string): number[] {
  return parseList(v, field).map((s) => intOption(field)(s));
}

function parseFractions(v: string): number[] {
  return parseList(v, '--fractions').map((s) => numberOption('--fractions', (n) => n > 0 && n <= 1, 'fractions in (0, 1]')(s));
}

function parseSeeds(v: string): number[] {
  const n = intOption('--seeds', 1)(v);
  return Array.from({ length: n }, (_, i) => i);
}

function parseRetrain(o: EvaluateCliOptions): RetrainBudget {
  if (o.retrainEpochs !== undefined && o.retrainSteps !== undefined) fail('E_ARG', 'give either --retrain-epochs or --retrain-steps, not both', { field: '--retrain-steps' });
  return o.retrainSteps !== undefined ? { steps: o.retrainSteps } : { epochs: o.retrainEpochs ?? 20 };
}

/** The files `--out DIR` receives (the transfer plots only with a transfer model). */
function outputFiles(transfer: boolean): string[] {
  return ['evaluation.json', 'evaluation.svg', 'evaluation.png', ...(transfer ? ['transfer.svg', 'transfer.png'] : [])];
}

async function loadData(o: EvaluateCliOptions): Promise<EvalData> {
  if (o.dataset !== undefined && o.inputs !== undefined) fail('E_ARG', 'give either --dataset or --inputs/--labels, not both', { field: '--dataset' });
  if (o.dataset !== undefined) {
    const opts = { seed: 0, trainSize: o.trainSize, valSize: o.valSize, testSize: o.testSize };
    if (o.dataset === 'mnist') {
      const { loadMnist } = await import('../data/mnist.js');
      const s = await loadMnist(opts);
      return { name: 'mnist', ...s, numClasses: 10 };
    }
    if (o.dataset === 'fashion-mnist') {
      const { loadFashionMnist } = await import('../data/fashion.js');
      const s = await loadFashionMnist(opts);
      return { name: 'fashion-mnist', ...s, numClasses: 10 };
    }
    return fail('E_ARG', `unknown dataset "${o.dataset}"; expected mnist or fashion-mnist`, { field: '--dataset' });
  }
  if (o.inputs === undefined || o.labels === undefined) fail('E_ARG', 'give --dataset mnist|fashion-mnist, or both --inputs X.npy and --labels Y.npy', { field: o.inputs ? '--labels' : '--inputs' });
  if ((o.testInputs === undefined) !== (o.testLabels === undefined)) fail('E_ARG', 'give both --test-inputs and --test-labels, or neither', { field: o.testInputs ? '--test-labels' : '--test-inputs' });
  const all = await loadNpyDataset(o.inputs, o.labels);
  let pool: Dataset = all;
  let test: Dataset;
  if (o.testInputs !== undefined) {
    test = await loadNpyDataset(o.testInputs, o.testLabels!);
    if (test.features !== all.features) fail('E_SHAPE', `test inputs have ${test.features} features, the training inputs ${all.features}`, { file: o.testInputs });
  } else {
    const nTest = Math.round(all.count * o.testFraction);
    const s = splitDataset(all, nTest, 0x7e57);
    test = s.val;
    pool = s.train;
  }
  const nVal = Math.round(pool.count * o.valFraction);
  if (nVal < 1 || pool.count - nVal < 1) fail('E_ARG', `${pool.count} samples are too few to split off validation samples`, { field: '--val-fraction' });
  const { train, val } = splitDataset(pool, nVal, 0);
  const classes = numClasses(train, val, test);
  return { name: o.inputs, train, val, test, numClasses: classes };
}

function modelFor(widths: number[], features: number, classes: number): ModelDescription {
  return mlpDescription(features, widths, classes, 'relu');
}

function checkModel(desc: ModelDescription, file: string, data: Dataset, classes: number): void {
  const why = inputMismatch(desc, data.features, data.shape);
  if (why) fail('E_MODEL', why, { file, field: inputField(desc) });
  if (outputSize(desc) < classes) fail('E_MODEL', `the model has ${outputSize(desc)} outputs but the labels need ${classes} classes`, { file, field: 'layers[-1].out' });
}

export async function evaluateCommand(o: EvaluateCliOptions): Promise<EvaluationResult & { manifest: Record<string, unknown> }> {
  // 1. everything that needs no data
  const fractions = parseFractions(o.fractions);
  const seeds = parseSeeds(o.seeds);
  const methods = parseList(o.methods, '--methods');
  const retrain = parseRetrain(o);
  if (o.model !== undefined && o.hidden !== undefined) fail('E_ARG', 'give either --hidden or --model, not both', { field: '--model' });
  const hidden = parseWidths(o.hidden ?? '128', '--hidden');
  if (o.transferHidden !== undefined && o.targetModel !== undefined) fail('E_ARG', 'give either --transfer-hidden or --target-model, not both', { field: '--target-model' });
  const transferHidden = o.transferHidden !== undefined ? parseWidths(o.transferHidden, '--transfer-hidden') : undefined;
  const backendChoice = parseBackendChoice(o.backend);
  const variants = { ccsCutoff: o.ccsCutoff, ccsStrata: o.ccsStrata, stratTrim: o.stratTrim };
  const base: Omit<EvaluateOptions, 'backend' | 'model'> = { methods, fractions, seeds, epochs: o.epochs, retrain, batchSize: o.batchSize, lr: o.lr, variants };
  validateEvaluateOptions({ ...base, model: mlpDescription(1, hidden, 2) });
  checkOutputPlan({
    inputs: [
      { flag: '--inputs', path: o.inputs },
      { flag: '--labels', path: o.labels },
      { flag: '--test-inputs', path: o.testInputs },
      { flag: '--test-labels', path: o.testLabels },
      { flag: '--model', path: o.model },
      { flag: '--target-model', path: o.targetModel },
    ],
    dirs: [{ flag: '--out', path: o.out, files: outputFiles(o.transferHidden !== undefined || o.targetModel !== undefined) }],
  });
  const fileModel = o.model !== undefined ? await loadModelDescription(o.model) : undefined;
  const fileTarget = o.targetModel !== undefined ? await loadModelDescription(o.targetModel) : undefined;

  // 2. data and models
  const t0 = performance.now();
  const data = await loadData(o);
  const features = data.train.features;
  const model = fileModel ?? modelFor(hidden, features, data.numClasses);
  if (fileModel) checkModel(fileModel, o.model!, data.train, data.numClasses);
  const transferModel = fileTarget ?? (transferHidden ? modelFor(transferHidden, features, data.numClasses) : undefined);
  if (fileTarget) checkModel(fileTarget, o.targetModel!, data.train, data.numClasses);

  // 3. the grid
  const { backend, reason } = await selectBackend(backendChoice);
  const say = o.json ? () => {} : note;
  say(`riverbed coreset evaluate — backend ${backend.name} (${reason}); ${data.name}: ${data.train.count} train / ${data.val.count} val / ${data.test.count} test`);
  say(`  ${methods.length} methods × ${fractions.length} fractions × ${seeds.length} seeds, model ${describeArchitecture({ model } as never)}${transferModel ? `, transfer to ${describeArchitecture({ model: transferModel } as never)}` : ''}`);
  const bar = progressBar('evaluate', o.json);
  let result: EvaluationResult;
  try {
    result = await evaluateCoresets(data, {
      ...base,
      model,
      transferModel,
      backend,
      onProgress: startOnFirstReport(bar),
    });
  } finally {
    bar.stop();
    disposeQuietly(backend);
  }
  const manifest = {
    ...runManifest({
      backend: backend.name,
      seeds,
      inputs: [o.inputs, o.labels, o.testInputs, o.testLabels, o.model, o.targetModel].filter((p): p is string => p !== undefined),
      parameters: {
        dataset: o.dataset ?? null,
        dataSha256: result.dataset.sha256,
        trainSize: o.trainSize ?? null,
        valSize: o.valSize ?? null,
        testSize: o.testSize ?? null,
        split: o.dataset !== undefined ? 'the bundled split with seed 0' : o.testInputs ? `validation: ${o.valFraction} of --inputs (seed 0)` : `test: ${o.testFraction} of --inputs (seed 0x7e57), validation: ${o.valFraction} of the rest (seed 0)`,
        methods,
        fractions,
        epochs: o.epochs,
        retrain,
        hidden: fileModel ? null : hidden,
        model: o.model ?? null,
        transfer: transferModel ? (o.targetModel ?? transferHidden) : null,
        batchSize: o.batchSize,
        lr: o.lr,
        ccsCutoff: o.ccsCutoff,
        ccsStrata: o.ccsStrata,
        stratTrim: o.stratTrim,
      },
    }),
    command: ['riverbed', ...process.argv.slice(2)].join(' '),
    backendReason: reason,
  };
  const full = { ...result, manifest };
  if (o.out !== undefined) {
    const files: PendingFile[] = [{ path: join(o.out, 'evaluation.json'), data: Buffer.from(JSON.stringify(full, null, 2) + '\n', 'utf8') }];
    const plots: [string, ReturnType<typeof evaluationPlot>][] = [
      ['evaluation', evaluationPlot(result, result.source, `${data.name}: coreset test accuracy (${describeArchitecture(result.source)}, ${seeds.length} seeds, mean ± std)`)],
    ];
    if (result.transfer) {
      plots.push(['transfer', evaluationPlot(result, result.transfer, `${data.name}: ${describeArchitecture(result.source)} selects, ${describeArchitecture(result.transfer)} retrains`)]);
    }
    for (const [name, plot] of plots) {
      const svg = await renderSvg(plot);
      files.push({ path: join(o.out, `${name}.svg`), data: Buffer.from(svg, 'utf8') }, { path: join(o.out, `${name}.png`), data: svgToPng(svg) });
    }
    // Created only now, and removed again if the write fails: a failed run leaves no directory behind.
    const made = makeOutputDir(o.out, '--out');
    try {
      writeFilesAtomic(files);
    } catch (err) {
      made.undo();
      throw err;
    }
    say(`  wrote ${files.map((f) => f.path).join(', ')}`);
  }
  return full;
}
