import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACTIVATIONS, type Activation } from '../../../src/backends/backend.js';
import { JsBackend } from '../../../src/backends/js/index.js';
import { activationValue } from '../../../src/backends/js/math.js';
import { type ModelDescription, isLinear, mlpDescription, parseModelDescription } from '../../../src/model/description.js';
import { encodeSafetensors } from '../../../src/io/safetensors.js';
import { Mlp } from '../../../src/model/mlp.js';
import { randomArray, randomInts } from '../../helpers/backends.js';

/** Mean cross-entropy of the model in float64 on the host, independent of the backend. */
function hostMeanLoss(d: ModelDescription, params: Float64Array[], x: Float64Array, y: Int32Array, B: number): number {
  let h = x;
  let width = x.length / B;
  let p = 0;
  for (const l of d.layers) {
    if (isLinear(l)) {
      const W = params[p++]!;
      const bias = l.bias !== false ? params[p++]! : undefined;
      const out = new Float64Array(B * l.out);
      for (let i = 0; i < B; i++)
        for (let o = 0; o < l.out; o++) {
          let s = bias ? bias[o]! : 0;
          for (let k = 0; k < l.in; k++) s += h[i * width + k]! * W[o * l.in + k]!;
          out[i * l.out + o] = s;
        }
      h = out;
      width = l.out;
    } else {
      h = h.map((v) => activationValue(l.type as Activation, v));
    }
  }
  let total = 0;
  for (let i = 0; i < B; i++) {
    const row = h.subarray(i * width, (i + 1) * width);
    const mx = Math.max(...row);
    const lse = Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0)) + mx;
    total += lse - row[y[i]!]!;
  }
  return total / B;
}

function gradCheck(d: ModelDescription, seed: number): void {
  const b = new JsBackend();
  const B = 5;
  const D = (d.layers[0] as { in: number }).in;
  const C = (d.layers.at(-1) as { out: number }).out;
  const model = Mlp.init(b, d, seed);
  // Scale weights up a little so every activation works away from its linear regime.
  const host = model.params.map((p) => Float64Array.from((p.tensor as unknown as { data: Float32Array }).data, (v) => v * 2));
  const withParams = Mlp.fromHost(b, d, new Map(model.params.map((p, i) => [p.name, Float32Array.from(host[i]!)])));
  const hostF32 = host.map((a) => Float64Array.from(Float32Array.from(a))); // exactly what the backend holds
  const x = randomArray(B * D, seed + 1, -2, 2);
  const y = randomInts(B, seed + 2, C);
  const { loss, grads } = withParams.lossAndGradients(b.upload(x, [B, D]), b.uploadInt(y, [B]));
  const x64 = Float64Array.from(x);
  const perSample = (loss as unknown as { data: Float32Array }).data;
  expect(perSample.reduce((a, v) => a + v, 0) / B).toBeCloseTo(hostMeanLoss(d, hostF32, x64, y, B), 5);
  const h = 1e-5;
  let worst = 0;
  hostF32.forEach((param, pi) => {
    const g = (grads[pi] as unknown as { data: Float32Array }).data;
    expect(g.length).toBe(param.length);
    for (let k = 0; k < param.length; k++) {
      const keep = param[k]!;
      param[k] = keep + h;
      const up = hostMeanLoss(d, hostF32, x64, y, B);
      param[k] = keep - h;
      const down = hostMeanLoss(d, hostF32, x64, y, B);
      param[k] = keep;
      const fd = (up - down) / (2 * h);
      const err = Math.abs(g[k]! - fd) / (1e-3 + Math.abs(fd));
      worst = Math.max(worst, err);
      expect(Math.abs(g[k]! - fd), `${withParams.params[pi]!.name}[${k}]: analytic ${g[k]} vs finite difference ${fd}`).toBeLessThan(2e-5 + 1e-3 * Math.abs(fd));
    }
  });
  expect(worst).toBeLessThan(1e-2);
}

describe('Mlp backward', () => {
  for (const act of ACTIVATIONS) {
    it(`matches float64 central differences of the mean loss (${act})`, () => {
      gradCheck(mlpDescription(4, [5], 3, act), 11);
    });
  }
  it('matches on a deeper net with mixed activations and a bias-free layer', () => {
    const d = parseModelDescription({
      format: 'riverbed.model',
      version: 1,
      layers: [
        { type: 'linear', in: 3, out: 4 },
        { type: 'tanh' },
        { type: 'linear', in: 4, out: 4, bias: false },
        { type: 'gelu' },
        { type: 'sigmoid' },
        { type: 'linear', in: 4, out: 3 },
      ],
      loss: 'cross_entropy',
    });
    gradCheck(d, 5);
  });
});

describe('Mlp initialisation', () => {
  it('is reproducible from the seed and follows nn.Linear bounds U(±1/√in)', async () => {
    const b = new JsBackend();
    const d = mlpDescription(400, [50], 10);
    const a = await Mlp.init(b, d, 42).toHost();
    const a2 = await Mlp.init(b, d, 42).toHost();
    const c = await Mlp.init(b, d, 43).toHost();
    expect(a.map((t) => Array.from(t.data))).toEqual(a2.map((t) => Array.from(t.data)));
    expect(Array.from(c[0]!.data.subarray(0, 10))).not.toEqual(Array.from(a[0]!.data.subarray(0, 10)));
    const w = a[0]!.data;
    const bound = 1 / Math.sqrt(400);
    let mx = 0;
    let mean = 0;
    let sq = 0;
    for (const v of w) {
      mx = Math.max(mx, Math.abs(v));
      mean += v;
      sq += v * v;
    }
    mean /= w.length;
    expect(mx).toBeLessThanOrEqual(bound);
    expect(mx).toBeGreaterThan(0.99 * bound);
    expect(Math.abs(mean)).toBeLessThan(0.01 * bound);
    expect(sq / w.length).toBeCloseTo((bound * bound) / 3, 5); // variance of U(-b, b)
    expect(Math.max(...a[1]!.data.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...a[3]!.data.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(50));
  });

  it('forward equals the host computation', async () => {
    const b = new JsBackend();
    const d = mlpDescription(6, [7], 4, 'tanh');
    const m = Mlp.init(b, d, 3);
    const host = (await m.toHost()).map((t) => Float64Array.from(t.data));
    const x = randomArray(2 * 6, 9);
    const z = await b.read(m.forward(b.upload(x, [2, 6])));
    for (let i = 0; i < 2; i++)
      for (let c = 0; c < 4; c++) {
        let s = host[3]![c]!;
        for (let j = 0; j < 7; j++) {
          let hj = host[1]![j]!;
          for (let k = 0; k < 6; k++) hj += host[0]![j * 6 + k]! * x[i * 6 + k]!;
          s += host[2]![c * 7 + j]! * Math.tanh(hj);
        }
        expect(z[i * 4 + c]).toBeCloseTo(s, 5);
      }
  });
});

describe('Mlp.load / loadWeights refuse non-finite weights', () => {
  it('names the file, the tensor and the first bad element (NaN, ±Inf; F32 and F16 files)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'riverbed-mlp-finite-'));
    try {
      const b = new JsBackend();
      const d = mlpDescription(3, [4], 2);
      const good = await Mlp.init(b, d, 1).toHost();
      const save = (name: string, edit: (t: { name: string; data: Float32Array }[]) => void) => {
        const ts = good.map((t) => ({ ...t, data: t.data.slice() }));
        edit(ts);
        const p = join(dir, name);
        writeFileSync(p, encodeSafetensors(ts));
        return p;
      };
      const nan = save('nan.safetensors', (ts) => void (ts[0]!.data[7] = NaN)); // 0.weight [4, 3]: element 7 = [2, 1]
      await expect(Mlp.load(b, d, nan)).rejects.toThrow(/nan\.safetensors: 0\.weight: element 7 \[2, 1\] is NaN; weights must be finite/);
      const inf = save('inf.safetensors', (ts) => void (ts[3]!.data[1] = -Infinity)); // 2.bias
      await expect(Mlp.load(b, d, inf)).rejects.toThrow(/2\.bias: element 1 is -Infinity/);
      const m = Mlp.init(b, d, 2);
      const before = await m.toHost();
      await expect(m.loadWeights(nan)).rejects.toMatchObject({ code: 'E_VALUE' });
      expect(await m.toHost(), 'a refused load leaves the weights as they were').toEqual(before);
      // F16 infinity (0x7c00) in a half-precision file converts to Infinity and is refused the same way
      const header = JSON.stringify({ '0.weight': { dtype: 'F16', shape: [4, 3], data_offsets: [0, 24] }, '0.bias': { dtype: 'F32', shape: [4], data_offsets: [24, 40] }, '2.weight': { dtype: 'F32', shape: [2, 4], data_offsets: [40, 72] }, '2.bias': { dtype: 'F32', shape: [2], data_offsets: [72, 80] } });
      const body = Buffer.alloc(80);
      body.writeUInt16LE(0x7c00, 2 * 5);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(header.length));
      const f16 = join(dir, 'f16.safetensors');
      writeFileSync(f16, Buffer.concat([len, Buffer.from(header), body]));
      await expect(Mlp.load(b, d, f16)).rejects.toThrow(/0\.weight: element 5 \[1, 2\] is Infinity/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
