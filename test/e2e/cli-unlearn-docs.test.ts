/**
 * docs/unlearning.md must run as written: every ```sh block, in order, in one empty directory where
 * `riverbed` is the built CLI and the package resolves by its name (as after npm install); then the
 * files it says it writes exist and say what they should (retraining without class 3 never predicts
 * a 3; the evaluation has a row per method; the API example prints GU's steps).
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { docsBlocks, linkPackage, runShBlocksAsync } from '../helpers/docs-examples.js';
import { requireBuiltCli } from './cli.js';

describe('docs/unlearning.md', () => {
  const dir = mkdtempSync(join(tmpdir(), 'riverbed-docs-unlearning-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every shell example and writes what it says', async () => {
    requireBuiltCli();
    linkPackage(dir);
    const { blocks } = docsBlocks('unlearning.md');
    expect(blocks.length).toBe(2);
    // Asynchronous: a blocking spawnSync of minutes starves vitest's worker RPC.
    const r = await runShBlocksAsync(blocks, dir, 900_000);
    expect(r.status, r.stderr + r.stdout).toBe(0);

    expect(r.stdout).toMatch(/unlearn gu: mnist, forget class 3 \(\d+ samples, \d+ retained\)/);
    // what the page says of it: class 3 forgotten, the other classes' test accuracy within 3 points
    const pct = (name: string) => {
      const m = new RegExp(`^  ${name.replace(/[()]/g, '\\$&')}\\s+([\\d.]+) % →\\s+([\\d.]+) %`, 'm').exec(r.stdout)!;
      return [Number(m[1]), Number(m[2])] as const;
    };
    expect(pct('forget')[1]).toBeLessThan(5);
    const [before, after] = pct('test (retained classes)');
    expect(after).toBeGreaterThan(before - 3);
    for (const f of ['mnist.safetensors', 'mnist-gu.safetensors', 'mnist-retrain.safetensors', 'eval/unlearning.png']) expect(statSync(join(dir, f)).size, f).toBeGreaterThan(1000);
    const retrain = JSON.parse(readFileSync(join(dir, 'retrain.json'), 'utf8'));
    expect(retrain.after.ua).toBe(100);
    expect(retrain.before.ua).toBeLessThan(20);
    const ev = JSON.parse(readFileSync(join(dir, 'eval', 'unlearning.json'), 'utf8'));
    expect(ev.rows.map((x: { method: string }) => x.method)).toEqual(['original', 'ga', 'gu', 'retrain']);
    expect(ev.rows.every((x: { perSeed: unknown[] }) => x.perSeed.length === 2)).toBe(true);
    expect(r.stdout).toMatch(/^gu steps 60 UA \d+\.\d TA \d+\.\d$/m);
  }, 900_000);
});
