/** Sizes that cannot fit: the estimates, the limits and the one-line refusals (cli/resources.ts). */
import { describe, expect, it } from 'vitest';
import {
  type MemoryLimits,
  formatBytes,
  memoryLimits,
  requireDenseClasses,
  requireDensityFits,
  requireErrorBarsFit,
  requireFits,
  requireTrainingFits,
  trainingNeed,
} from '../../../src/cli/resources.js';
import { mlpDescription } from '../../../src/model/description.js';

const GiB = 2 ** 30;
const small: MemoryLimits = { buffers: 1 * GiB, buffersFrom: 'RIVERBED_MAX_MEMORY', heap: 512 * 2 ** 20, largestArray: 2 ** 32, text: 2 ** 29 };

describe('requireFits', () => {
  it('passes what fits and names every limit that is exceeded', () => {
    expect(() => requireFits('x', { buffers: GiB / 2, heap: 1000, largestArray: 10, text: 10 }, '--n', 'hint', small)).not.toThrow();
    expect(() => requireFits('x', { buffers: 2 * GiB }, '--n', 'use less', small)).toThrow(/^--n: x would need about 2\.0 GiB of memory, more than RIVERBED_MAX_MEMORY \(1\.0 GiB\); use less$/);
    expect(() => requireFits('x', { heap: 600 * 2 ** 20 }, '--n', 'h', small)).toThrow(/about 600 MiB of JS heap, more than V8's limit \(512 MiB/);
    expect(() => requireFits('x', { largestArray: 2 ** 32 + 1, text: 2 ** 30 }, '--n', 'h', small)).toThrow(/an array of 4\.29e9 elements, more than the 4\.29e9 .*, and a report of about 1\.07e9 characters/);
    expect(() => requireFits('x', { buffers: 2 * GiB }, '--n', 'h', small)).toThrow(expect.objectContaining({ code: 'E_ARG', field: '--n' }));
  });
  it('the default limits are the memory this process may use, or RIVERBED_MAX_MEMORY', () => {
    expect(["this machine's memory", "the container's memory limit", 'the address-space limit (ulimit -v)']).toContain(memoryLimits({}).buffersFrom);
    expect(memoryLimits({ RIVERBED_MAX_MEMORY: '3GiB' }).buffers).toBe(3 * GiB);
    expect(() => memoryLimits({ RIVERBED_MAX_MEMORY: 'lots' })).toThrow(/RIVERBED_MAX_MEMORY/);
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 2 ** 40)).toBe('5.0 TiB');
  });
});

describe('training estimates', () => {
  const shape = { batchSize: 128, train: 180, val: 20, features: 4, optimizerStates: 1, checkpoints: 0 };
  it('count parameters with gradients and state, activations, data and the recording', () => {
    const m = mlpDescription(4, [10], 3); // 4·10 + 10 + 10·3 + 3 = 83 parameters; widths 4+10+10+3 = 27
    const { parts } = trainingNeed({ ...shape, model: m, checkpoints: 5 });
    expect(parts.model).toBe(4 * 83 * 4);
    expect(parts.batch).toBe(12 * 128 * 27);
    expect(parts.evaluation).toBe(12 * 180 * 27);
    expect(parts.data).toBe(8 * 200 * 4);
    expect(parts.record).toBe(2 * 5 * 200 * 13);
  });
  it('blame the option behind the largest part', () => {
    const big = mlpDescription(4, [1e9], 3);
    expect(() => requireTrainingFits({ ...shape, model: big, modelFlag: '--hidden', describe: '4-1e9-3' }, small)).toThrow(/^--hidden: training the model 4-1e9-3 would need about .* TiB of memory/);
    const rec = { ...shape, model: mlpDescription(4, [4], 3), checkpoints: 1e9 + 1, modelFlag: '--hidden' as const, describe: 'm' };
    expect(() => requireTrainingFits(rec, small)).toThrow(/^--epochs: recording 1000000001 checkpoints of 200 samples would need .*drop --record/);
    expect(() => requireTrainingFits({ ...shape, model: mlpDescription(4, [4], 3), modelFlag: '--hidden', describe: 'm' }, small)).not.toThrow();
  });
});

describe('class ids', () => {
  it('a stray large label is refused with the model it would make; dense or nearly dense ids pass', () => {
    const ys = Int32Array.from({ length: 200 }, (_, i) => i % 3);
    ys[5] = 1_048_575;
    expect(() => requireDenseClasses([ys], 1_048_576, 'y.npy', '--labels', '4-4-1048576, about 4 GiB')).toThrow(
      /^y\.npy: --labels: the largest label is 1048575, so the model would get 1048576 outputs \(4-4-1048576, about 4 GiB\), but only 4 classes occur \(1048572 without a sample\)/,
    );
    expect(() => requireDenseClasses([Int32Array.from([0, 9])], 10, 'y.npy', '--labels')).not.toThrow(); // 8 empty classes: a small subset
    expect(() => requireDenseClasses([Int32Array.from([0, 1, 2000])], 2001, 'y.npy', '--labels')).toThrow(/1998 without a sample/);
    const half = Int32Array.from({ length: 3000 }, (_, i) => 2 * i); // every other class of 6000: ids with gaps, but half of them used
    expect(() => requireDenseClasses([half], 5999, 'y.npy', '--labels')).not.toThrow();
  });
});

describe('hessian estimates', () => {
  it('blame the grid or the probes, whichever needs more; repeats', () => {
    const p = { probes: 5, steps: 80, points: 1000, parameters: 51 };
    expect(() => requireDensityFits(p, small)).not.toThrow();
    expect(() => requireDensityFits({ ...p, points: 1e12 }, small)).toThrow(/^--grid-points: a density on 1000000000000 grid points would need/);
    expect(() => requireDensityFits({ ...p, probes: 1e9 }, small)).toThrow(/^--density-probes: 1000000000 probes × 51 Lanczos steps/); // steps ≤ parameters
    expect(() => requireErrorBarsFit({ sizes: 4, repeats: 5, values: 2 }, small)).not.toThrow();
    expect(() => requireErrorBarsFit({ sizes: 4, repeats: 1e9, values: 1 }, small)).toThrow(/^--repeats: error bars of 1000000000 repeats × 4 subsample sizes would need/);
  });
});
