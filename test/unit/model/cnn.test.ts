/**
 * Convolutional model descriptions and the engine on the js backend: parsing with shape inference
 * and one-line errors naming the layer, PyTorch names/shapes/initialisation, safetensors round
 * trips, and the forward pass and gradients against a float64 host reference written from the
 * definitions (test/helpers/host-cnn.ts) and its central differences.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { RiverbedError } from '../../../src/errors.js';
import { writeSafetensors } from '../../../src/io/safetensors.js';
import {
  type ModelDescription,
  describeModel,
  inputShape,
  inputSize,
  isMlpDescription,
  layerShapes,
  parseModelDescription,
} from '../../../src/model/description.js';
import { Mlp, Sequential, parameterSpecs } from '../../../src/model/mlp.js';
import { describeArchitecture } from '../../../src/coreset/evaluate/report.js';
import { randomArray, randomInts } from '../../helpers/backends.js';
import { fdGradient, hostLogits, hostMeanLoss, hostParameterCount } from '../../helpers/host-cnn.js';

const cnn = (layers: Record<string, unknown>[], input: unknown = [1, 28, 28]) => ({ format: 'riverbed.model', version: 1, input, layers, loss: 'cross_entropy' });
/** The issue's CNN (examples/cnn.json). */
const ISSUE_CNN = [
  { type: 'conv2d', in: 1, out: 32, kernel: 3, padding: 1 },
  { type: 'relu' },
  { type: 'maxpool2d', kernel: 2 },
  { type: 'conv2d', in: 32, out: 64, kernel: 3, padding: 1 },
  { type: 'relu' },
  { type: 'maxpool2d', kernel: 2 },
  { type: 'flatten' },
  { type: 'linear', in: 3136, out: 128 },
  { type: 'relu' },
  { type: 'linear', in: 128, out: 10 },
];

describe('convolutional model descriptions', () => {
  it('infers every layer shape and names parameters like torch.nn.Sequential', () => {
    const d = parseModelDescription(cnn(ISSUE_CNN), 'cnn.json');
    expect(d.input).toEqual([1, 28, 28]);
    expect(layerShapes(d)).toEqual([[1, 28, 28], [32, 28, 28], [32, 28, 28], [32, 14, 14], [64, 14, 14], [64, 14, 14], [64, 7, 7], [3136], [128], [128], [10]]);
    expect(d.layers[0]).toEqual({ type: 'conv2d', in: 1, out: 32, kernel: [3, 3], stride: [1, 1], padding: [1, 1] });
    expect(d.layers[2]).toEqual({ type: 'maxpool2d', kernel: [2, 2], stride: [2, 2], padding: [0, 0] });
    expect(parameterSpecs(d).map((s) => [s.name, s.shape])).toEqual([
      ['0.weight', [32, 1, 3, 3]],
      ['0.bias', [32]],
      ['3.weight', [64, 32, 3, 3]],
      ['3.bias', [64]],
      ['7.weight', [128, 3136]],
      ['7.bias', [128]],
      ['9.weight', [10, 128]],
      ['9.bias', [10]],
    ]);
    // torch: sum(p.numel() for p in model.parameters()) of the same Sequential
    expect(hostParameterCount(d)).toBe(32 * 9 + 32 + 64 * 32 * 9 + 64 + 3136 * 128 + 128 + 1290);
    expect(inputSize(d)).toBe(784);
    expect(isMlpDescription(d)).toBe(false);
    expect(describeModel(d)).toBe('1x28x28-conv32k3p1(relu)-maxpool2-conv64k3p1(relu)-maxpool2-flatten-128(relu)-10');
  });

  it('takes [h, w] pairs, strides, padding, avg pooling and bias-less convolutions', () => {
    const d = parseModelDescription(
      cnn(
        [
          { type: 'conv2d', in: 3, out: 4, kernel: [3, 5], stride: [2, 1], padding: [0, 2], bias: false },
          { type: 'tanh' },
          { type: 'avgpool2d', kernel: 3, stride: 2, padding: 1 },
          { type: 'flatten' },
          { type: 'linear', in: 40, out: 3 },
        ],
        [3, 9, 10],
      ),
    );
    // conv: ⌊(9−3)/2⌋+1 = 4, ⌊(10+4−5)/1⌋+1 = 10; avg pool: ⌊(4+2−3)/2⌋+1 = 2, ⌊(10+2−3)/2⌋+1 = 5
    expect(layerShapes(d)).toEqual([[3, 9, 10], [4, 4, 10], [4, 4, 10], [4, 2, 5], [40], [3]]);
    expect(parameterSpecs(d).map((s) => s.name)).toEqual(['0.weight', '4.weight', '4.bias']);
    expect(describeModel(d)).toBe('3x9x10-conv4k3x5s2x1p0x2(tanh)-avgpool3s2p1-flatten-3');
  });

  it('refuses bad layers with one line naming the file, the layer and the field', () => {
    const conv = (o: Record<string, unknown> = {}) => ({ type: 'conv2d', in: 1, out: 4, kernel: 3, ...o });
    const tail = [{ type: 'flatten' }, { type: 'linear', in: 4 * 26 * 26, out: 10 }];
    const cases: [unknown, RegExp][] = [
      // a conv whose output would be ≤ 0
      [cnn([conv({ kernel: 5 }), ...tail], [1, 4, 4]), /^m\.json: layers\[0\]\.kernel: \(conv2d\) output would be 0×0: input 4×4 from "input", kernel 5×5, padding 0×0, stride 1×1$/],
      [cnn([conv(), { type: 'maxpool2d', kernel: 2 }, conv({ in: 4, kernel: [15, 13] }), ...tail]), /^m\.json: layers\[2\]\.kernel: \(conv2d\) output would be -1×1: input 13×13 from layers\[1\] \(maxpool2d\), kernel 15×13, padding 0×0, stride 1×1$/],
      [cnn([conv(), { type: 'maxpool2d', kernel: 2 }, { type: 'maxpool2d', kernel: 2 }, { type: 'maxpool2d', kernel: 2 }, { type: 'maxpool2d', kernel: 2 }, { type: 'maxpool2d', kernel: 2 }, ...tail]), /^m\.json: layers\[5\]\.kernel: \(maxpool2d\) output would be 0×0: input 1×1 from layers\[4\] \(maxpool2d\)/],
      // channels that do not chain
      [cnn([conv(), { type: 'relu' }, { type: 'avgpool2d', kernel: 2 }, conv({ in: 3 }), ...tail]), /^m\.json: layers\[3\]\.in: \(conv2d\) expected 4 channels to match layers\[0\]\.out, got 3$/],
      [cnn([conv(), conv({ in: 3 }), ...tail]), /^m\.json: layers\[1\]\.in: \(conv2d\) expected 4 channels to match layers\[0\]\.out, got 3$/],
      [cnn([conv({ in: 3 }), ...tail]), /^m\.json: layers\[0\]\.in: \(conv2d\) expected 1 channels to match "input", got 3$/],
      // a flatten size that disagrees with the next linear layer
      [cnn([conv(), { type: 'flatten' }, { type: 'linear', in: 2000, out: 10 }]), /^m\.json: layers\[2\]\.in: expected 2704 to match the flattened \[4, 26, 26\] of layers\[1\], got 2000$/],
      [cnn([conv(), { type: 'linear', in: 2704, out: 10 }]), /^m\.json: layers\[1\]\.type: \(linear\) takes \[features\] per sample, but layers\[0\] \(conv2d\) gives \[4, 26, 26\]; put a \{"type": "flatten"\} layer before it$/],
      [cnn([{ type: 'linear', in: 784, out: 10 }]), /layers\[0\]\.type: \(linear\) takes \[features\] per sample, but "input" gives \[1, 28, 28\]/],
      // image layers need an image
      [{ ...cnn([conv(), ...tail]), input: undefined }, /^m\.json: layers\[0\]\.type: \(conv2d\) needs the model's "input": \[channels, height, width\]$/],
      [cnn([{ type: 'flatten' }, { type: 'linear', in: 784, out: 16 }, conv(), ...tail]), /^m\.json: layers\[2\]\.type: \(conv2d\) takes \[channels, height, width\] per sample, but layers\[1\]\.out gives \[16\]$/],
      // malformed fields
      [cnn([conv({ kernel: 0 }), ...tail]), /^m\.json: layers\[0\]\.kernel: \(conv2d\) expected an integer ≥ 1 or \[height, width\] of them, got 0$/],
      [cnn([conv({ kernel: [3] }), ...tail]), /layers\[0\]\.kernel: \(conv2d\) expected an integer ≥ 1 or \[height, width\]/],
      [cnn([conv({ stride: 1.5 }), ...tail]), /layers\[0\]\.stride: \(conv2d\) expected an integer ≥ 1/],
      [cnn([conv({ padding: -1 }), ...tail]), /layers\[0\]\.padding: \(conv2d\) expected an integer ≥ 0/],
      [cnn([conv({ out: 0 }), ...tail]), /layers\[0\]\.out: \(conv2d\) expected a positive integer, got 0/],
      [cnn([conv({ bias: 1 }), ...tail]), /layers\[0\]\.bias: \(conv2d\) expected true or false, got 1/],
      [cnn([conv(), { type: 'maxpool2d', kernel: 2, padding: 2 }, ...tail]), /^m\.json: layers\[1\]\.padding: \(maxpool2d\) padding 2×2 must be at most half the kernel 2×2$/],
      [cnn([conv(), ...tail], [1, 28]), /^m\.json: input: expected \[channels, height, width\] \(or \[features\]\) of positive integers, got \[1,28\]$/],
      [cnn([conv(), ...tail], [1, 0, 28]), /^m\.json: input: expected \[channels, height, width\]/],
    ];
    expect(parseModelDescription(cnn([conv(), { type: 'flatten' }, { type: 'linear', in: 2704, out: 10 }])).layers).toHaveLength(3);
    for (const [value, re] of cases) {
      let err: unknown;
      try {
        parseModelDescription(value, 'm.json');
      } catch (e) {
        err = e;
      }
      expect(err, String(re)).toBeInstanceOf(RiverbedError);
      expect((err as RiverbedError).code).toBe('E_MODEL');
      expect((err as Error).message).not.toContain('\n');
      expect((err as Error).message).toMatch(re);
    }
  });

  it('keeps MLP descriptions as they were, with or without an input shape', () => {
    const mlp = parseModelDescription({ format: 'riverbed.model', version: 1, layers: [{ type: 'linear', in: 784, out: 10 }] });
    expect(mlp.input).toBeUndefined();
    expect(isMlpDescription(mlp)).toBe(true);
    expect(inputShape(mlp)).toEqual([784]);
    const flat = parseModelDescription(cnn([{ type: 'flatten' }, { type: 'linear', in: 784, out: 10 }]));
    expect(isMlpDescription(flat)).toBe(false);
    expect(describeModel(flat)).toBe('1x28x28-flatten-10');
    // reports call an MLP an MLP, and nothing else
    expect(describeArchitecture({ model: mlp } as never)).toBe('784-10 MLP');
    expect(describeArchitecture({ model: flat } as never)).toBe('1x28x28-flatten-10');
    expect(inputSize(flat)).toBe(784);
  });
});

/** A small CNN exercising every layer kind: stride 2, padding, max and avg pooling, flatten. */
const SMALL: Record<string, unknown>[] = [
  { type: 'conv2d', in: 2, out: 3, kernel: 3, padding: 1 },
  { type: 'tanh' },
  { type: 'maxpool2d', kernel: 2 },
  { type: 'conv2d', in: 3, out: 2, kernel: [2, 3], stride: [1, 2], padding: [1, 0], bias: false },
  { type: 'gelu' },
  { type: 'avgpool2d', kernel: 2, stride: 1, padding: 1 },
  { type: 'flatten' },
  { type: 'linear', in: 2 * 5 * 2, out: 4 },
];
const SMALL_INPUT = [2, 7, 6];

const js = new JsBackend();

async function hostTheta(model: Mlp): Promise<Float64Array> {
  const parts = await model.toHost();
  return Float64Array.from(parts.flatMap((t) => Array.from(t.data)));
}

describe('a CNN on the js backend against a float64 host reference', () => {
  const d: ModelDescription = parseModelDescription(cnn(SMALL, SMALL_INPUT));
  const B = 3;
  const D = inputSize(d);

  it('has the shapes the layers imply', () => {
    expect(layerShapes(d)).toEqual([[2, 7, 6], [3, 7, 6], [3, 7, 6], [3, 3, 3], [2, 4, 1], [2, 4, 1], [2, 5, 2], [20], [4]]);
  });

  it('forward: logits equal the direct float64 computation, from rows or from [N, C, H, W]', async () => {
    const model = Mlp.init(js, d, 3);
    const theta = await hostTheta(model);
    const x = randomArray(B * D, 11, -2, 2);
    const want = hostLogits(d, theta, Float64Array.from(x), B);
    for (const shape of [[B, D], [B, ...SMALL_INPUT]]) {
      const xt = js.upload(x, shape);
      const z = model.forward(xt);
      expect(z.shape).toEqual([B, 4]);
      const got = await js.read(z);
      for (let k = 0; k < want.length; k++) expect(got[k]).toBeCloseTo(want[k]!, 5);
    }
    expect(() => model.forward(js.upload(x, [B, 2, 6, 7]))).toThrow(/inputs have shape \[3, 2, 6, 7\]; expected \[batch, 84\] or \[batch, 2, 7, 6\]/);
    expect(() => model.forward(js.upload(x.subarray(0, B * 80), [B, 80]))).toThrow(/expected \[batch, 84\]/);
  });

  it('gradients equal central differences of the float64 loss (relu and tanh)', async () => {
    for (const act of ['tanh', 'relu']) {
      const dd = parseModelDescription(cnn(SMALL.map((l) => (l.type === 'tanh' ? { type: act } : l)), SMALL_INPUT));
      const base = Mlp.init(js, dd, 5);
      // Larger weights: every layer works away from its linear regime.
      const model = Mlp.fromHost(js, dd, new Map((await base.toHost()).map((t) => [t.name, t.data.map((v) => v * 2)])));
      const theta = await hostTheta(model);
      const x = randomArray(B * D, 21, -2, 2);
      const y = randomInts(B, 22, 4);
      const { loss, grads } = model.lossAndGradients(js.upload(x, [B, D]), js.uploadInt(y, [B]));
      const perSample = await js.read(loss);
      const x64 = Float64Array.from(x);
      expect(perSample.reduce((a, v) => a + v, 0) / B).toBeCloseTo(hostMeanLoss(dd, theta, x64, y, B), 5);
      const fd = fdGradient(dd, theta, x64, y, B);
      const got = (await Promise.all(grads.map((g) => js.read(g)))).flatMap((a) => Array.from(a));
      expect(got.length).toBe(theta.length);
      let scale = 0;
      for (const v of fd) scale = Math.max(scale, Math.abs(v));
      for (let k = 0; k < fd.length; k++) expect(Math.abs(got[k]! - fd[k]!), `${act} parameter ${k}: ${got[k]} vs ${fd[k]}`).toBeLessThan(1e-5 * scale + 1e-4 * Math.abs(fd[k]!));
      expect(grads.map((g) => g.shape)).toEqual(model.params.map((p) => p.shape));
    }
  });

  it('perSampleLoss equals the host losses and Sequential is the same class', async () => {
    expect(Sequential).toBe(Mlp);
    const model = Sequential.init(js, d, 8);
    const theta = await hostTheta(model);
    const x = randomArray(B * D, 31, -2, 2);
    const y = randomInts(B, 32, 4);
    const loss = await js.read(model.perSampleLoss(js.upload(x, [B, D]), js.uploadInt(y, [B])));
    for (let n = 0; n < B; n++) {
      expect(loss[n]).toBeCloseTo(hostMeanLoss(d, theta, Float64Array.from(x.subarray(n * D, (n + 1) * D)), y.subarray(n, n + 1), 1), 5);
    }
  });
});

describe('CNN weights', () => {
  const dir = mkdtempSync(join(tmpdir(), 'riverbed-cnn-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const d = parseModelDescription(cnn(ISSUE_CNN));

  it("initialises like PyTorch's Conv2d/Linear: U(±1/√fan_in), fan_in = in·kh·kw", async () => {
    const model = Mlp.init(js, d, 0);
    const host = await model.toHost();
    const fan: Record<string, number> = { '0': 9, '3': 32 * 9, '7': 3136, '9': 128 };
    for (const t of host) {
      const bound = 1 / Math.sqrt(fan[t.name.split('.')[0]!]!);
      let mx = 0;
      let sq = 0;
      for (const v of t.data) {
        mx = Math.max(mx, Math.abs(v));
        sq += v * v;
      }
      expect(mx, t.name).toBeLessThanOrEqual(bound);
      // the largest of n uniforms reaches the bound to within ~bound/n; the variance of U(±b) is b²/3
      expect(mx, t.name).toBeGreaterThan(bound * (1 - 20 / t.data.length));
      if (t.data.length >= 1000) expect(sq / t.data.length / (bound * bound / 3), t.name).toBeCloseTo(1, 1);
    }
    // same seed ⇒ same weights; another seed ⇒ others
    const again = await Mlp.init(js, d, 0).toHost();
    expect(again[2]!.data).toEqual(host[2]!.data);
    expect((await Mlp.init(js, d, 1).toHost())[2]!.data).not.toEqual(host[2]!.data);
  });

  it('round-trips through safetensors with PyTorch names and shapes, also under a prefix', async () => {
    const model = Mlp.init(js, d, 4);
    const path = join(dir, 'w.safetensors');
    await model.save(path);
    const back = await Mlp.load(js, d, path);
    const a = await model.toHost();
    const b = await back.toHost();
    expect(b.map((t) => [t.name, t.shape])).toEqual(a.map((t) => [t.name, t.shape]));
    for (let k = 0; k < a.length; k++) expect(b[k]!.data).toEqual(a[k]!.data);
    // a torch state_dict of nn.Sequential held as `model` in a module
    const prefixed = join(dir, 'torch.safetensors');
    await writeSafetensors(prefixed, a.map((t) => ({ ...t, name: `model.${t.name}` })));
    const fromTorch = await Mlp.load(js, d, prefixed);
    expect((await fromTorch.toHost())[2]!.data).toEqual(a[2]!.data);
  });

  it('refuses conv weights of the wrong 4-D shape and non-finite values, naming the tensor and the layer', async () => {
    const a = await Mlp.init(js, d, 4).toHost();
    const wrong = join(dir, 'wrong.safetensors');
    await writeSafetensors(wrong, a.map((t) => (t.name === '3.weight' ? { ...t, shape: [64, 32, 9, 1] } : t)));
    await expect(Mlp.load(js, d, wrong)).rejects.toThrow(/^[^\n]*wrong\.safetensors: 3\.weight: has shape \[64, 32, 9, 1\]; expected \[64, 32, 3, 3\] for layers\[3\] \(conv2d: \[out, in, kh, kw\]\)$/);
    const transposed = join(dir, 'hwio.safetensors');
    await writeSafetensors(transposed, a.map((t) => (t.name === '0.weight' ? { ...t, shape: [3, 3, 1, 32] } : t)));
    await expect(Mlp.load(js, d, transposed)).rejects.toMatchObject({ code: 'E_MODEL', field: '0.weight' });
    const nan = join(dir, 'nan.safetensors');
    await writeSafetensors(nan, a.map((t) => (t.name === '3.weight' ? { ...t, data: Float32Array.from(t.data, (v, k) => (k === 32 * 9 + 4 ? NaN : v)) } : t)));
    await expect(Mlp.load(js, d, nan)).rejects.toThrow(/nan\.safetensors: 3\.weight: element 292 \[1, 0, 1, 1\] is NaN; weights must be finite$/);
  });
});
