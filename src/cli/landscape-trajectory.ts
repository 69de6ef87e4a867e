/**
 * `riverbed landscape trajectory RUN_DIR`: the checkpoints of a recorded run (`riverbed train
 * --record DIR --checkpoints N`) projected onto the top-2 PCA directions of (checkpoint − final)
 * and drawn over the 2-D loss contour around the final weights (Li et al.'s trajectory figure);
 * with --valley, the slice spanned by the top Hessian eigenvector (the wall) and the direction of
 * travel (the river) instead (src/landscape/trajectory.ts).
 */
import { join } from 'node:path';
import type { Command } from 'commander';
import { fail } from '../errors.js';
import { JSON_LIMITS, readBoundedText } from '../io/files.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { parseModelDescription } from '../model/description.js';
import { type Weights, difference, normWeights, orthogonalize, unflatten } from '../landscape/directions.js';
import { DEFAULT_MAX_POINTS, axisValues, gridCoefs, gridSize, parseGrid, requireGridFits, type GridSpec } from '../landscape/grid.js';
import { type LandscapeResult, LANDSCAPE_FORMAT, LANDSCAPE_VERSION, rows } from '../landscape/result.js';
import { pointsId, runPoints } from '../landscape/run.js';
import { hessianEigenvectors, readModelWeights } from '../landscape/sources.js';
import { pathRange, projectPath, trajectoryPca } from '../landscape/trajectory.js';
import { VERSION } from '../version.js';
import { type DataCliOptions, addDataOptions, checkData, dataInputs, loadData, openModel, pointsBar, resultFiles, writeResult } from './landscape-inputs.js';
import { landscapePictures } from './landscape-plot.js';
import { finishResult } from './landscape-slice.js';
import { intOption } from './options.js';

interface TrajectoryCliOptions extends DataCliOptions {
  grid: string;
  valley?: boolean;
  travelFrom?: number;
  seed: number;
  hessianSamples: number;
  out?: string;
  plot?: string;
  resumeDir?: string;
  maxPoints: number;
}

export function registerLandscapeTrajectory(landscape: Command): void {
  const cmd = landscape
    .command('trajectory')
    .description("a recorded run's checkpoints projected onto their top-2 PCA directions, drawn over the loss contour (Li et al.); --valley: the top Hessian eigenvector × the direction of travel")
    .argument('<RUN_DIR>', 'a run recorded with `riverbed train --record DIR --checkpoints N`')
    .option('--grid <NxM>', 'points of the contour grid', '31x31')
    .option('--valley', 'the valley view: top Hessian eigenvector (x) × direction of travel (y)')
    .option('--travel-from <epoch>', 'valley: the travel direction is final − this checkpoint (default: the first)', intOption('--travel-from', 0))
    .option('--seed <n>', 'seed of Lanczos (valley)', intOption('--seed', 0), 0)
    .option('--hessian-samples <n>', 'samples of the Hessian (valley)', intOption('--hessian-samples'), 1000)
    .option('--out <result.json>', 'result JSON (format riverbed.landscape, with the path)')
    .option('--plot <BASE>', 'draw BASE.png and BASE.svg: the contour with the path over it')
    .option('--resume-dir <DIR>', 'where finished chunks are kept until the grid is complete (default: OUT.partial)')
    .option('--max-points <n>', 'refuse larger grids up front', intOption('--max-points'), DEFAULT_MAX_POINTS);
  addDataOptions(cmd).action(async (dir: string, o: TrajectoryCliOptions) => {
    const r = await trajectoryCommand(dir, o);
    if (o.json) process.stdout.write(JSON.stringify(r, null, 1) + '\n');
  });
}

interface RunManifest {
  model?: unknown;
  weightCheckpoints?: { every: number; files: { epoch: number; file: string }[] };
  schedule?: { name?: string };
}

export async function trajectoryCommand(dir: string, o: TrajectoryCliOptions): Promise<LandscapeResult> {
  const t0 = performance.now();
  if (o.out === undefined && !o.json) fail('E_ARG', 'give --out result.json (or --json to print the result)', { field: '--out' });
  const [nx, ny] = parseGrid(o.grid, 2);
  const manifestPath = join(dir, 'trajectory.json');
  checkOutputPlan({ inputs: [{ flag: 'RUN_DIR', path: dir }, ...dataInputs(o)], files: resultFiles(o.out, o.plot) });
  let manifest: RunManifest;
  try {
    manifest = JSON.parse(readBoundedText(manifestPath, JSON_LIMITS.runManifest, 'a run manifest'));
  } catch (e) {
    if (e instanceof SyntaxError) fail('E_FORMAT', `does not parse: ${e.message}`, { file: manifestPath });
    throw e;
  }
  const cps = manifest.weightCheckpoints?.files;
  if (!Array.isArray(cps) || cps.length === 0) fail('E_ARG', 'the run has no weight checkpoints: record it with `riverbed train --record DIR --checkpoints N`', { file: manifestPath, field: 'weightCheckpoints' });
  if (cps.length < 3) fail('E_ARG', `the run has ${cps.length} weight checkpoints; 2 principal directions need at least 3 (use a smaller --checkpoints N)`, { file: manifestPath, field: 'weightCheckpoints' });
  const description = parseModelDescription(manifest.model, `${manifestPath} (model)`);
  const data = await loadData(o);
  checkData(description, data, o.inputs ?? data.name);
  const finalFile = join(dir, cps.at(-1)!.file);
  requireGridFits(nx * ny, o.maxPoints, { samples: data.count, multiplyAdds: 0 });
  const opened = await openModel(description, finalFile, data, o);
  const { backend, model } = opened;
  try {
    const checkpoints: Weights[] = [];
    for (const c of cps) checkpoints.push(await readModelWeights(model, join(dir, c.file), `checkpoint of epoch ${c.epoch}`));
    const final = checkpoints.at(-1)!;
    const epochs = cps.map((c) => c.epoch);
    let d1: Weights;
    let d2: Weights;
    let directions: Record<string, unknown>;
    if (o.valley) {
      const hs = Math.min(o.hessianSamples, data.count);
      const eig = await hessianEigenvectors(model, { inputs: data.inputs.subarray(0, hs * data.features), labels: data.labels.subarray(0, hs), count: hs, features: data.features }, 1, o.seed, 1e-3);
      d1 = unflatten(description, eig.vectors[0]!);
      const from = o.travelFrom ?? epochs[0]!;
      const k = epochs.indexOf(from);
      if (k < 0 || k === epochs.length - 1) fail('E_ARG', `no earlier checkpoint of epoch ${from}; the run has ${epochs.join(', ')}`, { field: '--travel-from' });
      d2 = difference(final, checkpoints[k]!);
      const travel = normWeights(d2);
      const { cosine } = orthogonalize(d1, d2);
      const n2 = normWeights(d2);
      for (const v of d2.values()) for (let i = 0; i < v.length; i++) v[i] = v[i]! / n2;
      directions = { x: 'top Hessian eigenvector at the final weights (unit)', y: `direction of travel, final − epoch ${from}, orthogonalised and unit`, eigenvalue: eig.values[0], travelDistance: travel, cosine };
    } else {
      const pca = trajectoryPca(checkpoints);
      [d1, d2] = pca.dirs;
      directions = { x: 'PCA direction 1 of (checkpoint − final)', y: 'PCA direction 2', explained: pca.explained };
    }
    const path = projectPath(checkpoints, final, d1, d2);
    let xr = pathRange(path.x);
    const yr = pathRange(path.y);
    if (o.valley) {
      // The wall: as wide as the travel is long, so that the steepness is seen at the same scale.
      const half = Math.max(Math.abs(xr[0]), Math.abs(xr[1]), 0.15 * (yr[1] - yr[0]));
      xr = [-half, half];
    }
    const grid: GridSpec = { x: { min: xr[0], max: xr[1], points: nx }, y: { min: yr[0], max: yr[1], points: ny } };
    const { points } = gridSize(grid);
    const family = { base: final, dirs: [d1, d2] };
    const id = pointsId({ description, base: final, dirs: family.dirs, inputs: data.inputs, labels: data.labels, points: { kind: 'grid', grid } });
    const bar = pointsBar(o.valley ? 'valley' : 'trajectory', o);
    bar.start(points);
    const r = await runPoints({
      model, family, data: opened.data, coefs: gridCoefs(grid, 0, points), id,
      stateDir: o.resumeDir ?? (o.out !== undefined ? `${o.out}.partial` : undefined),
      evaluate: { points: o.perDispatch, memoryBytes: o.memory * 2 ** 20 }, onProgress: (d) => bar.update(d),
    });
    // The loss of every checkpoint itself (the path's own heights).
    const pathCoefs = new Float64Array(2 * epochs.length);
    path.x.forEach((x, i) => {
      pathCoefs[2 * i] = x;
      pathCoefs[2 * i + 1] = path.y[i]!;
    });
    bar.stop();
    const kind = o.valley ? 'valley' : 'trajectory';
    const result: LandscapeResult = {
      format: LANDSCAPE_FORMAT,
      version: LANDSCAPE_VERSION,
      riverbed: VERSION,
      kind,
      id,
      dims: 2,
      axes: {
        x: { label: o.valley ? 'top Hessian eigenvector (the wall)' : `PCA 1 (${(100 * (directions.explained as number[] | undefined ?? [0])[0]!).toFixed(1)} % of the variance)`, values: axisValues(grid.x) },
        y: { label: o.valley ? 'direction of travel (the river)' : `PCA 2 (${(100 * (directions.explained as number[] | undefined ?? [0, 0])[1]!).toFixed(1)} %)`, values: axisValues(grid.y!) },
      },
      loss: rows(r.loss, nx),
      accuracy: rows(r.accuracy, nx),
      samples: data.count,
      backend: backend.name,
      inputs: { run: dir, data: data.name },
      directions,
      path: { epochs, x: path.x, y: path.y },
      evaluation: { batched: r.batched, pointsPerDispatch: r.pointsPerDispatch, resumedPoints: r.resumed },
    };
    finishResult(result);
    result.seconds = (performance.now() - t0) / 1000;
    const title = o.valley ? 'The valley: Hessian wall × direction of travel' : 'Training trajectory on the loss landscape';
    const sched = manifest.schedule?.name ? `${manifest.schedule.name} schedule, ` : '';
    const labels = epochs.map((e, i) => (i === 0 || i === epochs.length - 1 || epochs.length <= 8 ? `${e}` : ''));
    const pictures = o.plot !== undefined
      ? await landscapePictures(result, o.plot, { title, subtitle: `${sched}checkpoints at epochs ${epochs[0]}…${epochs.at(-1)} (labelled), ${data.count} samples`, path: { x: path.x, y: path.y, labels } })
      : [];
    writeResult(result, o.out, pictures);
    if (!o.json) process.stdout.write(`${kind}: ${epochs.length} checkpoints, ${points} grid points × ${data.count} samples on ${backend.name} in ${(result.seconds as number).toFixed(1)} s${o.out ? ` → ${o.out}` : ''}\n`);
    return result;
  } finally {
    model.dispose();
    backend.dispose();
  }
}
