/**
 * Every export of the C++ addon checks its own arguments (count, types, every array's length
 * against the sizes it is told) and throws instead of reading or writing out of bounds, whatever
 * the TypeScript wrappers do. A child process (test/helpers/native-misuse-child.mjs) calls each
 * export correctly and then wrongly ~1 100 ways; it must survive (exit 0, no signal), and every
 * wrong call must throw the addon's own error. An export without a case in the child's table
 * fails here, so a new entry point cannot skip its checks.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { availability } from '../helpers/backends.js';

const why = await availability('native');
const inCI = process.env.CI === 'true' || process.env.CI === '1';
if (why && inCI) throw new Error(`CI requires the native backend, but it is unavailable: ${why}`);
if (why) console.warn(`[riverbed tests] SKIPPING native addon robustness tests: ${why}`);

const { nativeAddon } = await import('../../src/backends/native/addon.js');
const child = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'native-misuse-child.mjs');

interface ChildReport {
  results: { fn: string; name: string; ok: boolean; detail?: string }[];
  uncovered: string[];
  stale: string[];
  checks: { sgemmMaxError: number; hvpSync: number; hvpAsync: number; hvpSame: boolean; cld: number; cldInRange: boolean };
}

describe.skipIf(!!why)('native addon entry points under misuse', () => {
  const loaded = nativeAddon();
  const file = loaded.ok ? loaded.file : '';
  const run = spawnSync(process.execPath, [child, file], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  const lastCase = (run.stderr ?? '').trim().split('\n').slice(-3).join(' | ');

  it('survives every wrong call (no segfault, no abort)', () => {
    expect(run.signal, `child killed by ${run.signal}; last case started: ${lastCase}`).toBeNull();
    expect(run.status, `child exited ${run.status}: ${lastCase}`).toBe(0);
  });

  const report = (): ChildReport => JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as ChildReport;

  it('has a case for every export, and no case for an export that is gone', () => {
    const r = report();
    expect(r.uncovered, 'exports without a case in test/helpers/native-misuse-child.mjs (add one to CASES)').toEqual([]);
    expect(r.stale, 'cases for exports the addon no longer has').toEqual([]);
    const names = Object.keys(loaded.ok ? loaded.addon : {});
    for (const fn of names) {
      const mine = r.results.filter((x) => x.fn === fn);
      expect(mine.find((x) => x.name === 'correct call'), `${fn}: correct call`).toBeDefined();
      expect(mine.length, `${fn}: wrong calls tried`).toBeGreaterThanOrEqual(fn === 'info' ? 2 : 6);
    }
  });

  it('throws its own error on every wrong call, and runs every correct call', () => {
    const failed = report().results.filter((x) => !x.ok).map((x) => `${x.fn}: ${x.name}: ${x.detail}`);
    expect(failed).toEqual([]);
  });

  it('still computes: sgemm in every transpose, the async fused product equals the sync one, CLD resolves', () => {
    const c = report().checks;
    expect(c.sgemmMaxError).toBeLessThan(1e-5);
    expect([c.hvpSync, c.hvpAsync]).toEqual([-1, -1]);
    expect(c.hvpSame).toBe(true);
    expect(c.cld).toBe(-1);
    expect(c.cldInRange).toBe(true);
  });
});
