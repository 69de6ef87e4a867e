/**
 * docs/cli-curvature.md must run as written: every ```sh block, in order, in one empty directory
 * where `riverbed` is the built CLI and the package resolves by its name (as after npm install).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { docsBlocks, linkPackage, runShBlocks } from '../helpers/docs-examples.js';
import { requireBuiltCli } from './cli.js';

describe('docs/cli-curvature.md', () => {
  const dir = mkdtempSync(join(tmpdir(), 'riverbed-docs-curvature-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every shell example and produces the files it names', () => {
    requireBuiltCli();
    linkPackage(dir);
    const { md, blocks } = docsBlocks('cli-curvature.md');
    expect(blocks.length).toBeGreaterThanOrEqual(4);
    const r = runShBlocks(blocks, dir, 180_000);
    expect(r.status, r.stderr + r.stdout).toBe(0);
    for (const f of ['w.safetensors', 'hv.npy', 'gv.npy', 'report.json', 'spectrum.png', 'spectrum.svg', 'block.json', 'trace.json']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    expect(r.stdout).toMatch(/H·v over 600 samples, 732 parameters/);
    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'));
    expect(report).toMatchObject({ format: 'riverbed.hessian', size: 732, samples: 600 });
    expect(report.eigenvalues).toHaveLength(7);
    const block = JSON.parse(readFileSync(join(dir, 'block.json'), 'utf8'));
    expect(block).toMatchObject({ size: 16 * 4 + 4, parameters: { kind: 'ggn', layer: [4] } });
  });
});
