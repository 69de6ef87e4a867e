/**
 * A worker_thread of test/unit/native-threads.test.ts (bundled with esbuild, since a plain worker
 * cannot load TypeScript). It loads its own copy of the addon's per-instance state, waits for the
 * other worker at a barrier, then repeats its jobs round after round until both workers have
 * overlapped in time (one saw the other finish a round during one of its own) and it has done at
 * least `minRounds`, and posts every round's outputs.
 *
 * shared (Int32Array over a SharedArrayBuffer): [0] workers at the barrier, [1 + id] rounds done
 * by worker id, [3] set once an overlap was seen.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createBackend } from '../../src/index.js';
import { type Job, runJob } from './native-jobs.js';

interface Data {
  id: 0 | 1;
  jobs: Job[];
  minRounds: number;
  maxRounds: number;
  shared: SharedArrayBuffer;
}

async function main(): Promise<void> {
  const { id, jobs, minRounds, maxRounds, shared } = workerData as Data;
  const s = new Int32Array(shared);
  const backend = await createBackend('native');
  Atomics.add(s, 0, 1);
  while (Atomics.load(s, 0) < 2) Atomics.wait(s, 0, Atomics.load(s, 0), 50);
  const rounds: Float32Array[][] = [];
  const other = 2 - id;
  while (rounds.length < maxRounds && (rounds.length < minRounds || Atomics.load(s, 3) === 0)) {
    const before = Atomics.load(s, other);
    const outs: Float32Array[] = [];
    for (const job of jobs) outs.push(...(await runJob(backend, job)));
    rounds.push(outs);
    Atomics.add(s, 1 + id, 1);
    if (Atomics.load(s, other) !== before) Atomics.store(s, 3, 1);
  }
  backend.dispose();
  parentPort!.postMessage({ rounds });
}

main().catch((e: unknown) => parentPort!.postMessage({ error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) }));
