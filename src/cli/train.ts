/**
 * `riverbed train`: train an MLP on MNIST (bundled) or on `.npy` inputs/labels, optionally
 * recording per-sample trajectories (`--record DIR`) and saving the weights (`--save`).
 */
import type { Command } from 'commander';
import type { Backend } from '../backends/backend.js';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import { type Dataset, loadNpyDataset, numClasses, splitDataset } from '../data/dataset.js';
import { MNIST_CLASSES, loadMnist } from '../data/mnist.js';
import { OnlineCld } from '../coreset/online.js';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { encodeNpy } from '../io/npy.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { type ModelDescription, describeModel, inputField, inputMismatch, loadModelDescription, mlpDescription, outputSize } from '../model/description.js';
import { Mlp } from '../model/mlp.js';
import { accuracy, evaluateSamples, meanLoss } from '../train/evaluate.js';
import { OPTIMIZER_STATE_NAMES, type OptimizerConfig, optimizerConfig, parseOptimizer } from '../train/optimizer.js';
import { type OptimizerCliOptions, addOptimizerOptions, optimizerOverrides } from './optimizer-options.js';
import { type ResumeCliOptions, type ResumePlan, addResumeOptions, resumeInputs, resumePlan, runDirPlan } from './train-resume.js';
import { collectProbe, exceededSteps, makeProbes, probeBatch, probeFiles, probeSpecs, writeProbes } from './train-probes.js';
import { type ProbeSpec, representationLayer } from '../curvature/train-probes.js';
import { type CheckpointRun, CheckpointWriter, dataDigest, loadResume } from '../train/checkpoint.js';
import { type SafConfig, parseSaf } from '../train/saf.js';
import type { PlanDir, PlanInput } from '../io/output-plan.js';
import { type RunConfig, type RunHooks, runTraining, toDevice } from '../train/run.js';
import { type ScheduleConfig, compileSchedule } from '../train/schedule.js';
import { RECORD_FILES } from '../train/recorder.js';
import { stepsPerEpoch } from '../train/trainer.js';
import { parseDecimal } from './numbers.js';
import { disposeQuietly, intOption, numberOption, progressBar } from './options.js';
import { requireFits, requireTrainingFits } from './resources.js';
import { type Snapshot, checkpointEpochs, checkpointFile, snapshot, writeCheckpoints } from './train-checkpoints.js';
import { SCHEDULE_FLAGS, type ScheduleCliOptions, addScheduleOptions, scheduleFromOptions } from './schedule-options.js';
import type { BranchCliOptions } from './train-branches.js';

export interface TrainCliOptions extends ScheduleCliOptions, OptimizerCliOptions, ResumeCliOptions, BranchCliOptions {
  dataset?: string;
  inputs?: string;
  labels?: string;
  trainSize?: number;
  valSize?: number;
  valFraction: number;
  model?: string;
  hidden: number;
  epochs: number;
  batchSize: number;
  optimizer: string;
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  schedule: string;
  warmup: number;
  seed: number;
  record?: string;
  force?: boolean;
  recordInit?: boolean;
  checkpoints?: number;
  onlineCld?: string;
  onlineCldSource: string;
  probe?: string[];
  probeSize: number;
  saf?: string;
  save?: string;
  init?: string;
  backend: string;
  json?: boolean;
}

export function registerTrain(program: Command): void {
  const train = program
    .command('train')
    .description('Train a model (an MLP, or a CNN from --model) and optionally record per-sample loss trajectories (for `riverbed coreset cld`).')
    .option('--dataset <name>', 'bundled dataset: mnist (60 000 train digits split into train/val; t10k is the test split) | fashion-mnist (60 000 split into train/val, a fixed 10 000-image test split)')
    .option('--inputs <X.npy>', 'inputs [N, D] or images [N, C, H, W], float32/float64 (instead of --dataset)')
    .option('--labels <Y.npy>', 'integer labels [N] (with --inputs)')
    .option('--train-size <n>', 'mnist: training digits (default: all 50 000 left after validation)', intOption('--train-size'))
    .option('--val-size <n>', 'mnist: validation digits (default 10 000)', intOption('--val-size', 0))
    .option('--val-fraction <f>', '--inputs: fraction held out for validation', numberOption('--val-fraction', (n) => n >= 0 && n < 1, 'a number in [0, 1)'), 0.1)
    .option('--model <M.json>', 'model description (riverbed.model JSON: linear, conv2d, pooling, flatten layers; docs/models.md); default D-<hidden>(relu)-classes')
    .option('--hidden <n>', 'hidden width of the default model', intOption('--hidden'), 128)
    .option('--init <W.safetensors>', 'start from these weights instead of a seeded initialisation')
    .option('--epochs <n>', 'epochs', intOption('--epochs'), 10)
    .option('--batch-size <n>', 'mini-batch size', intOption('--batch-size'), 128)
    .option('--optimizer <name>', 'sgd | adam | adamw | adagrad | classp (docs/optimizers.md)', 'sgd')
    .option('--lr <x>', 'base learning rate (default: sgd 0.05, adam/adamw 0.001, adagrad 0.01, classp 0.2)', numberOption('--lr', (n) => n > 0, 'a positive number'))
    .option('--momentum <x>', 'sgd momentum (default 0.9)', numberOption('--momentum', (n) => n >= 0 && n < 1, 'a number in [0, 1)'))
    .option('--nesterov', 'sgd: Nesterov momentum')
    .option('--weight-decay <x>', 'weight decay (default 0; adamw 0.01)', numberOption('--weight-decay', (n) => n >= 0, 'a number ≥ 0'))
    .option('--schedule <name>', 'learning-rate schedule, per step: constant | linear | cosine | wsd | wsd-s | rex | infinite | cyclic | inverse-sqrt (docs/schedules.md; parameters below)', 'cosine')
    .option('--warmup <steps>', 'linear warmup steps', intOption('--warmup', 0), 0)
    .option('--seed <n>', 'seed of initialisation, shuffling and the train/val split', intOption('--seed', 0), 0)
    .option('--record <DIR>', 'write per-sample trajectories (train_*.npy, val_*.npy, trajectory.json) into DIR')
    .option('--force', 'let --record overwrite an existing recorded run in DIR (never an input)')
    .option('--record-init', 'also record before the first update (checkpoint "init")')
    .option('--checkpoints <N>', 'with --record: save the weights before training, every N epochs and after the last into DIR/checkpoints/ (for `riverbed landscape trajectory`)', intOption('--checkpoints'))
    .option('--online-cld <scores.npy>', 'accumulate CLD scores while training (running sums, O(N) memory, no trajectory files) and write them as float32 .npy')
    .option('--online-cld-source <src>', 'train losses for --online-cld: eval (an evaluation pass over the train set after each epoch, = offline CLD) | batch (the losses of the training mini-batches, no extra pass)', 'eval')
    .option('--save <W.safetensors>', 'write the trained weights (PyTorch names: 0.weight [out, in], 0.bias, …)')
    .option('--backend <name>', 'auto | js | native | webgpu', 'auto')
    .option('--json', 'print the result as JSON on stdout')
    .action(async (o: TrainCliOptions) => {
      if (o.branchAt !== undefined) {
        // Branching WSD: a main branch and a decay per budget (cli/train-branches.ts).
        const br = await import('./train-branches.js');
        const s = await br.branchCommand(o);
        if (o.json) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
        else br.printBranchSummary(s);
        return;
      }
      const summary = await trainCommand(o);
      if (o.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      else printSummary(summary);
    });
  addResumeOptions(train);
  train
    .option('--probe <NAME[:every=N]>', 'measure along the run on a fixed probe batch: loss | gradnorm | sharpness (λ_max by Lanczos) | ghosts (the ghosts-of-softmax radius of each update) | rankme, alphareq (of a layer\'s representations: NAME:layer=L) | cond (each weight\'s σ_max/σ_min); every N steps (default 50) and at step 0; repeat or comma-separate; written to the run directory (probes.json, probe-NAME.png; docs/probes.md)', collectProbe)
    .option('--probe-size <n>', 'samples in the probe batch (drawn once from the training rows by the seed)', intOption('--probe-size', 1), 256)
    .option('--saf <lambda=X,epochs=E[,tau=T][,direction=D]>', 'SAF (sharpness-aware training for free): add λ·τ²·KL(current ‖ recorded) of each sample\'s softmax output against its output E epochs earlier to every batch (direction=recorded-current: the official code\'s KL(recorded ‖ current); τ default 1); trains on the composed path; docs/probes.md')
    .option('--branch-at <f,…>', 'with --schedule wsd and --run DIR: branching WSD — one constant-rate main branch and, for each fraction f of --epochs (increasing, in (0, 1]), a decay branch of round(f·epochs) epochs whose decay is its last round(F·T_b) steps (docs/schedules.md)', branchList)
    .option('--eval-every <N>', 'with --branch-at: evaluate the validation set every N steps for the loss curves (default 50)', intOption('--eval-every', 1))
    .option('--valley-every <N>', 'with --branch-at: the river-valley probe every N steps on the probe batch (λ_max and the last update along its eigenvector; docs/probes.md)', intOption('--valley-every', 1));
  addOptimizerOptions(train);
  addScheduleOptions(train); // the schedules' own parameters, listed last
}

export interface Loaded {
  datasetName: string;
  train: Dataset;
  val?: Dataset;
  test?: Dataset;
  classes: number;
}

/** --branch-at: comma-separated decimal fractions (their range and order are checked with the schedule). */
function branchList(v: string): number[] {
  return v.split(',').map((part, i) => parseDecimal(part, '--branch-at', `comma-separated fractions (entry ${i + 1})`));
}

export async function loadData(o: TrainCliOptions): Promise<Loaded> {
  if (o.dataset !== undefined && o.inputs !== undefined) fail('E_ARG', 'give either --dataset or --inputs/--labels, not both', { field: '--dataset' });
  if (o.dataset !== undefined) {
    if (o.dataset !== 'mnist' && o.dataset !== 'fashion-mnist') fail('E_ARG', `unknown dataset "${o.dataset}"; expected mnist or fashion-mnist`, { field: '--dataset' });
    const s = o.dataset === 'mnist' ? await loadMnist({ seed: o.seed, trainSize: o.trainSize, valSize: o.valSize }) : await (await import('../data/fashion.js')).loadFashionMnist({ seed: o.seed, trainSize: o.trainSize, valSize: o.valSize });
    return { datasetName: o.dataset, train: s.train, val: s.val.count ? s.val : undefined, test: s.test, classes: MNIST_CLASSES };
  }
  if (o.inputs === undefined || o.labels === undefined) fail('E_ARG', 'give --dataset mnist, or both --inputs X.npy and --labels Y.npy', { field: o.inputs ? '--labels' : '--inputs' });
  const all = await loadNpyDataset(o.inputs, o.labels);
  const valCount = Math.round(all.count * o.valFraction);
  if (all.count - valCount < 1) fail('E_ARG', `--val-fraction ${o.valFraction} leaves no training samples out of ${all.count}`, { field: '--val-fraction' });
  const { train, val } = splitDataset(all, valCount, o.seed);
  return { datasetName: o.inputs, train, val: val.count ? val : undefined, classes: numClasses(all) };
}

export function checkModel(desc: ModelDescription, file: string, data: Dataset, classes: number): void {
  const why = inputMismatch(desc, data.features, data.shape);
  if (why) fail('E_MODEL', why, { file, field: inputField(desc) });
  if (outputSize(desc) < classes) fail('E_MODEL', `the model has ${outputSize(desc)} outputs but the labels need ${classes} classes`, { file, field: 'layers[-1].out' });
}

export interface TrainSummary {
  format: 'riverbed.train';
  version: 1;
  dataset: string;
  backend: string;
  backendReason: string;
  model: ModelDescription;
  parameters: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig & { totalSteps: number };
  epochs: number;
  batchSize: number;
  seed: number;
  samples: { train: number; val: number; test: number };
  epochLoss: number[];
  /** classp: the fraction of coordinates a step moved (g² > threshold), over the run and per epoch. */
  classp?: { movedFraction: { mean: number; perEpoch: number[] } };
  /** --saf: its settings and the mean KL of each epoch from firstEpoch (E + 1) on (train/saf.ts). */
  saf?: Required<SafConfig> & { firstEpoch: number; meanKl: number[] };
  val?: { loss: number; accuracy: number };
  test?: { loss: number; accuracy: number };
  seconds: { load: number; train: number; record: number; total: number };
  record?: string;
  onlineCld?: { path: string; source: 'eval' | 'batch'; checkpoints: number };
  save?: string;
  /** --run / --resume: the run directory, the step interval, the checkpoints this command wrote, where it resumed and stopped. */
  checkpoints?: { run: string; every: number; written: string[]; resumedFrom?: string; stoppedAt?: number };
  /** --probe: where probes.json went and each probe's last values (ghosts: the steps whose update exceeded ρ). */
  probes?: { dir: string; last: Record<string, Record<string, number>>; ghostsExceeded?: number[] };
}

async function trainCommand(o: TrainCliOptions): Promise<TrainSummary> {
  const t0 = performance.now();
  for (const [flag, v] of [['--eval-every', o.evalEvery], ['--valley-every', o.valleyEvery]] as const) if (v !== undefined) fail('E_ARG', 'applies to a branching run only: give --schedule wsd --branch-at f,… too', { field: flag });
  const optimizerName = parseOptimizer(o.optimizer);
  const optimizer = optimizerConfig(optimizerName, { lr: o.lr, momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay, ...optimizerOverrides(o) });
  const schedule: ScheduleConfig = scheduleFromOptions(o.schedule, o.warmup, o);
  const backendChoice = parseBackendChoice(o.backend);
  if (o.checkpoints !== undefined && o.record === undefined) fail('E_ARG', 'checkpoints go into the run directory: give --record DIR too', { field: '--checkpoints' });
  const rp = resumePlan(o);
  const saf = o.saf !== undefined ? safOption(o) : undefined;
  const probeDir = rp.runDir ?? o.record;
  const probes = probeSpecs(o.probe, probeDir);
  checkOutputs(o, rp, undefined, probes);
  // Validate the model file before the (slow) data load and training.
  const fileDesc = o.model ? await loadModelDescription(o.model) : undefined;
  const data = await loadData(o);
  const features = data.train.features;
  const desc = fileDesc ?? mlpDescription(features, [o.hidden], data.classes);
  checkModel(desc, o.model ?? '<default model>', data.train, data.classes);
  for (const p of probes ?? []) if (p.layer !== undefined) representationLayer({ description: desc }, p);
  // Sizes that cannot fit (--hidden 1e9, a stray label 1 048 575, --epochs 1e9 --record): refused with the estimate, before any work.
  requireTrainingFits({
    model: desc, batchSize: o.batchSize, train: data.train.count, val: data.val?.count ?? 0, features, optimizerStates: OPTIMIZER_STATE_NAMES[optimizer.name].length,
    checkpoints: o.record !== undefined ? o.epochs + (o.recordInit ? 1 : 0) : 0, modelFlag: o.model ? '--model' : '--hidden', describe: describeModel(desc),
    labels: fileDesc || o.labels === undefined ? undefined : { sets: data.val ? [data.train.labels, data.val.labels] : [data.train.labels], classes: data.classes, file: o.labels },
  });
  if (saf) {
    // With --run each checkpoint takes a copy of them.
    requireSafFits(saf, data.train.count, desc, rp.runDir !== undefined ? 2 : 1, rp.runDir !== undefined ? ', twice for a checkpoint' : '');
  }
  // What depends on the number of steps (phases that must fit, decay points), before any work.
  compileSchedule(optimizer.lr, stepsPerEpoch(data.train.count, o.batchSize) * o.epochs, schedule, SCHEDULE_FLAGS);
  // A resume from another model, optimizer, schedule or data is refused here; then the run directory's files join the output rule.
  const runInfo: CheckpointRun = {
    dataset: { name: data.datasetName, train: data.train.count, features, digest: dataDigest(data.train.indices, data.train.labels) },
    model: desc, optimizer, schedule: { ...schedule, totalSteps: stepsPerEpoch(data.train.count, o.batchSize) * o.epochs }, epochs: o.epochs, batchSize: o.batchSize, seed: o.seed,
    ...(o.record !== undefined ? { record: { init: !!o.recordInit } } : {}),
    ...(probes ? { probes: { specs: probes.map((p) => ({ name: p.name, every: p.every, ...(p.layer !== undefined ? { layer: p.layer } : {}) })), size: Math.min(o.probeSize, data.train.count) } } : {}),
    ...(saf ? { saf } : {}),
  };
  const rd = runDirPlan(rp, runInfo, runInfo.schedule.totalSteps, stepsPerEpoch(data.train.count, o.batchSize), o.force === true);
  if (rd) checkOutputs(o, rp, rd.dir, probes);
  const tLoad = performance.now();

  const { backend, reason } = await selectBackend(backendChoice);
  try {
    const from = rp.from ? await loadResume(rp.from.dir, rp.from.runDir, rp.from.state) : undefined;
    const model = from ? await Mlp.load(backend, desc, from.weightsFile) : o.init ? await Mlp.load(backend, desc, o.init) : Mlp.init(backend, desc, o.seed);
    const cfg: RunConfig = { epochs: o.epochs, batchSize: o.batchSize, optimizer, schedule, seed: o.seed, record: o.record !== undefined, recordInit: !!o.recordInit, ...(saf ? { saf } : {}) };
    const pb = probes ? probeBatch(backend, data.train, o.probeSize, o.seed) : undefined;
    const watch = probes ? makeProbes(model, pb!, probes, o.seed) : undefined;
    if (watch) {
      if (from) {
        watch.restore(from.probes as Parameters<typeof watch.restore>[0]);
        await watch.begin(from.resume.step);
      } else await watch.measure(0);
      cfg.probeEvery = watch.intervals;
      cfg.probeAt = watch.probeAt(from?.resume.step ?? 0, runInfo.schedule.totalSteps);
    }
    const writer = rd ? new CheckpointWriter(rp.runDir!, runInfo, rd.every, rp.from && rp.from.runDir === rp.runDir ? rp.from.state.recorded : 0, watch ? () => watch.records : undefined) : undefined;
    if (rd) cfg.saveEvery = rd.every;
    if (rp.stopAfter !== undefined) cfg.stopAfter = rp.stopAfter;
    if (from) cfg.resume = { train: from.resume, rows: from.rows };
    const online = o.onlineCld !== undefined ? onlineCldHooks(o, data, cfg) : undefined;
    const train = toDevice(backend, data.train);
    const val = data.val ? toDevice(backend, data.val) : undefined;
    const total = stepsPerEpoch(data.train.count, o.batchSize) * o.epochs;
    const bar = progressBar('training', o.json);
    bar.start(total);
    if (from) bar.update(from.resume.step, { info: `resumed at step ${from.resume.step}` });
    let lastLoss = '';
    const every = o.checkpoints;
    const snaps: Snapshot[] = every ? [snapshot(model, 0)] : [];
    const run = await runTraining(model, train, val, cfg, {
      onStep: (step, _t, epoch) => {
        if (step % 10 === 0 || step === total) bar.update(step, { info: `epoch ${epoch}/${o.epochs}${lastLoss}` });
      },
      onEpoch: (e, loss) => {
        lastLoss = ` loss ${loss.toFixed(4)}`;
        if (every && (e % every === 0 || e === o.epochs)) snaps.push(snapshot(model, e));
      },
      ...(writer ? { onSave: async (s, recorder) => void (await writer.write(model, s, recorder)) } : {}),
      ...(watch ? { onProbe: async (t) => void (await watch.measure(t)) } : {}),
      ...online?.hooks,
    });
    bar.stop();
    const summary: TrainSummary = {
      format: 'riverbed.train',
      version: 1,
      dataset: data.datasetName,
      backend: backend.name,
      backendReason: reason,
      model: desc,
      parameters: model.parameterCount,
      optimizer,
      schedule: { ...schedule, totalSteps: total },
      epochs: o.epochs,
      batchSize: o.batchSize,
      seed: o.seed,
      samples: { train: data.train.count, val: data.val?.count ?? 0, test: data.test?.count ?? 0 },
      epochLoss: run.epochLoss,
      seconds: { load: (tLoad - t0) / 1000, train: run.trainSeconds, record: run.recordSeconds, total: 0 },
    };
    if (run.updateFraction) summary.classp = { movedFraction: movedFractions(run.updateFraction, stepsPerEpoch(data.train.count, o.batchSize)) };
    if (saf && run.saf) summary.saf = { ...saf, firstEpoch: run.saf.firstEpoch, meanKl: run.saf.meanKl };
    // A stopped run is unfinished: only its checkpoints are written (no --save, --record, --checkpoints).
    const stopped = run.stoppedAt !== undefined;
    if (writer) {
      summary.checkpoints = { run: rp.runDir!, every: rd!.every, written: writer.written, ...(rp.from ? { resumedFrom: rp.from.dir } : {}), ...(stopped ? { stoppedAt: run.stoppedAt } : {}) };
    }
    if (val) {
      const m = await evaluateSamples(model, val.x, val.labels);
      summary.val = { loss: meanLoss(m), accuracy: accuracy(m) };
    }
    if (data.test) {
      const test = toDevice(backend, data.test);
      const m = await evaluateSamples(model, test.x, test.labels);
      backend.free(test.x);
      summary.test = { loss: meanLoss(m), accuracy: accuracy(m) };
    }
    if (o.record !== undefined && !stopped) {
      run.recorder!.write(o.record, {
        dataset: data.datasetName,
        model: desc,
        optimizer,
        schedule: summary.schedule,
        batchSize: o.batchSize,
        seed: o.seed,
        backend: backend.name,
        epochLoss: run.epochLoss,
        ...(every ? { weightCheckpoints: { every, files: checkpointEpochs(o.epochs, every).map((epoch) => ({ epoch, file: checkpointFile(epoch) })) } } : {}),
      });
      if (every) await writeCheckpoints(o.record, snaps, desc);
      summary.record = o.record;
    }
    if (online) {
      writeFileAtomic(o.onlineCld!, encodeNpy(online.cld.scores(), [data.train.count]));
      summary.onlineCld = { path: o.onlineCld!, source: online.source, checkpoints: online.cld.checkpoints };
    }
    if (watch && !stopped) {
      await writeProbes(probeDir!, watch, { dataset: data.datasetName, model: desc, probeRows: pb!.rows.length, steps: total, seed: o.seed, backend: backend.name });
      summary.probes = { dir: probeDir!, last: Object.fromEntries(watch.specs.map((s) => [s.name, watch.records.filter((r) => r.probe === s.name).at(-1)?.values ?? {}])) };
      if (watch.specs.some((s) => s.name === 'ghosts')) summary.probes.ghostsExceeded = exceededSteps(watch);
    }
    if (watch) {
      watch.dispose();
      backend.free(pb!.x);
      backend.free(pb!.labels);
    }
    if (o.save !== undefined && !stopped) {
      await model.save(o.save, { 'riverbed.dataset': data.datasetName, 'riverbed.seed': String(o.seed) });
      summary.save = o.save;
    }
    backend.free(train.x);
    if (val) backend.free(val.x);
    model.dispose();
    summary.seconds.total = (performance.now() - t0) / 1000;
    return summary;
  } finally {
    disposeQuietly(backend);
  }
}

/** Online CLD (`--online-cld`): the run hooks that feed an OnlineCld at every checkpoint. */
function onlineCldHooks(o: TrainCliOptions, data: Loaded, cfg: RunConfig): { cld: OnlineCld; source: 'eval' | 'batch'; hooks: Pick<RunHooks, 'onCheckpoint' | 'onBatchLoss'> } {
  const source = o.onlineCldSource;
  if (source !== 'eval' && source !== 'batch') fail('E_ARG', `expected eval or batch, got "${source}"`, { field: '--online-cld-source' });
  if (!data.val) fail('E_ARG', 'online CLD needs validation samples (--val-size > 0 or --val-fraction > 0)', { field: '--online-cld' });
  if (o.epochs < 2 + (o.recordInit && source === 'eval' ? 0 : 1)) fail('E_ARG', 'online CLD needs at least 3 checkpoints (epochs, plus "init" with --record-init)', { field: '--epochs' });
  const valData = data.val;
  const cld = new OnlineCld(data.train.labels, data.classes);
  const batchLoss = new Float32Array(data.train.count);
  cfg.evaluate = { train: source === 'eval', val: true };
  return {
    cld,
    source,
    hooks: {
      onBatchLoss: source === 'batch' ? (_e, rows, loss) => rows.forEach((r, j) => (batchLoss[r] = loss[j]!)) : undefined,
      onCheckpoint: (cp, tr, va) => {
        if (source === 'batch' && cp === 'init') return; // no training batches before the first update
        cld.observeVal(source === 'eval' ? tr!.loss : batchLoss, va!.loss, valData.labels);
      },
    },
  };
}

/** The files a training run reads (for the output rule: none of them may be an output). */
export function trainInputs(o: TrainCliOptions): PlanInput[] {
  return [
    { flag: '--model', path: o.model },
    { flag: '--inputs', path: o.inputs },
    { flag: '--labels', path: o.labels },
    { flag: '--init', path: o.init },
  ];
}

/** The output rule (src/io/output-plan.ts) before any work: no output is an input, a special file, unwritable, or an existing run without --force. */
function checkOutputs(o: TrainCliOptions, rp: ResumePlan, runDir?: PlanDir, probes?: ProbeSpec[]): void {
  const probeDir = rp.runDir ?? o.record;
  checkOutputPlan({
    inputs: [...trainInputs(o), ...resumeInputs(rp)],
    files: [
      { flag: '--save', path: o.save },
      { flag: '--online-cld', path: o.onlineCld },
    ],
    dirs: [
      { flag: '--record', path: o.record, files: [...RECORD_FILES, ...(o.checkpoints ? checkpointEpochs(o.epochs, o.checkpoints).map(checkpointFile) : [])], guard: { what: 'a recorded run', force: o.force === true } },
      ...(runDir ? [runDir] : []),
      ...(probes && probeDir !== undefined ? [{ flag: '--probe', path: probeDir, files: probeFiles(probes), guard: { what: 'probe results', force: o.force === true || rp.from !== undefined } }] : []),
    ],
  });
}

/** SAF's recorded outputs (E·rows·C floats) times the `copies` kept at once must fit; `why` ends the size's description. */
export function requireSafFits(saf: Required<SafConfig>, rows: number, desc: ModelDescription, copies: number, why: string): void {
  const outs = saf.epochs * rows * outputSize(desc);
  requireFits(`SAF's recorded outputs (${saf.epochs} epochs × ${rows} samples × ${outputSize(desc)} outputs${why})`, { buffers: 4 * outs * copies, largestArray: outs }, '--saf', 'use a smaller epochs=E');
}

/** --saf: parsed and checked against the run before any work (checkpoints of --run carry its state: saf.safetensors). */
function safOption(o: TrainCliOptions): Required<SafConfig> {
  const saf = parseSaf(o.saf!);
  if (saf.epochs >= o.epochs) fail('E_ARG', `epochs=${saf.epochs}: the term compares with outputs recorded E epochs earlier, so E must be below --epochs ${o.epochs}`, { field: '--saf' });
  return saf;
}

/** classp's per-step moved fractions as the run's mean and each epoch's mean. */
function movedFractions(f: readonly number[], perEpoch: number): { mean: number; perEpoch: number[] } {
  const mean = (a: readonly number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : 0);
  const epochs: number[] = [];
  for (let i = 0; i < f.length; i += perEpoch) epochs.push(mean(f.slice(i, i + perEpoch)));
  return { mean: mean(f), perEpoch: epochs };
}

function printSummary(s: TrainSummary): void {
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const lines = [
    `backend     ${s.backend} (${s.backendReason})`,
    `data        ${s.dataset}: ${s.samples.train} train, ${s.samples.val} val${s.samples.test ? `, ${s.samples.test} test` : ''}`,
    `model       ${describeModel(s.model)} (${s.parameters} parameters)`,
    `training    ${s.epochs} epochs × ${s.schedule.totalSteps / s.epochs} steps, batch ${s.batchSize}, ${s.optimizer.name} lr ${s.optimizer.lr}, ${s.schedule.name} schedule`,
    `loss        ${s.epochLoss.map((l) => l.toFixed(4)).join(' → ')}`,
  ];
  if (s.saf) lines.push(`saf         λ ${s.saf.lambda}, E ${s.saf.epochs}, τ ${s.saf.temperature}, KL(${s.saf.direction === 'current-recorded' ? 'current ‖ recorded' : 'recorded ‖ current'}) per epoch from ${s.saf.firstEpoch}: ${s.saf.meanKl.map((k) => k.toPrecision(3)).join(' → ')}`);
  if (s.classp) lines.push(`classp      moved ${pct(s.classp.movedFraction.mean)} of the coordinates per step (per epoch: ${s.classp.movedFraction.perEpoch.map(pct).join(', ')})`);
  if (s.val) lines.push(`validation  accuracy ${pct(s.val.accuracy)}, loss ${s.val.loss.toFixed(4)}`);
  if (s.test) lines.push(`test        accuracy ${pct(s.test.accuracy)}, loss ${s.test.loss.toFixed(4)}`);
  lines.push(`time        load ${s.seconds.load.toFixed(1)} s, train ${s.seconds.train.toFixed(1)} s, record ${s.seconds.record.toFixed(1)} s, total ${s.seconds.total.toFixed(1)} s`);
  if (s.record) lines.push(`trajectory  ${s.record}/trajectory.json`);
  if (s.onlineCld) lines.push(`online CLD  ${s.onlineCld.path} (${s.onlineCld.source} losses, ${s.onlineCld.checkpoints} checkpoints)`);
  if (s.save) lines.push(`weights     ${s.save}`);
  if (s.probes) {
    const shown = (n: string) => !['matvecs', 'converged', 'sample', 'dims', 'points', 'layer', 'spread', 'exceeded'].includes(n) && !n.startsWith('sigma');
    lines.push(`probes      ${Object.entries(s.probes.last).map(([k, v]) => `${k} ${Object.entries(v).filter(([n]) => shown(n)).map(([n, x]) => `${n} ${x.toPrecision(4)}`).join(' ')}`).join('; ')} (${s.probes.dir}/probes.json)`);
    if (s.probes.ghostsExceeded) lines.push(`ghosts      the update exceeded ρ at ${s.probes.ghostsExceeded.length} measured step(s)${s.probes.ghostsExceeded.length ? `: ${s.probes.ghostsExceeded.slice(0, 10).join(', ')}${s.probes.ghostsExceeded.length > 10 ? ', …' : ''}` : ''}`);
  }
  if (s.checkpoints) {
    const c = s.checkpoints;
    lines.push(`checkpoints ${c.written.length} written into ${c.run}/checkpoints (every ${c.every} steps)${c.resumedFrom ? `, resumed from ${c.resumedFrom}` : ''}`);
    if (c.stoppedAt !== undefined) lines.push(`stopped     after step ${c.stoppedAt} of ${s.schedule.totalSteps}: only checkpoints were written; go on with --resume ${c.run}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}
