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

// ---- bindings by name ------------------------------------------------------------------------

export interface StorageBinding {
  name: string;
  binding: number;
  access: 'read' | 'read_write';
}

/** What the host needs to bind a family: its uniform, its storage variables, and per entry point the ones it uses. */
export interface ShaderLayout {
  family: string;
  params: UniformLayout;
  /** The `var<uniform>` holding `Params` (the runtime binds it), if the family has one. */
  uniform?: { name: string; binding: number };
  storage: Map<string, StorageBinding>;
  /**
   * Per entry point: the module variables it statically uses, through the functions it calls.
   * `layout: 'auto'` keeps exactly these bindings; binding any other one is a validation error.
   */
  entries: Map<string, Set<string>>;
  /** Per entry point: the `Params` fields it reads (`<uniform>.<field>`), through the functions it calls. */
  entryParams: Map<string, Set<string>>;
}

const DECL = /@group\(\s*(\d+)\s*\)\s*@binding\(\s*(\d+)\s*\)\s*var\s*<\s*(uniform|storage)\s*(?:,\s*(read|read_write)\s*)?>\s*(\w+)\s*:\s*([^;]+);/g;

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
}

interface FnInfo {
  compute: boolean;
  /** Module-scope names referenced (not shadowed by a parameter or local). */
  refs: Set<string>;
  /** `name.member` for each member read off a module-scope name (e.g. `p.count` of the uniform). */
  members: Set<string>;
}

/**
 * Functions of a WGSL module with the module-scope names each references. A scope-aware token
 * walk, enough for this repository's WGSL: parameters and `let`/`var`/`const` shadow module names
 * (a `for (var i …)` header belongs to the loop's block), `a.b` members are not references.
 */
function scanFunctions(code: string): Map<string, FnInfo> {
  const toks = code.match(/[A-Za-z_]\w*|\d[\w.]*|->|[{}()[\]<>.,;:=@]|\S/g) ?? [];
  const fns = new Map<string, FnInfo>();
  let depth = 0;
  let compute = false;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t === '{') depth++;
    else if (t === '}') depth--;
    if (depth !== 0) continue;
    if (t === '@' && toks[i + 1] === 'compute') compute = true;
    if (t !== 'fn') continue;
    const name = toks[i + 1]!;
    // Parameters: identifiers followed by ':' at parenthesis depth 1.
    const params = new Set<string>();
    let j = i + 2;
    let paren = 0;
    for (; j < toks.length; j++) {
      if (toks[j] === '(') paren++;
      else if (toks[j] === ')' && --paren === 0) break;
      else if (paren === 1 && toks[j + 1] === ':' && /^[A-Za-z_]/.test(toks[j]!)) params.add(toks[j]!);
    }
    while (j < toks.length && toks[j] !== '{') j++;
    const scopes: Set<string>[] = [params];
    let pending: Set<string> | undefined; // declarations of a `for (…)` header
    let headerParen = -1;
    let p = 0;
    const refs = new Set<string>();
    const members = new Set<string>();
    const declared = (n: string): boolean => scopes.some((s) => s.has(n)) || (pending?.has(n) ?? false);
    for (j = j + 1; j < toks.length; j++) {
      const u = toks[j]!;
      if (u === '{') {
        scopes.push(pending ?? new Set());
        pending = undefined;
        continue;
      }
      if (u === '}') {
        scopes.pop();
        if (scopes.length === 0) break;
        continue;
      }
      if (u === '(') p++;
      if (u === ')' && --p === headerParen) headerParen = -1;
      if (u === 'for') {
        pending = new Set();
        headerParen = p;
        continue;
      }
      if (u === 'let' || u === 'var' || u === 'const') {
        let k = j + 1;
        if (toks[k] === '<') while (k < toks.length && toks[k] !== '>') k++;
        if (toks[k] === '>') k++;
        const decl = toks[k]!;
        (headerParen >= 0 && pending ? pending : scopes[scopes.length - 1]!).add(decl);
        j = k;
        continue;
      }
      if (/^[A-Za-z_]/.test(u) && toks[j - 1] !== '.' && !declared(u)) {
        refs.add(u);
        if (toks[j + 1] === '.' && /^[A-Za-z_]/.test(toks[j + 2] ?? '')) members.add(`${u}.${toks[j + 2]}`);
      }
    }
    fns.set(name, { compute, refs, members });
    compute = false;
    i = j;
  }
  return fns;
}

/** Bindings and per-entry-point usage of a WGSL module (pure; `family` names it in errors). */
export function parseLayout(wgsl: string, family: string): ShaderLayout {
  const code = stripComments(wgsl);
  const storage = new Map<string, StorageBinding>();
  let uniform: ShaderLayout['uniform'];
  const slots = new Map<number, string>();
  for (const m of code.matchAll(DECL)) {
    const [, group, binding, space, access, name, type] = m as unknown as string[];
    const where = `WGSL family "${family}", variable "${name}"`;
    if (group !== '0') throw new RiverbedError('E_INTERNAL', `${where}: only @group(0) is supported, got @group(${group})`);
    const b = Number(binding);
    if (slots.has(b)) throw new RiverbedError('E_INTERNAL', `${where}: @binding(${b}) is also "${slots.get(b)}"`);
    slots.set(b, name!);
    if (space === 'uniform') {
      if (type!.trim() !== 'Params' || uniform) throw new RiverbedError('E_INTERNAL', `${where}: the one uniform must be of type Params`);
      uniform = { name: name!, binding: b };
    } else storage.set(name!, { name: name!, binding: b, access: access === 'read_write' ? 'read_write' : 'read' });
  }
  const fns = scanFunctions(code);
  const modVars = new Set([...storage.keys(), ...(uniform ? [uniform.name] : [])]);
  const entries = new Map<string, Set<string>>();
  const entryParams = new Map<string, Set<string>>();
  const prefix = uniform ? `${uniform.name}.` : undefined;
  for (const [name, f] of fns) {
    if (!f.compute) continue;
    const used = new Set<string>();
    const fields = new Set<string>();
    const seen = new Set<string>();
    const visit = (fn: string): void => {
      if (seen.has(fn)) return;
      seen.add(fn);
      const info = fns.get(fn);
      for (const r of info?.refs ?? []) {
        if (modVars.has(r)) used.add(r);
        else if (fns.has(r)) visit(r);
      }
      if (prefix) for (const m of info?.members ?? []) if (m.startsWith(prefix)) fields.add(m.slice(prefix.length));
    };
    visit(name);
    entries.set(name, used);
    entryParams.set(name, fields);
  }
  return { family, params: parseParams(wgsl), uniform, storage, entries, entryParams };
}

const layouts = new Map<string, ShaderLayout>();

/** The parsed layout of a kernel family (cached). */
export function shaderLayout(family: string): ShaderLayout {
  let l = layouts.get(family);
  if (!l) layouts.set(family, (l = parseLayout(shaderSource(family), family)));
  return l;
}

/**
 * The bind-group entries of one dispatch: the buffers given by WGSL variable name, checked against
 * what the entry point uses. A missing, unknown or unused name is an E_INTERNAL error.
 */
export function bindingsFor<T>(layout: ShaderLayout, entry: string, buffers: Record<string, T>): { name: string; binding: number; access: StorageBinding['access']; resource: T }[] {
  const where = `webgpu ${layout.family}:${entry}`;
  const used = layout.entries.get(entry);
  if (!used) throw new RiverbedError('E_INTERNAL', `${where}: no @compute entry point "${entry}" (has ${[...layout.entries.keys()].join(', ')})`);
  const out: { name: string; binding: number; access: StorageBinding['access']; resource: T }[] = [];
  for (const [name, resource] of Object.entries(buffers)) {
    const s = layout.storage.get(name);
    if (!s) throw new RiverbedError('E_INTERNAL', `${where}: unknown binding "${name}" (storage variables: ${[...layout.storage.keys()].join(', ')})`);
    if (!used.has(name)) throw new RiverbedError('E_INTERNAL', `${where}: binding "${name}" is given but the entry point does not use it`);
    if (resource === undefined) throw new RiverbedError('E_INTERNAL', `${where}: binding "${name}" is undefined`);
    out.push({ name, binding: s.binding, access: s.access, resource });
  }
  for (const name of used) {
    if (layout.storage.has(name) && !(name in buffers)) throw new RiverbedError('E_INTERNAL', `${where}: binding "${name}" not given`);
  }
  return out;
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
