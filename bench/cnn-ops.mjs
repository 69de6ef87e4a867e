#!/usr/bin/env node
/**
 * Per-op profile of the issue's MNIST CNN on the native backend (issue 12; not a benchmark with a
 * peer, and not run by `npm run bench`: a tool for finding where the time goes). CNN_OPS_MODE=train
 * (default): the trainer's composed step — gatherRows, Mlp.lossAndGradients, the SGD momentum
 * update — on real MNIST digits, batch 128; CNN_OPS_MODE=hvp: one fresh Hessian-vector product
 * (CurvatureProduct, forward/backward recomputed) on 256 digits. Every Backend method is wrapped: native ops
 * run synchronously in the call, so the wall time of a call is the op (its output allocation
 * included). Rows are op × first-argument shape, with ms per step (min over rounds of the mean
 * over steps) and the share of the step.
 *
 *   node bench/cnn-ops.mjs                  # 20 steps × 3 rounds, default threads
 *   RIVERBED_THREADS=1 CNN_OPS_STEPS=10 node bench/cnn-ops.mjs
 *   RIVERBED_THREADS=1 CNN_OPS_MODE=hvp CNN_OPS_STEPS=3 node bench/cnn-ops.mjs
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => join(root, 'dist', p);
if (!existsSync(dist('backends/select.js'))) {
  console.error('bench: dist/ is missing; run "npm run build"');
  process.exit(1);
}
const { createBackend } = await import(dist('backends/select.js'));
const { OP_NAMES } = await import(dist('backends/ops.js'));
const { parseModelDescription } = await import(dist('model/description.js'));
const { Mlp } = await import(dist('model/mlp.js'));
const { loadMnistPart } = await import(dist('data/mnist.js'));
const { Optimizer, optimizerConfig } = await import(dist('train/optimizer.js'));
const { CurvatureProduct } = await import(dist('model/hvp.js'));

const STEPS = Number(process.env.CNN_OPS_STEPS ?? 20);
const ROUNDS = Number(process.env.CNN_OPS_ROUNDS ?? 3);
const HVP = process.env.CNN_OPS_MODE === 'hvp';
const BATCH = HVP ? 256 : 128;

const be = await createBackend('native');
const desc = parseModelDescription(JSON.parse(readFileSync(join(root, 'examples/cnn.json'), 'utf8')));
const ds = await loadMnistPart('train');
const n = BATCH * STEPS;
const x = be.upload(ds.inputs.subarray(0, n * 784), [n, 784]);
const model = Mlp.init(be, desc, 1);
const opt = new Optimizer(be, model, optimizerConfig('sgd', { lr: 0.05, momentum: 0.9 }));

// Wrap every op and the memory methods with a timer keyed by op and first tensor argument's shape.
const acc = new Map();
let timing = false;
for (const name of [...OP_NAMES, 'upload', 'uploadInt', 'zeros', 'free']) {
  const f = be[name];
  if (typeof f !== 'function') continue;
  const bound = f.bind(be);
  be[name] = (...args) => {
    if (!timing) return bound(...args);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = bound(...args);
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const t = args.find((a) => a && typeof a === 'object' && Array.isArray(a.shape));
    const key = `${name}${t ? ` [${t.shape.join(',')}]` : ''}`;
    const a = acc.get(key) ?? { ms: 0, cpu: 0 };
    a.ms += ms;
    a.cpu += (c.user + c.system) / 1000;
    acc.set(key, a);
    return r;
  };
}

// hvp: one batch, a fixed vector; each "step" is one fresh product.
const hvpBatch = HVP ? { x: be.gatherRows(x, be.uploadInt(Int32Array.from({ length: BATCH }, (_, i) => i), [BATCH])), labels: be.uploadInt(Int32Array.from(ds.labels.subarray(0, BATCH)), [BATCH]) } : undefined;
const product = HVP ? new CurvatureProduct(model, [hvpBatch], { kind: 'hessian', cache: false }) : undefined;
const vec = HVP ? be.upload(Float32Array.from({ length: model.parameterCount }, (_, i) => Math.sin(i)), [model.parameterCount]) : undefined;

function step(s) {
  if (HVP) {
    be.free(product.apply(vec));
    return;
  }
  const idx = Int32Array.from({ length: BATCH }, (_, i) => s * BATCH + i);
  const idxT = be.uploadInt(idx, [BATCH]);
  const xb = be.gatherRows(x, idxT);
  be.free(idxT);
  const yb = be.uploadInt(Int32Array.from(idx, (i) => ds.labels[i]), [BATCH]);
  const { loss, grads } = model.lossAndGradients(xb, yb);
  be.free(xb);
  be.free(yb);
  opt.step(grads, 0.05);
  for (const g of grads) be.free(g);
  be.free(loss);
}

for (let s = 0; s < 3; s++) step(s); // warm-up: pool filled, pages touched
const best = new Map();
let bestStep = Infinity;
let bestCpu = Infinity;
for (let r = 0; r < ROUNDS; r++) {
  acc.clear();
  timing = true;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let s = 0; s < STEPS; s++) step(s);
  const per = (performance.now() - t0) / STEPS;
  const c = process.cpuUsage(c0);
  timing = false;
  bestStep = Math.min(bestStep, per);
  bestCpu = Math.min(bestCpu, (c.user + c.system) / 1000 / STEPS);
  for (const [k, v] of acc) {
    const b = best.get(k) ?? { ms: Infinity, cpu: Infinity };
    best.set(k, { ms: Math.min(b.ms, v.ms / STEPS), cpu: Math.min(b.cpu, v.cpu / STEPS) });
  }
}
// Sorted by CPU time: on a loaded machine it is what the op costs, wall time adds the waits.
const rows = [...best].sort((a, b) => b[1].cpu - a[1].cpu);
const sum = (f) => rows.reduce((a, [, v]) => a + v[f], 0);
console.log(
  `CNN ${HVP ? 'HVP (fresh)' : 'training step'}, native ${be.info().threads} thread(s), batch ${BATCH}, best round of ${ROUNDS} × ${STEPS} steps: ` +
    `${bestStep.toFixed(2)} ms wall (ops ${sum('ms').toFixed(2)}), ${bestCpu.toFixed(2)} ms CPU (ops ${sum('cpu').toFixed(2)})`,
);
console.log('   wall ms     CPU ms  CPU %  op [first tensor argument]');
for (const [k, v] of rows) {
  if (v.ms < 0.005 && v.cpu < 0.005) continue;
  console.log(`  ${v.ms.toFixed(3).padStart(8)}  ${v.cpu.toFixed(3).padStart(8)}  ${((100 * v.cpu) / bestCpu).toFixed(1).padStart(5)}  ${k}`);
}
opt.dispose();
model.dispose();
be.dispose();
