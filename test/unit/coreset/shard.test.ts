/**
 * Sharded CLD: n = 1, 2, 7 parts (through their JSON encoding) merge to exactly the selection of
 * one in-memory run on the same backend, on random cases with ties, zero-variance samples and an
 * absent class, for per-class and fraction budgets, parts made with and without a budget, and
 * the budget options (equal mode, minimum per class, excluded samples). Bad parts are refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, BackendName } from '../../../src/backends/backend.js';
import { JsBackend } from '../../../src/backends/js/index.js';
import { cldScores } from '../../../src/coreset/cld.js';
import { type Budget, type BudgetOptions, selectPerClassWith } from '../../../src/coreset/select.js';
import { type CldShardPart, cldShard, decodeShardPart, encodeShardPart, mergeCldShards, parseShard, partDigest, shardRange } from '../../../src/coreset/shard.js';
import { type CldFiles, TILE_ALIGN } from '../../../src/coreset/stream.js';
import { backendsUnderTest } from '../../helpers/backends.js';
import { type CldCase, writeCldCase } from '../../helpers/cld-files.js';

const NAMES = (process.env.RIVERBED_CLD_BACKENDS?.split(',') ?? ['js', 'native']) as BackendName[];
const backends = await backendsUnderTest(NAMES);
const root = mkdtempSync(join(tmpdir(), 'riverbed-shard-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function parts(files: CldFiles, n: number, backend: Backend, budget?: Budget, budgetOptions?: BudgetOptions, tileSamples?: number) {
  const out: { part: CldShardPart; file: string }[] = [];
  for (let i = n - 1; i >= 0; i--) {
    const p = await cldShard(files, { index: i, count: n }, { backend, budget, budgetOptions, tileSamples });
    const file = `part-${i}.json`;
    out.push({ file, part: decodeShardPart(encodeShardPart(p), file) }); // through the file format
  }
  return out;
}

/** The single-machine selection, computed in memory by the API. */
async function oneRun(c: CldCase, backend: Backend, budget: Budget, options: BudgetOptions = {}) {
  const { scores, numClasses, absentClasses } = await cldScores(backend, c.inputs);
  return selectPerClassWith(scores, c.inputs.trainLabels, numClasses, budget, options, new Set(absentClasses));
}

describe('shard ranges', () => {
  it('are contiguous, aligned, cover every sample once', () => {
    for (const N of [1, 15, 16, 17, 100, 1013, 65_537]) {
      for (const n of [1, 2, 7, 40]) {
        let at = 0;
        for (let i = 0; i < n; i++) {
          const r = shardRange(N, { index: i, count: n });
          expect(r.start).toBe(at);
          expect(r.start % TILE_ALIGN).toBe(0);
          expect(r.end).toBeGreaterThanOrEqual(r.start);
          at = r.end;
        }
        expect(at).toBe(N);
      }
    }
  });
  it('parseShard', () => {
    expect(parseShard('3/7')).toEqual({ index: 3, count: 7 });
    for (const bad of ['7/7', '-1/3', '1/0', 'a/b', '3']) expect(() => parseShard(bad), bad).toThrow(/--shard/);
  });
});

describe.each(backends)('n shards merged = one run, on $name', ({ name, skip, create }) => {
  it.skipIf(!!skip)('random cases, n = 1, 2, 7, per-class and fraction budgets, parts with and without a budget', async () => {
    const backend = await create();
    try {
      for (const seed of [101, 202]) {
        const c = writeCldCase(join(root, `${name}-${seed}`), { n: 300 + seed, m: 80, epochs: 6 + (seed % 5), classes: 7, seed });
        for (const n of [1, 2, 7]) {
          const all = await parts(c.files, n, backend, undefined, undefined, 32); // keep every score; tiles inside shards
          for (const budget of [{ perClass: 1 }, { perClass: 9 }, { perClass: 10_000 }, { fraction: 0.1 }, { fraction: 0.37 }, { fraction: 1 }] as Budget[]) {
            const want = await oneRun(c, backend, budget);
            const got = mergeCldShards(all, budget);
            expect(Array.from(got.indices), `seed ${seed}, n ${n}, ${JSON.stringify(budget)}`).toEqual(Array.from(want.indices));
            expect(got.perClassSelected).toEqual(want.perClassSelected);
            expect(got.absentClasses).toEqual([1]);
            if ('perClass' in budget && budget.perClass === 9) {
              // the cut runs through the tie group of class 0: lowest indices win, across shards
              const top = Array.from(got.indices.subarray(0, 9));
              expect(top).toEqual([...top].sort((a, b) => a - b));
              const r = (await cldScores(backend, c.inputs)).scores;
              expect(new Set(top.map((i) => r[i])).size, 'the top 9 of class 0 are tied').toBe(1);
              expect(top[8]! - top[0]!, 'spread over shards').toBeGreaterThan(c.inputs.samples / 2);
            }
            // parts made for this budget only keep the local top k_c and still merge exactly
            const kept = await parts(c.files, n, backend, budget);
            expect(Array.from(mergeCldShards(kept).indices)).toEqual(Array.from(want.indices));
          }
        }
      }
    } finally {
      backend.dispose();
    }
  });
});

describe('budget options through shards (js)', () => {
  const js = new JsBackend();
  it('equal mode, minimum per class and excluded samples merge to the one-run selection', async () => {
    const c = writeCldCase(join(root, 'opts'), { n: 411, m: 70, epochs: 7, classes: 6, seed: 9 });
    const exclude = Int32Array.from([0, 5, 5, 17, 100, 101, 102, 410, 222]);
    for (const n of [1, 2, 7]) {
      const all = await parts(c.files, n, js, undefined, { exclude });
      for (const [budget, o] of [
        [{ fraction: 0.2 }, { mode: 'equal' }],
        [{ fraction: 0.05 }, { minPerClass: 12 }],
        [{ perClass: 4 }, {}],
      ] as [Budget, BudgetOptions][]) {
        const want = await oneRun(c, js, budget, { ...o, exclude });
        const got = mergeCldShards(all, budget, { ...o, exclude });
        expect(Array.from(got.indices), `n ${n} ${JSON.stringify([budget, o])}`).toEqual(Array.from(want.indices));
        for (const i of exclude) expect(got.indices).not.toContain(i);
      }
      expect(() => mergeCldShards(all, { perClass: 3 }, { exclude: [1, 2] })).toThrow(/exclusion list differs/);
    }
  });
});

describe('merge refuses bad parts', () => {
  const js = new JsBackend();
  it('different inputs, overlap, missing, other n, too small a kept budget, other kernel, edited part', async () => {
    const c = writeCldCase(join(root, 'bad-a'), { n: 200, m: 40, epochs: 5, classes: 4, seed: 1 });
    const d = writeCldCase(join(root, 'bad-b'), { n: 200, m: 40, epochs: 5, classes: 4, seed: 2 });
    const a3 = await parts(c.files, 3, js);
    const b3 = await parts(d.files, 3, js);
    const k = { perClass: 5 };
    expect(() => mergeCldShards([a3[0]!, b3[1]!, a3[2]!], k)).toThrow(/different inputs .*train loss/);
    expect(() => mergeCldShards([a3[0]!, a3[1]!, { ...a3[1]!, file: 'again.json' }, a3[2]!], k)).toThrow(/given twice .*overlap/);
    expect(() => mergeCldShards([a3[0]!, a3[2]!], k)).toThrow(/1 of 3 shards are missing/);
    const a2 = await parts(c.files, 2, js);
    expect(() => mergeCldShards([a3[0]!, a3[1]!, a2[0]!], k)).toThrow(/one of 3 shards/);
    const moved = { file: 'moved.json', part: { ...a3[1]!.part, shard: { ...a3[1]!.part.shard, start: a3[1]!.part.shard.start - 16 } } };
    expect(() => mergeCldShards([a3[0]!, moved, a3[2]!], k)).toThrow(/covers samples/);
    expect(() => mergeCldShards(a3)).toThrow(/give the budget/);
    const small = await parts(c.files, 3, js, { perClass: 2 });
    expect(() => mergeCldShards(small, { perClass: 3 })).toThrow(/keeps the top 2 of class 0.*asks for 3/);
    const other = { file: 'gpu.json', part: { ...a3[2]!.part, kernel: 'WGSL kernels on some GPU' } };
    expect(() => mergeCldShards([a3[0]!, a3[1]!, other], k)).toThrow(/same --backend/);
    const text = encodeShardPart(a3[0]!.part).replace(/"samples": 200/, '"samples": 201');
    expect(() => decodeShardPart(text, 'edited.json')).toThrow(/edited\.json.*digest/);
    expect(() => decodeShardPart('{"format":"riverbed.selection"}', 'sel.json')).toThrow(/E_FORMAT|format is "riverbed.selection"/);
  });
});

describe('merge validates every candidate (hand-edited parts)', () => {
  const js = new JsBackend();
  /** An edit of part `p`'s candidates, re-signed as a careful editor would (so only validation can catch it). */
  function edited(p: CldShardPart, edit: (q: { indices: Int32Array; scores: Float32Array; candidatesPerClass: number[] }) => void): CldShardPart {
    const q = { ...p, indices: p.indices.slice(), scores: p.scores.slice(), candidatesPerClass: [...p.candidatesPerClass] };
    edit(q);
    return { ...q, digest: partDigest(q) };
  }
  it('negative, duplicate, out-of-slice indices, NaN/Inf/out-of-range scores, wrong order, wrong counts, unsigned edits', async () => {
    const c = writeCldCase(join(root, 'edit'), { n: 200, m: 40, epochs: 5, classes: 4, seed: 3 });
    const a3 = (await parts(c.files, 3, js)).sort((x, y) => x.part.shard.index - y.part.shard.index);
    const mid = a3[1]!.part;
    const { start, end } = mid.shard;
    expect(mergeCldShards(a3, { perClass: 7 }).indices.length).toBe(14); // classes 0 and 2 (1: absent, 3: validation only)
    const cases: [string, (q: { indices: Int32Array; scores: Float32Array; candidatesPerClass: number[] }) => void, RegExp][] = [
      ['negative index', (q) => void (q.indices[0] = -1), /candidate 0 .*sample -1, outside this part's samples \[\d+, \d+\)/],
      ['index of another slice', (q) => void (q.indices[2] = start - 1), new RegExp(`candidate 2 .*sample ${start - 1}, outside`)],
      ['index past the slice', (q) => void (q.indices[3] = end), new RegExp(`sample ${end}, outside`)],
      ['duplicate index', (q) => void (q.indices[1] = q.indices[0]!), /candidate 1 .*repeats sample/],
      ['NaN score', (q) => void (q.scores[4] = NaN), /candidate 4 .*score NaN, expected a finite correlation/],
      ['infinite score', (q) => void (q.scores[0] = Infinity), /score Infinity/],
      ['score above 1', (q) => void (q.scores[0] = 5), /score 5, expected/],
      ['out of rank order', (q) => void ([q.scores[0], q.scores[1]] = [q.scores[1]! - 0.5, q.scores[0]!]), /out of rank order/],
      ['candidates of an absent class', (q) => void ((q.candidatesPerClass[0] = q.candidatesPerClass[0]! - 1), (q.candidatesPerClass[1] = 1)), /class 1 has 1 candidates, more than the 0 .*absent class/],
      ['counts that do not add up', (q) => void (q.candidatesPerClass[0] = q.candidatesPerClass[0]! + 1), /candidate counts do not add up/],
    ];
    for (const [what, edit, want] of cases) {
      const bad = edited(mid, edit);
      // through the file (re-signed: the validation catches it) and through the API
      expect(() => decodeShardPart(encodeShardPart(bad), 'part-1.json'), what).toThrow(want);
      expect(() => decodeShardPart(encodeShardPart(bad), 'part-1.json'), what).toThrow(/^part-1\.json: /);
      expect(() => mergeCldShards([a3[0]!, { file: 'part-1.json', part: bad }, a3[2]!], { perClass: 7 }), what).toThrow(want);
    }
    // an edit that is not re-signed fails the digest, whatever it changes
    const text = encodeShardPart(mid);
    const j = JSON.parse(text);
    const idx = Buffer.from(j.candidates.indices, 'base64');
    idx.writeInt32LE(idx.readInt32LE(0) + 1, 0);
    j.candidates.indices = idx.toString('base64');
    expect(() => decodeShardPart(JSON.stringify(j), 'part-1.json')).toThrow(/part-1\.json: digest: .*edited or damaged/);
    expect(() => decodeShardPart(text.replace('"backend": "js"', '"backend": "js "'), 'p.json')).toThrow(/digest/);
    expect(() => decodeShardPart(text.replace(/"version": 2/, '"version": 1'), 'old.json')).toThrow(/version 1 \(made by an older riverbed: rerun the shards\)/);
    // a part that lost a candidate (consistent in itself) is caught across parts
    const lost = edited(mid, (q) => {
      q.candidatesPerClass[0] = q.candidatesPerClass[0]! - 1;
      const keep = (_: unknown, t: number) => t !== 0;
      q.indices = q.indices.filter(keep);
      q.scores = q.scores.filter(keep);
    });
    expect(() => decodeShardPart(encodeShardPart(lost), 'p.json')).not.toThrow();
    expect(() => mergeCldShards([a3[0]!, { file: 'p.json', part: lost }, a3[2]!], { perClass: 7 })).toThrow(/hold \d+ candidates of class 0, but the class has \d+ selectable samples/);
    // and the parts as written still merge
    expect(mergeCldShards(a3.map(({ file, part }) => ({ file, part: decodeShardPart(encodeShardPart(part), file) })), { perClass: 7 }).indices.length).toBe(14);
  });
});
