/**
 * `riverbed doctor`: what each backend would run on here, or why it cannot; the GPU adapter
 * (and whether it is a software rasteriser), the addon and its threads, Node, and what `auto`
 * picks and why.
 */
import { availableParallelism, cpus } from 'node:os';
import type { Command } from 'commander';
import { backendStatuses, selectBackend } from '../backends/select.js';
import { VERSION } from '../version.js';

export interface DoctorReport {
  riverbed: string;
  node: string;
  platform: string;
  cpu: { model: string; cores: number };
  backends: { name: string; available: boolean; detail: string; software?: boolean }[];
  addon: { loaded: boolean; threads?: number; isa?: string; reason?: string };
  gpu: { adapter: string | null; software: boolean | null; reason?: string };
  auto: { backend: string | null; reason: string };
}

async function nativeDetails(): Promise<DoctorReport['addon']> {
  try {
    const { nativeAvailability } = await import('../backends/native/host.js');
    const a = nativeAvailability();
    return a.available ? { loaded: true, threads: a.threads, isa: a.isa } : { loaded: false, reason: a.reason };
  } catch (err) {
    return { loaded: false, reason: `native backend module failed to load: ${(err as Error).message}` };
  }
}

export async function doctorReport(): Promise<DoctorReport> {
  const statuses = await backendStatuses();
  const gpu = statuses.find((s) => s.name === 'webgpu')!;
  let auto: DoctorReport['auto'];
  try {
    const sel = await selectBackend('auto');
    auto = { backend: sel.backend.name, reason: sel.reason };
    sel.backend.dispose();
  } catch (err) {
    auto = { backend: null, reason: `auto selection failed: ${(err as Error).message}` };
  }
  return {
    riverbed: VERSION,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: { model: cpus()[0]?.model ?? 'unknown', cores: availableParallelism() },
    backends: statuses.map((s) => ({ name: s.name, available: s.available, detail: s.detail, ...(s.software !== undefined ? { software: s.software } : {}) })),
    addon: await nativeDetails(),
    gpu: gpu.available ? { adapter: gpu.detail, software: gpu.software ?? false } : { adapter: null, software: null, reason: gpu.detail },
    auto,
  };
}

function formatReport(r: DoctorReport): string {
  const lines = [
    `riverbed ${r.riverbed} on node ${r.node} (${r.platform}), ${r.cpu.cores} cores: ${r.cpu.model}`,
    '',
    'backends:',
    ...r.backends.map((b) => `  ${b.name.padEnd(7)} ${b.available ? 'available  ' : 'unavailable'}  ${b.detail}`),
    '',
    r.gpu.adapter
      ? `gpu adapter: ${r.gpu.adapter}${r.gpu.software ? ' (software rasteriser: correctness path, not picked by auto)' : ''}`
      : `gpu adapter: none (${r.gpu.reason})`,
    r.addon.loaded ? `native addon: loaded, ${r.addon.threads} threads, ${r.addon.isa}` : `native addon: not loaded (${r.addon.reason})`,
    '',
    `auto picks: ${r.auto.backend ?? 'nothing'} — ${r.auto.reason}`,
  ];
  return `${lines.join('\n')}\n`;
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('list the backends, the GPU adapter, the addon and its threads, and what "auto" would pick and why')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }) => {
      const report = await doctorReport();
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    });
}
