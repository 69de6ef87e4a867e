/**
 * riverbed is embedded in other tools: two worker_threads that each load the addon and run, at the
 * same time, fused curvature products (sync and off-thread) and CLD scorings must get exactly the
 * results of a serial run in the main thread. This catches shared mutable state in the addon
 * (a process-wide workspace two products write at once) and an unsafe thread pool.
 */
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { createBackend } from '../../src/index.js';
import { availability } from '../helpers/backends.js';
import { type Job, runJob } from '../helpers/native-jobs.js';

const why = await availability('native');
const inCI = process.env.CI === 'true' || process.env.CI === '1';
if (why && inCI) throw new Error(`CI requires the native backend, but it is unavailable: ${why}`);
if (why) console.warn(`[riverbed tests] SKIPPING native worker_threads tests: ${why}`);

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The worker entry bundled to plain JS inside the package (so the addon loader finds the package root). */
async function bundleWorker(): Promise<{ file: string; dir: string }> {
  const base = path.join(root, 'node_modules', '.cache', 'riverbed-tests');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(base, { recursive: true });
  const dir = await mkdtemp(path.join(base, 'threads-'));
  const file = path.join(dir, 'worker.mjs');
  await build({
    entryPoints: [path.join(root, 'test', 'helpers', 'native-thread-worker.ts')],
    bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: file, logLevel: 'silent',
  });
  return { file, dir };
}

function runWorker(file: string, data: object): Promise<Float32Array[][]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(file, { workerData: data });
    w.once('message', (m: { rounds?: Float32Array[][]; error?: string }) => (m.error ? reject(new Error(m.error)) : resolve(m.rounds!)));
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
  });
}

/** Index of the first element whose bits differ, or -1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

describe.skipIf(!!why)('the addon in two worker_threads at once', () => {
  const cleanup: string[] = [];
  afterAll(() => cleanup.forEach((d) => rmSync(d, { recursive: true, force: true })));

  // Both start with a product (they overlap from the barrier on), large enough to run off the
  // main thread in matvecAsync and to use the pool; the CLD jobs shift later rounds against each other.
  const jobs: [Job[], Job[]] = [
    [
      { kind: 'hvp', features: 64, hidden: [256, 256], classes: 10, activation: 'tanh', samples: 2048, batch: 512, seed: 11 },
      { kind: 'cld', epochs: 20, samples: 50_000, classes: 10, seed: 12 },
    ],
    [
      { kind: 'hvp', features: 96, hidden: [512], classes: 7, activation: 'relu', samples: 1024, batch: 256, seed: 22 },
      { kind: 'cld', epochs: 10, samples: 80_000, classes: 300, seed: 21 },
    ],
  ];

  it('HVP and CLD in both workers at the same time give the serial run\'s results bit for bit', async () => {
    const backend = await createBackend('native');
    const serial: Float32Array[][] = [];
    for (const list of jobs) {
      const outs: Float32Array[] = [];
      for (const job of list) outs.push(...(await runJob(backend, job)));
      serial.push(outs);
    }
    backend.dispose();

    const { file, dir } = await bundleWorker();
    cleanup.push(dir);
    const shared = new SharedArrayBuffer(16);
    const results = await Promise.all(
      ([0, 1] as const).map((id) => runWorker(file, { id, jobs: jobs[id], minRounds: 3, maxRounds: 40, shared })),
    );
    expect(new Int32Array(shared)[3], 'the two workers never ran at the same time').toBe(1);
    results.forEach((rounds, id) => {
      expect(rounds.length).toBeGreaterThanOrEqual(3);
      rounds.forEach((outs, r) => {
        expect(outs.length).toBe(serial[id]!.length);
        outs.forEach((o, k) => {
          const at = firstDifference(o, serial[id]![k]!);
          expect(at, `worker ${id}, round ${r}, output ${k}: element ${at} is ${o[at]}, serial ${serial[id]![k]![at]}`).toBe(-1);
        });
      });
    });
    // The products are not trivially equal because they are zero.
    for (const outs of serial) for (const o of outs) expect(o.some((v) => v !== 0)).toBe(true);
  });
});
