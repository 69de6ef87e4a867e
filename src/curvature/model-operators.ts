/**
 * The model's curvature matrices as LinearOperators: the Hessian and the generalised Gauss–Newton
 * matrix of the mean cross-entropy over a data set, and their per-layer diagonal blocks.
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import { CurvatureProduct, type CurvatureKind, type DeviceBatch, type ParameterLayout } from '../model/hvp.js';
import type { Mlp } from '../model/mlp.js';
import type { LinearOperator } from './operator.js';

/** Samples on the host: inputs [count, features] row-major and labels [count]. */
export interface HostData {
  inputs: Float32Array;
  labels: Int32Array;
  count: number;
  features: number;
}

export interface CurvatureOperatorOptions {
  /** Restrict to one layer (module index as in the safetensors keys, e.g. "0" or "2") or several. */
  layer?: string | number | readonly (string | number)[];
  /** Keep each batch's forward/backward state between products (default true; rebuilt after the weights change, see Mlp.version)… */
  cache?: boolean;
  /** …up to this many bytes (default 1 GiB); further batches are recomputed on every product. */
  cacheBytes?: number;
}

/** A curvature operator of a model; `dispose()` frees its cached state (not the model, not the batches). */
export interface ModelCurvatureOperator extends LinearOperator {
  readonly kind: CurvatureKind;
  readonly layout: ParameterLayout;
  /** Number of samples the mean loss runs over. */
  readonly samples: number;
  /** Products computed so far (each one pass over all batches = one "HVP"). */
  readonly products: number;
  dispose(): void;
}

/** Uploads host samples as batches of at most `batchSize` rows (the caller frees them with freeBatches). */
export function uploadBatches(backend: Backend, data: HostData, batchSize = data.count): DeviceBatch[] {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) fail('E_ARG', `batch size must be a positive integer, got ${batchSize}`, { field: 'batchSize' });
  if (data.inputs.length !== data.count * data.features) {
    fail('E_SHAPE', `inputs have ${data.inputs.length} values; expected ${data.count} × ${data.features}`, { field: 'inputs' });
  }
  if (data.labels.length !== data.count) fail('E_SHAPE', `${data.labels.length} labels for ${data.count} samples`, { field: 'labels' });
  const out: DeviceBatch[] = [];
  for (let s = 0; s < data.count; s += batchSize) {
    const e = Math.min(data.count, s + batchSize);
    out.push({
      x: backend.upload(data.inputs.subarray(s * data.features, e * data.features), [e - s, data.features]),
      labels: backend.uploadInt(data.labels.subarray(s, e), [e - s]),
    });
  }
  return out;
}

export function freeBatches(backend: Backend, batches: readonly DeviceBatch[]): void {
  for (const b of batches) {
    backend.free(b.x);
    backend.free(b.labels);
  }
}

function layersOf(opt: CurvatureOperatorOptions['layer']): (string | number)[] | undefined {
  if (opt === undefined) return undefined;
  return Array.isArray(opt) ? [...opt] : [opt as string | number];
}

function makeOperator(model: Mlp, batches: readonly DeviceBatch[], kind: CurvatureKind, options: CurvatureOperatorOptions): ModelCurvatureOperator {
  const layers = layersOf(options.layer);
  const product = new CurvatureProduct(model, batches, { kind, layers, cache: options.cache, cacheBytes: options.cacheBytes });
  const name = layers ? `${kind}[layer ${product.layout.layers.join(',')}]` : kind;
  return {
    size: product.layout.size,
    symmetric: true,
    dtype: 'f32',
    backend: model.backend,
    name,
    kind,
    layout: product.layout,
    samples: product.samples,
    get products() {
      return product.products;
    },
    matvec: (v: Tensor) => product.apply(v),
    matvecAsync: (v: Tensor) => product.applyAsync(v),
    dispose: () => product.dispose(),
  };
}

/** The Hessian of the mean cross-entropy over `batches` w.r.t. the parameters (or one layer's block). */
export function hessianOperator(model: Mlp, batches: DeviceBatch | readonly DeviceBatch[], options: CurvatureOperatorOptions = {}): ModelCurvatureOperator {
  return makeOperator(model, Array.isArray(batches) ? batches : [batches as DeviceBatch], 'hessian', options);
}

/** The generalised Gauss–Newton matrix Jᵀ H_loss J of the mean cross-entropy (PSD; labels do not enter). */
export function ggnOperator(model: Mlp, batches: DeviceBatch | readonly DeviceBatch[], options: CurvatureOperatorOptions = {}): ModelCurvatureOperator {
  return makeOperator(model, Array.isArray(batches) ? batches : [batches as DeviceBatch], 'ggn', options);
}
