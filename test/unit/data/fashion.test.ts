import { describe, expect, it } from 'vitest';
import { RiverbedError } from '../../../src/errors.js';
import { FASHION_MEAN, FASHION_STD, fashionTestRows, loadFashionMnist, parseClothesJson } from '../../../src/data/fashion.js';

describe('Fashion-MNIST from the fashion-mnist package', () => {
  it('splits 70 000 images into a fixed stratified test split and a seeded train/val split', async () => {
    const s = await loadFashionMnist({ seed: 1 });
    expect([s.train.count, s.val.count, s.test.count]).toEqual([50_000, 10_000, 10_000]);
    for (const d of [s.train, s.val, s.test]) {
      expect(d.features).toBe(784);
      expect(d.inputs.length).toBe(d.count * 784);
    }
    // labels 0..9, 7 000 images per class, test split exactly 1000 per class
    const total = new Array(10).fill(0);
    for (const d of [s.train, s.val, s.test]) for (const y of d.labels) total[y]++;
    expect(total).toEqual(new Array(10).fill(7000));
    const perClass = new Array(10).fill(0);
    for (const y of s.test.labels) perClass[y]++;
    expect(perClass).toEqual(new Array(10).fill(1000));
    for (const d of [s.train, s.val]) for (const y of d.labels) expect(y >= 0 && y <= 9).toBe(true);
    // disjoint, covering all 70 000 originals
    const all = new Set([...s.train.indices, ...s.val.indices, ...s.test.indices]);
    expect(all.size).toBe(70_000);
    // normalisation: pixel 0 → −mean/std, 255 → (1 − mean)/std, both present
    let mn = Infinity;
    let mx = -Infinity;
    for (const v of s.test.inputs) {
      mn = Math.min(mn, v);
      mx = Math.max(mx, v);
    }
    expect(mn).toBeCloseTo(-FASHION_MEAN / FASHION_STD, 5);
    expect(mx).toBeCloseTo((1 - FASHION_MEAN) / FASHION_STD, 5);
    // deterministic: the test split ignores the seed; the same seed gives the same train/val
    const again = await loadFashionMnist({ seed: 1, trainSize: 1000, valSize: 500, testSize: 2000 });
    expect(Array.from(again.test.indices)).toEqual(Array.from(s.test.indices.subarray(0, 2000)));
    const bigVal = new Set(s.val.indices);
    expect(Array.from(again.val.indices).every((i) => bigVal.has(i))).toBe(true);
    const other = await loadFashionMnist({ seed: 2, trainSize: 1000, valSize: 500 });
    expect(Array.from(other.test.indices)).toEqual(Array.from(s.test.indices));
    expect(Array.from(other.val.indices)).not.toEqual(Array.from(again.val.indices));
    // the same image gives the same row: train row 0 of `again` is in `s` under the same index
    const idx = again.train.indices[0]!;
    const where = Array.from(s.train.indices).indexOf(idx);
    const src = where >= 0 ? s.train : s.val;
    const row = where >= 0 ? where : Array.from(s.val.indices).indexOf(idx);
    expect(Array.from(again.train.inputs.subarray(0, 784))).toEqual(Array.from(src.inputs.subarray(row * 784, row * 784 + 784)));
  });

  it('parses the JSON rows strictly (784 integers 0..255 per row)', () => {
    const row = (v: number) => `[${new Array(784).fill(v).join(',')}]`;
    const ok = parseClothesJson(Buffer.from(`{"data": [${row(0)}, [], ${row(255)}]}`), 'x.json');
    expect(ok.rows).toBe(2);
    expect(ok.emptyRows).toBe(1);
    expect(ok.pixels[783]).toBe(0);
    expect(ok.pixels[784]).toBe(255);
    const bad = [`{"data":[${row(256)}]}`, `{"data":[[1,2,3]]}`, `{"nodata":[]}`, `{"data":[${row(1)}`, `{"data":[${row(1).replace('1', '-1')}]}`];
    for (const text of bad) {
      expect(() => parseClothesJson(Buffer.from(text), 'x.json')).toThrow(RiverbedError);
    }
  });

  it('test rows are fixed per class and drawn from each class', () => {
    const labels = Int32Array.from({ length: 12_000 }, (_, i) => i % 10);
    const a = fashionTestRows(labels, 5);
    expect(a.length).toBe(50);
    expect(Array.from(fashionTestRows(labels, 5))).toEqual(Array.from(a));
    const per = new Array(10).fill(0);
    for (const r of a) per[labels[r]!]++;
    expect(per).toEqual(new Array(10).fill(5));
  });
});
