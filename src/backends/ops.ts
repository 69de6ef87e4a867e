/**
 * The op registry: every kernel of the Backend contract declared once.
 *
 * A declaration says what an op takes (its positional parameter names, which of them are tensors
 * and of what dtype and rank), checks everything that can be checked without running it (shape
 * relations, scalars, host-side labels) and returns a *plan* — the dimensions and output shapes
 * the kernel needs. It also names where each backend's implementation lives: the addon export(s)
 * (`native`) and the WGSL family/entry points (`wgsl`). Backends are executors: `KernelBackend`
 * (dispatch.ts) turns each declaration into a method that validates through it, then calls the
 * backend's kernel table with already-checked arguments and the plan. So a misuse gives the same
 * error code on every backend, and a kernel never re-validates.
 *
 * Anchors: PyTorch's native_functions.yaml (one declaration, per-backend dispatch), tfjs's
 * registerKernel({kernelName, backendName, kernelFunc}), ONNX Runtime web's ProgramInfo.
 *
 * Error codes, the same everywhere: a tensor of another backend or a freed tensor → E_ARG;
 * wrong dtype → E_DTYPE; wrong rank or sizes that disagree → E_SHAPE; a scalar out of range →
 * E_ARG; a label outside [0, C) → E_LABEL (host-side labels here; device-side labels in the
 * kernel on js/native — webgpu cannot throw from a shader, see softmaxCrossEntropy).
 */
import { fail } from '../errors.js';
import {
  ACTIVATIONS,
  type Activation,
  type AdamHyper,
  type CldKernelInput,
  type DType,
  type FusedCurvatureRequest,
  type FusedMlpLayer,
  type FusedTrainRequest,
  type SgdHyper,
  type Tensor,
  shapeSize,
} from './backend.js';

/** A tensor parameter: its dtype, and its rank when the op needs one. */
export interface TensorParam {
  dtype: DType;
  rank?: number;
  /** May be undefined (e.g. a bias-less layer). */
  optional?: boolean;
}

/** Where each backend's implementation of an op lives (checked by test/parity/registry.test.ts). */
export interface OpSpec<A, P> {
  /** One line: what the op computes. */
  summary: string;
  /** Positional parameter names of the Backend method, in order. */
  params: readonly (keyof A & string)[];
  /** Defaults of trailing optional parameters. */
  defaults?: Partial<A>;
  /** The tensor parameters; checked for ownership, liveness, dtype and rank before `check`. */
  tensors: Partial<Record<keyof A & string, TensorParam>>;
  /** Tensors inside non-tensor arguments (a request object): checked like `tensors`. */
  nested?: (args: A) => [unknown, TensorParam, string][];
  /** Everything else that can be checked before running: returns the kernel's plan. */
  check(args: A): P;
  /** Addon export(s) the native kernel calls; omitted when the kernel is plain memory movement. */
  native?: readonly string[];
  /** WGSL families (shaders/<family>.wgsl) and the entry points the webgpu kernel dispatches. */
  wgsl?: readonly { family: string; entries: readonly string[] }[];
  /**
   * The output tensors, for ops the generic executors run without hand-written glue (marked
   * with `generic()`): native calls `addon[native[0]](plan, ...tensor params, ...outputs)` with
   * the plan's and the call's numbers in `plan`; webgpu runs `wgsl[0].entries[0]` elementwise
   * over the first output (or, in place, the first tensor) binding every tensor by its parameter
   * name and output name, each with a `<name>Base` uniform. No outputs: an in-place op.
   */
  outputs?: (plan: P, args: A) => readonly OutputDecl[];
  /** Run by the generic executors on native and webgpu (js still has its reference kernel). */
  generic?: true;
  /** The method returns a promise: argument errors become rejections. */
  async?: true;
  /** Backends may leave it out (the caller then takes a composed path); set with `optional()`. */
  optional?: true;
}

/** One output tensor of an op (see OpSpec.outputs). */
export interface OutputDecl {
  name: string;
  shape: readonly number[];
  dtype: DType;
}

const spec = <A, P>(s: OpSpec<A, P>): OpSpec<A, P> => s;
/** Marks an op the generic executors run (it must declare `outputs`). */
const generic = <A, P>(s: OpSpec<A, P>): OpSpec<A, P> & { generic: true } => {
  if (!s.outputs || !s.native || !s.wgsl) throw new Error('a generic op declares outputs, native and wgsl');
  return { ...s, generic: true };
};
/** Marks an op backends may leave out (its type says so, which KernelTable relies on). */
const optional = <A, P>(s: OpSpec<A, P>): OpSpec<A, P> & { optional: true } => ({ ...s, optional: true });

// ---- shared checks -------------------------------------------------------------------------------

function finite(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) fail('E_ARG', `${what} must be a finite number, got ${String(x)}`);
  return x;
}
function flag(x: unknown, what: string): boolean {
  if (x !== undefined && typeof x !== 'boolean') fail('E_ARG', `${what} must be a boolean, got ${String(x)}`);
  return x === true;
}
function activationKind(kind: unknown, op: string): Activation {
  if (!ACTIVATIONS.includes(kind as Activation)) fail('E_ARG', `${op}: unknown activation ${JSON.stringify(kind)}; expected one of ${ACTIVATIONS.join(', ')}`);
  return kind as Activation;
}
function dims2(t: Tensor): [number, number] {
  return [t.shape[0]!, t.shape[1]!];
}
function sameSize(op: string, a: Tensor, b: Tensor, what: string): void {
  if (a.size !== b.size) fail('E_SHAPE', `${op}: ${what} has ${b.size} elements, expected ${a.size}`);
}
/** A shape of non-negative integers (copied). */
export function checkShape(shape: unknown, what: string): number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail('E_SHAPE', `${what}: shape ${JSON.stringify(shape)} must be a list of non-negative integers`);
  }
  return [...(shape as number[])];
}
/** The shape of an upload, checked against its host data (the same rule on every backend). */
export function checkUpload(
  data: unknown,
  ctor: Float32ArrayConstructor | Int32ArrayConstructor,
  shape: unknown,
  what: string,
): number[] {
  if (!(data instanceof ctor)) fail('E_DTYPE', `${what}: expected a ${ctor.name}, got ${Object.prototype.toString.call(data)}`);
  const s = checkShape(shape, what);
  if (data.length !== shapeSize(s)) fail('E_SHAPE', `${what}: ${data.length} values for shape [${s.join(', ')}]`);
  return s;
}
function offsetIn(op: string, offset: unknown, n: number, size: number): number {
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset + n > size) {
    fail('E_ARG', `${op} [${String(offset)}, ${String(offset)} + ${n}) is outside a tensor of ${size} elements`);
  }
  return offset;
}
function hyper<H extends object>(op: string, h: H, fields: readonly (keyof H & string)[]): void {
  if (typeof h !== 'object' || h === null) fail('E_ARG', `${op}: hyper-parameters must be an object`);
  for (const f of fields) finite(h[f], `${op} ${f}`);
}

/** One pass over host labels: E_LABEL naming the first outside [0, C). */
export function checkLabels(labels: Int32Array, C: number, what: string, op: string): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (y < 0 || y >= C) fail('E_LABEL', `${op}: label ${y} of ${what} ${i} is outside [0, ${C})`, { field: 'labels' });
  }
}

// ---- the ops ---------------------------------------------------------------------------------------

/** AdaGrad as torch.optim.Adagrad (initial accumulator 0). */
export interface AdagradHyper {
  lr: number;
  weightDecay: number;
  lrDecay: number;
  eps: number;
  /** 1-based step count. */
  step: number;
}
/** CLASSP (Continual Learning with Adaptive Sparse Step Policy), as its paper states it. */
export interface ClasspHyper {
  lr: number;
  eps: number;
  /** p of A += |g|^p and the 1/p root. */
  power: number;
  /** A coordinate moves only where g² > threshold. */
  threshold: number;
}
/** classpGate: the threshold of ClasspHyper. */
export interface ClasspGateHyper {
  threshold: number;
}

/** Hyper-parameters of guAdamStep (Adam with β1 = 0 whose denominator is taken before the step). */
export interface GuAdamHyper {
  lr: number;
  beta2: number;
  eps: number;
}

/** The most basis vectors guProject takes (its k×k solve is sized for this). */
export const GU_MAX_BASIS = 32;

/** Plan of guProject: P elements, K rows of the basis, the active rows (first + j) mod K for j < count. */
export interface GuProjectPlan {
  p: number;
  k: number;
  first: number;
  count: number;
  /** 1 with a metric tensor, 0 for H = I. */
  weighted: number;
}

/**
 * The Backend methods of the ops the generic executors run, declared with their specs so that
 * adding such an op does not touch backend.ts (Backend extends this interface).
 */
export interface GenericOpMethods {
  /** In-place AdaGrad step (torch.optim.Adagrad); `accum` is the running Σg², initially 0. */
  adagradStep(param: Tensor, grad: Tensor, accum: Tensor, h: AdagradHyper): void;
  /** In-place CLASSP step (the paper's rule); `accum` is the running Σ|g|^p, initially 0. */
  classpStep(param: Tensor, grad: Tensor, accum: Tensor, h: ClasspHyper): void;
  /**
   * CLASSP's gate as a new 0/1 mask (1 where g² > threshold, compared as classpStep compares):
   * summed on the device it counts the coordinates a step moves, with no read-back.
   */
  classpGate(grad: Tensor, h: ClasspGateHyper): Tensor;
  /**
   * In-place step of GU's Adam geometry (src/unlearn/gu.ts): param −= lr·metric⊙dir with the metric
   * the projection used, then v = β2·v + (1 − β2)·dir² and metric = 1 / (√v + eps) for the next step.
   */
  guAdamStep(param: Tensor, dir: Tensor, v: Tensor, metric: Tensor, h: GuAdamHyper): void;
}

/** An optional activation as the landscape kernels take it: 0 none, 1 + its code (relu 1 … gelu 4). */
function actPlan(op: string, a: Activation | undefined): number {
  return a === undefined ? 0 : 1 + ACTIVATION_CODE[activationKind(a, op)];
}

/** The Backend methods of the landscape ops (issue 10: many grid points per dispatch). */
export interface LandscapeOpMethods {
  /**
   * out [P, …S] = f(Σ_j coef[p, j]·basis[j, …S]) (summed in j order from 0, f an optional
   * activation): the weights, biases or first-layer activations of P grid points from J basis tensors.
   */
  pointCombine(coef: Tensor, basis: Tensor, activation?: Activation): Tensor;
  /** y [P,M,N] with y_p = f(a_p [M,K] · b_p [N,K]ᵀ + bias_p [N]) (bias [P,N] and f optional): P linear layers in one call. */
  batchedMatmul(a: Tensor, b: Tensor, bias?: Tensor, activation?: Activation): Tensor;
}

// ---- the bisimulation loss (issue 11 §5; src/train/bisimulation.ts) -------------------------------

/** Plan of bisimulationLoss: B pairs, embedding width D, prediction width E, and the pairing. */
export interface BisimulationPlan {
  b: number;
  d: number;
  e: number;
  gamma: number;
  /** 1 with a σ tensor, 0 for deterministic predictions (σ = 0, as DBC's code takes a missing σ). */
  hasSigma: number;
  /** j = perm[i], checked to be a permutation of 0..B−1, and its inverse (inv[perm[i]] = i). */
  perm: Int32Array;
  inv: Int32Array;
}

/** The Backend method of the bisimulation loss. */
export interface BisimulationOpMethods {
  /**
   * The bisimulation loss of a batch paired by j = perm[i] (DBC, Zhang et al. 2021):
   * terms[i] = (‖z_i − z_j‖₂ − (|r_i − r_j| + γ·√(‖μ_i − μ_j‖² + ‖σ_i − σ_j‖²)))², loss [1] = mean of
   * the terms, grad [B, D] = ∂loss/∂z with the target held constant (the 0 subgradient where z_i = z_j).
   */
  bisimulationLoss(
    z: Tensor, reward: Tensor, mu: Tensor, sigma: Tensor | undefined, perm: Int32Array, gamma: number,
  ): { loss: Tensor; terms: Tensor; grad: Tensor };
}

/** The pairing of bisimulationLoss: E_ARG unless a permutation of 0..b−1; returns its inverse. */
function permutationInverse(op: string, perm: unknown, b: number): Int32Array {
  if (!(perm instanceof Int32Array)) fail('E_ARG', `${op}: perm must be an Int32Array (a permutation of 0..${b - 1}), got ${Object.prototype.toString.call(perm)}`);
  if (perm.length !== b) fail('E_SHAPE', `${op}: perm has ${perm.length} entries, expected one per row of z (${b})`);
  const inv = new Int32Array(b).fill(-1);
  for (let i = 0; i < b; i++) {
    const j = perm[i]!;
    if (j < 0 || j >= b) fail('E_ARG', `${op}: perm[${i}] = ${j} is outside [0, ${b})`);
    if (inv[j] !== -1) fail('E_ARG', `${op}: perm is not a permutation: ${j} appears at positions ${inv[j]} and ${i}`);
    inv[j] = i;
  }
  return inv;
}

// ---- convolution and pooling (issue 12): NCHW, float32, row-major ---------------------------------

/** Strides and zero padding of a 2-D convolution (PyTorch's Conv2d stride/padding; no dilation, one group). */
export interface Conv2dGeom {
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
}
/** A 2-D pooling window (PyTorch's kernel_size/stride/padding, floor mode, no dilation). */
export interface Pool2dGeom {
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
}
/** Every size a convolution kernel needs: x [n,c,h,w], weight [o,c,kh,kw], y [n,o,oh,ow]. */
export interface Conv2dPlan {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  hasBias: boolean;
}
/** Every size a pooling kernel needs: x [n,c,h,w], y [n,c,oh,ow]. */
export interface Pool2dPlan extends Pool2dGeom {
  n: number;
  c: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
}

/** The Backend methods of the convolution and pooling ops (the method comments are the contract). */
export interface ConvOpMethods {
  /** y [N,O,OH,OW] = x [N,C,H,W] ⋆ weight [O,C,KH,KW] (+ bias [O]); OH = ⌊(H + 2·padH − KH)/strideH⌋ + 1. */
  conv2d(x: Tensor, weight: Tensor, bias: Tensor | undefined, geom: Conv2dGeom): Tensor;
  /** ∂L/∂x [N,C,H,W] from gy [N,O,OH,OW]; inputShape is x's shape (a stride > 1 leaves H ambiguous). */
  conv2dInputGrad(gy: Tensor, weight: Tensor, geom: Conv2dGeom, inputShape: readonly number[]): Tensor;
  /** ∂L/∂weight [O,C,KH,KW] from x [N,C,H,W] and gy [N,O,OH,OW]; kernel is [KH, KW]. */
  conv2dWeightGrad(x: Tensor, gy: Tensor, geom: Conv2dGeom, kernel: readonly number[]): Tensor;
  /** Σ over n, h, w of gy [N,O,H,W] → [O] (a convolution's bias gradient). */
  channelSum(gy: Tensor): Tensor;
  /**
   * Max pooling as PyTorch's: padding is −inf, windows are clipped to the input, ties keep the first
   * maximum in row-major window order, a NaN wins. argmax (i32, y's shape) is the flat index into x.
   */
  maxPool2d(x: Tensor, pool: Pool2dGeom): { y: Tensor; argmax: Tensor };
  /** gx [inputShape]: each gy element added at its argmax (windows may overlap); deterministic. */
  maxPool2dBackward(gy: Tensor, argmax: Tensor, inputShape: readonly number[]): Tensor;
  /** y (idx's shape) = x.flat[idx] — the R-operator of max pooling (ry = rx at the argmax). */
  gatherFlat(x: Tensor, idx: Tensor): Tensor;
  /** Average pooling as PyTorch's default (count_include_pad: every window divides by KH·KW). */
  avgPool2d(x: Tensor, pool: Pool2dGeom): Tensor;
  /** gx [inputShape] of avgPool2d from gy [N,C,OH,OW]. */
  avgPool2dBackward(gy: Tensor, pool: Pool2dGeom, inputShape: readonly number[]): Tensor;
}

/** Flat indices and plans are int32 in the kernels: every tensor of these ops stays below 2^31. */
const I32_LIMIT = 0x7fffffff;

function dims4(op: string, t: Tensor, what: string): [number, number, number, number] {
  const [a, b, c, d] = t.shape as [number, number, number, number];
  if (a < 1 || b < 1 || c < 1 || d < 1) fail('E_SHAPE', `${op}: ${what} [${t.shape.join(', ')}] has an empty dimension`);
  if (t.size > I32_LIMIT) fail('E_SHAPE', `${op}: ${what} [${t.shape.join(', ')}] has ${t.size} elements, more than 2^31 − 1`);
  return [a, b, c, d];
}
/** A positive integer dimension list of the given length (inputShape, kernel). */
function intList(op: string, v: unknown, len: number, what: string): number[] {
  if (!Array.isArray(v) || v.length !== len || !v.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    fail('E_SHAPE', `${op}: ${what} must be ${len} positive integers, got ${JSON.stringify(v)}`);
  }
  return [...(v as number[])];
}
function geomInt(op: string, g: object, key: string, min: number): number {
  const v = (g as Record<string, unknown>)[key];
  if (!Number.isSafeInteger(v) || (v as number) < min) fail('E_ARG', `${op}: ${key} must be an integer >= ${min}, got ${String(v)}`);
  return v as number;
}
function convGeom(op: string, g: Conv2dGeom): Conv2dGeom {
  if (typeof g !== 'object' || g === null) fail('E_ARG', `${op}: geometry must be an object {strideH, strideW, padH, padW}`);
  return { strideH: geomInt(op, g, 'strideH', 1), strideW: geomInt(op, g, 'strideW', 1), padH: geomInt(op, g, 'padH', 0), padW: geomInt(op, g, 'padW', 0) };
}
function poolGeom(op: string, g: Pool2dGeom): Pool2dGeom {
  if (typeof g !== 'object' || g === null) fail('E_ARG', `${op}: pool must be an object {kernelH, kernelW, strideH, strideW, padH, padW}`);
  const p = {
    kernelH: geomInt(op, g, 'kernelH', 1), kernelW: geomInt(op, g, 'kernelW', 1), strideH: geomInt(op, g, 'strideH', 1), strideW: geomInt(op, g, 'strideW', 1),
    padH: geomInt(op, g, 'padH', 0), padW: geomInt(op, g, 'padW', 0),
  };
  // PyTorch's rule: a window must never lie wholly in the padding.
  if (2 * p.padH > p.kernelH || 2 * p.padW > p.kernelW) {
    fail('E_ARG', `${op}: padding [${p.padH}, ${p.padW}] must be at most half the kernel [${p.kernelH}, ${p.kernelW}]`);
  }
  return p;
}
/** ⌊(size + 2·pad − k)/stride⌋ + 1, or E_SHAPE naming the sizes when it would be ≤ 0. */
function outSize(op: string, axis: 'height' | 'width', size: number, k: number, stride: number, pad: number): number {
  if (size + 2 * pad < k) fail('E_SHAPE', `${op}: output ${axis} would be ${Math.floor((size + 2 * pad - k) / stride) + 1} <= 0: input ${axis} ${size} + 2·padding ${pad} < kernel ${k}`);
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}
function outElems(op: string, dims: readonly number[], what: string): void {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n > I32_LIMIT) fail('E_SHAPE', `${op}: ${what} [${dims.join(', ')}] would have ${n} elements, more than 2^31 − 1`);
}
/** The plan of a convolution, from x's and the weight's shapes. */
function convPlan(op: string, xs: readonly number[], ws: readonly number[], g: Conv2dGeom, hasBias: boolean): Conv2dPlan {
  const [n, c, h, w] = xs as [number, number, number, number];
  const [o, wc, kh, kw] = ws as [number, number, number, number];
  if (wc !== c) fail('E_SHAPE', `${op}: the input has ${c} channels but the weight [${ws.join(', ')}] expects ${wc}`);
  const oh = outSize(op, 'height', h, kh, g.strideH, g.padH);
  const ow = outSize(op, 'width', w, kw, g.strideW, g.padW);
  outElems(op, [n, o, oh, ow], 'the output');
  outElems(op, [n, oh, ow, c, kh, kw], 'one im2col matrix per sample times the batch');
  return { n, c, h, w, o, kh, kw, oh, ow, ...g, hasBias };
}
function poolPlan(op: string, xs: readonly number[], p: Pool2dGeom): Pool2dPlan {
  const [n, c, h, w] = xs as [number, number, number, number];
  const oh = outSize(op, 'height', h, p.kernelH, p.strideH, p.padH);
  const ow = outSize(op, 'width', w, p.kernelW, p.strideW, p.padW);
  return { n, c, h, w, oh, ow, ...p };
}
/** E_SHAPE unless a gradient has exactly the shape the forward pass gave. */
function sameShape(op: string, t: Tensor, want: readonly number[], what: string, why: string): void {
  if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
    fail('E_SHAPE', `${op}: ${what} is [${t.shape.join(', ')}] but ${why} gives [${want.join(', ')}]`);
  }
}

type Unary = { x: Tensor };
type Binary = { x: Tensor; y: Tensor };
type Elems = { n: number };

/** Plan of the fused curvature product: the layer spec the kernels consume. */
export interface CurvaturePlan {
  batch: number;
  /** Per layer [activation code or −1 for linear, in, out, hasBias, active]. */
  spec: Int32Array;
  /** Width of every layer's output. */
  widths: number[];
  classes: number;
  vSize: number;
}

export const ACTIVATION_CODE: Record<Activation, number> = { relu: 0, tanh: 1, sigmoid: 2, gelu: 3 };

export const OPS = {
  matmul: spec<{ a: Tensor; b: Tensor; transA: boolean; transB: boolean }, { m: number; n: number; k: number; transA: boolean; transB: boolean }>({
    summary: 'C = op(A)·op(B), op(X) = Xᵀ when its flag is set',
    params: ['a', 'b', 'transA', 'transB'],
    defaults: { transA: false, transB: false },
    tensors: { a: { dtype: 'f32', rank: 2 }, b: { dtype: 'f32', rank: 2 } },
    check({ a, b, transA, transB }) {
      const tA = flag(transA, 'matmul transA');
      const tB = flag(transB, 'matmul transB');
      const [ar, ac] = dims2(a);
      const [br, bc] = dims2(b);
      const [m, k] = tA ? [ac, ar] : [ar, ac];
      const [k2, n] = tB ? [bc, br] : [br, bc];
      if (k !== k2) fail('E_SHAPE', `matmul: inner dimensions differ (${k} vs ${k2})`);
      if (m > 0x7fffffff || n > 0x7fffffff || k > 0x7fffffff) fail('E_SHAPE', 'matmul: dimension too large');
      return { m, n, k, transA: tA, transB: tB };
    },
    native: ['sgemm'],
    wgsl: [{ family: 'matmul', entries: ['main', 'main8'] }, { family: 'matvec', entries: ['cols', 'rows_short', 'rows_split', 'rows_finish'] }],
  }),
  addBias: spec<{ x: Tensor; bias: Tensor }, { m: number; n: number }>({
    summary: 'x [M,N] + bias [N] broadcast over rows',
    params: ['x', 'bias'],
    tensors: { x: { dtype: 'f32', rank: 2 }, bias: { dtype: 'f32' } },
    check({ x, bias }) {
      const [m, n] = dims2(x);
      if (bias.size !== n) fail('E_SHAPE', `addBias: bias has ${bias.size} elements, expected ${n}`);
      return { m, n };
    },
    native: ['addBias'],
    wgsl: [{ family: 'elementwise', entries: ['bias_add'] }],
  }),
  activation: spec<{ kind: Activation; x: Tensor }, { kind: Activation; code: number }>({
    summary: 'f(x) elementwise',
    params: ['kind', 'x'],
    tensors: { x: { dtype: 'f32' } },
    check({ kind }) {
      const k = activationKind(kind, 'activation');
      return { kind: k, code: ACTIVATION_CODE[k] };
    },
    native: ['activation'],
    wgsl: [{ family: 'elementwise', entries: ['act_forward'] }],
  }),
  activationGrad: spec<{ kind: Activation; x: Tensor; gy: Tensor }, { kind: Activation; code: number }>({
    summary: "gy ⊙ f'(x), x the pre-activation",
    params: ['kind', 'x', 'gy'],
    tensors: { x: { dtype: 'f32' }, gy: { dtype: 'f32' } },
    check({ kind, x, gy }) {
      const k = activationKind(kind, 'activationGrad');
      sameSize('activationGrad', x, gy, 'gy');
      return { kind: k, code: ACTIVATION_CODE[k] };
    },
    native: ['activationGrad'],
    wgsl: [{ family: 'elementwise', entries: ['act_backward'] }],
  }),
  softmaxCrossEntropy: spec<{ logits: Tensor; labels: Tensor }, { b: number; c: number }>({
    summary: 'per-sample softmax cross-entropy: loss [B] and grad [B,C] = softmax − onehot',
    params: ['logits', 'labels'],
    tensors: { logits: { dtype: 'f32', rank: 2 }, labels: { dtype: 'i32' } },
    check({ logits, labels }) {
      const [b, c] = dims2(logits);
      if (labels.size !== b) fail('E_SHAPE', `softmaxCrossEntropy: ${labels.size} labels for ${b} rows`);
      return { b, c };
    },
    native: ['softmaxXent'],
    wgsl: [{ family: 'softmax_ce', entries: ['main'] }],
  }),
  sumRows: spec<Unary, { m: number; n: number }>({
    summary: 'column sums of x [M,N] → [N]',
    params: ['x'],
    tensors: { x: { dtype: 'f32', rank: 2 } },
    check: ({ x }) => {
      const [m, n] = dims2(x);
      return { m, n };
    },
    native: ['sumRows'],
    wgsl: [{ family: 'reduce', entries: ['cols_partial', 'cols_combine', 'finalize'] }],
  }),
  sum: spec<Unary, Elems>({
    summary: 'Σ x → [1]',
    params: ['x'],
    tensors: { x: { dtype: 'f32' } },
    check: ({ x }) => ({ n: x.size }),
    native: ['sum'],
    wgsl: [{ family: 'reduce', entries: ['partial', 'combine', 'finalize'] }],
  }),
  axpy: spec<{ alpha: number; x: Tensor; y: Tensor }, Elems>({
    summary: 'y + alpha·x → new tensor',
    params: ['alpha', 'x', 'y'],
    tensors: { x: { dtype: 'f32' }, y: { dtype: 'f32' } },
    check({ alpha, x, y }) {
      finite(alpha, 'axpy alpha');
      sameSize('axpy', x, y, 'y');
      return { n: x.size };
    },
    native: ['axpy'],
    wgsl: [{ family: 'axpy', entries: ['axpy'] }],
  }),
  scale: spec<{ alpha: number; x: Tensor }, Elems>({
    summary: 'alpha·x → new tensor',
    params: ['alpha', 'x'],
    tensors: { x: { dtype: 'f32' } },
    check({ alpha, x }) {
      finite(alpha, 'scale alpha');
      return { n: x.size };
    },
    native: ['scale'],
    wgsl: [{ family: 'axpy', entries: ['scale'] }],
  }),
  dot: spec<Binary, Elems>({
    summary: 'Σ x·y → [1]',
    params: ['x', 'y'],
    tensors: { x: { dtype: 'f32' }, y: { dtype: 'f32' } },
    check({ x, y }) {
      sameSize('dot', x, y, 'y');
      return { n: x.size };
    },
    native: ['dot'],
    wgsl: [{ family: 'reduce', entries: ['partial', 'combine', 'finalize'] }],
  }),
  gatherRows: spec<{ x: Tensor; idx: Tensor }, { m: number; n: number; k: number }>({
    summary: 'rows idx (i32 [K]) of x [M,N] → [K,N]',
    params: ['x', 'idx'],
    tensors: { x: { dtype: 'f32', rank: 2 }, idx: { dtype: 'i32' } },
    check({ x, idx }) {
      const [m, n] = dims2(x);
      return { m, n, k: idx.size };
    },
    native: ['gatherRows'],
    wgsl: [{ family: 'gather', entries: ['main'] }],
  }),
  sgdStep: spec<{ param: Tensor; grad: Tensor; velocity: Tensor; h: SgdHyper }, Elems>({
    summary: "in-place SGD (PyTorch's: weight decay, momentum, Nesterov)",
    params: ['param', 'grad', 'velocity', 'h'],
    tensors: { param: { dtype: 'f32' }, grad: { dtype: 'f32' }, velocity: { dtype: 'f32' } },
    check({ param, grad, velocity, h }) {
      sameSize('sgdStep', param, grad, 'grad');
      sameSize('sgdStep', param, velocity, 'velocity');
      hyper('sgdStep', h, ['lr', 'weightDecay', 'momentum']);
      flag(h.nesterov, 'sgdStep nesterov');
      return { n: param.size };
    },
    native: ['sgdStep'],
    wgsl: [{ family: 'optim', entries: ['sgd'] }],
  }),
  adamStep: spec<{ param: Tensor; grad: Tensor; m: Tensor; v: Tensor; h: AdamHyper }, Elems>({
    summary: 'in-place Adam (L2 in the gradient) or AdamW (decoupled decay)',
    params: ['param', 'grad', 'm', 'v', 'h'],
    tensors: { param: { dtype: 'f32' }, grad: { dtype: 'f32' }, m: { dtype: 'f32' }, v: { dtype: 'f32' } },
    check({ param, grad, m, v, h }) {
      sameSize('adamStep', param, grad, 'grad');
      sameSize('adamStep', param, m, 'm');
      sameSize('adamStep', param, v, 'v');
      hyper('adamStep', h, ['lr', 'weightDecay', 'beta1', 'beta2', 'eps']);
      if (!Number.isSafeInteger(h.step) || h.step < 1) fail('E_ARG', `adamStep step must be an integer >= 1, got ${h.step}`);
      flag(h.decoupled, 'adamStep decoupled');
      return { n: param.size };
    },
    native: ['adamStep'],
    wgsl: [{ family: 'optim', entries: ['adam'] }],
  }),
  adagradStep: generic(spec<{ param: Tensor; grad: Tensor; accum: Tensor; h: AdagradHyper }, Elems>({
    summary: "in-place AdaGrad (PyTorch's: lr / (1 + (step − 1)·lrDecay), L2 weight decay in the gradient, A += g², p −= lr'·g / (√A + eps))",
    params: ['param', 'grad', 'accum', 'h'],
    tensors: { param: { dtype: 'f32' }, grad: { dtype: 'f32' }, accum: { dtype: 'f32' } },
    check({ param, grad, accum, h }) {
      sameSize('adagradStep', param, grad, 'grad');
      sameSize('adagradStep', param, accum, 'accum');
      hyper('adagradStep', h, ['lr', 'weightDecay', 'lrDecay', 'eps']);
      if (!Number.isSafeInteger(h.step) || h.step < 1) fail('E_ARG', `adagradStep step must be an integer >= 1, got ${h.step}`);
      return { n: param.size };
    },
    outputs: () => [],
    native: ['adagradStep'],
    wgsl: [{ family: 'adaptive', entries: ['adagrad'] }],
  })),
  classpStep: generic(spec<{ param: Tensor; grad: Tensor; accum: Tensor; h: ClasspHyper }, Elems>({
    summary: 'in-place CLASSP (the paper): A += |g|^p everywhere; where g² > threshold, w −= lr·g / (eps + A)^(1/p)',
    params: ['param', 'grad', 'accum', 'h'],
    tensors: { param: { dtype: 'f32' }, grad: { dtype: 'f32' }, accum: { dtype: 'f32' } },
    check({ param, grad, accum, h }) {
      sameSize('classpStep', param, grad, 'grad');
      sameSize('classpStep', param, accum, 'accum');
      hyper('classpStep', h, ['lr', 'eps', 'power', 'threshold']);
      if (!(h.power > 0)) fail('E_ARG', `classpStep power must be > 0, got ${h.power}`);
      if (!(h.eps > 0)) fail('E_ARG', `classpStep eps must be > 0, got ${h.eps}`);
      return { n: param.size };
    },
    outputs: () => [],
    native: ['classpStep'],
    wgsl: [{ family: 'adaptive', entries: ['classp'] }],
  })),
  classpGate: generic(spec<{ grad: Tensor; h: ClasspGateHyper }, Elems>({
    summary: "CLASSP's gate as a 0/1 mask: 1 where g² > threshold (the coordinates classpStep moves, by the same comparison), else 0",
    params: ['grad', 'h'],
    tensors: { grad: { dtype: 'f32' } },
    check({ grad, h }) {
      hyper('classpGate', h, ['threshold']);
      return { n: grad.size };
    },
    outputs: (_plan, { grad }) => [{ name: 'mask', shape: grad.shape, dtype: 'f32' }],
    native: ['classpGate'],
    wgsl: [{ family: 'adaptive', entries: ['classpGate'] }],
  })),
  guProject: spec<{ g: Tensor; basis: Tensor; metric: Tensor | undefined; first: number; count: number }, GuProjectPlan>({
    summary: 'g⊥ = (I − U(UᵀHU)⁻¹UᵀH)·g, U = the active rows of basis [K, P], H = diag(metric) or I: one fused op (Gram + UᵀHg, k×k solve, update)',
    params: ['g', 'basis', 'metric', 'first', 'count'],
    tensors: { g: { dtype: 'f32' }, basis: { dtype: 'f32', rank: 2 }, metric: { dtype: 'f32', optional: true } },
    check({ g, basis, metric, first, count }) {
      const [k, p] = dims2(basis);
      if (p !== g.size) fail('E_SHAPE', `guProject: basis rows have ${p} elements, g has ${g.size}`);
      if (k > GU_MAX_BASIS) fail('E_SHAPE', `guProject: basis has ${k} rows; at most ${GU_MAX_BASIS}`);
      if (metric !== undefined && metric.size !== p) fail('E_SHAPE', `guProject: metric has ${metric.size} elements, expected ${p}`);
      if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > k) fail('E_ARG', `guProject count must be an integer in [0, ${k}], got ${String(count)}`);
      if (typeof first !== 'number' || !Number.isInteger(first) || first < 0 || first >= Math.max(1, k)) fail('E_ARG', `guProject first must be an integer in [0, ${Math.max(0, k - 1)}], got ${String(first)}`);
      return { p, k, first, count, weighted: metric !== undefined ? 1 : 0 };
    },
    native: ['guProject'],
    wgsl: [{ family: 'gu_project', entries: ['gram_partial', 'solve', 'update'] }, { family: 'reduce', entries: ['cols_combine'] }],
  }),
  guAdamStep: generic(spec<{ param: Tensor; dir: Tensor; v: Tensor; metric: Tensor; h: GuAdamHyper }, Elems>({
    summary: 'in-place GU Adam-geometry step: param −= lr·metric⊙dir; v = β2·v + (1 − β2)·dir²; metric = 1 / (√v + eps)',
    params: ['param', 'dir', 'v', 'metric', 'h'],
    tensors: { param: { dtype: 'f32' }, dir: { dtype: 'f32' }, v: { dtype: 'f32' }, metric: { dtype: 'f32' } },
    check({ param, dir, v, metric, h }) {
      sameSize('guAdamStep', param, dir, 'dir');
      sameSize('guAdamStep', param, v, 'v');
      sameSize('guAdamStep', param, metric, 'metric');
      hyper('guAdamStep', h, ['lr', 'beta2', 'eps']);
      if (!(h.beta2 >= 0 && h.beta2 < 1)) fail('E_ARG', `guAdamStep beta2 must be in [0, 1), got ${h.beta2}`);
      if (!(h.eps > 0)) fail('E_ARG', `guAdamStep eps must be > 0, got ${h.eps}`);
      return { n: param.size };
    },
    outputs: () => [],
    native: ['guAdamStep'],
    wgsl: [{ family: 'gu_adam', entries: ['step'] }],
  })),
  mul: spec<Binary, Elems>({
    summary: 'x ⊙ y elementwise',
    params: ['x', 'y'],
    tensors: { x: { dtype: 'f32' }, y: { dtype: 'f32' } },
    check({ x, y }) {
      sameSize('mul', x, y, 'y');
      return { n: x.size };
    },
    native: ['mul'],
    wgsl: [{ family: 'axpy', entries: ['mul'] }],
  }),
  activationRGrad: spec<{ kind: Activation; z: Tensor; rz: Tensor; ga: Tensor; rga: Tensor }, { kind: Activation; code: number }>({
    summary: "R(ga ⊙ f'(z)) = ga ⊙ f''(z) ⊙ rz + rga ⊙ f'(z)",
    params: ['kind', 'z', 'rz', 'ga', 'rga'],
    tensors: { z: { dtype: 'f32' }, rz: { dtype: 'f32' }, ga: { dtype: 'f32' }, rga: { dtype: 'f32' } },
    check({ kind, z, rz, ga, rga }) {
      const k = activationKind(kind, 'activationRGrad');
      sameSize('activationRGrad', z, rz, 'rz');
      sameSize('activationRGrad', z, ga, 'ga');
      sameSize('activationRGrad', z, rga, 'rga');
      return { kind: k, code: ACTIVATION_CODE[k] };
    },
    native: ['activationRGrad'],
    wgsl: [{ family: 'act_rgrad', entries: ['main'] }],
  }),
  softmaxHessianVec: spec<{ logits: Tensor; r: Tensor }, { b: number; c: number }>({
    summary: 'per-row softmax cross-entropy Hessian applied to r: p ⊙ r − p·(pᵀr)',
    params: ['logits', 'r'],
    tensors: { logits: { dtype: 'f32', rank: 2 }, r: { dtype: 'f32' } },
    check({ logits, r }) {
      const [b, c] = dims2(logits);
      sameSize('softmaxHessianVec', logits, r, 'r');
      return { b, c };
    },
    native: ['softmaxHessianVec'],
    wgsl: [{ family: 'softmax_hvp', entries: ['rows', 'wide'] }],
  }),
  slice: spec<{ x: Tensor; offset: number; shape: readonly number[] }, { offset: number; shape: number[]; n: number }>({
    summary: "a copy of x's flat elements [offset, offset + size(shape)) with that shape",
    params: ['x', 'offset', 'shape'],
    tensors: { x: { dtype: 'f32' } },
    check({ x, offset, shape }) {
      const s = checkShape(shape, 'slice');
      const n = shapeSize(s);
      return { offset: offsetIn('slice', offset, n, x.size), shape: s, n };
    },
  }),
  copyInto: spec<{ dst: Tensor; dstOffset: number; src: Tensor }, { offset: number; n: number }>({
    summary: "writes src's flat elements into dst from dstOffset (in place)",
    params: ['dst', 'dstOffset', 'src'],
    tensors: { dst: { dtype: 'f32' }, src: { dtype: 'f32' } },
    check({ dst, dstOffset, src }) {
      return { offset: offsetIn('copyInto', dstOffset, src.size, dst.size), n: src.size };
    },
  }),
  cldScores: spec<{ input: CldKernelInput }, { epochs: number; samples: number; classes: number }>({
    summary: "Pearson r of every sample's loss differences with its class's (fused, one pass)",
    params: ['input'],
    tensors: {},
    async: true,
    check({ input }) {
      if (typeof input !== 'object' || input === null) fail('E_ARG', 'cldScores: input must be an object');
      const { trajectory: T, epochs: E, samples: N, labels, numClasses: C, classZ } = input;
      if (!(T instanceof Float32Array) && !(T instanceof Float64Array)) fail('E_DTYPE', 'cldScores: trajectory must be a Float32Array or Float64Array', { field: 'trajectory' });
      for (const [v, what] of [[E, 'epochs'], [N, 'samples'], [C, 'numClasses']] as const) {
        if (!Number.isSafeInteger(v) || v < 0) fail('E_ARG', `cldScores: ${what} must be a non-negative integer, got ${v}`, { field: what });
      }
      if (E < 2) fail('E_ARG', `cldScores: need at least 2 epochs (one difference), got ${E}`, { field: 'epochs' });
      if (T.length !== E * N) fail('E_SHAPE', `cldScores: trajectory has ${T.length} values, expected epochs × samples = ${E} × ${N}`, { field: 'trajectory' });
      if (!(labels instanceof Int32Array)) fail('E_DTYPE', 'cldScores: labels must be an Int32Array', { field: 'labels' });
      if (labels.length !== N) fail('E_SHAPE', `cldScores: ${labels.length} labels for ${N} samples`, { field: 'labels' });
      const zLen = (E - 1) * C;
      if (!(classZ instanceof Float64Array)) fail('E_DTYPE', 'cldScores: classZ must be a Float64Array', { field: 'classZ' });
      if (classZ.length !== zLen) fail('E_SHAPE', `cldScores: classZ has ${classZ.length} values, expected (epochs − 1) × numClasses = ${zLen}`, { field: 'classZ' });
      checkLabels(labels, C, 'sample', 'cldScores');
      return { epochs: E, samples: N, classes: C };
    },
    native: ['cldScores'],
    wgsl: [{ family: 'cld', entries: ['main'] }],
  }),
  mlpCurvatureProduct: optional(spec<{ req: FusedCurvatureRequest }, CurvaturePlan>({
    summary: "an MLP's mean cross-entropy Hessian- or GGN-vector product on one batch, in one call",
    params: ['req'],
    tensors: {},
    nested: ({ req }) => curvatureTensors(req),
    check({ req }) {
      return curvaturePlan(req);
    },
    native: ['mlpCurvatureProduct'],
  })),
  mlpCurvatureProductAsync: optional(spec<{ req: FusedCurvatureRequest }, CurvaturePlan>({
    summary: 'mlpCurvatureProduct off the calling thread: a promise, the event loop keeps running',
    params: ['req'],
    tensors: {},
    nested: ({ req }) => curvatureTensors(req),
    check({ req }) {
      return curvaturePlan(req);
    },
    native: ['mlpCurvatureProductAsync'],
    async: true,
  })),
  mlpTrainSteps: optional(spec<{ req: FusedTrainRequest }, TrainPlan>({
    summary: 'mini-batch training steps of an MLP on mean cross-entropy (forward, loss, backward, optimizer) in one call',
    params: ['req'],
    tensors: {},
    nested: ({ req }) => {
      if (typeof req !== 'object' || req === null) fail('E_ARG', 'mlpTrainSteps: request must be an object');
      const out: [unknown, TensorParam, string][] = [[req.x, { dtype: 'f32', rank: 2 }, 'x']];
      (Array.isArray(req.layers) ? req.layers : []).forEach((l, i) => {
        if (l.type !== 'linear') return;
        out.push([l.weight, { dtype: 'f32', rank: 2 }, `layers[${i}].weight`], [l.bias, { dtype: 'f32', optional: true }, `layers[${i}].bias`]);
        const states: [readonly Tensor[] | undefined, string][] = [[l.weightState, 'weightState'], [l.biasState, 'biasState']];
        for (const [st, what] of states) {
          (Array.isArray(st) ? st : []).forEach((t, k) => out.push([t, { dtype: 'f32' }, `layers[${i}].${what}[${k}]`]));
        }
      });
      return out;
    },
    check({ req }) {
      return trainPlan(req);
    },
    native: ['mlpTrainWorkspace', 'mlpTrainSteps'],
    wgsl: [
      { family: 'mlp_train', entries: ['gather', 'fwd_b', 'fwd_a', 'fwd_ba', 'xent', 'bwd_in', 'wgrad_sgd', 'wgrad_adam', 'bgrad_sgd', 'bgrad_adam'] },
      { family: 'matmul', entries: ['main', 'main8'] },
      { family: 'elementwise', entries: ['act_forward', 'act_backward'] },
    ],
    async: true,
  })),
  conv2d: spec<{ x: Tensor; weight: Tensor; bias: Tensor | undefined; geom: Conv2dGeom }, Conv2dPlan>({
    summary: 'y [N,O,OH,OW] = x [N,C,H,W] ⋆ weight [O,C,KH,KW] + bias [O] (cross-correlation, zero padding)',
    params: ['x', 'weight', 'bias', 'geom'],
    tensors: { x: { dtype: 'f32', rank: 4 }, weight: { dtype: 'f32', rank: 4 }, bias: { dtype: 'f32', optional: true } },
    check({ x, weight, bias, geom }) {
      const op = 'conv2d';
      const plan = convPlan(op, dims4(op, x, 'x'), dims4(op, weight, 'weight'), convGeom(op, geom), bias !== undefined);
      if (bias !== undefined && bias.size !== plan.o) fail('E_SHAPE', `${op}: bias has ${bias.size} elements, expected ${plan.o} (the weight's output channels)`);
      return plan;
    },
    native: ['conv2d'],
    wgsl: [{ family: 'conv', entries: ['forward'] }],
  }),
  conv2dInputGrad: spec<{ gy: Tensor; weight: Tensor; geom: Conv2dGeom; inputShape: readonly number[] }, Conv2dPlan>({
    summary: 'gx [N,C,H,W] = the transposed convolution of gy [N,O,OH,OW] with weight [O,C,KH,KW]',
    params: ['gy', 'weight', 'geom', 'inputShape'],
    tensors: { gy: { dtype: 'f32', rank: 4 }, weight: { dtype: 'f32', rank: 4 } },
    check({ gy, weight, geom, inputShape }) {
      const op = 'conv2dInputGrad';
      const ws = dims4(op, weight, 'weight');
      const plan = convPlan(op, intList(op, inputShape, 4, 'inputShape'), ws, convGeom(op, geom), false);
      outElems(op, inputShape, 'inputShape');
      sameShape(op, gy, [plan.n, plan.o, plan.oh, plan.ow], 'gy', `input [${inputShape.join(', ')}] with weight [${ws.join(', ')}]`);
      return plan;
    },
    native: ['conv2dInputGrad'],
    wgsl: [{ family: 'conv', entries: ['input_grad'] }],
  }),
  conv2dWeightGrad: spec<{ x: Tensor; gy: Tensor; geom: Conv2dGeom; kernel: readonly number[] }, Conv2dPlan>({
    summary: 'gw [O,C,KH,KW] = Σ over the batch and output positions of gy [N,O,OH,OW] times the x [N,C,H,W] patch',
    params: ['x', 'gy', 'geom', 'kernel'],
    tensors: { x: { dtype: 'f32', rank: 4 }, gy: { dtype: 'f32', rank: 4 } },
    check({ x, gy, geom, kernel }) {
      const op = 'conv2dWeightGrad';
      const xs = dims4(op, x, 'x');
      const [, o] = dims4(op, gy, 'gy');
      const [kh, kw] = intList(op, kernel, 2, 'kernel') as [number, number];
      const plan = convPlan(op, xs, [o, xs[1], kh, kw], convGeom(op, geom), false);
      sameShape(op, gy, [plan.n, plan.o, plan.oh, plan.ow], 'gy', `x [${xs.join(', ')}] with kernel [${kh}, ${kw}]`);
      return plan;
    },
    native: ['conv2dWeightGrad'],
    wgsl: [{ family: 'conv', entries: ['weight_grad', 'weight_grad_finish'] }],
  }),
  channelSum: spec<{ gy: Tensor }, { n: number; c: number; hw: number }>({
    summary: 'Σ over n, h, w of gy [N,C,H,W] → [C] (the bias gradient of a convolution)',
    params: ['gy'],
    tensors: { gy: { dtype: 'f32', rank: 4 } },
    check({ gy }) {
      const [n, c, h, w] = dims4('channelSum', gy, 'gy');
      return { n, c, hw: h * w };
    },
    native: ['channelSum'],
    wgsl: [{ family: 'pool', entries: ['channel_sum'] }],
  }),
  maxPool2d: spec<{ x: Tensor; pool: Pool2dGeom }, Pool2dPlan>({
    summary: "max pooling (PyTorch's: −inf padding, first maximum wins, NaN wins) → { y, argmax: flat index into x }",
    params: ['x', 'pool'],
    tensors: { x: { dtype: 'f32', rank: 4 } },
    check({ x, pool }) {
      return poolPlan('maxPool2d', dims4('maxPool2d', x, 'x'), poolGeom('maxPool2d', pool));
    },
    native: ['maxPool2d'],
    wgsl: [{ family: 'pool', entries: ['max_forward'] }],
  }),
  maxPool2dBackward: spec<{ gy: Tensor; argmax: Tensor; inputShape: readonly number[] }, { n: number; c: number; h: number; w: number; oh: number; ow: number }>({
    summary: 'gx [inputShape] = Σ of gy [N,C,OH,OW] at each argmax (flat indices into x, each within its own (n, c) plane)',
    params: ['gy', 'argmax', 'inputShape'],
    tensors: { gy: { dtype: 'f32', rank: 4 }, argmax: { dtype: 'i32', rank: 4 } },
    check({ gy, argmax, inputShape }) {
      const op = 'maxPool2dBackward';
      const [n, c, oh, ow] = dims4(op, gy, 'gy');
      sameShape(op, argmax, gy.shape, 'argmax', 'gy');
      const [xn, xc, h, w] = intList(op, inputShape, 4, 'inputShape') as [number, number, number, number];
      if (xn !== n || xc !== c) fail('E_SHAPE', `${op}: gy [${gy.shape.join(', ')}] and inputShape [${inputShape.join(', ')}] differ in batch or channels`);
      outElems(op, inputShape, 'inputShape');
      return { n, c, h, w, oh, ow };
    },
    native: ['maxPool2dBackward'],
    wgsl: [{ family: 'pool', entries: ['max_backward'] }],
  }),
  gatherFlat: spec<{ x: Tensor; idx: Tensor }, { n: number; k: number }>({
    summary: "y (idx's shape) = x.flat[idx] (i32 indices; outside [0, x.size) → E_ARG on js and native)",
    params: ['x', 'idx'],
    tensors: { x: { dtype: 'f32' }, idx: { dtype: 'i32' } },
    check({ x, idx }) {
      if (x.size > I32_LIMIT) fail('E_SHAPE', `gatherFlat: x has ${x.size} elements, more than 2^31 − 1`);
      return { n: x.size, k: idx.size };
    },
    native: ['gatherFlat'],
    wgsl: [{ family: 'pool', entries: ['gather_flat'] }],
  }),
  avgPool2d: spec<{ x: Tensor; pool: Pool2dGeom }, Pool2dPlan>({
    summary: "average pooling (PyTorch's default count_include_pad: each window divides by KH·KW)",
    params: ['x', 'pool'],
    tensors: { x: { dtype: 'f32', rank: 4 } },
    check({ x, pool }) {
      return poolPlan('avgPool2d', dims4('avgPool2d', x, 'x'), poolGeom('avgPool2d', pool));
    },
    native: ['avgPool2d'],
    wgsl: [{ family: 'pool', entries: ['avg_forward'] }],
  }),
  avgPool2dBackward: spec<{ gy: Tensor; pool: Pool2dGeom; inputShape: readonly number[] }, Pool2dPlan>({
    summary: 'gx [inputShape] of avgPool2d: each input gathers gy/(KH·KW) over the windows containing it',
    params: ['gy', 'pool', 'inputShape'],
    tensors: { gy: { dtype: 'f32', rank: 4 } },
    check({ gy, pool, inputShape }) {
      const op = 'avgPool2dBackward';
      dims4(op, gy, 'gy');
      const xs = intList(op, inputShape, 4, 'inputShape');
      outElems(op, xs, 'inputShape');
      const plan = poolPlan(op, xs, poolGeom(op, pool));
      sameShape(op, gy, [plan.n, plan.c, plan.oh, plan.ow], 'gy', `pooling input [${xs.join(', ')}]`);
      return plan;
    },
    native: ['avgPool2dBackward'],
    wgsl: [{ family: 'pool', entries: ['avg_backward'] }],
  }),
  // ---- many grid points per dispatch (src/landscape/evaluate.ts) ----
  pointCombine: spec<{ coef: Tensor; basis: Tensor; activation: Activation | undefined }, { p: number; j: number; s: number; act: number }>({
    summary: 'out [P, …S] = f(Σ_j coef[p, j]·basis[j, …S]): each point\'s affine combination of J basis tensors (weights, or first-layer outputs), f an optional activation',
    params: ['coef', 'basis', 'activation'],
    tensors: { coef: { dtype: 'f32', rank: 2 }, basis: { dtype: 'f32' } },
    check({ coef, basis, activation }) {
      const op = 'pointCombine';
      const [p, j] = dims2(coef);
      if (j < 1) fail('E_SHAPE', `${op}: coef [${coef.shape.join(', ')}] has no basis columns`);
      if (basis.shape.length < 2 || basis.shape[0] !== j) fail('E_SHAPE', `${op}: basis [${basis.shape.join(', ')}] must be [${j}, …] (one slice per column of coef)`);
      const s = basis.size / j;
      outElems(op, [p, s], 'the output');
      return { p, j, s, act: actPlan(op, activation) };
    },
    native: ['pointCombine'],
    wgsl: [{ family: 'landscape', entries: ['combine'] }],
  }),
  batchedMatmul: spec<{ a: Tensor; b: Tensor; bias: Tensor | undefined; activation: Activation | undefined }, { p: number; m: number; n: number; k: number; hasBias: boolean; act: number }>({
    summary: 'y [P,M,N]: y_p = f(a_p [M,K] · b_p [N,K]ᵀ (+ bias_p [N])) for every p — one linear layer (and its activation f) with other weights per point',
    params: ['a', 'b', 'bias', 'activation'],
    tensors: { a: { dtype: 'f32', rank: 3 }, b: { dtype: 'f32', rank: 3 }, bias: { dtype: 'f32', rank: 2, optional: true } },
    check({ a, b, bias, activation }) {
      const op = 'batchedMatmul';
      const [p, m, k] = a.shape as [number, number, number];
      const [pb, n, kb] = b.shape as [number, number, number];
      if (pb !== p) fail('E_SHAPE', `${op}: a has ${p} points but b has ${pb}`);
      if (kb !== k) fail('E_SHAPE', `${op}: inner dimensions differ (a [${a.shape.join(', ')}], b [${b.shape.join(', ')}]: ${k} vs ${kb})`);
      if (bias !== undefined && (bias.shape[0] !== p || bias.shape[1] !== n)) fail('E_SHAPE', `${op}: bias is [${bias.shape.join(', ')}], expected [${p}, ${n}]`);
      for (const [t, what] of [[a, 'a'], [b, 'b']] as const) if (t.size > I32_LIMIT) fail('E_SHAPE', `${op}: ${what} [${t.shape.join(', ')}] has more than 2^31 − 1 elements`);
      outElems(op, [p, m, n], 'the output');
      return { p, m, n, k, hasBias: bias !== undefined, act: actPlan(op, activation) };
    },
    native: ['batchedMatmul'],
    wgsl: [{ family: 'landscape', entries: ['bmm'] }],
  }),
  // ---- the bisimulation loss (issue 11 §5) ----
  bisimulationLoss: spec<{ z: Tensor; reward: Tensor; mu: Tensor; sigma: Tensor | undefined; perm: Int32Array; gamma: number }, BisimulationPlan>({
    summary: 'the bisimulation loss of pairs (i, perm[i]): per-pair terms (‖z_i − z_j‖₂ − |r_i − r_j| − γ·W₂)², their mean, and ∂mean/∂z with the target held constant',
    params: ['z', 'reward', 'mu', 'sigma', 'perm', 'gamma'],
    tensors: { z: { dtype: 'f32', rank: 2 }, reward: { dtype: 'f32' }, mu: { dtype: 'f32', rank: 2 }, sigma: { dtype: 'f32', rank: 2, optional: true } },
    check({ z, reward, mu, sigma, perm, gamma }) {
      const op = 'bisimulationLoss';
      const [b, d] = dims2(z);
      if (b < 1) fail('E_SHAPE', `${op}: z [${z.shape.join(', ')}] has no rows (the loss is a mean over pairs)`);
      if (d < 1) fail('E_SHAPE', `${op}: z [${z.shape.join(', ')}] has no embedding dimensions`);
      if (reward.size !== b) fail('E_SHAPE', `${op}: reward has ${reward.size} elements, expected one per row of z (${b})`);
      const [mb, e] = dims2(mu);
      if (mb !== b || e < 1) fail('E_SHAPE', `${op}: mu is [${mu.shape.join(', ')}], expected [${b}, E ≥ 1] (one prediction per row of z)`);
      if (sigma !== undefined && (sigma.shape[0] !== b || sigma.shape[1] !== e)) fail('E_SHAPE', `${op}: sigma is [${sigma.shape.join(', ')}], expected mu's shape [${b}, ${e}]`);
      for (const [t, what] of [[z, 'z'], [mu, 'mu']] as const) if (t.size > I32_LIMIT) fail('E_SHAPE', `${op}: ${what} [${t.shape.join(', ')}] has more than 2^31 − 1 elements`);
      if (!(finite(gamma, `${op} gamma`) >= 0)) fail('E_ARG', `${op}: gamma must be >= 0 (a discount), got ${gamma}`);
      const inv = permutationInverse(op, perm, b);
      return { b, d, e, gamma, hasSigma: sigma !== undefined ? 1 : 0, perm, inv };
    },
    native: ['bisimulationLoss'],
    wgsl: [{ family: 'bisim', entries: ['dist_z', 'dist_pred', 'pair_terms', 'grad_rows'] }, { family: 'gather', entries: ['main'] }, { family: 'reduce', entries: ['partial', 'combine', 'finalize'] }, { family: 'axpy', entries: ['scale'] }],
  }),
} as const;

export type OpName = keyof typeof OPS;
export const OP_NAMES = Object.keys(OPS) as OpName[];

type SpecOf<K extends OpName> = (typeof OPS)[K];
/** The named, checked arguments a kernel receives. */
export type OpArgs<K extends OpName> = Parameters<SpecOf<K>['check']>[0];
/** What `check` hands the kernel besides the arguments. */
export type OpPlan<K extends OpName> = ReturnType<SpecOf<K>['check']>;

/** The tensors inside a fused curvature request are checked here (they are not positional). */
function curvaturePlan(req: FusedCurvatureRequest): CurvaturePlan {
  const op = 'mlpCurvatureProduct';
  if (typeof req !== 'object' || req === null) fail('E_ARG', `${op}: request must be an object`);
  const need = (t: Tensor | undefined, dtype: DType, what: string): Tensor => {
    if (!t || typeof t !== 'object' || !('dtype' in t)) fail('E_ARG', `${op}: ${what} must be a tensor`);
    if (t.dtype !== dtype) fail('E_DTYPE', `${op}: ${what} must be ${dtype}, got ${t.dtype}`);
    return t;
  };
  const x = need(req.x, 'f32', 'x');
  if (x.shape.length !== 2) fail('E_SHAPE', `${op}: x must be 2-D, got [${x.shape.join(', ')}]`);
  const [B, D] = dims2(x);
  if (need(req.labels, 'i32', 'labels').size !== B) fail('E_SHAPE', `${op}: ${req.labels.size} labels for ${B} samples`, { field: 'labels' });
  need(req.v, 'f32', 'v');
  need(req.out, 'f32', 'out');
  if (req.kind !== 'hessian' && req.kind !== 'ggn') fail('E_ARG', `${op}: kind must be "hessian" or "ggn", got ${JSON.stringify(req.kind)}`);
  finite(req.scale, `${op} scale`);
  const layers: readonly FusedMlpLayer[] = Array.isArray(req.layers) ? req.layers : fail('E_ARG', `${op}: layers must be an array`);
  const n = layers.length;
  const specArr = new Int32Array(5 * n);
  const widths: number[] = [];
  let width = D;
  let vSize = 0;
  let active = 0;
  layers.forEach((l, i) => {
    if (l.type === 'linear') {
      const w = need(l.weight, 'f32', `layers[${i}].weight`);
      if (w.shape.length !== 2) fail('E_SHAPE', `${op}: layers[${i}].weight must be 2-D`);
      const [o, inn] = dims2(w);
      if (inn !== width) fail('E_SHAPE', `${op}: layers[${i}] expects ${inn} features, gets ${width}`);
      if (l.bias !== undefined && need(l.bias, 'f32', `layers[${i}].bias`).size !== o) fail('E_SHAPE', `${op}: layers[${i}].bias has ${l.bias.size} elements, expected ${o}`);
      specArr.set([-1, inn, o, l.bias !== undefined ? 1 : 0, l.active ? 1 : 0], 5 * i);
      if (l.active) {
        vSize += o * inn + (l.bias !== undefined ? o : 0);
        active++;
      }
      width = o;
    } else {
      const code = ACTIVATION_CODE[activationKind(l.type, op)];
      specArr.set([code, width, width, 0, 0], 5 * i);
    }
    widths.push(width);
  });
  if (n === 0 || layers[n - 1]!.type !== 'linear') fail('E_ARG', `${op}: the last layer must be linear (the logits)`);
  if (active === 0) fail('E_ARG', `${op}: no active layer`);
  if (req.v.size !== vSize) fail('E_SHAPE', `${op}: vector has ${req.v.size} elements; expected ${vSize}`, { field: 'vector' });
  if (req.out.size !== vSize) fail('E_SHAPE', `${op}: out has ${req.out.size} elements; expected ${vSize}`, { field: 'out' });
  return { batch: B, spec: specArr, widths, classes: width, vSize };
}

/** The tensors inside a fused curvature request, for KernelBackend's ownership/dtype checks. */
function curvatureTensors(req: FusedCurvatureRequest): [unknown, TensorParam, string][] {
  if (typeof req !== 'object' || req === null) fail('E_ARG', 'mlpCurvatureProduct: request must be an object');
  const out: [unknown, TensorParam, string][] = [
    [req.x, { dtype: 'f32', rank: 2 }, 'x'], [req.labels, { dtype: 'i32' }, 'labels'], [req.v, { dtype: 'f32' }, 'v'], [req.out, { dtype: 'f32' }, 'out'],
  ];
  (Array.isArray(req.layers) ? req.layers : []).forEach((l, i) => {
    if (l.type !== 'linear') return;
    out.push([l.weight, { dtype: 'f32', rank: 2 }, `layers[${i}].weight`], [l.bias, { dtype: 'f32', optional: true }, `layers[${i}].bias`]);
  });
  return out;
}

/** Plan of the fused training step: the layer spec and optimizer numbers the kernels consume. */
export interface TrainPlan {
  /** Per layer [activation code or −1 for linear, in, out, hasBias]. */
  spec: Int32Array;
  /** Rows of x (M) and classes (C). */
  samples: number;
  classes: number;
  steps: number;
  /** [optimizer 0 sgd | 1 adam | 2 adamw, weightDecay, momentum, nesterov, beta1, beta2, eps, stepsBefore]. */
  hyper: Float64Array;
}

const TRAIN_OPTIMIZERS = ['sgd', 'adam', 'adamw'] as const;

/** Everything of a fused training request but tensor ownership (checked through `nested`). */
function trainPlan(req: FusedTrainRequest): TrainPlan {
  const op = 'mlpTrainSteps';
  const x = req.x;
  const [M, D] = dims2(x);
  const layers = Array.isArray(req.layers) ? req.layers : fail('E_ARG', `${op}: layers must be an array`);
  const o = req.optimizer;
  if (typeof o !== 'object' || o === null) fail('E_ARG', `${op}: optimizer must be an object`);
  const kind = TRAIN_OPTIMIZERS.indexOf(o.name);
  if (kind < 0) fail('E_ARG', `${op}: optimizer must be one of ${TRAIN_OPTIMIZERS.join(', ')}, got ${JSON.stringify(o.name)}`);
  const slots = kind === 0 ? 1 : 2;
  const spec = new Int32Array(4 * layers.length);
  let width = D;
  const stateOf = (st: readonly Tensor[] | undefined, size: number, what: string): void => {
    if (!Array.isArray(st) || st.length !== slots) fail('E_ARG', `${op}: ${what} must hold ${slots} tensor(s) for ${o.name}`);
    st.forEach((t, k) => {
      if (t.size !== size) fail('E_SHAPE', `${op}: ${what}[${k}] has ${t.size} elements, expected ${size}`);
    });
  };
  layers.forEach((l, i) => {
    if (l.type === 'linear') {
      const [out, inn] = dims2(l.weight);
      if (inn !== width) fail('E_SHAPE', `${op}: layers[${i}] expects ${inn} features, gets ${width}`);
      if (out < 1) fail('E_SHAPE', `${op}: layers[${i}] has no outputs`);
      stateOf(l.weightState, out * inn, `layers[${i}].weightState`);
      if (l.bias !== undefined) {
        if (l.bias.size !== out) fail('E_SHAPE', `${op}: layers[${i}].bias has ${l.bias.size} elements, expected ${out}`);
        stateOf(l.biasState, out, `layers[${i}].biasState`);
      } else if (l.biasState !== undefined) fail('E_ARG', `${op}: layers[${i}] has biasState but no bias`);
      spec.set([-1, inn, out, l.bias !== undefined ? 1 : 0], 4 * i);
      width = out;
    } else {
      spec.set([ACTIVATION_CODE[activationKind(l.type, op)], width, width, 0], 4 * i);
    }
  });
  if (layers.length === 0 || layers[layers.length - 1]!.type !== 'linear') fail('E_ARG', `${op}: the last layer must be linear (the logits)`);
  if (D < 1) fail('E_SHAPE', `${op}: x has no features`);
  const C = width;
  if (!(req.labels instanceof Int32Array) || req.labels.length !== M) fail('E_SHAPE', `${op}: expected ${M} int32 labels (one per row of x), got ${req.labels?.length}`, { field: 'labels' });
  if (!(req.rows instanceof Int32Array)) fail('E_ARG', `${op}: rows must be an Int32Array`);
  const n = req.rows.length;
  for (let r = 0; r < n; r++) {
    const row = req.rows[r]!;
    if (row < 0 || row >= M) fail('E_ARG', `${op}: row ${row} (rows[${r}]) is outside [0, ${M})`);
    const y = req.labels[row]!;
    if (y < 0 || y >= C) fail('E_LABEL', `${op}: label ${y} of row ${row} is outside [0, ${C})`, { field: 'labels' });
  }
  const B = req.batchSize;
  if (!Number.isInteger(B) || B < 1 || B > 0x7fffffff) fail('E_ARG', `${op}: batchSize must be a positive integer, got ${B}`);
  const steps = Math.ceil(n / B);
  if (!(req.lr instanceof Float64Array) || req.lr.length !== steps) fail('E_ARG', `${op}: lr must be a Float64Array of ${steps} learning rates (one per step), got ${req.lr?.length}`);
  req.lr.forEach((v, s) => finite(v, `${op} lr[${s}]`));
  if (!(req.loss instanceof Float32Array) || req.loss.length !== n) fail('E_SHAPE', `${op}: loss must be a Float32Array of ${n} values, got ${req.loss?.length}`, { field: 'loss' });
  if (!Number.isInteger(req.stepsBefore) || req.stepsBefore < 0) fail('E_ARG', `${op}: stepsBefore must be a non-negative integer, got ${req.stepsBefore}`);
  if (typeof req.state !== 'object' || req.state === null) fail('E_ARG', `${op}: state must be an object (one per call site)`);
  const hyper = Float64Array.of(
    kind,
    finite(o.weightDecay, `${op} weightDecay`),
    finite(o.momentum, `${op} momentum`),
    flag(o.nesterov, `${op} nesterov`) ? 1 : 0,
    finite(o.beta1, `${op} beta1`),
    finite(o.beta2, `${op} beta2`),
    finite(o.eps, `${op} eps`),
    req.stepsBefore,
  );
  return { spec, samples: M, classes: C, steps, hyper };
}
