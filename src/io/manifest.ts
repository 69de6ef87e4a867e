/**
 * Run manifests: what it takes to reproduce a result, attached to every selection JSON.
 *
 *   { riverbed, node, platform, backend, seeds, parameters, inputs: [{ path, bytes, hash }], created }
 *
 * Input hashes: files up to `FULL_HASH_MAX_BYTES` (4 MiB) get `sha256:<hex>` of the whole file,
 * read in 4 MiB blocks (never whole in memory). Larger files get `sha256-sampled:<hex>`: sha256 of
 * the file size, the first and last 256 KiB (the .npy header lives there) and 64 blocks of 16 KiB at
 * evenly spaced offsets — cheap on a 100 GB trajectory and still catching a changed header, a
 * truncation or a rewritten file, but NOT every single-byte change in the middle; the scheme is
 * named in the hash so it is never mistaken for a full digest. These sizes keep the manifest off
 * the CLI's critical path: a full sha256 of a 200 MB trajectory took 150 ms here, as long as
 * loading, validating, scoring and selecting together; 1.5 MiB per large file takes ~1 ms. A directory (a recorded run, a
 * per-epoch trajectory folder) lists each regular file inside it, by name order.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fail } from '../errors.js';
import { VERSION } from '../version.js';

export const FULL_HASH_MAX_BYTES = 4 * 1024 * 1024;
const BLOCK = 4 * 1024 * 1024;
const EDGE = 256 * 1024;
const SAMPLES = 64;
const SAMPLE = 16 * 1024;

export interface InputFile {
  path: string;
  bytes: number;
  hash: string;
}

export interface RunManifest {
  riverbed: string;
  node: string;
  platform: string;
  backend: string | null;
  seeds: number[];
  parameters: Record<string, unknown>;
  inputs: InputFile[];
  created: string;
}

function readAt(fd: number, buf: Buffer, length: number, position: number): Buffer {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** The content hash of one file (see the module comment for the two schemes). */
export function hashFile(path: string, fullMax = FULL_HASH_MAX_BYTES): { bytes: number; hash: string } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return fail('E_FILE', `cannot open for hashing (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file: path });
  }
  try {
    const size = statSync(path).size;
    const h = createHash('sha256');
    if (size <= fullMax) {
      const buf = Buffer.allocUnsafe(Math.min(BLOCK, Math.max(1, size)));
      for (let pos = 0; pos < size; pos += BLOCK) h.update(readAt(fd, buf, Math.min(BLOCK, size - pos), pos));
      return { bytes: size, hash: `sha256:${h.digest('hex')}` };
    }
    h.update(`size:${size};`);
    const edge = Buffer.allocUnsafe(EDGE);
    h.update(readAt(fd, edge, EDGE, 0));
    const block = Buffer.allocUnsafe(SAMPLE);
    for (let s = 0; s < SAMPLES; s++) {
      const pos = Math.floor(((size - SAMPLE) * (s + 0.5)) / SAMPLES);
      h.update(readAt(fd, block, SAMPLE, pos));
    }
    h.update(readAt(fd, edge, EDGE, size - EDGE));
    return { bytes: size, hash: `sha256-sampled:${h.digest('hex')}` };
  } finally {
    closeSync(fd);
  }
}

/** Hashes of the given paths (a directory contributes each regular file in it). */
export function describeInputs(paths: readonly string[], fullMax = FULL_HASH_MAX_BYTES): InputFile[] {
  const out: InputFile[] = [];
  for (const p of paths) {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      fail('E_FILE', 'cannot open (no such file or directory)', { file: p });
    }
    const files = isDir
      ? readdirSync(p)
          .sort()
          .map((n) => join(p, n))
          .filter((f) => statSync(f).isFile())
      : [p];
    for (const f of files) out.push({ path: f, ...hashFile(f, fullMax) });
  }
  return out;
}

export interface RunManifestParams {
  parameters: Record<string, unknown>;
  inputs?: readonly string[];
  backend?: string | null;
  seeds?: readonly number[];
  /** Hash files up to this size in full (default FULL_HASH_MAX_BYTES). */
  fullHashMaxBytes?: number;
}

/** The manifest of one run: versions, backend, seeds, parameters and hashed inputs. */
export function runManifest(p: RunManifestParams): RunManifest {
  return {
    riverbed: VERSION,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    backend: p.backend ?? null,
    seeds: [...(p.seeds ?? [])],
    parameters: p.parameters,
    inputs: describeInputs(p.inputs ?? [], p.fullHashMaxBytes),
    created: new Date().toISOString(),
  };
}
