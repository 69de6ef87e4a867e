/**
 * Times one forward+backward (Mlp.lossAndGradients) — and the HVP when src/model/hvp.ts exists —
 * on a backend, for the issue-5 benchmark models, with a per-kernel breakdown (wall time of each
 * Backend method, the native backend being synchronous).
 *
 *   npx vite-node native/bench/mlp-step.ts [backend=native] [reps=20]
 * Env: MLP_STEP_ONLY=big|small; MLP_STEP_ADDON=<.node file> (fwd+bwd only) times another build; RIVERBED_NATIVE_POOL_MB=0 (no tensor pool) and RIVERBED_GEMM_PACK=1
 * (always-packed sgemm) give the numbers from before those optimisations.
 */
import type { Backend, Tensor } from '../../src/backends/backend.js';
import { createBackend } from '../../src/backends/select.js';
import { mlpDescription } from '../../src/model/description.js';
import { Mlp } from '../../src/model/mlp.js';

const name = (process.argv[2] ?? 'native') as 'native' | 'js' | 'webgpu';
const reps = Number(process.argv[3] ?? 20);

function shapeKey(args: unknown[]): string {
  const [a, b, ta, tb] = args as [{ shape: number[] }, { shape: number[] }, boolean?, boolean?];
  const [m, k] = ta ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const n = tb ? b.shape[0] : b.shape[1];
  return `${m}×${k}×${n}${ta ? ' Aᵀ' : ''}${tb ? ' Bᵀ' : ''}`;
}

/** Wraps every method of a backend to add its wall time to `spent`. */
function profiled(be: Backend): { be: Backend; spent: Map<string, { ms: number; calls: number; each: number[] }> } {
  const spent = new Map<string, { ms: number; calls: number; each: number[] }>();
  const proxy = new Proxy(be, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv);
      if (typeof v !== 'function' || typeof prop !== 'string') return v;
      return (...args: unknown[]) => {
        const t0 = performance.now();
        const r = v.apply(target, args);
        const dt = performance.now() - t0;
        const key = prop === 'matmul' ? `matmul ${shapeKey(args)}` : prop;
        const s = spent.get(key) ?? { ms: 0, calls: 0, each: [] };
        s.ms += dt;
        s.calls++;
        s.each.push(dt);
        spent.set(key, s);
        return r;
      };
    },
  });
  return { be: proxy, spent };
}

function rand(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a / 2 ** 32 - 0.5;
  }
  return out;
}

// src/model/hvp.ts is another engineer's; time the HVP when it is there.
/** Per step: each kernel's median call time × its calls per step (robust to other load on the machine). */
function report(title: string, spent: Map<string, { ms: number; calls: number; each: number[] }>, steps: number): string {
  const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);
  const rows = [...spent.entries()]
    .filter(([k]) => k !== 'upload')
    .map(([k, s]) => {
      const e = [...s.each].sort((a, b) => a - b);
      const per = s.calls / steps;
      return { k, per, ms: e[e.length >> 1]! * per };
    })
    .sort((a, b) => b.ms - a.ms);
  const total = rows.reduce((a, r) => a + r.ms, 0);
  return `  ${title} (median call × calls): ` + rows.map((r) => `${r.k} ${fmt(r.ms)}${r.per > 1 ? ` (${r.per}×)` : ''}`).join(', ') + `; kernels total ${fmt(total)}`;
}

const hvpModule = (await import('../../src/model/hvp.js').catch(() => undefined)) as Record<string, unknown> | undefined;

/** MLP_STEP_ADDON=path/to/riverbed_native.node times another build of the addon (e.g. an older commit's). */
async function open(): Promise<Backend> {
  const file = process.env.MLP_STEP_ADDON;
  if (!file || name !== 'native') return createBackend(name);
  const { NativeBackend } = await import('../../src/backends/native/index.js');
  const { createRequire } = await import('node:module');
  return new NativeBackend(createRequire(import.meta.url)(file));
}

async function run(label: string, inputs: number, hidden: number[], classes: number, batch: number): Promise<void> {
  const raw = await open();
  const desc = mlpDescription(inputs, hidden, classes, 'relu');
  const model = Mlp.init(raw, desc, 1);
  const x = raw.upload(rand(batch * inputs, 2), [batch, inputs]);
  const y = raw.uploadInt(Int32Array.from({ length: batch }, (_, i) => i % classes), [batch]);
  const step = (m: Mlp) => {
    const { loss, grads } = m.lossAndGradients(x, y);
    m.backend.free(loss);
    for (const g of grads) m.backend.free(g);
  };
  for (let i = 0; i < 3; i++) step(model);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    step(model);
    await raw.sync();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`);
  console.log(`${label} batch ${batch}: fwd+bwd min ${fmt(times[0]!)} median ${fmt(times[times.length >> 1]!)} (${name}, ${reps} reps)`);
  // Breakdown over the same number of steps through a timing proxy.
  const { be, spent } = profiled(raw);
  const pm = Mlp.fromHost(be, desc, new Map((await model.toHost()).map((t) => [t.name, t.data])));
  for (let i = 0; i < 3; i++) step(pm);
  spent.clear();
  for (let i = 0; i < reps; i++) step(pm);
  console.log(report('per step', spent, reps));
  if (hvpModule && typeof hvpModule.hessianVectorProduct === 'function' && typeof (raw as { mul?: unknown }).mul === 'function' && !process.env.MLP_STEP_ADDON) {
    const hvp = hvpModule.hessianVectorProduct as (m: Mlp, x: Tensor, y: Tensor, v: Tensor) => Tensor;
    const n = model.parameterCount;
    const v = raw.upload(rand(n, 3), [n]);
    for (let i = 0; i < 3; i++) raw.free(hvp(model, x, y, v));
    const ht: number[] = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      raw.free(hvp(model, x, y, v));
      await raw.sync();
      ht.push(performance.now() - t0);
    }
    ht.sort((a, b) => a - b);
    console.log(`  HVP (hessianVectorProduct, forward + backward + R-passes): min ${fmt(ht[0]!)} median ${fmt(ht[ht.length >> 1]!)}`);
    spent.clear();
    for (let i = 0; i < reps; i++) be.free(hvp(pm, x, y, be.upload(rand(n, 3), [n])));
    console.log(report('HVP per product', spent, reps));
  }
}

const only = process.env.MLP_STEP_ONLY;
if (only !== 'small') await run('MLP 784-1024-1024-10', 784, [1024, 1024], 10, 1024);
if (only !== 'big') {
  await run('MLP 20-32-32-5', 20, [32, 32], 5, 1024);
  await run('MLP 20-32-32-5', 20, [32, 32], 5, 64);
}
