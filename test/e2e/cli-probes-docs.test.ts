/**
 * docs/probes.md must run as written: its ```sh blocks in order in an empty directory (the SAF
 * example compares λ = 0's weights with a plain run's by `cmp`, which fails the script if they
 * differ); the listing it shows is what riverbed writes, and the numbers it quotes for the example
 * are those of the run.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { docsBlocks, runShBlocks } from '../helpers/docs-examples.js';
import { requireBuiltCli } from './cli.js';

describe('docs/probes.md', () => {
  const dir = mkdtempSync(join(tmpdir(), 'riverbed-docs-probes-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every shell example; the listing, the exceeded steps and the SAF comparison are what riverbed gives', () => {
    requireBuiltCli();
    const { md, blocks } = docsBlocks('probes.md');
    expect(blocks).toHaveLength(2);
    const r = runShBlocks(blocks, dir, 300_000);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const listing = /prints\n\n```\n([\s\S]*?)```/.exec(md)![1]!;
    expect(r.stdout).toContain(listing);
    expect(r.stdout).toContain('λ = 0: the same weights, bit for bit');
    const run = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));
    const probes = JSON.parse(readFileSync(join(dir, 'run', 'probes.json'), 'utf8'));
    expect(run.probes.ghostsExceeded).toEqual(probes.ghosts.exceededSteps);
    const measured = probes.records.filter((x: { probe: string }) => x.probe === 'ghosts').length;
    const quoted = /lists (\d+) of\s+the (\d+) measured steps/.exec(md)!;
    expect([run.probes.ghostsExceeded.length, measured]).toEqual([Number(quoted[1]), Number(quoted[2])]);
    const saf = JSON.parse(readFileSync(join(dir, 'saf.json'), 'utf8')).saf;
    expect(saf).toMatchObject({ lambda: 1, epochs: 2, temperature: 2, direction: 'current-recorded', firstEpoch: 3 });
    expect(saf.meanKl).toHaveLength(2);
  });
});
