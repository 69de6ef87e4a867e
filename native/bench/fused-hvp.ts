/**
 * The fused native HVP (Backend.mlpCurvatureProduct, one addon call per batch) against the product
 * composed from ~50 kernel calls (CurvatureProduct with fused: false), on the issue-5 benchmark
 * models: MLP 20-32-32-5 (batch 64) and 784-1024-1024-10 (batch 1024), ReLU and tanh, "fresh"
 * (forward + backward recomputed every product, cache: false) and "cached" (forward state kept).
 * Before/after runs are interleaved and the minimum of the warm runs is reported (the machine is
 * shared); each fused product is checked against the composed one (relative error).
 *
 *   npx vite-node native/bench/fused-hvp.ts [reps=20]        Env: FUSED_HVP_ONLY=small|big
 */
import type { Backend } from '../../src/backends/backend.js';
import { createBackend } from '../../src/backends/select.js';
import { mlpDescription } from '../../src/model/description.js';
import { CurvatureProduct, parameterLayout } from '../../src/model/hvp.js';
import { Mlp } from '../../src/model/mlp.js';

const reps = Number(process.argv[2] ?? 20);
const only = process.env.FUSED_HVP_ONLY;

function rand(n: number, seed: number, lo = -0.5, hi = 0.5): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (hi - lo) * (a / 2 ** 32);
  }
  return out;
}
const fmt = (ms: number) => (ms >= 1 ? `${ms.toFixed(1)} ms` : `${(ms * 1000).toFixed(1)} µs`);

const be: Backend = await createBackend('native');
const problems = [
  { name: 'small', sizes: [20, 32, 32, 5], batch: 64, inner: 200 },
  { name: 'big', sizes: [784, 1024, 1024, 10], batch: 1024, inner: 1 },
].filter((p) => !only || p.name === only);

for (const p of problems) {
  for (const act of ['relu', 'tanh'] as const) {
    const d = mlpDescription(p.sizes[0]!, p.sizes.slice(1, -1), p.sizes.at(-1)!, act);
    const model = Mlp.init(be, d, 1234);
    const D = p.sizes[0]!;
    const x = be.upload(rand(p.batch * D, 7, 0, 1), [p.batch, D]);
    const labels = be.uploadInt(Int32Array.from({ length: p.batch }, (_, i) => (i * 7) % p.sizes.at(-1)!), [p.batch]);
    const P = parameterLayout(model).size;
    const v = be.upload(rand(P, 11), [P]);
    for (const cache of [false, true]) {
      const ops = { composed: new CurvatureProduct(model, [{ x, labels }], { cache, fused: false }), fused: new CurvatureProduct(model, [{ x, labels }], { cache, fused: true }) };
      const best = { composed: Infinity, fused: Infinity };
      const a = await be.read(ops.composed.apply(v));
      const b = await be.read(ops.fused.apply(v));
      let num = 0;
      let den = 0;
      for (let i = 0; i < P; i++) (num += (a[i]! - b[i]!) ** 2), (den += a[i]! ** 2);
      for (let r = 0; r < reps; r++) {
        for (const k of r % 2 ? (['fused', 'composed'] as const) : (['composed', 'fused'] as const)) {
          const t0 = performance.now();
          for (let j = 0; j < p.inner; j++) be.free(ops[k].apply(v));
          best[k] = Math.min(best[k], (performance.now() - t0) / p.inner);
        }
      }
      console.log(
        `${p.name} ${p.sizes.join('-')} B=${p.batch} ${act} ${cache ? 'cached' : 'fresh '}: composed ${fmt(best.composed)}  fused ${fmt(best.fused)}  ` +
          `(${(best.composed / best.fused).toFixed(2)}×; fused vs composed rel. err ${Math.sqrt(num / den).toExponential(1)})`,
      );
      ops.composed.dispose();
      ops.fused.dispose();
    }
  }
}
