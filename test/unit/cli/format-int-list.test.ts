/** The selection JSON's index list writer (cli/coreset-cld.ts formatIntList) against Array.prototype.join. */
import { describe, expect, it } from 'vitest';
import { formatIntList } from '../../../src/cli/coreset-cld.js';
import { rng } from '../../helpers/backends.js';

describe('formatIntList', () => {
  it('writes what join(",") writes, for every digit count, both signs and the int32 extremes', () => {
    const r = rng(5);
    const values = [0, -0, 1, -1, 9, 10, 99, 100, 101, 999_999, 1_000_000, 2 ** 31 - 1, -(2 ** 31), -(2 ** 31) + 1];
    for (let d = 0; d < 10; d++) for (let i = 0; i < 50; i++) values.push(Math.floor((r() - 0.3) * 10 ** d));
    const a = Int32Array.from(values);
    expect(formatIntList(a).toString('latin1')).toBe(Array.from(a).join(','));
    expect(formatIntList(new Int32Array(0)).length).toBe(0);
    expect(formatIntList(Int32Array.of(7)).toString('latin1')).toBe('7');
  });
});
