/**
 * `coreset cld --max-memory / --shard` and `coreset merge` end to end: streaming in tiles selects
 * what one in-memory run selects; 7 shard parts merge to the same selection; bad parts and a
 * budget too small for one tile fail with one line and no output.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCldCase } from '../helpers/cld-files.js';
import { requireBuiltCli, runCli } from './cli.js';

let dir: string;
let other: string;
const inputs = (d: string) => ['--train-loss', join(d, 'train_loss.npy'), '--train-labels', join(d, 'train_labels.npy'), '--val-loss', join(d, 'val_loss.npy'), '--val-labels', join(d, 'val_labels.npy')];
const sel = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8'));

beforeAll(() => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), 'riverbed-e2e-scale-'));
  writeCldCase(join(dir, 'a'), { n: 1500, m: 200, epochs: 8, classes: 6, seed: 77 });
  writeCldCase(join(dir, 'b'), { n: 1500, m: 200, epochs: 8, classes: 6, seed: 78 });
  other = join(dir, 'b');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function oneLineError(args: string[], pattern: RegExp): void {
  const before = new Set(readdirSync(dir));
  const r = runCli(args, dir);
  expect(r.status, r.stderr).not.toBe(0);
  expect(r.stdout).toBe('');
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(readdirSync(dir).filter((f) => !before.has(f))).toEqual([]);
}

describe('coreset cld streaming and shards', () => {
  it('tiles under a budget, and 7 merged shards, select exactly what one run selects', () => {
    const a = join(dir, 'a');
    const one = runCli(['coreset', 'cld', ...inputs(a), '--fraction', '0.1', '--out', 'one.json', '--backend', 'native', '--json'], dir);
    expect(one.status, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout).memory.mode).toBe('whole');
    const tiled = runCli(['coreset', 'cld', ...inputs(a), '--fraction', '0.1', '--out', 'tiled.json', '--backend', 'native', '--tile-samples', '64', '--json'], dir);
    expect(tiled.status, tiled.stderr).toBe(0);
    expect(JSON.parse(tiled.stdout).memory).toMatchObject({ mode: 'tiles', tileSamples: 64, tiles: 24 });
    expect(sel('tiled.json').indices).toEqual(sel('one.json').indices);
    expect(sel('one.json').manifest).toBeDefined();

    for (let i = 0; i < 7; i++) {
      const r = runCli(['coreset', 'cld', ...inputs(a), '--shard', `${i}/7`, '--out', `part-${i}.json`, '--backend', 'native', '--max-memory', '2GB'], dir);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`shard ${i}/7: samples \\[\\d+, \\d+\\)`));
    }
    const parts = Array.from({ length: 7 }, (_, i) => `part-${i}.json`);
    const m = runCli(['coreset', 'merge', ...parts.reverse(), '--fraction', '0.1', '--out', 'merged.json', '--indices-npy', 'merged.npy'], dir);
    expect(m.status, m.stderr).toBe(0);
    expect(m.stdout).toMatch(/merged 7 parts: selected \d+ of 1500/);
    expect(sel('merged.json').indices).toEqual(sel('one.json').indices);
    expect(sel('merged.json').perClass).toEqual(sel('one.json').perClass);
    const k = runCli(['coreset', 'merge', ...parts, '--per-class', '7', '--out', 'merged-k.json'], dir);
    const oneK = runCli(['coreset', 'cld', ...inputs(a), '--per-class', '7', '--out', 'one-k.json', '--backend', 'native'], dir);
    expect([k.status, oneK.status]).toEqual([0, 0]);
    expect(sel('merged-k.json').indices).toEqual(sel('one-k.json').indices);
  });

  it('bad parts and budgets: one line, exit ≠ 0, no output', () => {
    const parts = Array.from({ length: 7 }, (_, i) => `part-${i}.json`);
    const r = runCli(['coreset', 'cld', ...inputs(other), '--shard', '3/7', '--out', 'other-3.json', '--backend', 'native'], dir);
    expect(r.status, r.stderr).toBe(0);
    const swapped = parts.slice();
    swapped[3] = 'other-3.json';
    oneLineError(['coreset', 'merge', ...swapped, '--per-class', '3', '--out', 'bad.json'], /E_ARG.*other-3\.json.*different inputs/);
    oneLineError(['coreset', 'merge', ...parts, 'part-2.json', '--per-class', '3', '--out', 'bad.json'], /E_ARG.*shard 2\/7 is given twice/);
    oneLineError(['coreset', 'merge', ...parts.slice(1), '--per-class', '3', '--out', 'bad.json'], /E_ARG.*1 of 7 shards are missing \(0\)/);
    oneLineError(['coreset', 'merge', ...parts, 'one.json', '--per-class', '3', '--out', 'bad.json'], /E_FORMAT.*one\.json.*riverbed\.selection/);
    oneLineError(['coreset', 'cld', ...inputs(join(dir, 'a')), '--per-class', '3', '--max-memory', '1MB', '--out', 'bad.json'], /E_ARG.*--max-memory.*too small/);
    oneLineError(['coreset', 'cld', ...inputs(join(dir, 'a')), '--per-class', '3', '--max-memory', 'lots', '--out', 'bad.json'], /E_ARG.*--max-memory.*not a size/);
    oneLineError(['coreset', 'cld', ...inputs(join(dir, 'a')), '--shard', '7/7', '--out', 'bad.json'], /E_ARG.*--shard/);
    expect(existsSync(join(dir, 'bad.json'))).toBe(false);
  });
});
