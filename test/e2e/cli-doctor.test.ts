import { tmpdir } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireBuiltCli, runCli } from './cli.js';

beforeAll(() => requireBuiltCli());

describe('riverbed doctor', () => {
  it('--json reports every backend, the adapter, the addon, node and the auto choice', () => {
    const r = runCli(['doctor', '--json'], tmpdir());
    // Dawn itself prints adapter-limit notices while probing; nothing else may appear
    expect(r.stderr.split('\n').filter((l) => l && !/^Warning: max\w+ artificially reduced/.test(l))).toEqual([]);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.node).toBe(process.version);
    expect(report.backends.map((b: { name: string }) => b.name)).toEqual(['js', 'native', 'webgpu']);
    for (const b of report.backends) {
      expect(typeof b.available).toBe('boolean');
      expect(b.detail.length).toBeGreaterThan(0); // what it runs on, or why not
    }
    expect(report.backends[0].available).toBe(true);
    const native = report.backends[1];
    expect(report.addon.loaded).toBe(native.available);
    if (report.addon.loaded) expect(report.addon.threads).toBeGreaterThanOrEqual(1);
    else expect(report.addon.reason.length).toBeGreaterThan(0);
    const gpu = report.backends[2];
    if (gpu.available) {
      expect(report.gpu.adapter).toBe(gpu.detail);
      expect(typeof report.gpu.software).toBe('boolean');
    } else expect(report.gpu.reason).toBe(gpu.detail);
    expect(['js', 'native', 'webgpu']).toContain(report.auto.backend);
    expect(report.auto.reason).toMatch(/auto/);
    // auto never picks a software rasteriser when native is there
    if (gpu.software && native.available) expect(report.auto.backend).toBe('native');
  });
  it('prints a readable report', () => {
    const r = runCli(['doctor'], tmpdir());
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^ {2}js +available/m);
    expect(r.stdout).toMatch(/^ {2}native /m);
    expect(r.stdout).toMatch(/^ {2}webgpu /m);
    expect(r.stdout).toMatch(/gpu adapter: /);
    expect(r.stdout).toMatch(/native addon: /);
    expect(r.stdout).toMatch(/auto picks: (js|native|webgpu)/);
  });
});
