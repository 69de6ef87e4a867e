/**
 * The Backend contract: a small set of kernels on device-resident tensors.
 *
 * Every kernel of `native` and `webgpu` is parity-tested against `js`, the
 * float64-accumulating reference. Enqueueing returns a Tensor at once; only
 * `read()` is async, so a caller never waits on the device inside a loop
 * unless it needs a number back.
 *
 * Conventions: float32 (or int32 for labels/indices), row-major, shapes known.
 * Kernels return new tensors unless their name says "InPlace"/"Step".
 * `free(t)` hands a tensor's memory back (a pool on webgpu; GC elsewhere).
 */

import { fail } from '../errors.js';
import type { BisimulationOpMethods, ConvOpMethods, GenericOpMethods, LandscapeOpMethods } from './ops.js';

export type BackendName = 'js' | 'native' | 'webgpu';
export type BackendChoice = 'auto' | BackendName;
export const BACKEND_NAMES: readonly BackendName[] = ['js', 'native', 'webgpu'];

export type DType = 'f32' | 'i32';
export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'gelu';
export const ACTIVATIONS: readonly Activation[] = ['relu', 'tanh', 'sigmoid', 'gelu'];

/** An opaque handle; its data lives wherever the backend keeps it. */
export interface Tensor {
  readonly backend: BackendName;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Number of elements (product of shape). */
  readonly size: number;
}

export interface BackendInfo {
  name: BackendName;
  /** One line a person can read: what runs the kernels. */
  description: string;
  /** Worker threads used by the big kernels (native), if any. */
  threads?: number;
  /** GPU adapter description (webgpu). */
  adapter?: string;
  /** Set when the backend runs on a software device (e.g. lavapipe). */
  software?: boolean;
}

/** Input of the fused CLD kernel (see src/coreset/cld.ts for the formula). */
export interface CldKernelInput {
  /** Loss trajectory [epochs, samples], row-major. Float64 input is scored without rounding to f32 first. */
  trajectory: Float32Array | Float64Array;
  epochs: number;
  samples: number;
  /** Class of each sample, 0 ≤ label < numClasses. */
  labels: Int32Array;
  numClasses: number;
  /**
   * Standardised class validation-loss differences, [epochs-1, numClasses] row-major:
   * z[e, c] = (dv_c[e] − mean_e dv_c) / std_e dv_c (population std), or 0 for every e when
   * that std is 0 or class c has no validation samples. Then
   * r_i = mean_e(((d_i[e] − mean d_i) / std d_i) · z[e, y_i]), and r_i = 0 when std d_i = 0.
   */
  classZ: Float64Array;
}

export interface OptimizerHyper {
  lr: number;
  weightDecay: number;
}

export interface SgdHyper extends OptimizerHyper {
  momentum: number;
  nesterov: boolean;
}

export interface AdamHyper extends OptimizerHyper {
  beta1: number;
  beta2: number;
  eps: number;
  /** 1-based step count, for bias correction. */
  step: number;
  /** AdamW (decoupled weight decay) when true, L2-in-gradient Adam when false (PyTorch's Adam). */
  decoupled: boolean;
}

/** One module of an MLP handed to a fused curvature product (Backend.mlpCurvatureProduct). */
export type FusedMlpLayer =
  | { type: 'linear'; /** [out, in] */ weight: Tensor; /** [out]; absent for a bias-less layer */ bias?: Tensor; /** its parameters are in v / out */ active: boolean }
  | { type: Activation };

/**
 * What a fused curvature product keeps of one batch between calls (forward activations and, for
 * the Hessian, the ordinary backward), as PyHessian keeps its autograd graph. The caller makes one
 * empty object per batch and passes it back on every call for that batch with the same model
 * weights; the backend stores its arrays on it. Dropping the object frees them.
 */
export interface FusedCurvatureState {
  data?: unknown;
}

/** Arguments of Backend.mlpCurvatureProduct. */
export interface FusedCurvatureRequest {
  layers: readonly FusedMlpLayer[];
  /** Inputs [B, in] of the first layer and labels (i32 [B]; used by the Hessian only). */
  x: Tensor;
  labels: Tensor;
  /** The active layers' parameters, layer by layer, weight (row-major [out, in]) then bias. */
  v: Tensor;
  /** Written (or added to, with accumulate) in v's layout. */
  out: Tensor;
  kind: 'hessian' | 'ggn';
  /** The batch's weight in the mean: 1 / (samples over all batches). */
  scale: number;
  accumulate: boolean;
  state?: FusedCurvatureState;
}

/** One module of an MLP handed to the fused training step (Backend.mlpTrainSteps). */
export type FusedTrainLayer =
  | {
      type: 'linear';
      /** [out, in] */
      weight: Tensor;
      /** [out]; absent for a bias-less layer */
      bias?: Tensor;
      /** Optimizer state of the weight, same shape: [velocity] (sgd) or [m, v] (adam, adamw). */
      weightState: readonly Tensor[];
      /** The same for the bias (present with it). */
      biasState?: readonly Tensor[];
    }
  | { type: Activation };

/** The optimizer of a fused training step: the maths of Backend.sgdStep / adamStep. */
export interface FusedOptimizer {
  name: 'sgd' | 'adam' | 'adamw';
  weightDecay: number;
  momentum: number;
  nesterov: boolean;
  beta1: number;
  beta2: number;
  eps: number;
}

/**
 * A fused training step's scratch, kept by the caller: one object per training run (call site),
 * passed to each of its calls; never used by two calls at once. Dropping it frees the scratch.
 */
export interface FusedTrainState {
  data?: unknown;
}

/** Arguments of Backend.mlpTrainSteps. */
export interface FusedTrainRequest {
  layers: readonly FusedTrainLayer[];
  /** Every input row [M, in] of the first layer (the whole training set, on the device). */
  x: Tensor;
  /** Label of every row of x (host). */
  labels: Int32Array;
  /** The rows this call trains on, in order: consecutive mini-batches of batchSize, the last one may be smaller. */
  rows: Int32Array;
  batchSize: number;
  /** Learning rate of each step of this call (ceil(rows / batchSize) of them). */
  lr: Float64Array;
  optimizer: FusedOptimizer;
  /** Optimizer steps already taken on these parameters and state (Adam's bias correction counts on from here). */
  stepsBefore: number;
  /** Written: the loss of every row (cross-entropy, before its batch's update), in `rows` order. */
  loss: Float32Array;
  state: FusedTrainState;
}

/**
 * The op methods are declared here, or with their specs in ops.ts: generic ops (GenericOpMethods),
 * convolution and pooling (ConvOpMethods).
 */
export interface Backend extends GenericOpMethods, ConvOpMethods, LandscapeOpMethods, BisimulationOpMethods {
  readonly name: BackendName;
  info(): BackendInfo;

  // ---- memory ---------------------------------------------------------------
  upload(data: Float32Array, shape: readonly number[]): Tensor;
  uploadInt(data: Int32Array, shape: readonly number[]): Tensor;
  zeros(shape: readonly number[]): Tensor;
  /** Copies a tensor back to the host. f32 tensors give Float32Array, i32 tensors Int32Array. */
  read(t: Tensor): Promise<Float32Array>;
  readInt(t: Tensor): Promise<Int32Array>;
  free(t: Tensor): void;

  // ---- primitives -----------------------------------------------------------
  /** C = op(A)·op(B); op(X) = Xᵀ when the flag is set. A is [M,K] (or [K,M] with transA). */
  matmul(a: Tensor, b: Tensor, transA?: boolean, transB?: boolean): Tensor;
  /** x [M,N] + bias [N] broadcast over rows. */
  addBias(x: Tensor, bias: Tensor): Tensor;
  activation(kind: Activation, x: Tensor): Tensor;
  /** gy ⊙ f'(x), x the activation's input (pre-activation). */
  activationGrad(kind: Activation, x: Tensor, gy: Tensor): Tensor;
  /**
   * Per-sample softmax cross-entropy of logits [B,C] against labels (i32 [B]):
   * loss [B] = logsumexp(z) − z_y, grad [B,C] = softmax(z) − onehot(y) (per sample, not divided by B).
   */
  softmaxCrossEntropy(logits: Tensor, labels: Tensor): { loss: Tensor; grad: Tensor };
  /** Column sums of x [M,N] → [N] (the bias gradient). */
  sumRows(x: Tensor): Tensor;
  /** Sum of all elements → [1]. */
  sum(x: Tensor): Tensor;
  /** y + alpha·x (same shape) → new tensor. */
  axpy(alpha: number, x: Tensor, y: Tensor): Tensor;
  /** alpha·x → new tensor. */
  scale(alpha: number, x: Tensor): Tensor;
  /** Σ x·y → [1]. */
  dot(x: Tensor, y: Tensor): Tensor;
  /** Rows idx (i32 [K]) of x [M,N] → [K,N]. */
  gatherRows(x: Tensor, idx: Tensor): Tensor;

  // ---- optimizer steps (update param and state tensors in place) -------------
  sgdStep(param: Tensor, grad: Tensor, velocity: Tensor, h: SgdHyper): void;
  adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, h: AdamHyper): void;

  // ---- curvature: the pieces of Pearlmutter's R-operator (HVP / GGN products) -------
  /** x ⊙ y elementwise (same size). */
  mul(x: Tensor, y: Tensor): Tensor;
  /**
   * The R-derivative of the activation backward gz = ga ⊙ f'(z):
   * R(gz) = ga ⊙ f''(z) ⊙ rz + rga ⊙ f'(z), z the pre-activation. ReLU's f'' is 0.
   */
  activationRGrad(kind: Activation, z: Tensor, rz: Tensor, ga: Tensor, rga: Tensor): Tensor;
  /**
   * Per-row Hessian of softmax cross-entropy w.r.t. the logits [B,C] applied to r [B,C]:
   * p ⊙ r − p · (pᵀr), p = softmax(row) (per sample, not divided by B; labels do not enter).
   */
  softmaxHessianVec(logits: Tensor, r: Tensor): Tensor;
  /** A copy of x's flat elements [offset, offset + size(shape)) with the given shape. */
  slice(x: Tensor, offset: number, shape: readonly number[]): Tensor;
  /** Writes src's flat elements into dst starting at dstOffset (in place). */
  copyInto(dst: Tensor, dstOffset: number, src: Tensor): void;

  // ---- fused hot loops --------------------------------------------------------
  /**
   * GU's projection (src/unlearn/): g⊥ = (I − U(UᵀHU)⁻¹UᵀH)·g with U = rows (first + j) mod K,
   * j < count, of basis [K, P] (K ≤ 32) and H = diag(metric), or I without one. One op: the Gram
   * matrix UᵀHU and UᵀHg in one pass, the k×k solve on the device (dependent rows get coefficient 0),
   * g − U·a in one more pass. The result has g's shape.
   */
  guProject(g: Tensor, basis: Tensor, metric: Tensor | undefined, first: number, count: number): Tensor;
  /** Pearson r of every sample's loss differences with its class's (one pass, no per-class copies). */
  cldScores(input: CldKernelInput): Promise<Float32Array>;
  /**
   * Optional: the whole curvature-vector product of an MLP's mean cross-entropy on one batch in
   * one call (forward, backward, R-forward, R-backward; Hessian or GGN), exactly what
   * src/model/hvp.ts composes from the kernels above. Backends without it get the composed path.
   */
  mlpCurvatureProduct?(req: FusedCurvatureRequest): void;
  /**
   * Optional: mlpCurvatureProduct off the calling thread (native: a libuv worker), so that a long
   * product does not block the event loop. The request's tensors and the weights must not change
   * until it settles; a `state` object serves one product at a time.
   */
  mlpCurvatureProductAsync?(req: FusedCurvatureRequest): Promise<void>;
  /**
   * Optional: mini-batch training steps of an MLP on mean cross-entropy in one call — per batch,
   * gather, forward, per-sample loss, backward and the optimizer update of every parameter, exactly
   * what model/mlp.ts and train/optimizer.ts compose from the kernels above; resolves to the sum of
   * the losses. Parameters and state change in place; the caller must not touch them (or x, or
   * `loss`) until it settles. Backends without it get the composed path.
   */
  mlpTrainSteps?(req: FusedTrainRequest): Promise<number>;

  /** Waits for queued work (no-op on synchronous backends). */
  sync(): Promise<void>;
  /** Releases device resources; the process exits by itself afterwards. */
  dispose(): void;
}

/** The two dimensions of a matrix tensor, or E_SHAPE naming the operand. Shared by every backend. */
export function dims2(t: Tensor, what: string): [number, number] {
  if (t.shape.length !== 2) fail('E_SHAPE', `${what} must be 2-D, got [${t.shape.join(', ')}]`);
  return [t.shape[0]!, t.shape[1]!];
}

/** E_SHAPE unless both tensors hold the same number of elements. */
export function sameSize(a: Tensor, b: Tensor, what: string): void {
  if (a.size !== b.size) fail('E_SHAPE', `${what}: sizes differ (${a.size} vs ${b.size})`);
}

/** Product of a shape's dimensions. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
