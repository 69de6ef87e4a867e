/** Run manifests: full sha256 for small files, the sampled scheme for large ones, directories listed. */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeInputs, hashFile, runManifest } from '../../../src/io/manifest.js';
import { VERSION } from '../../../src/version.js';

describe('run manifest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rb-manifest-'));
  const data = Buffer.alloc(5 * 1024 * 1024 + 17, 0);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 255;
  const f = join(dir, 'a.bin');
  writeFileSync(f, data);
  it('hashes files up to the bound in full (equals sha256 of the bytes), streamed in blocks', () => {
    // 5 MiB: past one 4 MiB read block, so the streaming is exercised; the bound is raised to cover it
    expect(hashFile(f, 8 * 1024 * 1024)).toEqual({ bytes: data.length, hash: `sha256:${createHash('sha256').update(data).digest('hex')}` });
  });
  it('large files: a named sampled hash that sees a change in a sampled block', () => {
    const h = hashFile(f, 1024);
    expect(h.hash.startsWith('sha256-sampled:')).toBe(true);
    const g = join(dir, 'b.bin');
    const d2 = Buffer.from(data);
    d2[100]! ^= 1; // inside the first sampled edge
    writeFileSync(g, d2);
    expect(hashFile(g, 1024).hash).not.toBe(h.hash);
  });
  it('lists directories and records versions, seeds and parameters', () => {
    const sub = join(dir, 'run');
    mkdirSync(sub);
    writeFileSync(join(sub, 'y.txt'), 'y');
    writeFileSync(join(sub, 'x.txt'), 'x');
    expect(describeInputs([sub]).map((i) => i.path)).toEqual([join(sub, 'x.txt'), join(sub, 'y.txt')]);
    const m = runManifest({ parameters: { fraction: 0.1 }, inputs: [sub], backend: 'js', seeds: [3] });
    expect(m.riverbed).toBe(VERSION);
    expect(m.node).toBe(process.version);
    expect(m.seeds).toEqual([3]);
    expect(m.parameters).toEqual({ fraction: 0.1 });
    expect(m.inputs).toHaveLength(2);
    expect(() => runManifest({ parameters: {}, inputs: [join(dir, 'missing')] })).toThrow(/cannot open/);
  });
});
