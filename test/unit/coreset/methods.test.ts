/** The method registry on an in-memory run: rows used, directions, reverse, ccs. */
import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { METHOD_NAMES, METHODS, methodScores, methodSelect, parseMethodName, type RecordedRun } from '../../../src/coreset/methods.js';
import { randomArray } from '../../helpers/backends.js';

function run(): RecordedRun {
  const N = 6;
  const rows = 4; // init + 3 epochs
  const margin = new Float32Array(rows * N);
  // init row is huge: it must not enter AUM
  for (let i = 0; i < N; i++) margin[i] = 1000;
  for (let e = 1; e < rows; e++) for (let i = 0; i < N; i++) margin[e * N + i] = i; // AUM_i = i
  return {
    checkpoints: ['init', 1, 2, 3],
    train: { samples: N, labels: Int32Array.from([0, 0, 0, 1, 1, 1]), margin, loss: randomArray(rows * N, 3, 0.1, 2), correct: new Uint8Array(rows * N).fill(1), errorNorm: randomArray(rows * N, 4, 0, 1) },
    val: { samples: 4, labels: Int32Array.from([0, 1, 0, 1]), loss: randomArray(rows * 4, 5, 0.1, 2) },
  };
}

describe('method registry', () => {
  it('names every method with a paper, formula and kept end', () => {
    for (const m of METHOD_NAMES) {
      expect(METHODS[m].name).toBe(m);
      expect(METHODS[m].formula.length).toBeGreaterThan(5);
    }
    expect(() => parseMethodName('nope')).toThrow(/unknown method/);
  });
  it('baselines skip the init row; AUM keeps the lowest; reverse keeps the other end', async () => {
    const s = await methodScores('aum', run());
    expect(Array.from(s.scores)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(s.rows).toEqual([1, 2, 3]);
    const sel = await methodSelect('aum', run(), { perClass: 1 });
    expect(Array.from(sel.indices)).toEqual([0, 3]);
    const rev = await methodSelect('aum', run(), { perClass: 1 }, { reverse: true });
    expect(Array.from(rev.indices)).toEqual([2, 5]);
  });
  it('cld uses every row incl. init unless includeInit is false', async () => {
    const js = new JsBackend();
    const a = await methodScores('cld', run(), { backend: js });
    const b = await methodScores('cld', run(), { backend: js, includeInit: false });
    expect(a.rows).toEqual([0, 1, 2, 3]);
    expect(b.rows).toEqual([1, 2, 3]);
    js.dispose();
  });
  it('ccs stratifies over another method and fills class budgets', async () => {
    const sel = await methodSelect('ccs', run(), { perClass: 2 }, { over: 'aum', strata: 2, seed: 1 });
    expect(sel.perClassSelected).toEqual([2, 2]);
    expect(sel.method).toBe('ccs');
    await expect(methodSelect('ccs', run(), { perClass: 2 }, { reverse: true })).rejects.toThrow(/reverse/);
  });
});
