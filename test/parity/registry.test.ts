/**
 * The op registry (src/backends/ops.ts) drives this suite, so an op cannot be added without a
 * parity row, and the contract cannot drift between backends:
 *
 *   - ROWS has one row per registered op (a small valid call); each backend's result — the
 *     returned tensors and every tensor the op writes in place — must match js's;
 *   - every tensor parameter of every op is misused (wrong dtype, another backend's tensor, a
 *     freed tensor) and every backend must fail with the same RiverbedError code;
 *   - scalar and label misuse that used to differ between backends fails the same everywhere;
 *   - every addon export and WGSL entry point the registry names exists.
 *
 * The detailed numerical parity on awkward sizes is test/parity/kernels.test.ts (and
 * fused-hvp.test.ts for the optional fused curvature product, which js does not implement).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, BackendName, Tensor } from '../../src/backends/backend.js';
import { JsBackend } from '../../src/backends/js/index.js';
import { nativeAddon } from '../../src/backends/native/addon.js';
import { OPS, OP_NAMES, type OpName, type TensorParam } from '../../src/backends/ops.js';
import { RiverbedError } from '../../src/errors.js';
import { backendsUnderTest, expectClose, randomArray, randomInts } from '../helpers/backends.js';

const only = process.env.RIVERBED_TEST_BACKENDS?.split(',').map((s) => s.trim()).filter(Boolean) as BackendName[] | undefined;
const backends = await backendsUnderTest(only?.length ? only : undefined);

const f = (be: Backend, shape: number[], seed: number) => be.upload(randomArray(shape.reduce((a, b) => a * b, 1), seed), shape);
const labels = (be: Backend, n: number, c: number, seed: number) => be.uploadInt(randomInts(n, seed, c), [n]);

const CONV_GEOM = { strideH: 2, strideW: 1, padH: 1, padW: 0 };
const POOL_GEOM = { kernelH: 3, kernelW: 2, strideH: 2, strideW: 2, padH: 1, padW: 1 };
/** A valid bisimulationLoss call but for its pairing. */
const bisim = (be: Backend, perm: Int32Array) =>
  [f(be, [7, 5], 1), f(be, [7], 2), f(be, [7, 3], 3), undefined, perm, 0.9] as [Tensor, Tensor, Tensor, undefined, Int32Array, number];

/** One small valid call per registered op: its positional arguments on a given backend. */
const ROWS: Record<OpName, (be: Backend) => unknown[]> = {
  matmul: (be) => [f(be, [5, 3], 1), f(be, [4, 3], 2), false, true],
  addBias: (be) => [f(be, [5, 3], 3), f(be, [3], 4)],
  activation: (be) => ['gelu', f(be, [9], 5)],
  activationGrad: (be) => ['tanh', f(be, [9], 6), f(be, [9], 7)],
  softmaxCrossEntropy: (be) => [f(be, [6, 4], 8), labels(be, 6, 4, 9)],
  sumRows: (be) => [f(be, [7, 3], 10)],
  sum: (be) => [f(be, [11], 11)],
  axpy: (be) => [0.5, f(be, [9], 12), f(be, [9], 13)],
  scale: (be) => [-2, f(be, [9], 14)],
  dot: (be) => [f(be, [9], 15), f(be, [9], 16)],
  gatherRows: (be) => [f(be, [5, 3], 17), be.uploadInt(Int32Array.of(4, 0, 4, 2), [4])],
  sgdStep: (be) => [f(be, [9], 18), f(be, [9], 19), f(be, [9], 20), { lr: 0.1, weightDecay: 0.01, momentum: 0.9, nesterov: true }],
  adamStep: (be) => [
    f(be, [9], 21), f(be, [9], 22), be.zeros([9]), be.zeros([9]),
    { lr: 0.01, weightDecay: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1, decoupled: true },
  ],
  // The accumulator starts positive (a later step) and some gradients sit below CLASSP's threshold.
  adagradStep: (be) => [f(be, [9], 42), f(be, [9], 43), be.upload(randomArray(9, 44, 0, 2), [9]), { lr: 0.1, weightDecay: 0.01, lrDecay: 0.05, eps: 1e-10, step: 3 }],
  classpStep: (be) => [f(be, [9], 45), f(be, [9], 46), be.upload(randomArray(9, 47, 0, 2), [9]), { lr: 0.2, eps: 1e-5, power: 1.5, threshold: 0.1 }],
  classpGate: (be) => [f(be, [3, 3], 48), { threshold: 0.1 }],
  // A ring of 4 rows starting at row 2 with 3 active (rows 2, 3, 0), a positive metric.
  guProject: (be) => [f(be, [2, 5], 62), f(be, [4, 10], 63), be.upload(randomArray(10, 64, 0.5, 2), [10]), 2, 3],
  guAdamStep: (be) => [f(be, [9], 65), f(be, [9], 66), be.upload(randomArray(9, 67, 0, 1), [9]), be.upload(randomArray(9, 68, 0.5, 2), [9]), { lr: 0.1, beta2: 0.9, eps: 1e-8 }],
  mul: (be) => [f(be, [9], 23), f(be, [9], 24)],
  activationRGrad: (be) => ['sigmoid', f(be, [9], 25), f(be, [9], 26), f(be, [9], 27), f(be, [9], 28)],
  softmaxHessianVec: (be) => [f(be, [6, 4], 29), f(be, [6, 4], 30)],
  slice: (be) => [f(be, [12], 31), 3, [2, 3]],
  copyInto: (be) => [f(be, [12], 32), 5, f(be, [4], 33)],
  cldScores: () => [
    {
      trajectory: randomArray(4 * 6, 34), epochs: 4, samples: 6, labels: Int32Array.of(0, 1, 2, 0, 1, 2), numClasses: 3,
      classZ: Float64Array.from(randomArray(3 * 3, 35)),
    },
  ],
  mlpCurvatureProduct: (be) => [
    {
      layers: [
        { type: 'linear', weight: f(be, [4, 3], 36), bias: f(be, [4], 37), active: true },
        { type: 'tanh' },
        { type: 'linear', weight: f(be, [2, 4], 38), active: true },
      ],
      x: f(be, [5, 3], 39), labels: labels(be, 5, 2, 40), v: f(be, [4 * 3 + 4 + 2 * 4], 41), out: be.zeros([24]),
      kind: 'hessian', scale: 0.2, accumulate: false,
    },
  ],
  // The same call off the calling thread.
  mlpCurvatureProductAsync: (be) => ROWS.mlpCurvatureProduct(be),
  mlpTrainSteps: (be) => [
    {
      layers: [
        { type: 'linear', weight: f(be, [4, 3], 42), bias: f(be, [4], 43), weightState: [be.zeros([4, 3])], biasState: [be.zeros([4])] },
        { type: 'relu' },
        { type: 'linear', weight: f(be, [2, 4], 44), weightState: [be.zeros([2, 4])] },
      ],
      x: f(be, [5, 3], 45), labels: randomInts(5, 46, 2), rows: Int32Array.of(4, 0, 2), batchSize: 2, lr: Float64Array.of(0.1, 0.05),
      optimizer: { name: 'sgd', weightDecay: 0, momentum: 0.9, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
      stepsBefore: 0, loss: new Float32Array(3), state: {},
    },
  ],
  // Convolution and pooling (issue 12): stride 2 by 1, padding 1 by 0, a non-square kernel.
  conv2d: (be) => [f(be, [2, 3, 5, 4], 48), f(be, [4, 3, 3, 2], 49), f(be, [4], 50), CONV_GEOM],
  conv2dInputGrad: (be) => [f(be, [2, 4, 3, 3], 51), f(be, [4, 3, 3, 2], 52), CONV_GEOM, [2, 3, 5, 4]],
  conv2dWeightGrad: (be) => [f(be, [2, 3, 5, 4], 53), f(be, [2, 4, 3, 3], 54), CONV_GEOM, [3, 2]],
  channelSum: (be) => [f(be, [2, 4, 3, 3], 55)],
  maxPool2d: (be) => [f(be, [2, 3, 5, 5], 56), POOL_GEOM],
  // Argmax within each (n, c) plane of a [2, 3, 4, 4] input, with repeats (overlapping windows).
  maxPool2dBackward: (be) => [
    f(be, [2, 3, 3, 3], 57), be.uploadInt(Int32Array.from(randomInts(54, 58, 16), (v, i) => v + 16 * Math.floor(i / 9)), [2, 3, 3, 3]), [2, 3, 4, 4],
  ],
  gatherFlat: (be) => [f(be, [3, 5], 59), be.uploadInt(Int32Array.of(14, 0, 3, 3, 7, 14), [2, 3])],
  avgPool2d: (be) => [f(be, [2, 3, 5, 5], 60), POOL_GEOM],
  avgPool2dBackward: (be) => [f(be, [2, 3, 3, 3], 61), POOL_GEOM, [2, 3, 5, 5]],
  // Landscape (issue 10): 4 points of 3 basis slices [2, 5]; 3 points of a 5×4 layer with 6 outputs.
  pointCombine: (be) => [f(be, [4, 3], 69), f(be, [3, 2, 5], 70), 'tanh'],
  batchedMatmul: (be) => [f(be, [3, 5, 4], 71), f(be, [3, 6, 4], 72), f(be, [3, 6], 73), 'gelu'],
  // Bisimulation loss (issue 11 §5): 7 pairs, D = 5, E = 3, a positive σ; row 2 is its own partner (distance 0).
  bisimulationLoss: (be) => [f(be, [7, 5], 74), f(be, [7], 75), f(be, [7, 3], 76), be.upload(randomArray(21, 77, 0.1, 1), [7, 3]), Int32Array.of(3, 0, 2, 1, 6, 4, 5), 0.9],
};

const isTensor = (v: unknown): v is Tensor => typeof v === 'object' && v !== null && 'dtype' in v && 'shape' in v && 'backend' in v;

/** Every tensor reachable from a call's arguments or result, in a stable order (for in-place ops too). */
function tensorsIn(v: unknown, out: Tensor[] = []): Tensor[] {
  if (isTensor(v)) out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => tensorsIn(x, out));
  else if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v)) Object.values(v).forEach((x) => tensorsIn(x, out));
  return out;
}
async function readAll(be: Backend, v: unknown): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (const t of tensorsIn(v)) out.push(Float64Array.from(t.dtype === 'i32' ? await be.readInt(t) : await be.read(t)));
  if (ArrayBuffer.isView(v)) out.push(Float64Array.from(v as Float32Array));
  return out;
}
const call = (be: Backend, op: OpName, args: unknown[]): unknown => (be as unknown as Record<string, (...a: unknown[]) => unknown>)[op]!(...args);

/** The error code a call fails with (sync throw or rejection), or 'ok'. */
async function outcome(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return 'ok';
  } catch (e) {
    return e instanceof RiverbedError ? e.code : `not a RiverbedError: ${(e as Error).message}`;
  }
}

const ref = new JsBackend();

describe('op registry', () => {
  it('every registered op has a parity row and every row is a registered op', () => {
    expect(Object.keys(ROWS).sort()).toEqual([...OP_NAMES].sort());
  });

  it('every addon export the registry names exists', () => {
    const l = nativeAddon();
    if (!l.ok) {
      if (process.env.CI === 'true') expect.fail(`CI requires the addon: ${l.reason}`);
      return;
    }
    const addon = l.addon as unknown as Record<string, unknown>;
    for (const op of OP_NAMES) {
      for (const sym of (OPS[op] as { native?: readonly string[] }).native ?? []) {
        expect(typeof addon[sym], `${op} → addon.${sym}`).toBe('function');
      }
    }
  });

  it('every WGSL family and entry point the registry names exists', () => {
    for (const op of OP_NAMES) {
      for (const { family, entries } of (OPS[op] as { wgsl?: readonly { family: string; entries: readonly string[] }[] }).wgsl ?? []) {
        const src = readFileSync(new URL(`../../shaders/${family}.wgsl`, import.meta.url), 'utf8');
        for (const e of entries) expect(src, `${op} → ${family}.wgsl ${e}`).toMatch(new RegExp(`@compute[^;{]*?fn\\s+${e}\\s*\\(`));
      }
    }
  });
});

for (const b of backends) {
  describe.skipIf(!!b.skip)(`registry-driven contract: ${b.name}`, () => {
    let be: Backend;
    beforeAll(async () => {
      be = await b.create();
    });
    afterAll(() => be?.dispose());

    for (const op of OP_NAMES) {
      it(`${op}: the row matches js`, async () => {
        const impl = (be as unknown as Record<string, unknown>)[op];
        const spec = OPS[op] as { optional?: true };
        if (typeof impl !== 'function') {
          // Only optional ops may be missing; the composed path serves them.
          expect(spec.optional, `${b.name} lacks the required op ${op}`).toBe(true);
          return;
        }
        const args = ROWS[op](be);
        const result = await call(be, op, args);
        if (typeof (ref as unknown as Record<string, unknown>)[op] !== 'function') return; // fused-hvp.test.ts compares it with the composed path
        const refArgs = ROWS[op](ref);
        const refResult = await call(ref, op, refArgs);
        const got = [...(await readAll(be, result)), ...(await readAll(be, args))];
        const want = [...(await readAll(ref, refResult)), ...(await readAll(ref, refArgs))];
        expect(got.length).toBe(want.length);
        got.forEach((g, i) => expectClose(g, want[i]!, { rtol: 1e-4, atol: 1e-5 }, `${op} tensor ${i}`));
      });

      const tensors = Object.entries(OPS[op].tensors) as [string, TensorParam][];
      for (const [name, want] of tensors) {
        const pos = (OPS[op].params as readonly string[]).indexOf(name);
        it(`${op} ${name}: wrong dtype → E_DTYPE, another backend's tensor → E_ARG, freed → E_ARG`, async () => {
          if (typeof (be as unknown as Record<string, unknown>)[op] !== 'function') return;
          const args = ROWS[op](be);
          const t = args[pos] as Tensor;
          const wrong = want.dtype === 'f32' ? be.uploadInt(new Int32Array(t.size), [...t.shape]) : be.zeros([...t.shape]);
          expect(await outcome(() => call(be, op, args.map((a, i) => (i === pos ? wrong : a))))).toBe('E_DTYPE');
          const foreign = { backend: 'elsewhere', dtype: t.dtype, shape: t.shape, size: t.size };
          expect(await outcome(() => call(be, op, args.map((a, i) => (i === pos ? foreign : a))))).toBe('E_ARG');
          if (b.name !== 'js') {
            be.free(t);
            expect(await outcome(() => call(be, op, args))).toBe('E_ARG');
          }
        });
      }
    }

    // Misuse that used to give a different answer per backend (js checked less than native).
    const misuse: [string, (be: Backend) => unknown, string][] = [
      ['cldScores with a label ≥ numClasses', (be) => be.cldScores({ ...(ROWS.cldScores(be)[0] as object), labels: Int32Array.of(0, 1, 3, 0, 1, 2) } as never), 'E_LABEL'],
      ['cldScores with a negative label', (be) => be.cldScores({ ...(ROWS.cldScores(be)[0] as object), labels: Int32Array.of(0, -1, 2, 0, 1, 2) } as never), 'E_LABEL'],
      ['cldScores with 1 epoch', (be) => be.cldScores({ trajectory: new Float32Array(3), epochs: 1, samples: 3, labels: new Int32Array(3), numClasses: 1, classZ: new Float64Array(0) }), 'E_ARG'],
      ['adamStep with m of another size', (be) => be.adamStep(f(be, [9], 1), f(be, [9], 2), be.zeros([8]), be.zeros([9]), { lr: 0.1, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1, decoupled: false }), 'E_SHAPE'],
      ['adamStep with v of another size', (be) => be.adamStep(f(be, [9], 1), f(be, [9], 2), be.zeros([9]), be.zeros([10]), { lr: 0.1, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 1, decoupled: false }), 'E_SHAPE'],
      ['adamStep with step 0', (be) => be.adamStep(f(be, [9], 1), f(be, [9], 2), be.zeros([9]), be.zeros([9]), { lr: 0.1, weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 0, decoupled: false }), 'E_ARG'],
      ['sgdStep with a NaN learning rate', (be) => be.sgdStep(f(be, [9], 1), f(be, [9], 2), be.zeros([9]), { lr: NaN, weightDecay: 0, momentum: 0, nesterov: false }), 'E_ARG'],
      ['axpy with an infinite alpha', (be) => be.axpy(Infinity, f(be, [9], 1), f(be, [9], 2)), 'E_ARG'],
      ['an unknown activation', (be) => be.activation('swish' as never, f(be, [9], 1)), 'E_ARG'],
      ['matmul with 1-D A', (be) => be.matmul(f(be, [9], 1), f(be, [9, 2], 2)), 'E_SHAPE'],
      ['matmul with mismatched inner dimensions', (be) => be.matmul(f(be, [3, 4], 1), f(be, [5, 2], 2)), 'E_SHAPE'],
      ['slice past the end', (be) => be.slice(f(be, [9], 1), 5, [5]), 'E_ARG'],
      ['upload with a shape of the wrong size', (be) => be.upload(new Float32Array(5), [2, 3]), 'E_SHAPE'],
      ['upload of an Int32Array as f32', (be) => be.upload(new Int32Array(6) as never, [2, 3]), 'E_DTYPE'],
      ['zeros with a negative dimension', (be) => be.zeros([2, -1]), 'E_SHAPE'],
      ['bisimulationLoss with perm not a permutation', (be) => be.bisimulationLoss(...bisim(be, Int32Array.of(3, 0, 2, 1, 6, 4, 4))), 'E_ARG'],
      ['bisimulationLoss with perm outside [0, B)', (be) => be.bisimulationLoss(...bisim(be, Int32Array.of(3, 0, 2, 1, 6, 4, 7))), 'E_ARG'],
      ['bisimulationLoss with perm a plain array', (be) => be.bisimulationLoss(...bisim(be, [3, 0, 2, 1, 6, 4, 5] as never)), 'E_ARG'],
      ['bisimulationLoss with perm of another length', (be) => be.bisimulationLoss(...bisim(be, Int32Array.of(1, 0))), 'E_SHAPE'],
      ['bisimulationLoss with mu of other rows', (be) => be.bisimulationLoss(f(be, [7, 5], 1), f(be, [7], 2), f(be, [6, 3], 3), undefined, Int32Array.of(1, 0, 2, 3, 4, 5, 6), 0.9), 'E_SHAPE'],
      ['bisimulationLoss with sigma not mu\'s shape', (be) => be.bisimulationLoss(f(be, [7, 5], 1), f(be, [7], 2), f(be, [7, 3], 3), f(be, [7, 2], 4), Int32Array.of(1, 0, 2, 3, 4, 5, 6), 0.9), 'E_SHAPE'],
      ['bisimulationLoss with a reward per row missing', (be) => be.bisimulationLoss(f(be, [7, 5], 1), f(be, [6], 2), f(be, [7, 3], 3), undefined, Int32Array.of(1, 0, 2, 3, 4, 5, 6), 0.9), 'E_SHAPE'],
      ['bisimulationLoss with a negative gamma', (be) => be.bisimulationLoss(f(be, [7, 5], 1), f(be, [7], 2), f(be, [7, 3], 3), undefined, Int32Array.of(1, 0, 2, 3, 4, 5, 6), -0.1), 'E_ARG'],
      ['bisimulationLoss with a NaN gamma', (be) => be.bisimulationLoss(f(be, [7, 5], 1), f(be, [7], 2), f(be, [7, 3], 3), undefined, Int32Array.of(1, 0, 2, 3, 4, 5, 6), NaN), 'E_ARG'],
      ['bisimulationLoss with no rows', (be) => be.bisimulationLoss(be.zeros([0, 5]), be.zeros([0]), be.zeros([0, 3]), undefined, new Int32Array(0), 0.9), 'E_SHAPE'],
    ];
    it.each(misuse)('%s gives the same code on every backend', async (_what, fn, code) => {
      expect(await outcome(() => fn(be))).toBe(code);
    });
  });
}
