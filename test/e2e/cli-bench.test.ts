/**
 * `riverbed bench` end to end on the built CLI, at the tiny size with a short sampling time (a few
 * seconds): the JSON report's structure and its internal consistency (throughput = work / mean
 * time, the fraction of the limit = throughput / limit, the machine block), `--out` writing the
 * same report, and bad arguments refused before any timing. No timing is asserted.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli, runCli } from './cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'riverbed-bench-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeAll(() => requireBuiltCli());

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));

describe('riverbed bench', () => {
  it('bench matmul --json: a riverbed.bench report with the machine, the limits and the timed product', () => {
    const out = path.join(tmp, 'report.json');
    const r = runCli(['bench', 'matmul', '--size', 'tiny', '--time', '0.1', '--min-samples', '2', '--json', '--out', out], tmp);
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.format).toBe('riverbed.bench');
    expect(rep.version).toBe(1);
    expect(rep.size).toBe('tiny');
    expect(Number.isNaN(Date.parse(rep.date))).toBe(false);
    expect(rep.timing).toEqual({ maxTime: 0.1, minSamples: 2 });
    // machine: enough to tell two machines apart
    const m = rep.machine;
    expect(typeof m.cpu).toBe('string');
    expect(m.cores).toBeGreaterThanOrEqual(1);
    expect(Array.isArray(m.cpuFlags)).toBe(true);
    expect(m.memoryBytes).toBeGreaterThan(0);
    expect(m.node).toBe(process.version);
    expect(m.riverbed).toMatch(/^\d+\.\d+\.\d+/);
    expect(typeof m.native.available).toBe('boolean');
    expect(m.backend.name).toBe(rep.backend.name);
    expect(rep.backend.reason).toMatch(/auto/);
    // the one result, consistent with its own numbers
    expect(rep.results).toHaveLength(1);
    const res = rep.results[0];
    expect(res.name).toBe('matmul');
    expect(res.config).toEqual({ m: 64, n: 64, k: 64, dtype: 'f32' });
    expect(res.work.flops).toBe(2 * 64 ** 3);
    const t = res.timing;
    expect(t.samples).toBeGreaterThanOrEqual(2);
    expect(t.sampleMs).toHaveLength(t.samples);
    expect(t.callsPerSample).toBeGreaterThanOrEqual(1);
    expect(t.meanMs).toBeGreaterThan(0);
    expect(t.minMs).toBeLessThanOrEqual(Math.max(...t.sampleMs));
    expect(t.rme).toBeGreaterThanOrEqual(0);
    expect(res.throughput.unit).toBe('GFLOP/s');
    expect(close(res.throughput.value, res.work.flops / 1e9 / (t.meanMs / 1000))).toBe(true);
    if (m.native.available) {
      expect(rep.limits.streamRead.unit).toBe('GB/s');
      expect(rep.limits.gemmPeak.unit).toBe('GFLOP/s');
      expect(close(rep.limits.gemmPeak.value, (2 * 128 ** 3) / 1e9 / (rep.limits.gemmPeak.timing.meanMs / 1000))).toBe(true);
      expect(close(res.ofLimit, res.throughput.value / rep.limits.gemmPeak.value)).toBe(true);
    } else {
      expect(rep.limits.unavailable).toMatch(/addon/);
    }
    // --out holds the same report
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(rep);
  });

  it('refuses an unknown benchmark, size or backend before timing anything', () => {
    for (const [args, field] of [
      [['bench', 'conv'], 'benchmark'],
      [['bench', 'matmul', '--size', 'huge'], '--size'],
      [['bench', 'matmul', '--backend', 'cuda'], '--backend'],
      [['bench', 'matmul', '--time', '0'], '--time'],
    ] as const) {
      const r = runCli([...args], tmp);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^riverbed: error \[E_ARG\]/);
      expect(r.stderr, args.join(' ')).toContain(field);
      expect(r.stdout).toBe('');
    }
  });
});
