/**
 * Setup file (vitest.config.ts): after every test, one turn of the event loop.
 *
 * Many e2e tests run the CLI with spawnSync; a file of them back to back never leaves the event
 * loop (awaiting a synchronous test only runs microtasks), so the worker cannot read vitest's
 * replies to its task updates. Past 60 s of that — cli-file-safety's 134 rows on a loaded 2-core
 * machine — vitest's worker RPC times out and the run fails with "Timeout calling onTaskUpdate"
 * although every test passed. setImmediate lets the poll phase deliver the replies between tests.
 */
import { afterEach } from 'vitest';

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
