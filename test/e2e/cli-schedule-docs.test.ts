/**
 * docs/schedules.md must run as written: every ```sh block, in order, in one empty directory
 * where `riverbed` is the built CLI and the package resolves by its name (as after npm install);
 * the printed example output must be what the command prints, and the values closed forms.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { docsBlocks, linkPackage, runShBlocks } from '../helpers/docs-examples.js';
import { requireBuiltCli } from './cli.js';

describe('docs/schedules.md', () => {
  const dir = mkdtempSync(join(tmpdir(), 'riverbed-docs-schedules-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every shell example and produces what it says', () => {
    requireBuiltCli();
    linkPackage(dir);
    const { md, blocks } = docsBlocks('schedules.md');
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    const r = runShBlocks(blocks, dir, 180_000);
    expect(r.status, r.stderr + r.stdout).toBe(0);

    // The example output shown on the page (every line but the elision) is the first command's.
    const shown = /```\n(wsd schedule:[\s\S]*?)```/.exec(md)![1]!.split('\n').filter((l) => l !== '' && l.trim() !== '…');
    for (const line of shown) expect(r.stdout.split('\n')).toContain(line);

    // wsd.json: warm-up 2, stable, cosine decay over the last round(0.25·20) = 5 steps.
    const lr = JSON.parse(readFileSync(join(dir, 'wsd.json'), 'utf8')).lr as number[];
    const want = Array.from({ length: 20 }, (_, t) => (t < 2 ? (0.1 * (t + 1)) / 2 : t < 15 ? 0.1 : 0.05 * (1 + Math.cos((Math.PI * (t - 15)) / 5))));
    lr.forEach((v, t) => expect(v).toBeCloseTo(want[t]!, 14));
    // wsd-s at T = 12: decays of 3 steps ending at 6 and 12.
    expect(r.stdout).toContain('{"lr":[1,1,1,1,0.6666666666666667,0.33333333333333337,1,1,1,1,0.6666666666666667,0.33333333333333337]}');

    for (const f of ['wsd-s.png', 'cyclic.png']) expect(statSync(join(dir, f)).size, f).toBeGreaterThan(20_000);
    const svg = readFileSync(join(dir, 'infinite.svg'), 'utf8');
    expect(svg).toMatch(/<path[^>]* d="M(?:[^"L]*L){499}[^"L]*"/); // a line through all 500 steps

    const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    expect(run.schedule).toEqual({ name: 'wsd', warmupSteps: 4, decayFraction: 0.25, decayShape: '1-sqrt', totalSteps: 36 });
    expect(run.epochLoss[3]).toBeLessThan(run.epochLoss[0]);

    // Branching WSD as the page describes it (the byte-for-byte cmp ran above).
    const br = JSON.parse(readFileSync(join(dir, 'branches.json'), 'utf8'));
    expect(br.branches.map((b: { epochs: number; steps: number; decaySteps: number; start: number }) => [b.epochs, b.steps, b.decaySteps, b.start])).toEqual([[2, 18, 5, 13], [4, 36, 9, 27], [8, 72, 18, 54]]);
    expect(statSync(join(dir, 'branches', 'losses.png')).size).toBeGreaterThan(20_000);

    // The TypeScript block: 0.1·0.01^(5/10), REX at T = 5, the infinite phases, a user step decay.
    const api = r.stdout.split('\n').filter((l) => l !== '').slice(-4);
    expect(Number(api[0])).toBeCloseTo(0.01, 15);
    expect(api[1]).toBe('1.0000 0.8889 0.7500 0.5714 0.3333');
    expect(api[2]).toBe('warmup 0-49, cooldown 50-149, constant 150-899, anneal 900-999');
    expect(api[3]).toBe([...Array(10).fill(0.1), ...Array(10).fill(0.05), ...Array(5).fill(0.025)].join(' '));
  });
});
