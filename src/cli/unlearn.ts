/**
 * `riverbed unlearn <method>`: remove the influence of a forget set from trained weights, writing
 * new weights (the input weights file is never overwritten: src/io/output-plan.ts); and
 * `riverbed unlearn evaluate`: every method against retraining over seeds — table, JSON with the
 * run manifest, and a plot. Methods, metrics and their sources: docs/unlearning.md.
 *
 * Everything that needs no data (options, the forget spec, the output rule, the model file) is
 * checked before the data are loaded; bad input is one line and no output.
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import { fail } from '../errors.js';
import { type PendingFile, writeFilesAtomic } from '../io/atomic.js';
import { runManifest } from '../io/manifest.js';
import { checkOutputPlan, makeOutputDir } from '../io/output-plan.js';
import { type ModelDescription, describeModel, loadModelDescription, mlpDescription } from '../model/description.js';
import { Mlp } from '../model/mlp.js';
import { renderSvg, svgToPng } from '../plot/index.js';
import { toDevice } from '../train/run.js';
import { type EvalSets, type HarnessData, type ModelMetrics, evaluateUnlearning, measure } from '../unlearn/evaluate.js';
import { type ForgetSpec, parseForgetSpec, resolveForget } from '../unlearn/forget.js';
import { GU_GEOMETRIES, GU_SCOPES, type GuGeometry, type GuScope } from '../unlearn/gu.js';
import { UNLEARN_METHODS, type UnlearnConfig, type UnlearnMethod, type UnlearnReport, parseUnlearnMethod, unlearn, unlearnConfig } from '../unlearn/methods.js';
import { formatHarness, harnessPlot } from '../unlearn/report.js';
import { disposeQuietly, intOption, note, numberOption, progressBar, startOnFirstReport } from './options.js';
import { type DataCli, addDataOptions, checkModel, loadData, unlearnInputPaths, unlearnInputs } from './unlearn-data.js';

interface MethodCli extends DataCli {
  model: string;
  weights: string;
  forget: string;
  out: string;
  steps?: number;
  epochs?: number;
  lr?: number;
  batchSize?: number;
  forgetBatchSize?: number;
  optimizer?: string;
  momentum?: number;
  retainWeight?: number;
  forgetWeight?: number;
  beta?: number;
  k?: number;
  scope?: string;
  geometry?: string;
  accept?: number;
  beta2?: number;
  eps?: number;
  backend: string;
  json?: boolean;
}

const positive = (flag: string) => numberOption(flag, (n) => n > 0, 'a positive number');
const nonNegative = (flag: string) => numberOption(flag, (n) => n >= 0, 'a number ≥ 0');

export function registerUnlearn(program: Command, argv: string[] = []): void {
  const group = program.command('unlearn').description('remove a forget set from trained weights (ga, ga+gd, npo, gu, ft, retrain) and evaluate how well it worked');
  // Only the member being run is registered (its --help computes the method's defaults).
  const named = argv[3];
  const isMethod = named !== undefined && (UNLEARN_METHODS as readonly string[]).includes(named);
  if (named !== 'evaluate') for (const m of isMethod ? [named as UnlearnMethod] : UNLEARN_METHODS) registerMethod(group, m);
  if (!isMethod) registerEvaluate(group);
}

const SUMMARIES: Record<UnlearnMethod, string> = {
  ga: 'gradient ascent on the forget loss',
  'ga+gd': 'gradient ascent on the forget loss + descent on the retain loss (γ = α = 1)',
  npo: 'negative preference optimisation against the frozen original model (β = 0.1)',
  gu: 'geometric-disentanglement unlearning: forget ascent projected H-orthogonal to recent retain gradients, + retain descent',
  ft: 'fine-tune on the retain set only',
  retrain: 'train from scratch on the retain set (the gold standard)',
};

function registerMethod(group: Command, method: UnlearnMethod): void {
  const d = unlearnConfig(method);
  const stepBased = method !== 'ft' && method !== 'retrain';
  const c = group
    .command(method)
    .description(`${SUMMARIES[method]}; writes the new weights to --out`)
    .requiredOption('--model <M.json>', 'model description (riverbed.model JSON)')
    .requiredOption('--weights <W.safetensors>', 'the trained weights (never overwritten)')
    .requiredOption('--forget <spec>', 'class:C[,C…] | random:N | random:P% | indices:F.npy (dataset indices, as train_indices.npy lists them)')
    .requiredOption('--out <W2.safetensors>', 'where the unlearned weights go');
  addDataOptions(c);
  c.option('--seed <n>', 'seed of the train/validation split (the one the weights were trained with), of random:… and of batch order', intOption('--seed', 0), 0);
  if (stepBased) {
    c.option('--steps <n>', `optimizer steps, each on one forget and one retain batch (default ${d.steps})`, intOption('--steps'));
    c.option('--forget-batch-size <n>', `forget batch (default ${d.forgetBatchSize})`, intOption('--forget-batch-size'));
  } else {
    c.option('--epochs <n>', `epochs over the retain set (default ${d.epochs})`, intOption('--epochs'));
  }
  c.option('--lr <x>', `learning rate (default ${d.lr}${stepBased ? ', constant' : ', cosine'})`, positive('--lr'));
  c.option('--batch-size <n>', `${stepBased ? 'retain batch' : 'mini-batch'} (default ${d.batchSize})`, intOption('--batch-size'));
  if (method === 'ga' || method === 'ga+gd' || method === 'npo') {
    c.option('--optimizer <name>', `sgd | adam (default ${d.optimizer})`);
  }
  if (method !== 'gu') c.option('--momentum <x>', `SGD momentum (default ${d.momentum})`, numberOption('--momentum', (n) => n >= 0 && n < 1, 'a number in [0, 1)'));
  if (method === 'ga+gd' || method === 'npo' || method === 'gu') {
    c.option('--retain-weight <α>', `weight of the retain-descent term (default ${d.retainWeight})`, nonNegative('--retain-weight'));
    c.option('--forget-weight <γ>', `weight of the forget term (default ${d.forgetWeight})`, nonNegative('--forget-weight'));
  }
  if (method === 'npo') c.option('--beta <β>', `NPO's β (default ${d.beta})`, positive('--beta'));
  if (method === 'gu') {
    c.option('--k <n>', `retain gradients kept in the basis, ≤ 32 (default ${d.gu.k})`, intOption('--k'));
    c.option('--scope <s>', `layer (a basis per parameter tensor) | global (default ${d.gu.scope})`);
    c.option('--geometry <g>', `sgd (H = I) | adam (H from √v + ε) (default ${d.gu.geometry})`);
    c.option('--accept <x>', `keep a retain gradient only if its H-residual is ≥ x of its H-norm (default ${d.gu.accept})`, numberOption('--accept', (n) => n >= 0 && n < 1, 'a number in [0, 1)'));
    c.option('--beta2 <x>', `adam geometry: second-moment decay (default ${d.gu.beta2})`, numberOption('--beta2', (n) => n >= 0 && n < 1, 'a number in [0, 1)'));
    c.option('--eps <x>', `adam geometry: ε of √v + ε (default ${d.gu.eps})`, positive('--eps'));
  }
  c.option('--backend <name>', 'auto | js | native | webgpu', 'auto').option('--json', 'print the result as JSON on stdout');
  c.action(async (o: MethodCli) => {
    const r = await methodCommand(method, o);
    if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else printMethod(r);
  });
}

function configFrom(method: UnlearnMethod, o: Partial<MethodCli>): UnlearnConfig {
  if (o.scope !== undefined && !(GU_SCOPES as readonly string[]).includes(o.scope)) fail('E_ARG', `expected layer or global, got "${o.scope}"`, { field: '--scope' });
  if (o.geometry !== undefined && !(GU_GEOMETRIES as readonly string[]).includes(o.geometry)) fail('E_ARG', `expected sgd or adam, got "${o.geometry}"`, { field: '--geometry' });
  if (o.optimizer !== undefined && o.optimizer !== 'sgd' && o.optimizer !== 'adam') fail('E_ARG', `expected sgd or adam, got "${o.optimizer}"`, { field: '--optimizer' });
  return unlearnConfig(method, {
    steps: o.steps,
    epochs: o.epochs,
    lr: o.lr,
    batchSize: o.batchSize,
    forgetBatchSize: o.forgetBatchSize,
    optimizer: o.optimizer as UnlearnConfig['optimizer'] | undefined,
    momentum: o.momentum,
    retainWeight: o.retainWeight,
    forgetWeight: o.forgetWeight,
    beta: o.beta,
    seed: o.seed,
    gu: { k: o.k, scope: o.scope as GuScope | undefined, geometry: o.geometry as GuGeometry | undefined, accept: o.accept, beta2: o.beta2, eps: o.eps },
  });
}

/** Accuracy and loss of the forget, retain and held-out sets, as the summary prints them. */
type Snapshot = Pick<ModelMetrics, 'forget' | 'retain' | 'test' | 'testRetained' | 'ua' | 'ra' | 'ta' | 'mia'>;

export interface UnlearnSummary {
  format: 'riverbed.unlearn';
  version: 1;
  method: UnlearnMethod;
  dataset: string;
  heldOut: 'test' | 'validation';
  forget: { spec: string; description: string; samples: number; retain: number };
  model: ModelDescription;
  weights: string;
  out: string;
  backend: string;
  backendReason: string;
  config: UnlearnConfig;
  report: Omit<UnlearnReport, 'config'>;
  before: Snapshot;
  after: Snapshot;
  seconds: { load: number; unlearn: number; total: number };
}

async function methodCommand(method: UnlearnMethod, o: MethodCli): Promise<UnlearnSummary> {
  const t0 = performance.now();
  // 1. everything that needs no data
  const config = configFrom(method, o);
  const spec = parseForgetSpec(o.forget);
  const backendChoice = parseBackendChoice(o.backend);
  checkOutputPlan({
    inputs: unlearnInputs(o, spec),
    files: [{ flag: '--out', path: o.out }],
  });
  const desc = await loadModelDescription(o.model);
  // 2. data, forget set, weights
  const data = await loadData(o);
  checkModel(desc, o.model, data.train.features, data.classes);
  const split = await resolveForget(spec, { labels: data.train.labels, indices: data.train.indices, classes: data.classes, datasetSize: data.datasetSize }, o.seed);
  const tLoad = performance.now();
  const { backend, reason } = await selectBackend(backendChoice);
  try {
    const model = await Mlp.load(backend, desc, o.weights);
    const train = toDevice(backend, data.train);
    const held = toDevice(backend, data.heldOut);
    const sets: EvalSets = { x: train.x, labels: data.train.labels, forget: split.forget, retain: split.retain, testX: held.x, testLabels: data.heldOut.labels, forgetClasses: split.forgetClasses, wholeClasses: split.wholeClasses };
    const snap = (m: ModelMetrics): Snapshot => ({ forget: m.forget, retain: m.retain, test: m.test, testRetained: m.testRetained, ua: m.ua, ra: m.ra, ta: m.ta, mia: m.mia });
    const before = snap((await measure(model, sets, undefined, o.seed)).metrics);
    const total = method === 'ft' || method === 'retrain' ? Math.ceil(split.retain.length / config.batchSize) * config.epochs : config.steps;
    const bar = progressBar(`unlearn ${method}`, o.json);
    bar.start(total);
    let report: UnlearnReport;
    try {
      report = await unlearn(model, { x: train.x, labels: data.train.labels, forget: split.forget, retain: split.retain }, config, {
        onStep: (done) => {
          if (done % 5 === 0 || done === total) bar.update(done);
        },
      });
    } finally {
      bar.stop();
    }
    const after = snap((await measure(model, sets, undefined, o.seed)).metrics);
    await model.save(o.out, { 'riverbed.unlearn.method': method, 'riverbed.unlearn.forget': o.forget, 'riverbed.unlearn.from': o.weights });
    backend.free(train.x);
    backend.free(held.x);
    model.dispose();
    const { config: _c, ...rest } = report;
    return {
      format: 'riverbed.unlearn',
      version: 1,
      method,
      dataset: data.name,
      heldOut: data.heldOutName,
      forget: { spec: o.forget, description: split.description, samples: split.forget.length, retain: split.retain.length },
      model: desc,
      weights: o.weights,
      out: o.out,
      backend: backend.name,
      backendReason: reason,
      config,
      report: rest,
      before,
      after,
      seconds: { load: (tLoad - t0) / 1000, unlearn: report.seconds, total: (performance.now() - t0) / 1000 },
    };
  } finally {
    disposeQuietly(backend);
  }
}

function printMethod(s: UnlearnSummary): void {
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const row = (name: string, b: { accuracy: number; loss: number }, a: { accuracy: number; loss: number }) =>
    `  ${name.padEnd(22)} ${pct(b.accuracy).padStart(9)} → ${pct(a.accuracy).padStart(9)}   loss ${b.loss.toFixed(4)} → ${a.loss.toFixed(4)}`;
  const lines = [
    `unlearn ${s.method}: ${s.dataset}, forget ${s.forget.description} (${s.forget.samples} samples, ${s.forget.retain} retained), model ${describeModel(s.model)}, backend ${s.backend}`,
    `  accuracy (before → after)`,
    row('forget', s.before.forget, s.after.forget),
    row('retain', s.before.retain, s.after.retain),
    row(`${s.heldOut} (retained classes)`, s.before.testRetained, s.after.testRetained),
    row(`${s.heldOut} (all)`, s.before.test, s.after.test),
    `  MIA AUC (forget vs ${s.heldOut}, same classes) ${s.before.mia.lossAuc.toFixed(3)} → ${s.after.mia.lossAuc.toFixed(3)}; MIA-efficacy ${pct(s.before.mia.efficacy.all)} → ${pct(s.after.mia.efficacy.all)}`,
    `  ${s.report.steps} steps in ${s.seconds.unlearn.toFixed(2)} s${s.report.gu ? `; gu kept ${(100 * s.report.gu.keptFraction).toFixed(1)} % of the forget gradient's H-norm, ${s.report.gu.accepted} retain gradients accepted, ${s.report.gu.rejected} rejected` : ''}`,
    `  weights → ${s.out}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

// ---- unlearn evaluate -----------------------------------------------------------------------------

interface EvaluateCli extends DataCli {
  forget: string;
  methods: string;
  seeds: string;
  hidden: string;
  epochs: number;
  batchSize: number;
  lr: number;
  steps?: number;
  unlearnLr?: number;
  k?: number;
  scope?: string;
  geometry?: string;
  backend: string;
  out?: string;
  json?: boolean;
}

export const EVALUATE_FILES = ['unlearning.json', 'unlearning.svg', 'unlearning.png'];

function registerEvaluate(group: Command): void {
  const c = group
    .command('evaluate')
    .description('every method against retraining from scratch, over seeds: UA/RA/TA, losses, MIA, KL to the retrained model, wall time — table, JSON with the run manifest, plot')
    .requiredOption('--forget <spec>', 'class:C[,C…] | random:N | random:P% | indices:F.npy')
    .option('--methods <list>', `comma-separated, of ${UNLEARN_METHODS.join(', ')} (retrain always runs: it is the reference)`, 'ga,ga+gd,npo,gu,ft,retrain')
    .option('--seeds <n>', 'number of seeds (0 … n−1): each trains its own original model', '3');
  addDataOptions(c);
  c.option('--seed <n>', 'seed of the train/validation split', intOption('--seed', 0), 0)
    .option('--hidden <list>', 'hidden widths of the D-…-classes relu MLP', '128')
    .option('--epochs <n>', 'epochs of the original model and of retrain', intOption('--epochs'), 3)
    .option('--batch-size <n>', 'mini-batch of the original model and of retrain', intOption('--batch-size'), 128)
    .option('--lr <x>', 'SGD rate of the original model and of retrain (momentum 0.9, cosine)', positive('--lr'), 0.05)
    .option('--steps <n>', 'steps of ga, ga+gd, npo, gu (default: each method\'s)', intOption('--steps'))
    .option('--unlearn-lr <x>', 'rate of ga, ga+gd, npo, gu (default: each method\'s)', positive('--unlearn-lr'))
    .option('--k <n>', 'gu: basis size', intOption('--k'))
    .option('--scope <s>', 'gu: layer | global')
    .option('--geometry <g>', 'gu: sgd | adam')
    .option('--backend <name>', 'auto | js | native | webgpu', 'auto')
    .option('--out <DIR>', `write ${EVALUATE_FILES.join(', ')} into DIR`)
    .option('--json', 'print the result as JSON on stdout')
    .action(async (o: EvaluateCli) => {
      const r = await evaluateCommand(o);
      if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else process.stdout.write(formatHarness(r));
    });
}

function parseList(v: string, field: string): string[] {
  const items = v.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) fail('E_ARG', `expected a comma-separated list, got "${v}"`, { field });
  return items;
}

export async function evaluateCommand(o: EvaluateCli): Promise<Awaited<ReturnType<typeof evaluateUnlearning>> & { manifest: Record<string, unknown> }> {
  const methods = parseList(o.methods, '--methods').map((m) => parseUnlearnMethod(m, '--methods'));
  const nSeeds = intOption('--seeds', 1)(o.seeds);
  const seeds = Array.from({ length: nSeeds }, (_, i) => i);
  const hidden = parseList(o.hidden, '--hidden').map((s) => intOption('--hidden')(s));
  const spec: ForgetSpec = parseForgetSpec(o.forget);
  const stepOver = { steps: o.steps, lr: o.unlearnLr };
  const overrides = {
    ga: stepOver,
    'ga+gd': stepOver,
    npo: stepOver,
    gu: { ...stepOver, gu: { k: o.k, scope: o.scope as GuScope | undefined, geometry: o.geometry as GuGeometry | undefined } },
  };
  for (const m of methods) {
    const step = m !== 'ft' && m !== 'retrain';
    configFrom(m, step ? { steps: o.steps, lr: o.unlearnLr, ...(m === 'gu' ? { k: o.k, scope: o.scope, geometry: o.geometry } : {}) } : {});
  }
  const backendChoice = parseBackendChoice(o.backend);
  checkOutputPlan({
    inputs: unlearnInputs(o, spec),
    dirs: [{ flag: '--out', path: o.out, files: EVALUATE_FILES }],
  });
  const data = await loadData(o);
  const model = mlpDescription(data.train.features, hidden, data.classes);
  const hd: HarnessData = { name: data.name, train: data.train, test: data.heldOut, classes: data.classes, datasetSize: data.datasetSize };
  // The forget spec against the data before any training (unknown class, everything, …).
  await resolveForget(spec, { labels: data.train.labels, indices: data.train.indices, classes: data.classes, datasetSize: data.datasetSize }, 0);
  const { backend, reason } = await selectBackend(backendChoice);
  const say = o.json ? () => {} : note;
  say(`riverbed unlearn evaluate — backend ${backend.name} (${reason}); ${data.name}: ${data.train.count} train / ${data.heldOut.count} ${data.heldOutName}; forget ${o.forget}; ${methods.length} methods × ${seeds.length} seeds`);
  const bar = progressBar('evaluate', o.json);
  let result: Awaited<ReturnType<typeof evaluateUnlearning>>;
  try {
    result = await evaluateUnlearning(hd, {
      backend,
      model,
      forget: spec,
      methods,
      seeds,
      recipe: { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, momentum: 0.9 },
      overrides,
      onProgress: startOnFirstReport(bar),
    });
  } finally {
    bar.stop();
    disposeQuietly(backend);
  }
  const manifest = {
    ...runManifest({
      backend: result.backend,
      seeds,
      inputs: unlearnInputPaths(o, spec),
      parameters: {
        dataset: o.dataset ?? null,
        forget: o.forget,
        methods,
        hidden,
        epochs: o.epochs,
        batchSize: o.batchSize,
        lr: o.lr,
        split: o.dataset !== undefined ? `the bundled split with seed ${o.seed}` : `validation ${o.valFraction} of --inputs (seed ${o.seed})`,
        trainSize: o.trainSize ?? null,
        valSize: o.valSize ?? null,
        testSize: o.testSize ?? null,
        steps: o.steps ?? null,
        unlearnLr: o.unlearnLr ?? null,
        configs: result.configs,
      },
    }),
    command: ['riverbed', ...process.argv.slice(2)].join(' '),
    backendReason: reason,
  };
  // The format names the file for `riverbed report` (files written before it are known by name).
  const full = { format: 'riverbed.unlearn-evaluation' as const, version: 1 as const, ...result, manifest };
  if (o.out !== undefined) {
    const svg = await renderSvg(harnessPlot(result, `${data.name}, forget ${result.forget.description[0]}: forget accuracy vs TA (${describeModel(model)}, ${seeds.length} seeds)`));
    const files: PendingFile[] = [
      { path: join(o.out, 'unlearning.json'), data: Buffer.from(JSON.stringify(full, null, 2) + '\n', 'utf8') },
      { path: join(o.out, 'unlearning.svg'), data: Buffer.from(svg, 'utf8') },
      { path: join(o.out, 'unlearning.png'), data: svgToPng(svg) },
    ];
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

