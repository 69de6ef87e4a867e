/**
 * docs/landscapes.md must run as written: every ```sh block, in order, in one empty directory
 * where `riverbed` is the built CLI; then the files it names exist and say what the page says.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { docsBlocks, runShBlocks } from '../helpers/docs-examples.js';
import { requireBuiltCli } from './cli.js';

describe('docs/landscapes.md', () => {
  const dir = mkdtempSync(join(tmpdir(), 'riverbed-docs-landscapes-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every shell example and produces what it says', () => {
    requireBuiltCli();
    const { md, blocks } = docsBlocks('landscapes.md');
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    const r = runShBlocks(blocks, dir, 600_000);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    // The example output's first line, less its backend and timing.
    const shown = /```\n(2-D slice:[^\n]*)/.exec(md)![1]!;
    expect(r.stdout).toContain(shown.replace(/ on \w+ in .*/, ''));
    expect(r.stdout).toMatch(/centre: loss \d/);
    const slice = JSON.parse(readFileSync(join(dir, 'slice.json'), 'utf8'));
    expect(slice.format).toBe('riverbed.landscape');
    expect(slice.loss).toHaveLength(11);
    const again = JSON.parse(readFileSync(join(dir, 'again.json'), 'utf8'));
    again.loss.flat().forEach((v: number, i: number) => expect(v).toBeCloseTo(slice.loss.flat()[i], 6));
    const merged = JSON.parse(readFileSync(join(dir, 'merged.json'), 'utf8'));
    expect(merged.axes).toEqual(slice.axes);
    expect(merged.loss.flat()).toEqual(slice.loss.flat()); // the same grid, in 3 shards
    const line = JSON.parse(readFileSync(join(dir, 'line.json'), 'utf8'));
    expect(line.axes.x.values).toHaveLength(31);
    const curve = JSON.parse(readFileSync(join(dir, 'curve.json'), 'utf8'));
    expect(curve.axes.x.values).toHaveLength(61);
    const traj = JSON.parse(readFileSync(join(dir, 'traj.json'), 'utf8'));
    expect(traj.path.epochs).toEqual([0, 1, 2, 3, 4]);
    const valley = JSON.parse(readFileSync(join(dir, 'valley.json'), 'utf8'));
    expect(valley.kind).toBe('valley');
    for (const f of ['slice.png', 'merged.png', 'line.png', 'curve.png', 'traj.png', 'valley.png', 'hessian-1d.png']) expect(statSync(join(dir, f)).size, f).toBeGreaterThan(10_000);
  }, 700_000);
});
