import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModelDescription, mlpDescription, parseModelDescription } from '../../../src/model/description.js';
import { parameterSpecs } from '../../../src/model/mlp.js';

const base = () => ({
  format: 'riverbed.model',
  version: 1,
  layers: [{ type: 'linear', in: 784, out: 128 }, { type: 'relu' }, { type: 'linear', in: 128, out: 10 }] as Record<string, unknown>[],
  loss: 'cross_entropy',
});

describe('model description', () => {
  it('accepts the documented example and names parameters like torch.nn.Sequential', () => {
    const d = parseModelDescription(base(), 'm.json');
    expect(d.layers).toHaveLength(3);
    expect(parameterSpecs(d)).toEqual([
      { name: '0.weight', shape: [128, 784], layer: 0, kind: 'weight' },
      { name: '0.bias', shape: [128], layer: 0, kind: 'bias' },
      { name: '2.weight', shape: [10, 128], layer: 2, kind: 'weight' },
      { name: '2.bias', shape: [10], layer: 2, kind: 'bias' },
    ]);
    expect(mlpDescription(4, [8, 6], 3, 'gelu').layers.map((l) => l.type)).toEqual(['linear', 'gelu', 'linear', 'gelu', 'linear']);
  });

  it('names the file and layers[i].field in every error', () => {
    const cases: [(v: ReturnType<typeof base>) => void, RegExp][] = [
      [(v) => (v.format = 'torch'), /m\.json: format: expected "riverbed\.model"/],
      [(v) => (v.version = 2), /m\.json: version: expected 1, got 2/],
      [(v) => (v.loss = 'mse'), /m\.json: loss: expected "cross_entropy"/],
      [(v) => (v.layers = []), /m\.json: layers: expected a non-empty array/],
      [(v) => (v.layers[1] = { type: 'softplus' }), /m\.json: layers\[1\]\.type: expected one of linear, conv2d, maxpool2d, avgpool2d, flatten, relu, tanh, sigmoid, gelu; got "softplus"/],
      [(v) => (v.layers[0]!.out = 0), /m\.json: layers\[0\]\.out: expected a positive integer, got 0/],
      [(v) => (v.layers[0]!.in = 1.5), /layers\[0\]\.in: expected a positive integer, got 1\.5/],
      [(v) => (v.layers[2]!.in = 64), /m\.json: layers\[2\]\.in: expected 128 to match layers\[0\]\.out, got 64/],
      [(v) => v.layers.push({ type: 'relu' }), /layers\[3\]\.type: the last layer must be linear/],
      [(v) => (v.layers[2]!.out = 1), /layers\[2\]\.out: cross_entropy needs at least 2 classes/],
      [(v) => (v.layers[0]!.bias = 'yes'), /layers\[0\]\.bias: expected true or false/],
    ];
    for (const [mutate, re] of cases) {
      const v = base();
      mutate(v);
      expect(() => parseModelDescription(v, 'm.json')).toThrow(re);
    }
    expect(() => parseModelDescription([], 'm.json')).toThrow(/must be a JSON object/);
  });

  it('reports a missing or malformed file', async () => {
    await expect(loadModelDescription('/nonexistent/m.json')).rejects.toMatchObject({ code: 'E_FILE' });
    const dir = mkdtempSync(join(tmpdir(), 'riverbed-desc-'));
    const p = join(dir, 'm.json');
    writeFileSync(p, '{"format": "riverbed.model",');
    await expect(loadModelDescription(p)).rejects.toMatchObject({ code: 'E_FORMAT', file: p });
    writeFileSync(p, JSON.stringify(base()));
    expect((await loadModelDescription(p)).layers[0]).toEqual({ type: 'linear', in: 784, out: 128 });
  });
});
