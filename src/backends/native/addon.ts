/**
 * Loads the C++ addon (build/Release/riverbed_native.node) once, lazily, and says why when it
 * cannot: the reason is kept for `nativeAvailability()` and printed once (console.warn) the
 * first time someone asks for the native backend, never at import.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkNativeEnvironment } from './env.js';

/**
 * The raw functions the addon exports (native/riverbed.cc). Callers validate arguments (with clear
 * RiverbedErrors); the addon checks them again and throws a TypeError/RangeError on a wrong call.
 */
export interface NativeAddon {
  info(): { threads: number; isa: string };
  sgemm(m: number, n: number, k: number, a: Float32Array, transA: boolean, b: Float32Array, transB: boolean, c: Float32Array): void;
  addBias(x: Float32Array, bias: Float32Array, out: Float32Array, rows: number, cols: number): void;
  activation(kind: number, x: Float32Array, out: Float32Array): void;
  activationGrad(kind: number, x: Float32Array, gy: Float32Array, out: Float32Array): void;
  /** Returns −1, or the first row whose label is outside [0, C). */
  softmaxXent(logits: Float32Array, labels: Int32Array, loss: Float32Array, grad: Float32Array, b: number, c: number): number;
  sumRows(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  sum(x: Float32Array): number;
  dot(x: Float32Array, y: Float32Array): number;
  axpy(alpha: number, x: Float32Array, y: Float32Array, out: Float32Array): void;
  scale(alpha: number, x: Float32Array, out: Float32Array): void;
  /** Returns −1, or the position of the first index outside [0, rows). */
  gatherRows(x: Float32Array, rows: number, cols: number, idx: Int32Array, out: Float32Array): number;
  sgdStep(p: Float32Array, g: Float32Array, v: Float32Array, lr: number, wd: number, momentum: number, nesterov: boolean): void;
  adamStep(
    p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
    lr: number, wd: number, beta1: number, beta2: number, eps: number, step: number, decoupled: boolean,
  ): void;
  sumBandwidth(x: Float32Array): number;
  /** Per-class top-k (native/select.cc), as coreset/select.ts topPerClass orders it, into out (capacity ≥ Σ min(k_c, n_c)); returns how many it wrote. */
  topPerClass(plan: { n: number; classes: number; capacity: number }, scores: Float32Array, labels: Int32Array, k: Int32Array, out: Int32Array): number;
  mul(x: Float32Array, y: Float32Array, out: Float32Array): void;
  activationRGrad(kind: number, z: Float32Array, rz: Float32Array, ga: Float32Array, rga: Float32Array, out: Float32Array): void;
  softmaxHessianVec(logits: Float32Array, r: Float32Array, out: Float32Array, b: number, c: number): void;
  /** Fused HVP / GGN product (native/mlp_hvp.h); layers: [act (−1 linear), in, out, hasBias, active] per layer. Returns −1 or the first bad label row. */
  mlpCurvatureProduct(
    layers: Int32Array, params: Float32Array[], x: Float32Array, labels: Int32Array, b: number, v: Float32Array, out: Float32Array,
    ggn: boolean, scale: number, accumulate: boolean, stateH: Float32Array[] | null, stateG: (Float32Array | null)[] | null, stateD: (Float32Array | null)[] | null,
    stateValid: boolean,
  ): number;
  /** mlpCurvatureProduct on a libuv worker (same arguments; argument errors throw at once). The arrays must not change until it settles. */
  mlpCurvatureProductAsync(...args: Parameters<NativeAddon['mlpCurvatureProduct']>): Promise<number>;
  /** A fused training step's workspace (native/mlp_train.h), one per call site; freed when collected. */
  mlpTrainWorkspace(): object;
  /**
   * Fused training steps on a libuv worker; layers: [act (−1 linear), in, out, hasBias] per layer; params: weight then bias
   * of each linear layer; state: per parameter [velocity] or [m, v]; hyper: [optimizer 0|1|2, weightDecay, momentum,
   * nesterov, beta1, beta2, eps, stepsBefore]. Resolves to Σ loss. Argument errors throw at once; arrays must not change until it settles.
   */
  mlpTrainSteps(
    layers: Int32Array, params: Float32Array[], state: Float32Array[], x: Float32Array, labels: Int32Array, rows: Int32Array,
    batch: number, lr: Float64Array, hyper: Float64Array, loss: Float32Array, workspace: object,
  ): Promise<number>;
  /** Resolves to −1, or the first sample whose label is outside [0, C). Runs off the main thread. */
  cldScores(
    traj: Float32Array | Float64Array, epochs: number, samples: number,
    labels: Int32Array, classZ: Float64Array, numClasses: number, out: Float32Array,
  ): Promise<number>;
  /** Landscape ops (native/landscape.cc): out = Σ_j coef[p, j]·basis[j] per point; y_p = a_p·b_pᵀ (+ bias_p), bias empty when hasBias is 0. */
  pointCombine(plan: { p: number; j: number; s: number; act: number }, coef: Float32Array, basis: Float32Array, out: Float32Array): void;
  batchedMatmul(plan: { p: number; m: number; n: number; k: number; hasBias: number; act: number }, a: Float32Array, b: Float32Array, bias: Float32Array, out: Float32Array): void;
  /** GU's projection (native/gu_project.cc): out = g − U·a for the active basis rows; metric is empty for H = I. */
  guProject(plan: { p: number; k: number; first: number; count: number; weighted: number }, g: Float32Array, basis: Float32Array, metric: Float32Array, out: Float32Array): void;
  /** The bisimulation loss (native/bisim.cc): writes terms and grad, returns the mean; sigma is empty when hasSigma is 0; inv is perm's inverse. */
  bisimulationLoss(
    plan: { b: number; d: number; e: number; gamma: number; hasSigma: number }, z: Float32Array, reward: Float32Array, mu: Float32Array, sigma: Float32Array,
    perm: Int32Array, inv: Int32Array, terms: Float32Array, grad: Float32Array,
  ): number;
  /** Convolution (native/conv.cc): plan {n,c,h,w,o,kh,kw,oh,ow,strideH,strideW,padH,padW[,hasBias]}; bias empty when hasBias is 0. */
  conv2d(plan: Record<string, number>, x: Float32Array, weight: Float32Array, bias: Float32Array, y: Float32Array): void;
  conv2dInputGrad(plan: Record<string, number>, gy: Float32Array, weight: Float32Array, gx: Float32Array): void;
  conv2dWeightGrad(plan: Record<string, number>, x: Float32Array, gy: Float32Array, gw: Float32Array): void;
  channelSum(plan: { n: number; c: number; hw: number }, gy: Float32Array, out: Float32Array): void;
  /** Pooling (native/pooling.cc): plan {n,c,h,w,oh,ow,kernelH,kernelW,strideH,strideW,padH,padW}. */
  maxPool2d(plan: Record<string, number>, x: Float32Array, y: Float32Array, argmax: Int32Array): void;
  /** Returns −1, or the first position whose argmax lies outside its own (n, c) plane. */
  maxPool2dBackward(plan: Record<string, number>, gy: Float32Array, argmax: Int32Array, gx: Float32Array): number;
  /** Returns −1, or the first position whose index is outside [0, n). */
  gatherFlat(plan: { n: number; k: number }, x: Float32Array, idx: Int32Array, y: Float32Array): number;
  avgPool2d(plan: Record<string, number>, x: Float32Array, y: Float32Array): void;
  avgPool2dBackward(plan: Record<string, number>, gy: Float32Array, gx: Float32Array): void;
  /** Read-only mapping of a whole file; unmapped when the ArrayBuffer is collected. Throws an Error with strerror text. */
  mapFile(path: string): ArrayBuffer;
}

type Loaded = { ok: true; addon: NativeAddon; file: string } | { ok: false; reason: string };

let loaded: Loaded | undefined;
let warned = false;

/** The package root: the nearest ancestor of this file holding riverbed's package.json (works from src/ and dist/). */
function packageRoot(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj) && existsSync(path.join(dir, 'binding.gyp'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

function load(): Loaded {
  if (process.env.RIVERBED_DISABLE_NATIVE === '1') return { ok: false, reason: 'disabled by RIVERBED_DISABLE_NATIVE=1' };
  checkNativeEnvironment(); // the addon reads RIVERBED_THREADS/ISA itself and would ignore a bad value; throws, not cached
  const root = packageRoot();
  if (!root) return { ok: false, reason: 'cannot find the riverbed package root (binding.gyp) from ' + fileURLToPath(import.meta.url) };
  const file = path.join(root, 'build', 'Release', 'riverbed_native.node');
  if (!existsSync(file)) {
    return { ok: false, reason: `addon not built (${path.relative(root, file)} is missing; run "npm run install" or "node scripts/build-native.mjs")` };
  }
  try {
    const addon = createRequire(import.meta.url)(file) as NativeAddon;
    addon.info();
    return { ok: true, addon, file };
  } catch (e) {
    return { ok: false, reason: `addon failed to load: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** The addon, or the reason it is unavailable. */
export function nativeAddon(): Loaded {
  loaded ??= load();
  return loaded;
}

/** Like nativeAddon(), and the first time it is unavailable prints the reason once. */
export function nativeAddonWarnOnce(): Loaded {
  const l = nativeAddon();
  if (!l.ok && !warned) {
    warned = true;
    console.warn(`riverbed: native backend unavailable: ${l.reason}`);
  }
  return l;
}
