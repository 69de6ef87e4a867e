#!/usr/bin/env node
/**
 * jax-js peer for bench/hvp.bench.mjs: the same Hessian-vector product written the JAX way,
 * forward-over-reverse (jvp of grad), jit-compiled, on jax-js's Wasm device in Node (its only
 * device there: WebGPU needs `navigator.gpu`). Same model JSON, weights, inputs, labels and vector.
 *
 *   node bench/peers/hvp_jax.mjs --dir DIR [--repeats N] [--out hv.npy]
 * Prints one JSON object on stdout.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultDevice, grad, init, jit, jvp, nn, numpy as np } from '@jax-js/jax';

const { values: a } = parseArgs({
  options: { dir: { type: 'string' }, repeats: { type: 'string', default: '5' }, out: { type: 'string' }, dist: { type: 'string' }, eager: { type: 'boolean', default: false } },
});
const dist = a.dist;
const { readSafetensors } = await import(join(dist, 'io/safetensors.js'));
const { readNpy, writeNpy } = await import(join(dist, 'io/npy.js'));

const devices = await init('wasm');
defaultDevice('wasm');
const desc = JSON.parse(readFileSync(join(a.dir, 'model.json'), 'utf8'));
const st = await readSafetensors(join(a.dir, 'weights.safetensors'));
const xArr = await readNpy(join(a.dir, 'x.npy'), { mmap: false });
const yArr = await readNpy(join(a.dir, 'y.npy'), { mmap: false });
const vArr = await readNpy(join(a.dir, 'v.npy'), { mmap: false });
const [B, D] = xArr.shape;
const classes = desc.layers.filter((l) => l.type === 'linear').at(-1).out;

// Parameters and the vector as pytrees { "0.weight": Array, … } in parameter order.
const names = [];
desc.layers.forEach((l, i) => {
  if (l.type !== 'linear') return;
  names.push(`${i}.weight`);
  if (l.bias !== false) names.push(`${i}.bias`);
});
const params = {};
const vec = {};
let off = 0;
for (const n of names) {
  const t = st.tensors.get(n);
  params[n] = np.array(Float32Array.from(t.data)).reshape(t.shape);
  const size = t.data.length;
  vec[n] = np.array(Float32Array.from(vArr.data.subarray(off, off + size))).reshape(t.shape);
  off += size;
}
const labels = yArr.dtype === 'i8' ? Int32Array.from(yArr.data, (v) => Number(v)) : Int32Array.from(yArr.data);
const x = np.array(Float32Array.from(xArr.data)).reshape([B, D]);
const yOne = nn.oneHot(np.array(labels, { dtype: np.int32 }), classes);

const ACT = { relu: nn.relu, tanh: np.tanh, sigmoid: nn.sigmoid, gelu: nn.gelu };
function loss(p, x, yOne) {
  let h = x;
  desc.layers.forEach((l, i) => {
    if (l.type === 'linear') {
      h = np.matmul(h, p[`${i}.weight`].transpose());
      if (l.bias !== false) h = h.add(p[`${i}.bias`]);
    } else h = ACT[l.type](h);
  });
  // mean cross-entropy: −(1/B) Σ log softmax(z)[y]
  return nn.logSoftmax(h, -1).mul(yOne).sum().mul(-1 / B);
}
// jit fuses the whole product into one program; on big models its buffers outgrow Wasm's 4 GiB
// (memory32), so --eager runs the same transformation op by op.
const hvpEager = (p, v, x, yOne) => jvp((q) => grad((qq) => loss(qq, x.ref, yOne.ref))(q), [p], [v])[1];
let hvp = a.eager ? hvpEager : jit(hvpEager);
let jitError = null;
const ref = (tree) => Object.fromEntries(Object.entries(tree).map(([k, t]) => [k, t.ref]));

async function run() {
  const out = hvp(ref(params), ref(vec), x.ref, yOne.ref);
  const flat = new Float32Array(off);
  let o = 0;
  for (const n of names) {
    const d = await out[n].data(); // forces the computation
    flat.set(d, o);
    o += d.length;
  }
  return flat;
}
let t0 = performance.now();
let hv;
try {
  hv = await run(); // compile + first run
} catch (err) {
  if (a.eager) throw err;
  jitError = String(err.message ?? err);
  hvp = hvpEager;
  t0 = performance.now();
  hv = await run();
}
const firstMs = performance.now() - t0;
const times = [];
for (let r = 0; r < Number(a.repeats); r++) {
  const t = performance.now();
  hv = await run();
  times.push(performance.now() - t);
}
if (a.out) writeNpy(a.out, hv, [hv.length]);
const sorted = [...times].sort((p, q) => p - q);
process.stdout.write(
  JSON.stringify({
    peer: 'jax-js',
    version: JSON.parse(readFileSync(new URL('../../node_modules/@jax-js/jax/package.json', import.meta.url), 'utf8')).version,
    devices,
    device: 'wasm',
    mode: hvp === hvpEager ? 'eager' : 'jit',
    jitError,
    crossOriginIsolated: globalThis.crossOriginIsolated ?? null,
    first_ms: firstMs,
    min_ms: sorted[0],
    median_ms: sorted[Math.floor(sorted.length / 2)],
    repeats: times.length,
  }) + '\n',
);
