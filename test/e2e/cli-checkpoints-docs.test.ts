/**
 * docs/checkpoints.md must run as written: its ```sh blocks in order in an empty directory (the
 * example stops a run, resumes it and compares the weights with `cmp`, which fails the script if
 * they differ); the listing it shows and the error line it quotes are what riverbed prints.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RIVERBED_SH, docsBlocks, runShBlocks } from '../helpers/docs-examples.js';
import { requireBuiltCli } from './cli.js';

describe('docs/checkpoints.md', () => {
  const dir = mkdtempSync(join(tmpdir(), 'riverbed-docs-checkpoints-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every shell example; the shown listing and error are what riverbed prints', () => {
    requireBuiltCli();
    const { md, blocks } = docsBlocks('checkpoints.md');
    expect(blocks).toHaveLength(2);
    const r = runShBlocks(blocks, dir, 300_000);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    const listing = /prints\n\n```\n([\s\S]*?)```/.exec(md)![1]!;
    expect(r.stdout).toContain(listing);
    expect(r.stdout).toContain('the same weights, bit for bit');
    const a = JSON.parse(readFileSync(join(dir, 'resumed.json'), 'utf8'));
    const b = JSON.parse(readFileSync(join(dir, 'straight.json'), 'utf8'));
    expect(a.epochLoss).toEqual(b.epochLoss);
    expect(a.test).toEqual(b.test);
    expect(a.checkpoints.resumedFrom).toBe(join('run', 'checkpoints', 'step-00000025'));
    // The quoted refusal: the same command with another optimizer.
    const quoted = /```\n\s*(riverbed: error \[E_ARG\][^\n]*)\n\s*```/.exec(md)![1]!;
    const bad = spawnSync('bash', ['-c', `${RIVERBED_SH}riverbed train --dataset mnist --train-size 2000 --val-size 500 --hidden 32 --epochs 3 --backend js --resume run/checkpoints/step-00000025`], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe(quoted);
  });
});
