/**
 * Where the directions of a slice come from (`--dirs`): a comma-separated list, one entry per axis,
 *   random            Gaussian, normalised (default: filter normalisation, biases zeroed);
 *   hessian           the next top eigenvector of the Hessian of the mean loss (Lanczos, curvature/);
 *   model:W2.safetensors   the direction to a second model, W2 − W;
 *   FILE.safetensors  a direction with the model's keys (what --save-dirs writes).
 * One entry for a 2-D slice applies to both axes when it is `random` or `hessian` (seeds 0 and 1,
 * eigenvectors 1 and 2). Then the second direction is orthogonalised against the first.
 */
import type { Backend } from '../backends/backend.js';
import { freeBatches, hessianOperator, uploadBatches } from '../curvature/model-operators.js';
import { lanczos } from '../curvature/lanczos.js';
import { fail } from '../errors.js';
import { readSafetensors } from '../io/safetensors.js';
import type { Mlp } from '../model/mlp.js';
import {
  type BiasMode,
  type Normalization,
  type Weights,
  checkWeights,
  difference,
  gaussianDirection,
  normWeights,
  normalizeDirection,
  orthogonalize,
  unflatten,
} from './directions.js';

export type DirectionSource = { kind: 'random' } | { kind: 'hessian'; rank: number } | { kind: 'model'; path: string } | { kind: 'file'; path: string };

export function describeSource(s: DirectionSource): string {
  return s.kind === 'random' ? 'random' : s.kind === 'hessian' ? `hessian eigenvector ${s.rank + 1}` : s.kind === 'model' ? `model:${s.path}` : s.path;
}

/** Parses --dirs for a slice of `dims` axes. */
export function parseDirs(text: string, dims: 1 | 2): DirectionSource[] {
  const items = text.split(',').map((t) => t.trim());
  if (items.some((t) => t === '')) fail('E_ARG', `expected random, hessian, model:W2.safetensors or FILE.safetensors per axis, comma-separated; got "${text}"`, { field: '--dirs' });
  if (items.length === 1 && dims === 2 && (items[0] === 'random' || items[0] === 'hessian')) items.push(items[0]);
  if (items.length !== dims) {
    fail('E_ARG', `a ${dims}-D slice needs ${dims} direction${dims > 1 ? 's' : ''}, got ${items.length} in "${text}" (random and hessian alone serve both axes)`, { field: '--dirs' });
  }
  let rank = 0;
  return items.map((t) => {
    if (t === 'random') return { kind: 'random' as const };
    if (t === 'hessian') return { kind: 'hessian' as const, rank: rank++ };
    if (t.startsWith('model:')) {
      if (t.length === 6) fail('E_ARG', 'model: needs a weights file, e.g. model:W2.safetensors', { field: '--dirs' });
      return { kind: 'model' as const, path: t.slice(6) };
    }
    if (!/\.safetensors$/i.test(t)) fail('E_ARG', `"${t}" is not random, hessian, model:FILE or a .safetensors direction file`, { field: '--dirs' });
    return { kind: 'file' as const, path: t };
  });
}

/** The input files the sources read (for the output plan). */
export function sourceFiles(sources: readonly DirectionSource[]): string[] {
  return sources.flatMap((s) => (s.kind === 'model' || s.kind === 'file' ? [s.path] : []));
}

/** A weights file of this model (model: entries): the model's keys, shapes and finite values, a `model.` prefix allowed. */
export async function readModelWeights(model: Mlp, path: string, what: string): Promise<Weights> {
  const content = await readSafetensors(path);
  const map = new Map<string, { shape: number[]; data: Float32Array }>();
  const names = [...content.tensors.keys()];
  const first = `${model.params[0]!.name}`;
  const prefix = names.includes(first) ? '' : (names.find((n) => n.endsWith('.' + first))?.slice(0, -first.length) ?? '');
  for (const [name, t] of content.tensors) map.set(prefix && name.startsWith(prefix) ? name.slice(prefix.length) : name, t);
  return checkWeights(model.description, map, path, what);
}

export interface DirectionInfo {
  sources: string[];
  normalization: Normalization[];
  bias: BiasMode[];
  /** ‖d‖ of each direction as used (after normalisation and orthogonalisation). */
  norms: number[];
  /** Cosine between the two directions before the second was orthogonalised (2-D only). */
  cosine?: number;
  /** Hessian eigenvalues of the hessian directions, in order. */
  eigenvalues?: number[];
  seed: number;
}

export interface DirectionOptions {
  model: Mlp;
  base: Weights;
  sources: readonly DirectionSource[];
  seed: number;
  /** Default: filter for random directions, none for the others. */
  normalization?: Normalization;
  /** Default: zero for random directions, keep for the others. */
  bias?: Exclude<BiasMode, 'keep'>;
  /** Samples for the Hessian (host), when a source is `hessian`. */
  hessianData?: { inputs: Float32Array; labels: Int32Array; count: number; features: number };
  /** Lanczos relative tolerance (default 1e-3). */
  tol?: number;
}

/** The directions as used: made, normalised, the second orthogonalised against the first. */
export async function makeDirections(o: DirectionOptions): Promise<{ dirs: Weights[]; info: DirectionInfo }> {
  const d = o.model.description;
  const hessianRanks = o.sources.filter((s) => s.kind === 'hessian').length;
  let eig: { vectors: Float32Array[]; values: number[] } | undefined;
  if (hessianRanks > 0) eig = await hessianEigenvectors(o.model, o.hessianData, hessianRanks, o.seed, o.tol ?? 1e-3);
  const dirs: Weights[] = [];
  const normalization: Normalization[] = [];
  const bias: BiasMode[] = [];
  let randomIndex = 0;
  for (const s of o.sources) {
    let w: Weights;
    if (s.kind === 'random') w = gaussianDirection(d, o.seed, randomIndex++);
    else if (s.kind === 'hessian') w = unflatten(d, eig!.vectors[s.rank]!);
    else if (s.kind === 'model') w = difference(await readModelWeights(o.model, s.path, 'the second model'), o.base);
    else w = await readModelWeights(o.model, s.path, 'the direction file');
    const nz = o.normalization ?? (s.kind === 'random' ? 'filter' : 'none');
    const bz: BiasMode = o.bias ?? (s.kind === 'random' ? 'zero' : 'keep');
    normalizeDirection(d, w, o.base, nz, bz);
    normalization.push(nz);
    bias.push(bz);
    if (!(normWeights(w) > 0)) fail('E_VALUE', `direction ${dirs.length + 1} (${describeSource(s)}) is zero${s.kind === 'model' ? ': the two models are identical' : ''}; it spans no axis`, { field: '--dirs' });
    dirs.push(w);
  }
  const info: DirectionInfo = { sources: o.sources.map(describeSource), normalization, bias, norms: [], seed: o.seed };
  if (dirs.length === 2) info.cosine = orthogonalize(dirs[0]!, dirs[1]!).cosine;
  info.norms = dirs.map(normWeights);
  if (eig) info.eigenvalues = eig.values;
  return { dirs, info };
}

/** The top-k eigenvectors (unit, parameter order) of the Hessian of the mean loss over the samples. */
export async function hessianEigenvectors(
  model: Mlp,
  data: DirectionOptions['hessianData'],
  k: number,
  seed: number,
  tol: number,
): Promise<{ vectors: Float32Array[]; values: number[] }> {
  if (!data) fail('E_INTERNAL', 'hessian directions need samples');
  const backend: Backend = model.backend;
  const batches = uploadBatches(backend, data, Math.min(data.count, 1024));
  const op = hessianOperator(model, batches);
  try {
    const r = await lanczos(op, { k, which: 'largest', tol, seed, vectors: true });
    if (!r.vectors || r.vectors.length < k) fail('E_VALUE', `Lanczos found ${r.vectors?.length ?? 0} of the ${k} top eigenvectors`, { field: '--dirs' });
    return { vectors: r.vectors.slice(0, k), values: r.eigenvalues.slice(0, k) };
  } finally {
    op.dispose();
    freeBatches(backend, batches);
  }
}
