/** Forget specs: parsing, resolution against training rows, and every bad input as one E_ARG line. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RiverbedError } from '../../../src/errors.js';
import { writeNpy } from '../../../src/io/npy.js';
import { parseForgetSpec, resolveForget } from '../../../src/unlearn/forget.js';

const dir = mkdtempSync(join(tmpdir(), 'riverbed-forget-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// 12 training rows of classes 0..2 (class 2 has 2 rows), original dataset indices 100..111.
const labels = Int32Array.of(0, 1, 2, 0, 1, 0, 1, 2, 0, 1, 0, 1);
const rows = { labels, indices: Int32Array.from({ length: 12 }, (_, i) => 100 + i), classes: 3, datasetSize: 200 };

async function error(fn: () => unknown): Promise<RiverbedError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof RiverbedError) return e;
    throw e;
  }
  throw new Error('expected a RiverbedError');
}

describe('parseForgetSpec', () => {
  it('reads class, random count, random percentage and indices', () => {
    expect(parseForgetSpec('class:3')).toEqual({ kind: 'class', classes: [3] });
    expect(parseForgetSpec('class:5,3')).toEqual({ kind: 'class', classes: [3, 5] });
    expect(parseForgetSpec('random:500')).toEqual({ kind: 'random', count: 500 });
    expect(parseForgetSpec('random:1%')).toEqual({ kind: 'random', fraction: 0.01 });
    expect(parseForgetSpec('indices:F.npy')).toEqual({ kind: 'indices', path: 'F.npy' });
  });

  it('refuses malformed specs with one line naming --forget', async () => {
    for (const bad of ['class:', 'class:x', 'class:3,3', 'random:0', 'random:0%', 'random:100%', 'random:-4', 'indices:', 'everything', 'class:-1']) {
      const e = await error(() => parseForgetSpec(bad));
      expect(e.code, bad).toBe('E_ARG');
      expect(e.message, bad).toMatch(/^--forget: /);
      expect(e.message.split('\n')).toHaveLength(1);
    }
  });
});

describe('resolveForget', () => {
  it('class: every row of the class, the rest retained, the class wholly forgotten', async () => {
    const s = await resolveForget(parseForgetSpec('class:2'), rows);
    expect(Array.from(s.forget)).toEqual([2, 7]);
    expect(s.retain.length).toBe(10);
    expect(s.wholeClasses).toEqual([2]);
    expect(s.forgetClasses).toEqual([2]);
  });

  it('random: the count (or rounded fraction), seeded, disjoint from retain', async () => {
    const a = await resolveForget(parseForgetSpec('random:5'), rows, 7);
    const b = await resolveForget(parseForgetSpec('random:5'), rows, 7);
    expect(Array.from(a.forget)).toEqual(Array.from(b.forget));
    expect(a.forget.length).toBe(5);
    expect(new Set([...a.forget, ...a.retain]).size).toBe(12);
    expect((await resolveForget(parseForgetSpec('random:25%'), rows, 1)).forget.length).toBe(3);
  });

  it('indices: dataset indices map to training rows', async () => {
    const f = join(dir, 'ok.npy');
    writeNpy(f, Int32Array.of(111, 100, 104));
    const s = await resolveForget(parseForgetSpec(`indices:${f}`), rows);
    expect(Array.from(s.forget)).toEqual([0, 4, 11]);
  });

  it('unknown class, empty class, everything, out of range, not a training sample, repeated, empty file: one-line E_ARG', async () => {
    const write = (name: string, v: Int32Array) => {
      const p = join(dir, name);
      writeNpy(p, v);
      return `indices:${p}`;
    };
    const cases: [string, RegExp][] = [
      ['class:3', /class 3 does not exist: the labels are 0\.\.2/],
      ['class:0,1,2', /whole training set \(12 samples\); nothing would be retained/],
      ['random:12', /leaves nothing to retain/],
      [write('range.npy', Int32Array.of(100, 250)), /index 250 \(entry 1\) is outside the dataset \[0, 200\)/],
      [write('val.npy', Int32Array.of(150)), /index 150 \(entry 0\) is not a training sample/],
      [write('twice.npy', Int32Array.of(101, 103, 101)), /index 101 appears twice/],
      [write('empty.npy', new Int32Array(0)), /the forget set is empty/],
      [write('all.npy', Int32Array.from({ length: 12 }, (_, i) => 100 + i)), /whole training set/],
    ];
    for (const [spec, want] of cases) {
      const e = await error(() => resolveForget(parseForgetSpec(spec), rows));
      expect(e.code, spec).toBe('E_ARG');
      expect(e.message, spec).toMatch(want);
      expect(e.message.split('\n')).toHaveLength(1);
    }
    const e = await error(() => resolveForget(parseForgetSpec('class:1'), { ...rows, labels: Int32Array.of(0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 0, 0) }));
    expect(e.message).toMatch(/class 1 has no training samples/);
  });
});
