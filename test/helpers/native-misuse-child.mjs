/**
 * Run by test/unit/native-addon-robust.test.ts in a child process: `node native-misuse-child.mjs
 * ADDON.node`. Calls every export of the addon with a correct call and with wrong ones (missing,
 * extra, wrong-typed, short, long and empty arguments, bad sizes), and prints one JSON line:
 * { results: [{ fn, name, ok, detail }], uncovered: [exports without a case], stale: [cases without an export], checks }.
 * A crash (segfault, abort) ends the child with a signal: stderr names the last case started.
 *
 * Every export needs an entry in CASES: `args()` builds a correct call and `kinds` says what each
 * argument is, from which the wrong calls are derived; `extra` adds hand-written wrong calls.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

const file = path.resolve(process.argv[2]);
const addon = createRequire(import.meta.url)(file);

const f32 = (n, seed = 1) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.3 + seed));
const i32 = (n, mod = 2) => Int32Array.from({ length: n }, (_, i) => i % mod);
const f64 = (n) => Float64Array.from({ length: n }, (_, i) => Math.cos(i));

// A 3-4-2 MLP (linear+bias, tanh, linear without bias) on B = 5 samples, both layers active:
// mlpCurvatureProduct(layers, params, x, labels, B, v, out, ggn, scale, accumulate, stateH, stateG, stateD, stateValid).
const HB = 5;
const spec = () => Int32Array.of(-1, 3, 4, 1, 1, 1, 4, 4, 0, 0, -1, 4, 2, 0, 1);
const V = 4 * 3 + 4 + 2 * 4;
const hvpArgs = (state = false) => [
  spec(), [f32(12, 2), f32(4, 3), f32(8, 4)], f32(HB * 3, 5), i32(HB), HB, f32(V, 6), new Float32Array(V), false, 1 / HB, false,
  state ? [f32(HB * 4), f32(HB * 4), f32(HB * 2)] : null,
  state ? [f32(HB * 4), f32(HB * 4), f32(HB * 2)] : null,
  state ? [null, f32(2 * HB * 4), null] : null,
  false,
];
const hvpKinds = ['spec', 'list', 'f32', 'i32', 'dim', 'f32', 'f32', 'bool', 'num', 'bool', 'state', 'state', 'state', 'bool'];
// Hand-written wrong calls of the fused product: nested arrays and layer specs.
const hvpExtra = () => {
  const bad = [];
  const set = (name, mutate, state = false) => bad.push({ name, args: () => { const a = hvpArgs(state); mutate(a); return a; } });
  const specWith = (k, v) => (a) => { a[0] = spec(); a[0][k] = v; };
  set('layers empty', (a) => { a[0] = new Int32Array(0); a[1] = []; });
  set('layers not 5 per layer', (a) => { a[0] = spec().subarray(0, 14); });
  set('activation code 9', specWith(5, 9));
  set('activation code -2', specWith(0, -2));
  set('width 0', specWith(2, 0));
  set('negative width', specWith(1, -3));
  set('widths do not chain', specWith(6, 5));
  set('activation in != out', (a) => { a[0] = spec(); a[0][7] = 3; });
  set('hasBias 2', specWith(3, 2));
  set('active 7', specWith(4, 7));
  set('activation layer active', specWith(9, 1));
  set('last layer an activation', (a) => { a[0] = Int32Array.of(-1, 3, 4, 1, 1, 1, 4, 4, 0, 0); a[1] = [f32(12), f32(4)]; a[5] = f32(16); a[6] = f32(16); });
  set('no active layer', (a) => { a[0] = spec(); a[0][4] = 0; a[0][14] = 0; a[5] = new Float32Array(0); a[6] = new Float32Array(0); });
  set('params missing one', (a) => { a[1] = a[1].slice(0, 2); });
  set('params one too many', (a) => { a[1] = [...a[1], f32(8)]; });
  set('params[0] short', (a) => { a[1][0] = f32(11); });
  set('params[1] (bias) long', (a) => { a[1][1] = f32(5); });
  set('params[2] empty', (a) => { a[1][2] = new Float32Array(0); });
  set('params[0] Float64Array', (a) => { a[1][0] = f64(12); });
  set('params[1] a number', (a) => { a[1][1] = 4; });
  set('params not an array', (a) => { a[1] = f32(24); });
  set('stateH entry short', (a) => { a[10][0] = f32(HB * 4 - 1); }, true);
  set('stateH one entry too few', (a) => { a[10] = a[10].slice(0, 2); }, true);
  set('stateG null where the Hessian reads it', (a) => { a[11][2] = null; }, true);
  set('stateG entry long', (a) => { a[11][1] = f32(HB * 4 + 1); }, true);
  set('stateD null for the activation', (a) => { a[12][1] = null; }, true);
  set('stateD entry single width', (a) => { a[12][1] = f32(HB * 4); }, true);
  set('stateD set for a linear layer', (a) => { a[12][0] = f32(HB * 4); }, true);
  set('stateH without stateG', (a) => { a[11] = null; }, true);
  set('stateG without stateH', (a) => { a[10] = null; a[12] = null; }, true);
  set('B larger than x', (a) => { a[4] = HB + 1; a[3] = i32(HB + 1); });
  set('B past int32', (a) => { a[4] = 2 ** 31; });
  return bad;
};

// Generic ops (src/backends/ops.ts `generic()`, native/registry.h): fn(plan, ...arrays). Besides the
// per-argument wrong calls, every plan field is tried missing, NaN and as a string, and the size n
// negative, fractional and off by one against the arrays.
const genericCase = (plan, arrays) => ({
  args: () => [{ ...plan }, ...arrays()],
  kinds: ['plan', ...arrays().map(() => 'f32')],
  extra: () => [
    ...Object.keys(plan).flatMap((k) => [['missing', undefined], ['NaN', NaN], ['a string', '1']].map(([w, v]) => ({ name: `plan.${k} ${w}`, args: () => [{ ...plan, [k]: v }, ...arrays()] }))),
    ...[-1, 1.5, plan.n + 1, plan.n - 1, 0].map((n) => ({ name: `plan.n = ${n}`, args: () => [{ ...plan, n }, ...arrays()] })),
  ],
});

// Fused training steps: a 3-4-2 MLP (linear+bias, relu, linear without bias), SGD (one state array
// per parameter), 5 rows of a 6-row x in batches of 2 (3 steps).
// mlpTrainSteps(spec, params, state, x, labels, rows, batch, lr, hyper, loss, workspace).
const trainSpec = () => Int32Array.of(-1, 3, 4, 1, 0, 4, 4, 0, -1, 4, 2, 0);
const trainWs = addon.mlpTrainWorkspace ? addon.mlpTrainWorkspace() : undefined;
const trainArgs = () => [
  trainSpec(), [f32(12, 2), f32(4, 3), f32(8, 4)], [new Float32Array(12), new Float32Array(4), new Float32Array(8)], f32(6 * 3, 5), i32(6),
  Int32Array.of(5, 0, 3, 1, 2), 2, f64(3).map((v) => 0.1 * Math.abs(v)), Float64Array.of(0, 0, 0.9, 0, 0.9, 0.999, 1e-8, 0), new Float32Array(5), trainWs,
];
const trainKinds = ['spec', 'list', 'list', 'f32', 'i32', 'i32', 'dim', 'f64', 'f64', 'f32', 'ws'];
const trainExtra = () => {
  const bad = [];
  const set = (name, mutate) => bad.push({ name, args: () => { const a = trainArgs(); mutate(a); return a; } });
  set('layers not 4 per layer', (a) => { a[0] = trainSpec().subarray(0, 11); });
  set('activation code 4', (a) => { a[0] = trainSpec(); a[0][4] = 4; });
  set('widths do not chain', (a) => { a[0] = trainSpec(); a[0][9] = 3; });
  set('last layer an activation', (a) => { a[0] = Int32Array.of(-1, 3, 4, 1, 0, 4, 4, 0); a[1] = [f32(12), f32(4)]; a[2] = [f32(12), f32(4)]; });
  set('params[0] short', (a) => { a[1][0] = f32(11); });
  set('params one too many', (a) => { a[1] = [...a[1], f32(8)]; });
  set('state one missing', (a) => { a[2] = a[2].slice(0, 2); });
  set('state[1] long', (a) => { a[2][1] = f32(5); });
  set('state of sgd for adam', (a) => { a[8] = Float64Array.of(1, 0, 0, 0, 0.9, 0.999, 1e-8, 0); });
  set('row out of range', (a) => { a[5] = Int32Array.of(5, 0, 6, 1, 2); });
  set('negative row', (a) => { a[5] = Int32Array.of(5, 0, -1, 1, 2); });
  set('label out of range', (a) => { a[4] = Int32Array.of(0, 1, 2, 0, 1, 0); });
  set('negative label', (a) => { a[4] = Int32Array.of(0, 1, -1, 0, 1, 0); });
  set('lr NaN', (a) => { a[7] = Float64Array.of(0.1, NaN, 0.1); });
  set('optimizer 3', (a) => { a[8] = Float64Array.of(3, 0, 0.9, 0, 0.9, 0.999, 1e-8, 0); });
  set('stepsBefore fractional', (a) => { a[8] = Float64Array.of(0, 0, 0.9, 0, 0.9, 0.999, 1e-8, 1.5); });
  set('x not a multiple of the features', (a) => { a[3] = f32(17); });
  set('workspace a plain object', (a) => { a[10] = {}; });
  set('workspace null', (a) => { a[10] = null; });
  set('workspace an ArrayBuffer', (a) => { a[10] = new ArrayBuffer(8); });
  return bad;
};

// Convolution and pooling (native/conv.cc, native/pooling.cc): fn(plan, ...arrays) with arrays of
// several element types; every plan field is tried missing, NaN and as a string, n (the batch)
// negative, fractional, 0 and off by one, plus hand-written plans whose sizes disagree.
const planCase = (plan, arrays, kinds, extra = []) => ({
  args: () => [{ ...plan }, ...arrays()],
  kinds: ['plan', ...kinds],
  extra: () => [
    ...Object.keys(plan).flatMap((k) => [['missing', undefined], ['NaN', NaN], ['a string', '1'], ['negative', -1]].map(([w, v]) => ({ name: `plan.${k} ${w}`, args: () => [{ ...plan, [k]: v }, ...arrays()] }))),
    ...[1.5, plan.n + 1, plan.n - 1, 0].map((n) => ({ name: `plan.n = ${n}`, args: () => [{ ...plan, n }, ...arrays()] })),
    ...extra.map(([name, change]) => ({ name, args: () => [{ ...plan, ...change }, ...arrays()] })),
  ],
});
// x [2,3,5,4], weight [4,3,3,2], y [2,4,3,3]: stride [2,1], padding [1,0].
const CONV = { n: 2, c: 3, h: 5, w: 4, o: 4, kh: 3, kw: 2, oh: 3, ow: 3, strideH: 2, strideW: 1, padH: 1, padW: 0 };
const convExtra = [
  ['oh that disagrees with the formula (same array sizes)', { h: 6 }],
  ['stride 0', { strideH: 0 }],
  ['kernel larger than the padded input', { kh: 8, oh: 1 }],
  ['padding past 2^31', { padH: 2 ** 31 }],
  ['sizes whose product passes 2^31', { n: 2 ** 16, c: 2 ** 16 }],
];
// x [2,3,5,5] → y [2,3,3,3]: kernel [3,2], stride 2, padding 1.
const POOL = { n: 2, c: 3, h: 5, w: 5, oh: 3, ow: 3, kernelH: 3, kernelW: 2, strideH: 2, strideW: 2, padH: 1, padW: 1 };
const poolExtra = [
  ['padding past half the kernel', { padH: 2 }],
  ['ow that disagrees with the formula', { ow: 2 }],
  ['stride 0', { strideW: 0 }],
  ['kernel larger than the padded input', { kernelH: 9, padH: 1, oh: 1 }],
];
// argmax of a [2,3,4,4] input pooled to [2,3,3,3]: each within its own plane.
const argmax = () => Int32Array.from({ length: 54 }, (_, i) => Math.floor(i / 9) * 16 + ((i * 7) % 16));

const CASES = {
  conv2d: planCase({ ...CONV, hasBias: 1 }, () => [f32(120), f32(72, 2), f32(4, 3), new Float32Array(72)], ['f32', 'f32', 'f32', 'f32'], [
    ...convExtra, ['hasBias 0 with a bias', { hasBias: 0 }], ['hasBias 2', { hasBias: 2 }],
  ]),
  conv2dInputGrad: planCase(CONV, () => [f32(72), f32(72, 2), new Float32Array(120)], ['f32', 'f32', 'f32'], convExtra),
  conv2dWeightGrad: planCase(CONV, () => [f32(120), f32(72, 2), new Float32Array(72)], ['f32', 'f32', 'f32'], convExtra),
  channelSum: planCase({ n: 2, c: 4, hw: 9 }, () => [f32(72), new Float32Array(4)], ['f32', 'f32'], [['hw 0', { hw: 0 }]]),
  maxPool2d: planCase(POOL, () => [f32(150), new Float32Array(54), new Int32Array(54)], ['f32', 'f32', 'i32'], poolExtra),
  maxPool2dBackward: planCase({ n: 2, c: 3, h: 4, w: 4, oh: 3, ow: 3 }, () => [f32(54), argmax(), new Float32Array(96)], ['f32', 'i32', 'f32'], [
    ['h·w that disagrees with gx', { h: 5 }],
  ]),
  gatherFlat: planCase({ n: 15, k: 6 }, () => [f32(15), Int32Array.of(14, 0, 3, 3, 7, 14), new Float32Array(6)], ['f32', 'i32', 'f32'], [['k off by one', { k: 7 }]]),
  avgPool2d: planCase(POOL, () => [f32(150), new Float32Array(54)], ['f32', 'f32'], poolExtra),
  avgPool2dBackward: planCase(POOL, () => [f32(54), new Float32Array(150)], ['f32', 'f32'], poolExtra),
  mlpTrainWorkspace: { args: () => [], kinds: [], extra: () => [{ name: 'an argument', args: () => [1] }, { name: 'two arguments', args: () => [{}, 2] }, { name: 'a string', args: () => ['x'] }, { name: 'null', args: () => [null] }, { name: 'an object', args: () => [{}] }, { name: 'an array', args: () => [[]] }] },
  mlpTrainSteps: { args: trainArgs, kinds: trainKinds, extra: trainExtra },
  adagradStep: genericCase({ n: 9, lr: 0.1, weightDecay: 0, lrDecay: 0, eps: 1e-10, step: 1 }, () => [f32(9), f32(9, 2), f32(9, 3)]),
  classpStep: genericCase({ n: 9, lr: 0.2, eps: 1e-5, power: 1, threshold: 0.01 }, () => [f32(9), f32(9, 2), f32(9, 3)]),
  classpGate: genericCase({ n: 9, threshold: 0.01 }, () => [f32(9), f32(9, 2)]),
  guAdamStep: genericCase({ n: 9, lr: 0.1, beta2: 0.9, eps: 1e-8 }, () => [f32(9), f32(9, 2), f32(9, 3), f32(9, 4)]),
  // pointCombine(plan {p, j, s}, coef [p·j], basis [j·s], out [p·s]); batchedMatmul(plan {p, m, n, k, hasBias}, a, b, bias, out)
  pointCombine: (() => {
    const c = planCase({ p: 3, j: 2, s: 5, act: 2 }, () => [f32(6), f32(10, 2), new Float32Array(15)], ['f32', 'f32', 'f32'], [
      ['act 5', { act: 5 }], ['act 1.5', { act: 1.5 }],
      ['j 0', { j: 0 }], ['s one short', { s: 4 }], ['p × s past 2^53', { p: 2 ** 31 - 1, s: 2 ** 31 - 1, j: 2 ** 31 - 1 }], ['p past 2^31', { p: 2 ** 31 }],
      ['s 1.5', { s: 1.5 }], ['p 0 with arrays for 3', { p: 0 }],
    ]);
    return { ...c, extra: () => c.extra().filter((x) => !x.name.startsWith('plan.n =')) }; // its plan has no n
  })(),
  batchedMatmul: planCase({ p: 2, m: 3, n: 4, k: 5, hasBias: 1, act: 4 }, () => [f32(30), f32(40, 2), f32(8, 3), new Float32Array(24)], ['f32', 'f32', 'f32', 'f32'], [
    ['act 5', { act: 5 }], ['act 0.5', { act: 0.5 }],
    ['hasBias 0 with a bias', { hasBias: 0 }], ['hasBias 2', { hasBias: 2 }], ['m and k swapped', { m: 5, k: 3 }],
    ['sizes whose product passes 2^53', { p: 2 ** 31 - 1, m: 2 ** 31 - 1, k: 2 ** 31 - 1 }], ['n past 2^31', { n: 2 ** 31 }],
  ]),
  // bisimulationLoss(plan {b, d, e, gamma, hasSigma}, z [b·d], reward [b], mu [b·e], sigma [hasSigma ? b·e : 0], perm [b], inv [b], terms [b], grad [b·d])
  bisimulationLoss: (() => {
    const plan = { b: 5, d: 3, e: 2, gamma: 0.9, hasSigma: 1 };
    const perm = () => Int32Array.of(2, 0, 1, 4, 3);
    const inv = () => Int32Array.of(1, 2, 0, 4, 3);
    const arrays = () => [f32(15), f32(5, 2), f32(10, 3), f32(10, 4), perm(), inv(), new Float32Array(5), new Float32Array(15)];
    const withArrays = (change) => () => { const a = arrays(); change(a); return [plan, ...a]; };
    return {
      args: () => [{ ...plan }, ...arrays()],
      kinds: ['plan', 'f32', 'f32', 'f32', 'f32', 'i32', 'i32', 'f32', 'f32'],
      extra: () => [
        ...Object.keys(plan).flatMap((k) => [['missing', undefined], ['NaN', NaN], ['a string', '1'], ['negative', -1]].map(([w, v]) => ({ name: `plan.${k} ${w}`, args: () => [{ ...plan, [k]: v }, ...arrays()] }))),
        { name: 'b 0 with empty arrays', args: () => [{ ...plan, b: 0 }, new Float32Array(0), new Float32Array(0), new Float32Array(0), new Float32Array(0), new Int32Array(0), new Int32Array(0), new Float32Array(0), new Float32Array(0)] },
        { name: 'd 0 with z empty', args: withArrays((a) => { a[0] = new Float32Array(0); a[7] = new Float32Array(0); }) },
        { name: 'hasSigma 2', args: () => [{ ...plan, hasSigma: 2 }, ...arrays()] },
        { name: 'hasSigma 0 with a sigma', args: () => [{ ...plan, hasSigma: 0 }, ...arrays()] },
        { name: 'b × d past 2^53', args: () => [{ ...plan, b: 2 ** 31 - 1, d: 2 ** 31 - 1 }, ...arrays()] },
        { name: 'perm entry past b', args: withArrays((a) => { a[4] = Int32Array.of(2, 0, 1, 4, 5); }) },
        { name: 'perm entry negative', args: withArrays((a) => { a[4] = Int32Array.of(2, 0, -1, 4, 3); }) },
        { name: 'perm not a permutation (inv still matches its first occurrences)', args: withArrays((a) => { a[4] = Int32Array.of(2, 0, 1, 4, 4); }) },
        { name: 'inv not the inverse', args: withArrays((a) => { a[5] = Int32Array.of(1, 2, 0, 3, 4); }) },
        { name: 'inv entry past b', args: withArrays((a) => { a[5] = Int32Array.of(1, 2, 0, 4, 9); }) },
      ],
    };
  })(),
  // guProject(plan {p, k, first, count, weighted}, g [p], basis [k·p], metric [weighted ? p : 0], out [p])
  guProject: {
    args: () => [{ p: 10, k: 4, first: 2, count: 3, weighted: 1 }, f32(10), f32(40, 2), f32(10, 3), new Float32Array(10)],
    kinds: ['plan', 'f32', 'f32', 'f32', 'f32'],
    extra: () => {
      const plan = { p: 10, k: 4, first: 2, count: 3, weighted: 1 };
      const arrays = () => [f32(10), f32(40, 2), f32(10, 3), new Float32Array(10)];
      return [
        ...Object.keys(plan).flatMap((k) => [['missing', undefined], ['NaN', NaN], ['a string', '1'], ['negative', -1], ['fractional', 1.5]].map(([w, v]) => ({ name: `plan.${k} ${w}`, args: () => [{ ...plan, [k]: v }, ...arrays()] }))),
        { name: 'count above k', args: () => [{ ...plan, count: 5 }, ...arrays()] },
        { name: 'first = k', args: () => [{ ...plan, first: 4 }, ...arrays()] },
        { name: 'k = 33 rows', args: () => [{ ...plan, k: 33 }, f32(10), f32(330), f32(10), new Float32Array(10)] },
        { name: 'weighted 2', args: () => [{ ...plan, weighted: 2 }, ...arrays()] },
        { name: 'unweighted with a metric', args: () => [{ ...plan, weighted: 0 }, ...arrays()] },
        { name: 'weighted without a metric', args: () => [plan, f32(10), f32(40), new Float32Array(0), new Float32Array(10)] },
        { name: 'basis one row short', args: () => [plan, f32(10), f32(30), f32(10), new Float32Array(10)] },
        { name: 'p × k overflows', args: () => [{ ...plan, p: 2 ** 52, k: 4 }, ...arrays()] },
      ];
    },
  },
  info: { args: () => [], kinds: [] },
  sgemm: { args: () => [2, 3, 4, f32(8), false, f32(12), false, new Float32Array(6)], kinds: ['dim', 'dim', 'dim', 'f32', 'bool', 'f32', 'bool', 'f32'],
    // Sizes whose products still match the arrays' lengths must hold whatever the transposes say; these do not.
    extra: () => [
      { name: 'M and K swapped with transA (A is 8 long either way, B not)', args: () => [4, 3, 2, f32(8), true, f32(12), false, new Float32Array(6)] },
      { name: 'M*N*K past int32 dims', args: () => [2 ** 31, 1, 1, f32(8), false, f32(12), false, new Float32Array(6)] },
      { name: 'huge dims whose product overflows', args: () => [2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, f32(8), false, f32(12), false, new Float32Array(6)] },
    ] },
  addBias: { args: () => [f32(6), f32(3), new Float32Array(6), 2, 3], kinds: ['f32', 'f32', 'f32', 'dim', 'dim'] },
  activation: { args: () => [1, f32(7), new Float32Array(7)], kinds: ['act', 'f32', 'f32'] },
  activationGrad: { args: () => [3, f32(7), f32(7, 2), new Float32Array(7)], kinds: ['act', 'f32', 'f32', 'f32'] },
  softmaxXent: { args: () => [f32(6), i32(2, 3), new Float32Array(2), new Float32Array(6), 2, 3], kinds: ['f32', 'i32', 'f32', 'f32', 'dim', 'dim'],
    extra: () => [{ name: 'C = 0 with rows', args: () => [new Float32Array(0), i32(2), new Float32Array(2), new Float32Array(0), 2, 0] }] },
  sumRows: { args: () => [f32(6), new Float32Array(3), 2, 3], kinds: ['f32', 'f32', 'dim', 'dim'] },
  sum: { args: () => [f32(9)], kinds: ['f32any'] },
  dot: { args: () => [f32(9), f32(9, 3)], kinds: ['f32', 'f32'] },
  axpy: { args: () => [0.5, f32(9), f32(9, 2), new Float32Array(9)], kinds: ['num', 'f32', 'f32', 'f32'] },
  scale: { args: () => [2, f32(9), new Float32Array(9)], kinds: ['num', 'f32', 'f32'] },
  gatherRows: { args: () => [f32(6), 3, 2, Int32Array.of(2, 0), new Float32Array(4)], kinds: ['f32', 'dim', 'dim', 'i32', 'f32'] },
  sgdStep: { args: () => [f32(9), f32(9, 2), f32(9, 3), 0.1, 0, 0.9, false], kinds: ['f32', 'f32', 'f32', 'num', 'num', 'num', 'bool'] },
  adamStep: { args: () => [f32(9), f32(9, 2), f32(9, 3), new Float32Array(9), 1e-3, 0, 0.9, 0.999, 1e-8, 1, true],
    kinds: ['f32', 'f32', 'f32', 'f32', 'num', 'num', 'num', 'num', 'num', 'num', 'bool'] },
  sumBandwidth: { args: () => [f32(9)], kinds: ['f32any'] },
  // topPerClass(plan {n, classes, capacity}, scores [n], labels [n], k [classes], out [capacity]) → written
  topPerClass: { args: () => [{ n: 6, classes: 3, capacity: 4 }, f32(6), i32(6, 3), Int32Array.of(1, 2, 1), new Int32Array(4)], kinds: ['plan', 'f32', 'i32', 'i32', 'i32'],
    extra: () => {
      const plan = { n: 6, classes: 3, capacity: 4 };
      const arrays = () => [f32(6), i32(6, 3), Int32Array.of(1, 2, 1), new Int32Array(4)];
      return [
        ...Object.keys(plan).flatMap((k) => [['missing', undefined], ['NaN', NaN], ['a string', '1'], ['negative', -1]].map(([w, v]) => ({ name: `plan.${k} ${w}`, args: () => [{ ...plan, [k]: v }, ...arrays()] }))),
        { name: 'classes 0', args: () => [{ ...plan, classes: 0 }, f32(6), i32(6, 3), new Int32Array(0), new Int32Array(4)] },
        { name: 'capacity below the selection', args: () => [{ ...plan, capacity: 3 }, f32(6), i32(6, 3), Int32Array.of(1, 2, 1), new Int32Array(3)] },
        { name: 'label past the classes', args: () => [plan, f32(6), Int32Array.of(0, 1, 3, 0, 1, 2), Int32Array.of(1, 2, 1), new Int32Array(4)] },
        { name: 'negative label', args: () => [plan, f32(6), Int32Array.of(0, 1, -1, 0, 1, 2), Int32Array.of(1, 2, 1), new Int32Array(4)] },
        { name: 'negative k', args: () => [plan, f32(6), i32(6, 3), Int32Array.of(1, -2, 1), new Int32Array(4)] },
      ];
    } },
  mul: { args: () => [f32(9), f32(9, 2), new Float32Array(9)], kinds: ['f32', 'f32', 'f32'] },
  activationRGrad: { args: () => [2, f32(7), f32(7, 2), f32(7, 3), f32(7, 4), new Float32Array(7)], kinds: ['act', 'f32', 'f32', 'f32', 'f32', 'f32'] },
  softmaxHessianVec: { args: () => [f32(6), f32(6, 2), new Float32Array(6), 2, 3], kinds: ['f32', 'f32', 'f32', 'dim', 'dim'] },
  // cldScores(traj [E, N], E, N, labels [N], classZ [(E−1)·C], C, out [N])
  cldScores: { args: () => [f32(4 * 6), 4, 6, i32(6, 3), f64(3 * 3), 3, new Float32Array(6)], kinds: ['traj', 'dim', 'dim', 'i32', 'f64', 'dim', 'f32'],
    extra: () => [
      { name: 'numClasses 0 with samples', args: () => [f32(4 * 6), 4, 6, i32(6, 1), new Float64Array(0), 0, new Float32Array(6)] },
      { name: 'Float64 trajectory short', args: () => [f64(4 * 6 - 1), 4, 6, i32(6, 3), f64(9), 3, new Float32Array(6)] },
    ] },
  mapFile: { args: () => [file], kinds: ['str'] },
  mlpCurvatureProduct: { args: () => hvpArgs(true), kinds: hvpKinds, extra: hvpExtra },
  mlpCurvatureProductAsync: { args: () => hvpArgs(true), kinds: hvpKinds, extra: hvpExtra },
};

// Wrong values per kind of argument; each must make the call throw.
const WRONG = {
  dim: [-1, 1.5, NaN, Infinity, 2 ** 53, '2', true, null, undefined],
  num: ['1', {}, null, undefined, 1n],
  bool: [1, 'true', null, undefined],
  act: [-1, 4, 1.5, NaN, '0', null],
  str: [1, null, Buffer.from('x'), undefined],
  f32: ['x', null, undefined, [1, 2], 5],
  f32any: ['x', null, undefined, [1, 2], 5],
  i32: ['x', null, undefined, [0, 1], 5],
  f64: ['x', null, undefined, [0, 1], 5],
  traj: ['x', null, undefined, [0, 1]],
  spec: ['x', null, [-1, 3, 4, 1, 1]],
  list: ['x', null, 5],
  state: ['x', 5],
  plan: ['x', null, 5, undefined],
};
// Same-length arrays of another element type.
function otherTypes(kind, a) {
  const n = a.length;
  if (kind === 'f32' || kind === 'f32any') return [new Float64Array(n), new Int32Array(n), new Uint32Array(n)];
  if (kind === 'i32') return [new Float32Array(n), new Uint32Array(n), new Int16Array(n)];
  if (kind === 'f64') return [new Float32Array(n), new BigInt64Array(n)];
  if (kind === 'traj') return [new Int32Array(n), new Uint8Array(n * 4)];
  if (kind === 'spec') return [new Float32Array(n), new Uint32Array(n)];
  return [];
}
const resized = (a, n) => {
  const b = new a.constructor(n);
  b.set(a.subarray(0, Math.min(n, a.length)));
  return b;
};

function wrongCalls(fn, c) {
  const calls = [];
  const base = c.args();
  const add = (name, args) => calls.push({ name, args });
  if (base.length > 0) add('no arguments', () => []);
  if (base.length > 0) add('last argument missing', () => c.args().slice(0, -1));
  add('one argument too many', () => [...c.args(), 0]);
  c.kinds.forEach((kind, i) => {
    const at = (v) => () => { const a = c.args(); a[i] = v; return a; };
    for (const v of WRONG[kind] ?? []) add(`arg ${i} (${kind}) = ${describe(v)}`, at(v));
    if (ArrayBuffer.isView(base[i])) {
      for (const t of otherTypes(kind, base[i])) add(`arg ${i} (${kind}) as ${t.constructor.name}`, at(t));
      if (kind !== 'f32any' && kind !== 'spec') {
        add(`arg ${i} one short`, () => { const a = c.args(); a[i] = resized(a[i], a[i].length - 1); return a; });
        add(`arg ${i} one long`, () => { const a = c.args(); a[i] = resized(a[i], a[i].length + 1); return a; });
        add(`arg ${i} empty`, () => { const a = c.args(); a[i] = resized(a[i], 0); return a; });
      }
    }
    if (kind === 'dim') {
      add(`arg ${i} (dim) + 1`, () => { const a = c.args(); a[i] += 1; return a; });
      add(`arg ${i} (dim) = 0`, () => { const a = c.args(); a[i] = 0; return a; });
    }
  });
  for (const e of c.extra?.() ?? []) add(e.name, e.args);
  return calls;
}

function describe(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) return `[${v.join(',')}]`;
  if (v && typeof v === 'object') return v.constructor?.name ?? 'object';
  return String(v);
}
const isPromise = (v) => v !== null && typeof v === 'object' && typeof v.then === 'function';

const results = [];
for (const [fn, c] of Object.entries(CASES)) {
  if (typeof addon[fn] !== 'function') continue;
  // The correct call must work (and settle, for the async exports).
  process.stderr.write(`start ${fn}: correct call\n`);
  try {
    const r = addon[fn](...c.args());
    if (isPromise(r)) await r;
    results.push({ fn, name: 'correct call', ok: true });
  } catch (e) {
    results.push({ fn, name: 'correct call', ok: false, detail: `threw ${e?.message}` });
  }
  for (const w of wrongCalls(fn, c)) {
    process.stderr.write(`start ${fn}: ${w.name}\n`);
    try {
      const r = addon[fn](...w.args());
      if (isPromise(r)) await r.catch(() => {});
      results.push({ fn, name: w.name, ok: false, detail: isPromise(r) ? 'returned a promise instead of throwing' : 'did not throw' });
    } catch (e) {
      const ours = e instanceof Error && e.message.startsWith(`${fn}: `);
      results.push({ fn, name: w.name, ok: ours, detail: ours ? undefined : `threw something other than the addon's own check: ${e?.message ?? e}` });
    }
  }
}

// Correct calls still compute: sgemm in every transpose against a plain triple loop; the async
// fused product equals the synchronous one; CLD resolves with -1 and scores in [-1, 1].
const checks = {};
{
  const M = 5, N = 7, K = 6;
  let worst = 0;
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      const A = f32(M * K, 11), B = f32(K * N, 12), C = new Float32Array(M * N);
      addon.sgemm(M, N, K, A, ta, B, tb, C);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let p = 0; p < K; p++) s += (ta ? A[p * M + i] : A[i * K + p]) * (tb ? B[j * K + p] : B[p * N + j]);
          worst = Math.max(worst, Math.abs(s - C[i * N + j]));
        }
      }
    }
  }
  checks.sgemmMaxError = worst;
  const syncArgs = hvpArgs(false);
  const asyncArgs = hvpArgs(false);
  checks.hvpSync = addon.mlpCurvatureProduct(...syncArgs);
  checks.hvpAsync = await addon.mlpCurvatureProductAsync(...asyncArgs);
  checks.hvpSame = syncArgs[6].every((v, i) => Object.is(v, asyncArgs[6][i])) && syncArgs[6].some((v) => v !== 0);
  const out = new Float32Array(6);
  checks.cld = await addon.cldScores(f32(4 * 6), 4, 6, i32(6, 3), f64(9), 3, out);
  checks.cldInRange = out.every((r) => r >= -1 && r <= 1);
}

const uncovered = Object.keys(addon).filter((k) => !(k in CASES));
const stale = Object.keys(CASES).filter((k) => !(k in addon));
process.stdout.write(JSON.stringify({ results, uncovered, stale, checks }) + '\n');
