/**
 * `riverbed landscape interpolate A.safetensors B.safetensors`: loss and accuracy on the straight
 * line between two models (31 points on [0, 1] by default, endpoints included) and its barrier;
 * `riverbed landscape curve A B`: Garipov et al.'s quadratic Bézier curve, its bend trained with
 * t ~ U(0, 1) per mini-batch, evaluated at 61 points next to the straight line (src/landscape/connect.ts).
 */
import type { Command } from 'commander';
import { fail } from '../errors.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { encodeSafetensors } from '../io/safetensors.js';
import { accuracyBarrier, barrier, bezierCoefs, bezierFamily, lineCoefs, linspace, trainBezier } from '../landscape/connect.js';
import { difference } from '../landscape/directions.js';
import { parseGrid, parseRange } from '../landscape/grid.js';
import { type LandscapeResult, LANDSCAPE_FORMAT, LANDSCAPE_VERSION, rows } from '../landscape/result.js';
import { pointsId, runPoints } from '../landscape/run.js';
import { readModelWeights } from '../landscape/sources.js';
import { VERSION } from '../version.js';
import { type DataCliOptions, type LandscapeData, addDataOptions, checkData, dataInputs, loadData, loadDescription, openModel, pointsBar, resultFiles, writeResult } from './landscape-inputs.js';
import { landscapePictures } from './landscape-plot.js';
import { intOption, numberOption } from './options.js';

interface ConnectCliOptions extends DataCliOptions {
  model?: string;
  grid?: string;
  range: string;
  out?: string;
  plot?: string;
  // curve
  epochs: number;
  lr: number;
  momentum: number;
  curveBatch: number;
  seed: number;
  saveBend?: string;
  trainInputs?: string;
  trainLabels?: string;
  trainSamples: number;
}

const common = (cmd: Command): Command =>
  addDataOptions(
    cmd
      .argument('<A.safetensors>', 'the first model (α = 0, t = 0)')
      .argument('<B.safetensors>', 'the second model (α = 1, t = 1), same description')
      .option('--model <M.json>', 'model description (default: the riverbed.model metadata of A)')
      .option('--out <result.json>', 'result JSON (format riverbed.landscape; OUT.loss.npy and OUT.accuracy.npy beside it)')
      .option('--plot <BASE>', 'draw BASE.png and BASE.svg'),
  );

export function registerLandscapeInterpolate(landscape: Command): void {
  common(landscape.command('interpolate').description('loss and accuracy on the straight line between two models, and the barrier max L(α) − ½(L(0) + L(1))'))
    .option('--grid <N>', 'points on the line, endpoints included', '31')
    .option('--range <MIN:MAX>', 'α range (the barrier uses the points in [0, 1]; 0 and 1 must be among them)', '0:1')
    .action(async (a: string, b: string, o: ConnectCliOptions) => {
      const r = await connectCommand('interpolation', a, b, o);
      if (o.json) process.stdout.write(JSON.stringify(r, null, 1) + '\n');
    });
}

export function registerLandscapeCurve(landscape: Command): void {
  common(landscape.command('curve').description("Garipov et al.'s quadratic Bézier curve between two models: train the bend (t ~ U(0,1) per mini-batch), evaluate it and the straight line"))
    .option('--grid <N>', 'points t on [0, 1], endpoints included', '61')
    .option('--epochs <n>', 'epochs of training the bend', intOption('--epochs'), 10)
    .option('--lr <x>', 'SGD learning rate of the bend', numberOption('--lr', (n) => n > 0, 'a positive number'), 0.05)
    .option('--momentum <x>', 'SGD momentum', numberOption('--momentum', (n) => n >= 0 && n < 1, 'a number in [0, 1)'), 0.9)
    .option('--curve-batch <B>', 'mini-batch size of the bend', intOption('--curve-batch'), 128)
    .option('--seed <n>', 'seed of the shuffles and of t', intOption('--seed', 0), 0)
    .option('--save-bend <θ.safetensors>', 'write the trained bend θ')
    .option('--train-inputs <X.npy>', 'samples the bend is trained on (default: mnist\'s training split with --dataset mnist, else the evaluation samples)')
    .option('--train-labels <Y.npy>', 'their labels')
    .option('--train-samples <n>', 'use the first n training samples', intOption('--train-samples'), 10000)
    .action(async (a: string, b: string, o: ConnectCliOptions) => {
      const r = await connectCommand('curve', a, b, { ...o, range: '0:1' });
      if (o.json) process.stdout.write(JSON.stringify(r, null, 1) + '\n');
    });
}

/** The samples the bend is trained on: --train-inputs, mnist's training split, or the evaluation samples. */
async function curveTrainingData(o: ConnectCliOptions, evalData: LandscapeData): Promise<LandscapeData> {
  if ((o.trainInputs === undefined) !== (o.trainLabels === undefined)) fail('E_ARG', 'give --train-inputs and --train-labels together', { field: o.trainInputs ? '--train-labels' : '--train-inputs' });
  if (o.trainInputs !== undefined) return loadData({ ...o, inputs: o.trainInputs, labels: o.trainLabels, dataset: undefined, samples: o.trainSamples });
  if (o.dataset === 'mnist') {
    const { loadMnistPart } = await import('../data/mnist.js');
    const t = await loadMnistPart('train');
    const n = Math.min(o.trainSamples, t.count);
    return { name: `mnist/train[:${n}]`, inputs: t.inputs.subarray(0, n * t.features), labels: t.labels.subarray(0, n), count: n, features: t.features, shape: t.shape };
  }
  return evalData;
}

export async function connectCommand(kind: 'interpolation' | 'curve', a: string, b: string, o: ConnectCliOptions): Promise<LandscapeResult> {
  const t0 = performance.now();
  if (o.out === undefined && !o.json) fail('E_ARG', 'give --out result.json (or --json to print the result)', { field: '--out' });
  const [n] = parseGrid(o.grid ?? (kind === 'curve' ? '61' : '31'), 1);
  if (n < 2) fail('E_ARG', 'a line needs at least 2 points (its endpoints)', { field: '--grid' });
  const [[lo, hi]] = parseRange(o.range, 1);
  checkOutputPlan({
    inputs: [{ flag: 'A', path: a }, { flag: 'B', path: b }, { flag: '--model', path: o.model }, ...dataInputs(o), { flag: '--train-inputs', path: o.trainInputs }, { flag: '--train-labels', path: o.trainLabels }],
    files: resultFiles(o.out, o.plot, [{ flag: '--save-bend', path: o.saveBend }]),
  });
  const description = await loadDescription(o.model, a);
  const data = await loadData(o);
  checkData(description, data, o.inputs ?? data.name);
  const opened = await openModel(description, a, data, o);
  const { backend, model } = opened;
  try {
    const w1 = new Map((await model.toHost()).map((t) => [t.name, t.data]));
    const w2 = await readModelWeights(model, b, 'the second model');
    const alpha = linspace(lo, hi, n);
    const evaluate = { points: o.perDispatch, memoryBytes: o.memory * 2 ** 20 };
    const bar = pointsBar(kind === 'curve' ? 'curve' : 'line', o);
    const line = { base: w1, dirs: [difference(w2, w1)] };
    const lineId = pointsId({ description, base: w1, dirs: line.dirs, inputs: data.inputs, labels: data.labels, points: { kind: 'line', alpha } });
    bar.start(kind === 'curve' ? 2 * n : n);
    const lr = await runPoints({ model, family: line, data: opened.data, coefs: lineCoefs(alpha), id: lineId, evaluate, onProgress: (d) => bar.update(d) });
    const lineBarrier = barrier(alpha, lr.loss);
    const result: LandscapeResult = {
      format: LANDSCAPE_FORMAT,
      version: LANDSCAPE_VERSION,
      riverbed: VERSION,
      kind,
      id: lineId,
      dims: 1,
      axes: { x: { label: kind === 'curve' ? 't (0 = A, 1 = B)' : 'α (0 = A, 1 = B)', values: alpha } },
      loss: rows(lr.loss, n),
      accuracy: rows(lr.accuracy, n),
      samples: data.count,
      backend: backend.name,
      inputs: { a, b, model: o.model ?? null, data: data.name },
      barrier: lineBarrier ? { loss: lineBarrier.value, at: lineBarrier.at, endpoints: lineBarrier.endpoints, accuracyDrop: accuracyBarrier(alpha, lr.accuracy) } : null,
      distance: Math.sqrt([...line.dirs[0]!.values()].reduce((s, v) => s + v.reduce((x, y) => x + y * y, 0), 0)),
    };
    let extraFiles: { path: string; data: Uint8Array }[] = [];
    let series;
    if (kind === 'curve') {
      bar.stop();
      const trainData = await curveTrainingData(o, data);
      checkData(description, trainData, o.trainInputs ?? trainData.name);
      const tr = await trainBezier(model, w1, w2, trainData, { epochs: o.epochs, batchSize: o.curveBatch, lr: o.lr, momentum: o.momentum, seed: o.seed });
      bar.start(2 * n);
      bar.update(n);
      const fam = bezierFamily(w1, tr.theta, w2);
      const id = pointsId({ description, base: fam.base, dirs: fam.dirs, inputs: data.inputs, labels: data.labels, points: { kind: 'bezier', t: alpha } });
      const cr = await runPoints({ model, family: fam, data: opened.data, coefs: bezierCoefs(alpha), id, evaluate, onProgress: (d) => bar.update(n + d) });
      const cb = barrier(alpha, cr.loss);
      result.id = id;
      result.line = { loss: Array.from(lr.loss), accuracy: Array.from(lr.accuracy), barrier: result.barrier };
      result.loss = rows(cr.loss, n);
      result.accuracy = rows(cr.accuracy, n);
      result.barrier = cb ? { loss: cb.value, at: cb.at, endpoints: cb.endpoints, accuracyDrop: accuracyBarrier(alpha, cr.accuracy) } : null;
      result.training = { data: trainData.name, samples: trainData.count, epochs: o.epochs, lr: o.lr, momentum: o.momentum, batchSize: o.curveBatch, seed: o.seed, steps: tr.steps, epochLoss: tr.epochLoss, init: 'midpoint of the line' };
      if (o.saveBend) {
        extraFiles = [{ path: o.saveBend, data: encodeSafetensors(model.params.map((p) => ({ name: p.name, shape: [...p.shape], data: tr.theta.get(p.name)! })), { format: 'pt', 'riverbed.model': JSON.stringify(description), 'riverbed.bend': 'Bézier bend θ' }) }];
      }
      series = [
        { name: 'Bézier curve', x: alpha, loss: Array.from(cr.loss), accuracy: Array.from(cr.accuracy) },
        { name: 'straight line', x: alpha, loss: Array.from(lr.loss), accuracy: Array.from(lr.accuracy) },
      ];
    }
    bar.stop();
    result.seconds = (performance.now() - t0) / 1000;
    const bl = result.barrier as { loss: number } | null;
    const ll = (result.line as { barrier: { loss: number } | null } | undefined)?.barrier;
    const title = kind === 'curve' ? 'Mode connectivity: Bézier curve vs straight line' : 'Linear interpolation between two models';
    const subtitle = kind === 'curve'
      ? `barrier ${bl ? bl.loss.toPrecision(3) : '–'} (curve) vs ${ll ? ll.loss.toPrecision(3) : '–'} (line), ${data.count} samples`
      : `barrier max L(α) − ½(L(0)+L(1)) = ${bl ? bl.loss.toPrecision(3) : '–'}, ${data.count} samples`;
    const pictures = o.plot !== undefined
      ? await landscapePictures(result, o.plot, { title, subtitle, series, rules: [{ x: 0, label: 'A' }, { x: 1, label: 'B' }].filter((r) => r.x >= lo && r.x <= hi) })
      : [];
    writeResult(result, o.out, pictures, extraFiles);
    if (!o.json) {
      const lines = [`${kind === 'curve' ? 'Bézier curve' : 'line'} between ${a} and ${b}: ${n} points × ${data.count} samples on ${backend.name} in ${(result.seconds as number).toFixed(2)} s`];
      if (bl) lines.push(`barrier: ${bl.loss.toPrecision(4)} (max L − ½(L(0) + L(1)))`);
      if (ll) lines.push(`straight line's barrier: ${ll.loss.toPrecision(4)}`);
      if (o.out) lines.push(`→ ${o.out}`);
      process.stdout.write(lines.join('\n') + '\n');
    }
    return result;
  } finally {
    model.dispose();
    backend.dispose();
  }
}
