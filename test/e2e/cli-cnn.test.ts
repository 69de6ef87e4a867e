/**
 * Convolutional models through the built CLI (npm test builds first): `train --model cnn.json` on
 * the bundled digits and on [N, C, H, W] .npy images, `hvp` and `hessian` on a small CNN against
 * the library's products and a dense eigen-solve, `coreset evaluate --model` and `demo --model`,
 * and one-line refusals of models that do not fit the data.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../src/backends/js/index.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { readSafetensors } from '../../src/io/safetensors.js';
import { exampleCnnDescription, parseModelDescription } from '../../src/model/description.js';
import { CurvatureProduct } from '../../src/model/hvp.js';
import { Mlp } from '../../src/model/mlp.js';
import { jacobiEigen } from '../helpers/dense.js';
import { randomArray, randomInts } from '../helpers/backends.js';
import { cliTempDir, expectCleanFailure, riverbed } from '../helpers/cli-run.js';

/** A small CNN on the digits: every layer kind, a few thousand parameters (quick on js). */
const DIGITS_CNN = {
  format: 'riverbed.model',
  version: 1,
  input: [1, 28, 28],
  layers: [
    { type: 'conv2d', in: 1, out: 4, kernel: 5, stride: 2, padding: 2 },
    { type: 'relu' },
    { type: 'maxpool2d', kernel: 2 },
    { type: 'flatten' },
    { type: 'linear', in: 4 * 7 * 7, out: 10 },
  ],
  loss: 'cross_entropy',
};
/** A tiny CNN on 6×5 two-channel images, for the curvature commands (dense truths stay cheap). */
const TINY = parseModelDescription({
  format: 'riverbed.model',
  version: 1,
  input: [2, 6, 5],
  layers: [
    { type: 'conv2d', in: 2, out: 3, kernel: 3, padding: 1 },
    { type: 'tanh' },
    { type: 'avgpool2d', kernel: 2 },
    { type: 'conv2d', in: 3, out: 2, kernel: 2 },
    { type: 'tanh' },
    { type: 'flatten' },
    { type: 'linear', in: 4, out: 3 },
  ],
  loss: 'cross_entropy',
});
const N = 12;

let dir: string;
beforeAll(async () => {
  dir = cliTempDir('cnn');
  writeFileSync(join(dir, 'digits-cnn.json'), JSON.stringify(DIGITS_CNN));
  writeFileSync(join(dir, 'tiny.json'), JSON.stringify(TINY));
  writeNpy(join(dir, 'x4.npy'), randomArray(N * 60, 7, -2, 2), [N, 2, 6, 5]);
  writeNpy(join(dir, 'y.npy'), randomInts(N, 8, 3), [N], { dtype: 'i8' });
  const js = new JsBackend();
  const base = await Mlp.init(js, TINY, 3).toHost();
  // Larger weights than the default: the tanh layers bend, the Hessian is far from the GGN.
  const m = Mlp.fromHost(js, TINY, new Map(base.map((t) => [t.name, t.data.map((v) => v * 3)])));
  await m.save(join(dir, 'tiny.safetensors'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('CNNs through the CLI', () => {
  it('examples/cnn.json is the CNN of the issue (the one `demo --model cnn` trains)', () => {
    const file = parseModelDescription(JSON.parse(readFileSync(resolve('examples/cnn.json'), 'utf8')));
    expect(file).toEqual(exampleCnnDescription(10));
  });

  it('train --model cnn.json on the digits: the loss falls, weights saved with PyTorch names, trajectories recorded', async () => {
    const w = join(dir, 'digits.safetensors');
    const rec = join(dir, 'traj');
    const r = riverbed('train', '--dataset', 'mnist', '--train-size', '600', '--val-size', '200', '--model', join(dir, 'digits-cnn.json'), '--epochs', '3',
      '--batch-size', '32', '--lr', '0.05', '--backend', 'js', '--save', w, '--record', rec, '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.model.input).toEqual([1, 28, 28]);
    expect(s.parameters).toBe(4 * 25 + 4 + 196 * 10 + 10);
    expect(s.epochLoss[2]).toBeLessThan(0.7 * s.epochLoss[0]);
    expect(s.val.accuracy).toBeGreaterThan(0.7);
    const st = await readSafetensors(w);
    expect([...st.tensors.entries()].map(([k, t]) => [k, t.shape])).toEqual([
      ['0.weight', [4, 1, 5, 5]],
      ['0.bias', [4]],
      ['4.weight', [10, 196]],
      ['4.bias', [10]],
    ]);
    const m = JSON.parse(readFileSync(join(rec, 'trajectory.json'), 'utf8'));
    expect(m).toMatchObject({ checkpoints: [1, 2, 3], train: { samples: 600 }, val: { samples: 200 } });
  });

  it('train --inputs [N, C, H, W] images; models that do not fit the data are one line', () => {
    const tiny = join(dir, 'tiny.json');
    const ok = riverbed('train', '--inputs', join(dir, 'x4.npy'), '--labels', join(dir, 'y.npy'), '--model', tiny, '--epochs', '2', '--batch-size', '4', '--backend', 'js', '--json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).epochLoss).toHaveLength(2);
    // the same images under another [C, H, W]
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ ...TINY, input: [2, 5, 6] }));
    expectCleanFailure(riverbed('train', '--inputs', join(dir, 'x4.npy'), '--labels', join(dir, 'y.npy'), '--model', other, '--backend', 'js'), 'E_MODEL', 'other.json', 'input', '[2, 5, 6]', '[2, 6, 5]');
    // a CNN whose input is not the digits' [1, 28, 28]; rows of another size
    expectCleanFailure(riverbed('train', '--dataset', 'mnist', '--train-size', '100', '--model', tiny, '--backend', 'js'), 'E_MODEL', 'tiny.json: input: the model\'s "input" is [2, 6, 5] but the data are [1, 28, 28] per sample');
    const rows = join(dir, 'rows.npy');
    writeNpy(rows, randomArray(N * 50, 3), [N, 50]);
    expectCleanFailure(riverbed('train', '--inputs', rows, '--labels', join(dir, 'y.npy'), '--model', tiny, '--backend', 'js'), 'E_MODEL', 'tiny.json: input: the model takes 60 inputs ("input": [2, 6, 5]) but the data have 50 features');
    // a bad layer stops before any data are read
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...DIGITS_CNN, layers: [DIGITS_CNN.layers[0], { type: 'flatten' }, { type: 'linear', in: 100, out: 10 }] }));
    expectCleanFailure(riverbed('train', '--dataset', 'mnist', '--model', bad, '--backend', 'js'), 'E_MODEL', 'bad.json: layers[2].in', 'expected 784 to match the flattened [4, 14, 14] of layers[1], got 100');
  });

  it('hvp and hessian on a CNN equal the library products and the dense spectrum', async () => {
    const v = randomArray(101, 9);
    const files = ['--model', join(dir, 'tiny.json'), '--weights', join(dir, 'tiny.safetensors'), '--inputs', join(dir, 'x4.npy'), '--labels', join(dir, 'y.npy'), '--backend', 'js'];
    const js = new JsBackend();
    const model = await Mlp.load(js, TINY, join(dir, 'tiny.safetensors'));
    expect(model.parameterCount).toBe(2 * 3 * 9 + 3 + 3 * 2 * 4 + 2 + 4 * 3 + 3);
    const P = model.parameterCount;
    writeNpy(join(dir, 'v.npy'), v.subarray(0, P), [P]);
    const hvPath = join(dir, 'hv.npy');
    const r = riverbed('hvp', ...files, '--vector', join(dir, 'v.npy'), '--out', hvPath, '--batch-size', '5', '--json');
    expect(r.code, r.stderr).toBe(0);
    const x = await readNpy(join(dir, 'x4.npy'));
    const y = await readNpy(join(dir, 'y.npy'));
    const batch = { x: js.upload(Float32Array.from(x.data as Float32Array), [N, 2, 6, 5]), labels: js.uploadInt(Int32Array.from(y.data as ArrayLike<number>, Number), [N]) };
    const op = new CurvatureProduct(model, [batch]);
    const want = await js.read(op.apply(js.upload(v.subarray(0, P), [P])));
    const got = (await readNpy(hvPath)).data as Float32Array;
    for (let k = 0; k < P; k++) expect(Math.abs(got[k]! - want[k]!)).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(want[k]!));

    // the dense Hessian from P products, its extreme eigenvalues by Jacobi
    const H = new Float64Array(P * P);
    for (let j = 0; j < P; j++) {
      const e = new Float32Array(P);
      e[j] = 1;
      const col = await js.read(op.apply(js.upload(e, [P])));
      for (let i = 0; i < P; i++) H[i * P + j] = col[i]!;
    }
    for (let i = 0; i < P; i++) for (let j = 0; j < i; j++) H[i * P + j] = H[j * P + i] = (H[i * P + j]! + H[j * P + i]!) / 2;
    const { values } = jacobiEigen(H, P);
    const h = riverbed('hessian', ...files, '--top-k', '2', '--bottom-k', '1', '--json');
    expect(h.code, h.stderr).toBe(0);
    const rep = JSON.parse(h.stdout);
    const top = [values[P - 1]!, values[P - 2]!];
    expect(rep.eigenvalues[0]).toBeCloseTo(top[0]!, 4);
    expect(rep.eigenvalues[1]).toBeCloseTo(top[1]!, 4);
    expect(rep.eigenvalues[2]).toBeCloseTo(values[0]!, 4);
    expect(values[0]).toBeLessThan(0); // tanh layers: the Hessian is indefinite here, which the GGN never is

    // --layer names a conv layer; a pooling layer is refused in one line
    const block = riverbed('hessian', ...files, '--top-k', '1', '--layer', '3', '--json');
    expect(block.code, block.stderr).toBe(0);
    expectCleanFailure(riverbed('hessian', ...files, '--layer', '2', '--json'), 'E_ARG', '"2" is not a linear or conv2d layer of the model; expected one of "0", "3", "6"');
  });

  it('coreset evaluate --model retrains the CNN on every coreset', () => {
    const r = riverbed('coreset', 'evaluate', '--dataset', 'mnist', '--train-size', '300', '--val-size', '100', '--test-size', '200', '--model', join(dir, 'digits-cnn.json'),
      '--methods', 'random,cld', '--fractions', '0.2', '--seeds', '1', '--epochs', '3', '--retrain-epochs', '3', '--batch-size', '32', '--backend', 'js', '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.source.model.input).toEqual([1, 28, 28]);
    expect(s.manifest.parameters).toMatchObject({ hidden: null, model: join(dir, 'digits-cnn.json') });
    expect(s.source.cells.map((c: { method: string }) => c.method)).toEqual(['random', 'cld']);
    expect(s.source.full.accuracy[0]).toBeGreaterThan(0.5);
    expectCleanFailure(riverbed('coreset', 'evaluate', '--dataset', 'mnist', '--model', join(dir, 'digits-cnn.json'), '--hidden', '64'), 'E_ARG', '--model', 'either --hidden or --model');
  });

  it('demo --model trains, selects and retrains a CNN', () => {
    const r = riverbed('demo', '--model', join(dir, 'digits-cnn.json'), '--train-size', '200', '--epochs', '3', '--retrain-epochs', '2', '--batch-size', '16', '--backend', 'js', '--json');
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.model).toBe('1x28x28-conv4k5s2p2(relu)-maxpool2-flatten-10');
    expect(s.testAccuracy.full).toBeGreaterThan(0.5);
    expectCleanFailure(riverbed('demo', '--model', 'cnn', '--hidden', '64'), 'E_ARG', '--hidden', '--model cnn');
    expectCleanFailure(riverbed('demo', '--model', join(dir, 'tiny.json'), '--backend', 'js'), 'E_MODEL', 'tiny.json: input', 'MNIST digits are [1, 28, 28]');
  });
});
