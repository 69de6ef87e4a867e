/**
 * What a benchmark ran on, so that results from different machines can be compared: the CPU and
 * its vector instruction sets, the cores this process may use, the memory, the OS, the versions of
 * node, V8 and riverbed, the addon's threads and dispatch path, and the GPU adapter when the
 * benchmarked backend is webgpu.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { BackendInfo } from '../backends/backend.js';
import { nativeAvailability } from '../backends/native/host.js';
import { VERSION } from '../version.js';

export interface MachineInfo {
  cpu: string;
  /** Cores this process may run on (os.availableParallelism). */
  cores: number;
  arch: string;
  /** Vector instruction sets the CPU reports (Linux /proc/cpuinfo), of those riverbed's kernels care about. */
  cpuFlags: string[];
  memoryBytes: number;
  os: string;
  node: string;
  v8: string;
  riverbed: string;
  /** The C++ addon: threads and the instruction-set path its dispatch took, or why it is missing. */
  native: { available: true; threads: number; isa: string } | { available: false; reason: string };
  /** The benchmarked backend as it describes itself (webgpu: the adapter, and whether it is software). */
  backend: BackendInfo;
}

const FLAGS_OF_INTEREST = ['avx512f', 'avx512bw', 'avx512vl', 'avx512_bf16', 'avx2', 'fma', 'f16c', 'sse4_2', 'asimd', 'sve', 'neon'];

function cpuFlags(): string[] {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const line = text.split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
    const have = new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
    return FLAGS_OF_INTEREST.filter((f) => have.has(f));
  } catch {
    return []; // not Linux: the addon's isa still says which path ran
  }
}

export function machineInfo(backend: BackendInfo): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    arch: process.arch,
    cpuFlags: cpuFlags(),
    memoryBytes: os.totalmem(),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    v8: process.versions.v8,
    riverbed: VERSION,
    native: nativeAvailability(),
    backend,
  };
}
