/**
 * `riverbed landscape slice`: loss and accuracy over a 1-D or 2-D grid around the model's weights,
 * w + α·d₁ (+ β·d₂), many grid points per dispatch (src/landscape/evaluate.ts). Grids are
 * content-addressed and resumable (an interrupted run continues: src/landscape/run.ts), and split
 * with --shard i/n + `riverbed landscape merge`.
 */
import type { Command } from 'commander';
import { constants } from 'node:buffer';
import { fail } from '../errors.js';
import type { PendingFile } from '../io/atomic.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { encodeSafetensors } from '../io/safetensors.js';
import { parseShard } from '../coreset/shard.js';
import { parameterSpecs } from '../model/mlp.js';
import { describeModel } from '../model/description.js';
import { basename } from 'node:path';
import { NORMALIZATIONS, type Normalization } from '../landscape/directions.js';
import { DEFAULT_MAX_POINTS, axisValues, gridCoefs, gridSize, parseGrid, parseRange, requireGridFits, shardPoints, type GridSpec } from '../landscape/grid.js';
import { makePart, encodePart, type LandscapeHeader, type LandscapeResult, LANDSCAPE_FORMAT, LANDSCAPE_VERSION, rows } from '../landscape/result.js';
import { pointsId, runPoints } from '../landscape/run.js';
import { makeDirections, parseDirs, sourceFiles } from '../landscape/sources.js';
import { VERSION } from '../version.js';
import { type DataCliOptions, addDataOptions, checkData, dataInputs, loadData, loadDescription, openModel, pointsBar, resultFiles, writeResult } from './landscape-inputs.js';
import { landscapePictures } from './landscape-plot.js';
import { intOption } from './options.js';

interface SliceCliOptions extends DataCliOptions {
  model?: string;
  weights?: string;
  dirs: string;
  grid: string;
  range: string;
  normalization?: string;
  bias?: string;
  seed: number;
  saveDirs?: string;
  shard?: string;
  out?: string;
  plot?: string;
  resumeDir?: string;
  maxPoints: number;
  hessianSamples: number;
}

export function registerLandscapeSlice(landscape: Command): void {
  const cmd = landscape
    .command('slice')
    .description('loss and accuracy on a 1-D (--grid N) or 2-D (--grid NxM) grid around the weights along two directions')
    .option('--model <M.json>', 'model description (default: the riverbed.model metadata of --weights)')
    .option('--weights <W.safetensors>', 'the weights at the centre of the grid')
    .option('--dirs <list>', 'one per axis, comma-separated: random | hessian | model:W2.safetensors | FILE.safetensors (random and hessian alone serve both axes)', 'random')
    .option('--grid <N|NxM>', 'points per axis: N (1-D) or NxM (2-D, x by y)', '51x51')
    .option('--range <MIN:MAX[,MIN:MAX]>', 'coordinates of the axes (endpoints included)', '-1:1')
    .option('--normalization <name>', 'filter | layer | weight | none (default: filter for random directions, none for the others)')
    .option('--bias <mode>', 'zero | copy: what 1-D parameters (biases) of the directions become (default: zero for random directions; others keep theirs)')
    .option('--seed <n>', 'seed of the random directions (and of Lanczos for hessian ones)', intOption('--seed', 0), 0)
    .option('--save-dirs <FILES>', 'write the directions used (after normalisation and orthogonalisation), one .safetensors per axis, comma-separated')
    .option('--shard <i/n>', 'evaluate only shard i of n (contiguous points) and write a part for `riverbed landscape merge`')
    .option('--out <result.json>', 'result JSON (format riverbed.landscape; OUT.loss.npy and OUT.accuracy.npy beside it), or the part with --shard')
    .option('--plot <BASE>', 'draw BASE.png and BASE.svg (2-D: contour over a heatmap with a colour bar; 1-D: loss and accuracy curves)')
    .option('--resume-dir <DIR>', 'where finished chunks are kept until the grid is complete (default: OUT.partial beside --out)')
    .option('--max-points <n>', 'refuse larger grids up front', intOption('--max-points'), DEFAULT_MAX_POINTS)
    .option('--hessian-samples <n>', 'samples of the Hessian for hessian directions', intOption('--hessian-samples'), 1000);
  addDataOptions(cmd).action(async (o: SliceCliOptions) => {
    const r = await sliceCommand(o);
    if (o.json) process.stdout.write(JSON.stringify(r, null, 1) + '\n');
  });
}

function choice<T extends string>(v: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) fail('E_ARG', `expected ${allowed.join(' | ')}, got "${v}"`, { field: flag });
  return v as T;
}

export async function sliceCommand(o: SliceCliOptions): Promise<LandscapeResult | object> {
  const t0 = performance.now();
  if (o.weights === undefined) fail('E_ARG', 'missing --weights W.safetensors', { field: '--weights' });
  if (o.out === undefined && !o.json) fail('E_ARG', 'give --out result.json (or --json to print the result)', { field: '--out' });
  const dims: 1 | 2 = /[x×]/.test(o.grid) ? 2 : 1;
  const [nx, ny] = parseGrid(o.grid, dims);
  const [xr, yr] = parseRange(o.range, dims);
  const grid: GridSpec = { x: { min: xr[0], max: xr[1], points: nx }, ...(dims === 2 ? { y: { min: yr[0], max: yr[1], points: ny } } : {}) };
  const sources = parseDirs(o.dirs, dims);
  const normalization = choice<Normalization>(o.normalization, NORMALIZATIONS, '--normalization');
  const bias = choice(o.bias, ['zero', 'copy'] as const, '--bias');
  const shard = o.shard !== undefined ? parseShard(o.shard) : undefined;
  if (shard && o.plot !== undefined) fail('E_ARG', 'a shard holds part of the grid: draw the picture with `riverbed landscape merge --plot`', { field: '--plot' });
  if (shard && o.out === undefined) fail('E_ARG', 'a shard writes its part to --out part.json', { field: '--out' });
  const saveDirs = o.saveDirs?.split(',');
  if (saveDirs && saveDirs.length !== dims) fail('E_ARG', `give ${dims} file${dims > 1 ? 's' : ''} (one per axis), got ${saveDirs.length}`, { field: '--save-dirs' });
  const { points } = gridSize(grid);
  checkOutputPlan({
    inputs: [{ flag: '--model', path: o.model }, { flag: '--weights', path: o.weights }, ...dataInputs(o), ...sourceFiles(sources).map((path) => ({ flag: '--dirs', path }))],
    files: shard ? [{ flag: '--out', path: o.out }, ...(saveDirs ?? []).map((path) => ({ flag: '--save-dirs', path }))] : resultFiles(o.out, o.plot, (saveDirs ?? []).map((path) => ({ flag: '--save-dirs', path }))),
  });
  const description = await loadDescription(o.model, o.weights);
  const data = await loadData(o);
  checkData(description, data, o.inputs ?? data.name);
  const params = parameterSpecs(description).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  requireGridFits(points, o.maxPoints, { samples: data.count, multiplyAdds: params });
  const opened = await openModel(description, o.weights, data, o);
  const { backend, model } = opened;
  try {
    const base = new Map((await model.toHost()).map((t) => [t.name, t.data]));
    const hs = Math.min(o.hessianSamples, data.count);
    const { dirs, info } = await makeDirections({
      model, base, sources, seed: o.seed, normalization, bias,
      hessianData: { inputs: data.inputs.subarray(0, hs * data.features), labels: data.labels.subarray(0, hs), count: hs, features: data.features },
    });
    const coefs = gridCoefs(grid, 0, points);
    const id = pointsId({ description, base, dirs, inputs: data.inputs, labels: data.labels, points: { kind: 'grid', grid } });
    const range = shard ? shardPoints(points, shard.index, shard.count) : { start: 0, end: points };
    const bar = pointsBar(shard ? `shard ${shard.index}/${shard.count}` : 'landscape', o);
    bar.start(range.end - range.start);
    const stateDir = o.resumeDir ?? (o.out !== undefined ? `${o.out}.partial` : undefined);
    const t1 = performance.now();
    const r = await runPoints({
      model, family: { base, dirs }, data: opened.data, coefs, range, id, stateDir,
      evaluate: { points: o.perDispatch, memoryBytes: o.memory * 2 ** 20 }, onProgress: (done) => bar.update(done),
    });
    bar.stop();
    const seconds = (performance.now() - t1) / 1000;
    const axisLabel = (k: number) => `${dims === 2 ? (k === 0 ? 'α' : 'β') : 'α'} (${info.sources[k]}${info.normalization[k] !== 'none' ? `, ${info.normalization[k]}-normalised` : ''})`;
    const header: LandscapeHeader = {
      format: LANDSCAPE_FORMAT,
      version: LANDSCAPE_VERSION,
      riverbed: VERSION,
      kind: 'slice',
      id,
      dims,
      axes: { x: { label: axisLabel(0), values: axisValues(grid.x) }, ...(grid.y ? { y: { label: axisLabel(1), values: axisValues(grid.y) } } : {}) },
      samples: data.count,
      backend: backend.name,
      inputs: { model: o.model ?? null, weights: o.weights, data: data.name, labels: o.labels ?? null },
      directions: info,
      evaluation: { batched: r.batched, pointsPerDispatch: r.pointsPerDispatch, resumedPoints: r.resumed, seconds },
    };
    const savePending = saveDirs ? dirs.map((w, k) => ({ path: saveDirs[k]!, data: encodeSafetensors(model.params.map((p) => ({ name: p.name, shape: [...p.shape], data: w.get(p.name)! })), { format: 'pt', 'riverbed.direction': info.sources[k]! }) })) : [];
    if (shard) {
      const part = makePart(header, shard, points, kernelOf(backend), r.loss, r.accuracy);
      const { writeFilesAtomic } = await import('../io/atomic.js');
      writeFilesAtomic([{ path: o.out!, data: Buffer.from(encodePart(part), 'utf8') }, ...savePending]);
      const summary = { out: o.out, shard: part.shard, points, id, seconds };
      if (!o.json) process.stdout.write(`shard ${shard.index}/${shard.count}: points [${part.shard.start}, ${part.shard.end}) of ${points} in ${seconds.toFixed(1)} s → ${o.out}\n`);
      return summary;
    }
    const result: LandscapeResult = { ...header, loss: rows(r.loss, nx), accuracy: rows(r.accuracy, nx) };
    finishResult(result);
    result.seconds = (performance.now() - t0) / 1000;
    const title = `Loss landscape around ${basename(o.weights)}`;
    const subtitle = `${describeModel(description)}, ${data.count} samples of ${data.name}; directions: ${info.sources.join(' × ')}`;
    const pictures: PendingFile[] = o.plot !== undefined ? await landscapePictures(result, o.plot, { title, subtitle, marks: dims === 2 ? [{ x: 0, y: 0, label: 'w' }] : undefined }) : [];
    writeResult(result, o.out, pictures, savePending);
    if (!o.json) printSummary(result, o.out);
    return result;
  } finally {
    opened.model.dispose();
    backend.dispose();
  }
}

/** The backend's description less its thread count: shards merge only from the same kernel. */
export function kernelOf(backend: { info(): { description: string } }): string {
  return backend.info().description.replace(/,?\s*\d+ threads?/g, '').trim();
}

/** Adds the centre's loss and the grid minimum to a result. */
export function finishResult(r: LandscapeResult): void {
  const xs = r.axes.x.values;
  const ys = r.axes.y?.values ?? [0];
  let best = { loss: Infinity, x: 0, y: 0 };
  r.loss.forEach((row, iy) => row.forEach((v, ix) => {
    if (v < best.loss) best = { loss: v, x: xs[ix]!, y: ys[iy]! };
  }));
  r.minimum = r.dims === 2 ? best : { loss: best.loss, x: best.x };
  const ix = xs.findIndex((v) => Math.abs(v) < 1e-12);
  const iy = ys.findIndex((v) => Math.abs(v) < 1e-12);
  if (ix >= 0 && iy >= 0) r.center = { loss: r.loss[iy]![ix]!, accuracy: r.accuracy[iy]![ix]! };
}

function printSummary(r: LandscapeResult, out?: string): void {
  const n = r.loss.length * r.loss[0]!.length;
  const ev = r.evaluation as { seconds: number; pointsPerDispatch: number; batched: boolean; resumedPoints: number };
  const lines = [
    `${r.dims}-D ${r.kind}: ${n} points × ${r.samples} samples on ${r.backend} in ${ev.seconds.toFixed(2)} s (${ev.batched ? `${ev.pointsPerDispatch} points per dispatch` : 'one point at a time'}${ev.resumedPoints ? `, ${ev.resumedPoints} resumed` : ''})`,
  ];
  const c = r.center as { loss: number; accuracy: number } | undefined;
  if (c) lines.push(`centre: loss ${c.loss.toPrecision(5)}, accuracy ${(100 * c.accuracy).toFixed(2)} %`);
  const m = r.minimum as { loss: number; x: number; y?: number };
  lines.push(`minimum on the grid: loss ${m.loss.toPrecision(5)} at ${m.y === undefined ? `α = ${m.x.toPrecision(3)}` : `(${m.x.toPrecision(3)}, ${m.y.toPrecision(3)})`}`);
  const dirs = r.directions as { cosine?: number } | undefined;
  if (dirs?.cosine !== undefined) lines.push(`directions: cosine ${dirs.cosine.toExponential(2)} before orthogonalisation`);
  if (out) lines.push(`→ ${out}${r.files ? `, ${Object.values(r.files as Record<string, string>).filter((f) => f !== out).join(', ')}` : ''}`);
  process.stdout.write(lines.join('\n') + '\n');
}

export const MAX_PART_BYTES = constants.MAX_STRING_LENGTH;
