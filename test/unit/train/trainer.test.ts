import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { readNpy } from '../../../src/io/npy.js';
import { mlpDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { Rng } from '../../../src/model/rng.js';
import { accuracy, evaluateSamples } from '../../../src/train/evaluate.js';
import { optimizerConfig } from '../../../src/train/optimizer.js';
import { runTraining } from '../../../src/train/run.js';

/** Four Gaussian blobs in 2-D (separable), labels 0..3. */
function blobs(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const r = new Rng(seed);
  const centres = [
    [2, 2],
    [-2, 2],
    [-2, -2],
    [2, -2],
  ];
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    y[i] = c;
    x[2 * i] = centres[c]![0]! + 0.5 * (r.next() + r.next() + r.next() - 1.5);
    x[2 * i + 1] = centres[c]![1]! + 0.5 * (r.next() + r.next() + r.next() - 1.5);
  }
  return { x, y };
}

const idx = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

async function trainBlobs(seed: number, record = false, recordInit = false) {
  const b = new JsBackend();
  const tr = blobs(200, 1);
  const va = blobs(60, 2);
  const model = Mlp.init(b, mlpDescription(2, [16], 4, 'tanh'), seed);
  const run = await runTraining(
    model,
    { x: b.upload(tr.x, [200, 2]), labels: tr.y, indices: idx(200), count: 200 },
    { x: b.upload(va.x, [60, 2]), labels: va.y, indices: idx(60).map((i) => 1000 + i), count: 60 },
    { epochs: 5, batchSize: 16, optimizer: optimizerConfig('sgd', { lr: 0.1 }), schedule: { name: 'cosine', warmupSteps: 3 }, seed, record, recordInit },
  );
  return { b, model, run, tr, va };
}

describe('trainer', () => {
  it('reduces the loss and separates a separable problem', async () => {
    const { b, model, run, va } = await trainBlobs(7);
    expect(run.epochLoss).toHaveLength(5);
    expect(run.epochLoss[4]!).toBeLessThan(run.epochLoss[0]! / 3);
    expect(run.steps).toBe(5 * Math.ceil(200 / 16));
    const m = await evaluateSamples(model, b.upload(va.x, [60, 2]), va.y);
    expect(accuracy(m)).toBeGreaterThanOrEqual(0.98);
  });

  it('is deterministic: same seed ⇒ identical weights; other seed ⇒ different', async () => {
    const a = await (await trainBlobs(3)).model.toHost();
    const a2 = await (await trainBlobs(3)).model.toHost();
    const c = await (await trainBlobs(4)).model.toHost();
    expect(a.map((t) => Array.from(t.data))).toEqual(a2.map((t) => Array.from(t.data)));
    expect(Array.from(c[0]!.data)).not.toEqual(Array.from(a[0]!.data));
  });

  it('Adam and AdamW also train', async () => {
    for (const name of ['adam', 'adamw'] as const) {
      const b = new JsBackend();
      const tr = blobs(120, 5);
      const model = Mlp.init(b, mlpDescription(2, [8], 4, 'relu'), 1);
      const run = await runTraining(
        model,
        { x: b.upload(tr.x, [120, 2]), labels: tr.y, indices: idx(120), count: 120 },
        undefined,
        { epochs: 8, batchSize: 10, optimizer: optimizerConfig(name, { lr: 0.02 }), schedule: { name: 'linear', warmupSteps: 0 }, seed: 1 },
      );
      expect(run.epochLoss[7]!).toBeLessThan(run.epochLoss[0]! / 2);
    }
  });
});

describe('trajectory recorder', () => {
  it('writes [checkpoints, samples] arrays, labels, indices and a manifest', async () => {
    const { b, model, run, tr, va } = await trainBlobs(2, true, true);
    const rec = run.recorder!;
    expect(rec.checkpoints).toEqual(['init', 1, 2, 3, 4, 5]);
    const dir = join(mkdtempSync(join(tmpdir(), 'riverbed-rec-')), 'traj');
    const manifest = rec.write(dir, { dataset: 'blobs', seed: 2, backend: 'js' });
    const files = readdirSync(dir).sort();
    expect(files).toEqual(
      [
        'trajectory.json',
        ...['train', 'val'].flatMap((s) => ['loss', 'correct', 'margin', 'error_norm', 'labels', 'indices'].map((m) => `${s}_${m}.npy`)),
      ].sort(),
    );
    const json = JSON.parse(readFileSync(join(dir, 'trajectory.json'), 'utf8'));
    expect(json).toMatchObject({ format: 'riverbed.trajectory', version: 1, checkpoints: ['init', 1, 2, 3, 4, 5], epochs: 5, dataset: 'blobs', train: { samples: 200, numClasses: 4 }, val: { samples: 60 } });
    expect(manifest.files['train_correct.npy']!.dtype).toBe('uint8');
    const loss = await readNpy(join(dir, 'train_loss.npy'));
    expect(loss.dtype).toBe('f4');
    expect(loss.shape).toEqual([6, 200]);
    const correct = await readNpy(join(dir, 'val_correct.npy'));
    expect([correct.dtype, correct.shape]).toEqual(['u1', [6, 60]]);
    const labels = await readNpy(join(dir, 'val_labels.npy'));
    expect([labels.dtype, labels.shape]).toEqual(['i8', [60]]);
    expect(Number((labels.data as BigInt64Array)[3])).toBe(va.y[3]);
    const vidx = await readNpy(join(dir, 'val_indices.npy'));
    expect(Number((vidx.data as BigInt64Array)[5])).toBe(1005);

    // The last recorded row equals a direct forward pass of the final model.
    const direct = model.perSampleLoss(b.upload(tr.x, [200, 2]), b.uploadInt(tr.y, [200]));
    const want = await b.read(direct);
    const last = (loss.data as Float32Array).subarray(5 * 200, 6 * 200);
    expect(Array.from(last)).toEqual(Array.from(want));
    // Host metrics agree with the logits.
    const z = await b.read(model.forward(b.upload(tr.x, [200, 2])));
    const margin = (await readNpy(join(dir, 'train_margin.npy'))).data as Float32Array;
    const en = (await readNpy(join(dir, 'train_error_norm.npy'))).data as Float32Array;
    const cor = (await readNpy(join(dir, 'train_correct.npy'))).data as Uint8Array;
    for (const i of [0, 17, 199]) {
      const row = Array.from(z.subarray(4 * i, 4 * i + 4));
      const y = tr.y[i]!;
      const other = Math.max(...row.filter((_, j) => j !== y));
      expect(margin[5 * 200 + i]).toBeCloseTo(row[y]! - other, 5);
      expect(cor[5 * 200 + i]).toBe(row[y]! > other ? 1 : 0);
      const mx = Math.max(...row);
      const s = row.reduce((a, v) => a + Math.exp(v - mx), 0);
      const e = Math.sqrt(row.reduce((a, v, j) => a + (Math.exp(v - mx) / s - (j === y ? 1 : 0)) ** 2, 0));
      expect(en[5 * 200 + i]).toBeCloseTo(e, 5);
    }
    // Loss went down between init and the end for most samples.
    const l = loss.data as Float32Array;
    let down = 0;
    for (let i = 0; i < 200; i++) if (l[5 * 200 + i]! < l[i]!) down++;
    expect(down).toBeGreaterThan(180);
  });
});
