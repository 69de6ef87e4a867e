/**
 * WGSL sources: one file per kernel family under the package's `shaders/` directory, read at
 * runtime (resolved relative to this module, so it works from `src/` under vitest and from
 * `dist/`). Helper files are prepended with `//!include name`. The uniform struct `Params` of a
 * family is parsed from its WGSL, so its layout is declared once (in the shader) and the host
 * writes it by field name. Pure functions: testable without a GPU.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RiverbedError } from '../../errors.js';

export const SHADER_DIR = fileURLToPath(new URL('../../../shaders/', import.meta.url));

const cache = new Map<string, string>();

export function shaderSource(family: string): string {
  let src = cache.get(family);
  if (src !== undefined) return src;
  let text: string;
  try {
    text = readFileSync(`${SHADER_DIR}${family}.wgsl`, 'utf8');
  } catch (e) {
    throw new RiverbedError('E_INTERNAL', `WGSL for kernel family "${family}" not found in ${SHADER_DIR}: ${(e as Error).message}`);
  }
  src = text.replace(/^\/\/!include (\w+)\s*$/gm, (_m, name: string) => shaderSource(name));
  cache.set(family, src);
  return src;
}

export type ScalarType = 'u32' | 'i32' | 'f32';
export interface UniformField {
  name: string;
  type: ScalarType;
  offset: number;
}
export interface UniformLayout {
  fields: UniformField[];
  /** Bytes, rounded up to 16 as WGSL requires for a uniform struct. */
  size: number;
}

/** Parses `struct Params { a: u32, b: f32, … }` (4-byte scalars only) out of a WGSL source. */
export function parseParams(wgsl: string): UniformLayout {
  const m = /struct\s+Params\s*\{([^}]*)\}/.exec(wgsl);
  if (!m) return { fields: [], size: 0 };
  const fields: UniformField[] = [];
  for (const raw of m[1]!.split(/[,;\n]/)) {
    const line = raw.replace(/\/\/.*$/, '').trim();
    if (!line) continue;
    const f = /^(\w+)\s*:\s*(u32|i32|f32)$/.exec(line);
    if (!f) throw new RiverbedError('E_INTERNAL', `struct Params: unsupported field "${line}" (4-byte scalars only)`);
    fields.push({ name: f[1]!, type: f[2] as ScalarType, offset: fields.length * 4 });
  }
  return { fields, size: Math.max(16, Math.ceil((fields.length * 4) / 16) * 16) };
}

/** Writes `values` into `view` at `base` following `layout`; a missing or unknown field is an error. */
export function writeParams(layout: UniformLayout, values: Record<string, number>, view: DataView, base: number): void {
  for (const f of layout.fields) {
    const v = values[f.name];
    if (v === undefined) throw new RiverbedError('E_INTERNAL', `uniform field "${f.name}" not given`);
    if (f.type === 'f32') view.setFloat32(base + f.offset, v, true);
    else if (f.type === 'u32') view.setUint32(base + f.offset, v >>> 0, true);
    else view.setInt32(base + f.offset, v | 0, true);
  }
  for (const k of Object.keys(values)) {
    if (!layout.fields.some((f) => f.name === k)) throw new RiverbedError('E_INTERNAL', `unknown uniform field "${k}"`);
  }
}

/** Workgroups for `n` total, as a 2-D grid within 65 535 per dimension. Shaders rebuild the linear id. */
export function grid(n: number, maxPerDim = 65_535): [number, number] {
  if (n <= maxPerDim) return [Math.max(1, n), 1];
  const y = Math.ceil(n / maxPerDim);
  if (y > maxPerDim) throw new RiverbedError('E_ARG', `dispatch of ${n} workgroups exceeds ${maxPerDim}²`);
  return [Math.ceil(n / y), y];
}

/** Size classes for the buffer pool: 256-byte multiples of powers of two up to 1 MiB, then 8 steps per octave. */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 16) * 16);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const octave = 2 ** Math.floor(Math.log2(b));
  const step = octave / 8;
  return Math.ceil(b / step) * step;
}
