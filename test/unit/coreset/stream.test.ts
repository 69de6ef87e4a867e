/**
 * Streaming CLD: column tiles give the in-memory scores bit for bit on every backend (tile
 * widths that split the native kernel's 16-sample vectors differently, a per-epoch directory,
 * float64), NaN/Inf found per tile, a file changed while streaming refused, the memory plan.
 */
import { appendFileSync, mkdtempSync, openSync, renameSync, rmSync, writeSync, closeSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackendName } from '../../../src/backends/backend.js';
import { JsBackend } from '../../../src/backends/js/index.js';
import { cldCoreset, cldScores } from '../../../src/coreset/cld.js';
import { cldCoresetFromFiles, cldScoresFromFiles, parseSize, planCldMemory, TILE_ALIGN } from '../../../src/coreset/stream.js';
import { RiverbedError } from '../../../src/errors.js';
import { writeNpy } from '../../../src/io/npy.js';
import { backendsUnderTest } from '../../helpers/backends.js';
import { bits, writeCldCase } from '../../helpers/cld-files.js';

const NAMES = (process.env.RIVERBED_CLD_BACKENDS?.split(',') ?? ['js', 'native', 'webgpu']) as BackendName[];
const backends = await backendsUnderTest(NAMES);
const root = mkdtempSync(join(tmpdir(), 'riverbed-stream-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.each(backends)('streaming CLD on $name', ({ name, skip, create }) => {
  it.skipIf(!!skip)('tiles give the in-memory scores bit for bit (f32 file, per-epoch directory, f64)', async () => {
    const backend = await create();
    try {
      for (const [label, o] of [
        ['f32', { n: 1013, m: 120, epochs: 9, classes: 6, seed: 11 }],
        ['dir', { n: 517, m: 60, epochs: 6, classes: 5, seed: 12, perEpochDir: true }],
        ['f64', { n: 333, m: 50, epochs: 7, classes: 5, seed: 13, f64: true }],
        ['C>64', { n: 700, m: 400, epochs: 8, classes: 90, seed: 14 }],
      ] as const) {
        const c = writeCldCase(join(root, `${name}-${label}`), o);
        const ref = (await cldScores(backend, c.inputs)).scores;
        for (const tileSamples of [TILE_ALIGN, 48, 160, undefined]) {
          const res = await cldScoresFromFiles(c.files, { backend, tileSamples });
          expect(res.plan.mode, label).toBe(tileSamples === undefined ? 'whole' : 'tiles');
          expect(bits(res.scores), `${label}, tiles of ${tileSamples ?? 'all'}`).toEqual(bits(ref));
        }
        // a budget that forces tiles gives the same selection as the in-memory API
        const sel = await cldCoresetFromFiles(c.files, { fraction: 0.3 }, { backend, tileSamples: 32 });
        const mem = await cldCoreset(c.inputs, { fraction: 0.3 }, { backend });
        expect(Array.from(sel.indices)).toEqual(Array.from(mem.indices));
        expect(sel.perClassSelected).toEqual(mem.perClassSelected);
        expect(sel.absentClasses).toEqual([1]);
      }
    } finally {
      backend.dispose();
    }
  });
});

describe('streaming CLD: bad input', () => {
  const js = new JsBackend();

  it('NaN in a later tile is named by its global sample', async () => {
    const c = writeCldCase(join(root, 'nan'), { n: 200, m: 40, epochs: 5, classes: 4, seed: 3 });
    const t = c.inputs.trainLoss as Float32Array;
    t[3 * 200 + 170] = NaN;
    writeNpy(c.files.trainLoss, t, [5, 200]);
    await expect(cldScoresFromFiles(c.files, { backend: js, tileSamples: 64 })).rejects.toThrow(/E_VALUE|train loss\[epoch 3, sample 170\] is NaN/);
    await expect(cldScoresFromFiles(c.files, { backend: js, tileSamples: 64 })).rejects.toThrow(/train loss\[epoch 3, sample 170\] is NaN/);
  });

  it('a trajectory that changes while streaming is refused: appended, rewritten in place, replaced', async () => {
    const c = writeCldCase(join(root, 'change'), { n: 256, m: 40, epochs: 5, classes: 4, seed: 4 });
    const copy = join(root, 'change', 'orig.npy');
    copyFileSync(c.files.trainLoss, copy);
    const attempt = (change: () => void) =>
      cldScoresFromFiles(c.files, {
        backend: js,
        tileSamples: 64,
        onTile: async (s0) => {
          if (s0 === 64) {
            await new Promise((r) => setTimeout(r, 20)); // past the file system's timestamp granularity
            change();
          }
        },
      });
    await expect(attempt(() => appendFileSync(c.files.trainLoss, Buffer.alloc(8)))).rejects.toThrow(/changed size .* while it was being read/);
    copyFileSync(copy, c.files.trainLoss);
    await expect(
      attempt(() => {
        const fd = openSync(c.files.trainLoss, 'r+');
        writeSync(fd, Buffer.from([1, 2, 3, 4]), 0, 4, 1000);
        closeSync(fd);
      }),
    ).rejects.toThrow(/was modified while it was being read/);
    copyFileSync(copy, c.files.trainLoss);
    await expect(
      attempt(() => {
        copyFileSync(copy, `${c.files.trainLoss}.new`);
        renameSync(`${c.files.trainLoss}.new`, c.files.trainLoss);
      }),
    ).rejects.toThrow(/replaced by another file/);
    // unchanged: fine
    await expect(attempt(() => {})).resolves.toBeDefined();
  });

  it('--max-memory too small for one tile: a clear error', () => {
    expect(() => planCldMemory({ epochs: 100, samples: 1000, itemSize: 4, maxMemory: 50e6, residentBytes: 49.99e6, wholeAllowed: true })).toThrow(
      /--max-memory: .*too small.*smallest tile \(16 samples × 100 epochs/,
    );
    const p = planCldMemory({ epochs: 100, samples: 10_000_000, itemSize: 4, maxMemory: 1e9, residentBytes: 100e6, wholeAllowed: true });
    expect(p.mode).toBe('tiles');
    expect(p.tileSamples % TILE_ALIGN).toBe(0);
    expect(p.fixedBytes + p.bufferBytes).toBeLessThanOrEqual(1e9);
    const w = planCldMemory({ epochs: 10, samples: 1000, itemSize: 4, maxMemory: 1e9, residentBytes: 100e6, wholeAllowed: true });
    expect(w.mode).toBe('whole');
  });

  it('parseSize', () => {
    expect(parseSize('1GB')).toBe(1e9);
    expect(parseSize('512MiB')).toBe(512 * 2 ** 20);
    expect(parseSize('2G')).toBe(2 * 2 ** 30);
    expect(parseSize('1.5 gib')).toBe(1.5 * 2 ** 30);
    expect(parseSize('4096')).toBe(4096);
    for (const bad of ['', 'lots', '-1GB', '0', '1PB', '1 G B']) expect(() => parseSize(bad), bad).toThrow(RiverbedError);
    for (const bad of ['0x10', '1e3', 'Infinity']) expect(() => parseSize(bad), bad).toThrow(/is not a size/);
    expect(() => parseSize('0')).toThrow(/--max-memory: size "0" must be positive/);
    expect(() => parseSize('99999999999TB')).toThrow(/--max-memory: size "99999999999TB" is too large: at most 9007199254740991 bytes \(8 PiB\)/);
  });
});
