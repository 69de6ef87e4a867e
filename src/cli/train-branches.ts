/**
 * `riverbed train --schedule wsd --branch-at f_1,…,f_k --run DIR [--eval-every N] [--valley-every N]`:
 * branching WSD (src/train/branches.ts; docs/schedules.md "Branching WSD"). Writes into DIR
 *
 *   main/checkpoints/step-NNNNNNNN/   exact checkpoints of the main branch at every branch point
 *                                     (train/checkpoint.ts: a constant-rate run; `--resume` reads them)
 *   main/, branch-<f>/                curve.json (per-step batch losses, evaluations, final numbers),
 *                                     weights.safetensors
 *   branches.json, losses.{svg,png}   the summary and the plot of every branch's loss curve
 *   valley.json, valley-*.{svg,png}   with --valley-every: the river-valley probe (curvature/river-valley.ts)
 *
 * Everything is validated and every output checked by the output rule before the first step.
 */
import { join } from 'node:path';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import { RiverValleyProbe, type ValleyRecord } from '../curvature/river-valley.js';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutputPlan, makeOutputDir } from '../io/output-plan.js';
import { describeModel, loadModelDescription, mlpDescription } from '../model/description.js';
import { Mlp } from '../model/mlp.js';
import { writePlot } from '../plot/index.js';
import { type BranchFieldNames, type BranchPlan, type WsdBranchesResult, checkBranchFractions, mainBranchSchedule, planBranches, runWsdBranches, wsdBranchFiles, writeWsdBranches } from '../train/branches.js';
import { type CheckpointRun, CheckpointWriter, checkpointFiles, checkpointPath, dataDigest } from '../train/checkpoint.js';
import { OPTIMIZER_STATE_NAMES, optimizerConfig, parseOptimizer } from '../train/optimizer.js';
import { type SafConfig, parseSaf } from '../train/saf.js';
import { toDevice } from '../train/run.js';
import { compileSchedule } from '../train/schedule.js';
import { stepsPerEpoch } from '../train/trainer.js';
import { optimizerOverrides } from './optimizer-options.js';
import { disposeQuietly, progressBar } from './options.js';
import { requireTrainingFits } from './resources.js';
import { SCHEDULE_FLAGS, scheduleFromOptions } from './schedule-options.js';
import { type TrainCliOptions, checkModel, loadData, requireSafFits, trainInputs } from './train.js';
import { probeBatch } from './train-probes.js';

export interface BranchCliOptions {
  branchAt?: number[];
  evalEvery?: number;
  valleyEvery?: number;
}

const NAMES: BranchFieldNames = { ...SCHEDULE_FLAGS, branchAt: '--branch-at' };
export const VALLEY_FILE = 'valley.json';
const VALLEY_PLOTS = [
  { file: 'valley-lambda', key: 'lambdaMax', label: 'λ_max of the probe-batch Hessian', log: false },
  { file: 'valley-along', key: 'along', label: '|⟨Δθ, v₁⟩| (last update along the top eigenvector)', log: true },
  { file: 'valley-ratio', key: 'ratio', label: '|⟨Δθ, v₁⟩| / ‖Δθ‖', log: false },
] as const;

/** Flags of `train` that mean nothing (or something else) in a branching run. */
const EXCLUDED: [keyof TrainCliOptions, string, string][] = [
  ['record', '--record', 'the branches write their curves into --run DIR'],
  ['checkpoints', '--checkpoints', 'the main branch saves exact checkpoints at the branch points'],
  ['onlineCld', '--online-cld', 'online CLD scores one run'],
  ['resume', '--resume', 'a branching run is not resumable as a whole'],
  ['stopAfter', '--stop-after', 'a branching run is not resumable as a whole'],
  ['checkpointEvery', '--checkpoint-every', 'checkpoints are taken at the branch points'],
  ['probe', '--probe', 'use --valley-every for the river-valley probe'],
  ['save', '--save', 'every branch\'s weights go into --run DIR'],
];

export interface BranchSummary {
  format: 'riverbed.wsd-branches';
  version: 1;
  run: string;
  dataset: string;
  backend: string;
  model: string;
  optimizer: ReturnType<typeof optimizerConfig>;
  schedule: ReturnType<typeof compileSchedule>['config'];
  epochs: number;
  batchSize: number;
  seed: number;
  /** With --saf: its settings, on the main branch and every decay branch. */
  saf?: Required<SafConfig>;
  stepsPerEpoch: number;
  main: { epochs: number; steps: number; val?: { loss: number; accuracy: number }; test?: { loss: number; accuracy: number } };
  branches: (BranchPlan & { val?: { loss: number; accuracy: number }; test?: { loss: number; accuracy: number } })[];
  valley?: { file: string; every: number; measurements: number };
  seconds: number;
}

function outputs(o: TrainCliOptions, plan: readonly Pick<BranchPlan, 'fraction' | 'start'>[], withCheckpoints: boolean): void {
  const files = [...wsdBranchFiles(plan as BranchPlan[])];
  const perCheckpoint = checkpointFiles(o.saf !== undefined);
  if (withCheckpoints) for (const s of new Set(plan.map((p) => p.start))) for (const f of perCheckpoint) files.push(join('main', checkpointPath(s), f));
  if (o.valleyEvery !== undefined) files.push(VALLEY_FILE, ...VALLEY_PLOTS.flatMap((p) => [`${p.file}.svg`, `${p.file}.png`]));
  checkOutputPlan({
    inputs: trainInputs(o),
    dirs: [{ flag: '--run', path: o.run, files, guard: { what: 'a branching run', force: o.force === true } }],
  });
}

export async function branchCommand(o: TrainCliOptions): Promise<BranchSummary> {
  const t0 = performance.now();
  for (const [key, flag, why] of EXCLUDED) if (o[key] !== undefined) fail('E_ARG', `does not apply with --branch-at: ${why}`, { field: flag });
  if (o.run === undefined || o.run === '') fail('E_ARG', 'a branching run writes the main branch, every branch and their checkpoints into a run directory: give --run DIR', { field: '--branch-at' });
  const optimizer = optimizerConfig(parseOptimizer(o.optimizer), { lr: o.lr, momentum: o.momentum, nesterov: o.nesterov, weightDecay: o.weightDecay, ...optimizerOverrides(o) });
  const schedule = scheduleFromOptions(o.schedule, o.warmup, o);
  checkBranchFractions(o.branchAt!, schedule, NAMES);
  const backendChoice = parseBackendChoice(o.backend);
  outputs(o, o.branchAt!.map((fraction) => ({ fraction, start: 0 })), false);
  const fileDesc = o.model ? await loadModelDescription(o.model) : undefined;
  const data = await loadData(o);
  const features = data.train.features;
  const desc = fileDesc ?? mlpDescription(features, [o.hidden], data.classes);
  checkModel(desc, o.model ?? '<default model>', data.train, data.classes);
  requireTrainingFits({
    model: desc, batchSize: o.batchSize, train: data.train.count, val: data.val?.count ?? 0, features, optimizerStates: OPTIMIZER_STATE_NAMES[optimizer.name].length,
    checkpoints: 0, modelFlag: o.model ? '--model' : '--hidden', describe: describeModel(desc),
  });
  const perEpoch = stepsPerEpoch(data.train.count, o.batchSize);
  const plan = planBranches(o.branchAt!, o.epochs, perEpoch, optimizer.lr, schedule, NAMES);
  const saf = o.saf !== undefined ? parseSaf(o.saf) : undefined;
  if (saf) {
    const least = Math.min(...plan.map((p) => p.epochs));
    if (saf.epochs >= least) fail('E_ARG', `epochs=${saf.epochs}: the term compares with outputs recorded E epochs earlier, so E must be below the smallest budget's ${least} epochs`, { field: '--saf' });
    // The live state, and a copy in the snapshot at each branch point.
    const copies = 1 + new Set(plan.map((p) => p.start)).size;
    requireSafFits(saf, data.train.count, desc, copies, `, ${copies} copies: the run and its branch points`);
  }
  outputs(o, plan, true);
  const runDir = o.run;
  const mainSteps = plan.at(-1)!.steps;
  const runInfo: CheckpointRun = {
    dataset: { name: data.datasetName, train: data.train.count, features, digest: dataDigest(data.train.indices, data.train.labels) },
    model: desc, optimizer, schedule: { ...mainBranchSchedule(schedule), totalSteps: mainSteps }, epochs: plan.at(-1)!.epochs, batchSize: o.batchSize, seed: o.seed,
    ...(saf ? { saf } : {}),
  };

  const { backend } = await selectBackend(backendChoice);
  try {
    const model = o.init ? await Mlp.load(backend, desc, o.init) : Mlp.init(backend, desc, o.seed);
    const train = toDevice(backend, data.train);
    const val = data.val ? toDevice(backend, data.val) : undefined;
    const test = data.test ? toDevice(backend, data.test) : undefined;
    const pb = o.valleyEvery !== undefined ? probeBatch(backend, data.train, o.probeSize, o.seed) : undefined;
    const probes: { branch: string; probe: RiverValleyProbe }[] = [];
    const writer = new CheckpointWriter(join(runDir, 'main'), runInfo, perEpoch);
    const bar = progressBar('branching WSD', o.json);
    let started = false;
    let r: WsdBranchesResult;
    try {
      r = await runWsdBranches(
        model,
        { x: train.x, labels: train.labels },
        { eval: val, val, test },
        { epochs: o.epochs, batchSize: o.batchSize, optimizer, schedule, seed: o.seed, branchAt: o.branchAt!, evalEvery: o.evalEvery ?? 50, ...(saf ? { saf } : {}) },
        {
          onBranchPoint: async (s, m) => void (await writer.write(m, s)),
          watch: pb
            ? (p, m) => {
                const rate = p ? compileSchedule(optimizer.lr, p.steps, schedule).rate : compileSchedule(optimizer.lr, mainSteps, mainBranchSchedule(schedule)).rate;
                const probe = new RiverValleyProbe(m, { x: pb.x, labels: pb.labels }, { every: o.valleyEvery!, seed: o.seed, rate });
                probes.push({ branch: p ? String(p.fraction) : 'main', probe });
                return probe;
              }
            : undefined,
          onProgress: (done, total, what) => {
            if (!started) bar.start(total);
            started = true;
            if (done % 10 === 0 || done === total) bar.update(done, { info: what });
          },
        },
      );
    } finally {
      bar.stop();
    }
    const info = { dataset: data.datasetName, backend: backend.name, model: desc, optimizer, schedule: compileSchedule(optimizer.lr, mainSteps, schedule).config, epochs: o.epochs, batchSize: o.batchSize, seed: o.seed, branchAt: o.branchAt, ...(saf ? { saf } : {}) };
    await writeWsdBranches(runDir, r, info, { 'riverbed.model': JSON.stringify(desc), 'riverbed.dataset': data.datasetName, 'riverbed.seed': String(o.seed) });
    let valley: BranchSummary['valley'];
    if (pb) {
      const runs = probes.map((p) => ({ branch: p.branch, records: p.probe.records }));
      await writeValley(runDir, runs, { every: o.valleyEvery!, probeRows: pb.rows.length, seed: o.seed });
      valley = { file: join(runDir, VALLEY_FILE), every: o.valleyEvery!, measurements: runs.reduce((s, x) => s + x.records.length, 0) };
      for (const p of probes) p.probe.dispose();
      backend.free(pb.x);
      backend.free(pb.labels);
    }
    for (const d of [train, val, test]) if (d) backend.free(d.x);
    model.dispose();
    const fin = (b: { val?: { loss: number; accuracy: number }; test?: { loss: number; accuracy: number } }) => ({ ...(b.val ? { val: b.val } : {}), ...(b.test ? { test: b.test } : {}) });
    return {
      format: 'riverbed.wsd-branches',
      version: 1,
      run: runDir,
      dataset: data.datasetName,
      backend: backend.name,
      model: describeModel(desc),
      optimizer,
      schedule: info.schedule,
      epochs: o.epochs,
      batchSize: o.batchSize,
      seed: o.seed,
      ...(saf ? { saf } : {}),
      stepsPerEpoch: perEpoch,
      main: { epochs: r.main.epochs, steps: r.main.steps, ...fin(r.main) },
      branches: r.branches.map((b) => ({ fraction: b.fraction, epochs: b.epochs, steps: b.steps, decaySteps: b.decaySteps, start: b.start, ...fin(b) })),
      ...(valley ? { valley } : {}),
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    disposeQuietly(backend);
  }
}

/** valley.json and its plots (one series per branch). */
export async function writeValley(dir: string, runs: { branch: string; records: ValleyRecord[] }[], info: Record<string, unknown>): Promise<void> {
  const made = makeOutputDir(dir);
  try {
    for (const p of VALLEY_PLOTS) {
      const series = runs.filter((r) => r.records.length > 0).map((r) => ({ name: r.branch === 'main' ? 'main (constant)' : `branch ${r.branch}`, x: r.records.map((q) => q.step), y: r.records.map((q) => q[p.key]) }));
      if (series.length === 0) continue;
      await writePlot({ title: `River valley: ${p.label}`, xLabel: 'optimizer step', yLabel: p.label, yScale: p.log ? 'log' : 'linear', series }, join(dir, p.file));
    }
    writeFileAtomic(join(dir, VALLEY_FILE), JSON.stringify({ format: 'riverbed.valley', version: 1, ...info, runs }, null, 1) + '\n');
  } catch (e) {
    made.undo();
    throw e;
  }
}

export function printBranchSummary(s: BranchSummary): void {
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const fin = (b: BranchSummary['main']) => [b.val ? `val loss ${b.val.loss.toFixed(4)} acc ${pct(b.val.accuracy)}` : '', b.test ? `test loss ${b.test.loss.toFixed(4)} acc ${pct(b.test.accuracy)}` : ''].filter(Boolean).join(', ');
  const lines = [
    `backend     ${s.backend}`,
    `model       ${s.model}, ${s.optimizer.name} lr ${s.optimizer.lr}, batch ${s.batchSize}, ${s.stepsPerEpoch} steps per epoch`,
    `schedule    wsd: warm-up ${s.schedule.warmupSteps}, decay fraction ${s.schedule.decayFraction} (${s.schedule.decayShape}, to ${s.schedule.minFactor}·lr) of each branch's steps`,
    `main        ${s.main.epochs} epochs = ${s.main.steps} steps at the constant rate: ${fin(s.main)}`,
    ...s.branches.map((b) => `branch ${String(b.fraction).padEnd(5)} ${b.epochs} epoch${b.epochs === 1 ? '' : 's'} = ${b.steps} steps, decay ${b.start}–${b.steps - 1}: ${fin(b)}`),
  ];
  if (s.saf) lines.push(`saf         λ ${s.saf.lambda}, E ${s.saf.epochs}, τ ${s.saf.temperature}, ${s.saf.direction} on every branch`);
  if (s.valley) lines.push(`valley      ${s.valley.measurements} measurements every ${s.valley.every} steps in ${s.valley.file}`);
  lines.push(`run         ${s.run}/branches.json, ${s.run}/losses.png (${s.seconds.toFixed(1)} s)`);
  process.stdout.write(lines.join('\n') + '\n');
}
