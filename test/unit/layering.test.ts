/**
 * The layering ARCHITECTURE.md states, checked on every file under src/: each import (static,
 * dynamic `import()`, type-only, `export … from`) stays in its layer or points down the list in the
 * "## Layers" block of ARCHITECTURE.md — the block itself is parsed here, so the document and the
 * check cannot drift. Also: from above backends/ only its entry files are imported, and only
 * backends/webgpu/ imports the `webgpu` package. Imports are found by TypeScript's own scanner
 * (ts.preProcessFile), so comments and strings do not count and `import('…')` does.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** The files below backends/ that code above it may import (ARCHITECTURE.md names them too). */
const BACKEND_ENTRIES = ['src/backends/backend.ts', 'src/backends/select.ts', 'src/backends/native/host.ts'];

/** The layer list of ARCHITECTURE.md: the `src/…` entries of the first code block under "## Layers", top first. */
function layersFrom(markdown: string): string[] {
  const section = markdown.split(/^## Layers\s*$/m)[1];
  if (section === undefined) throw new Error('ARCHITECTURE.md has no "## Layers" section');
  const block = /```[^\n]*\n([\s\S]*?)```/.exec(section.split(/^## /m)[0]!);
  if (!block) throw new Error('the "## Layers" section of ARCHITECTURE.md has no code block');
  return block[1]!
    .split('\n')
    .map((l) => /^(src\/\S+)/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined);
}

/** Index of the layer holding `file` (a folder entry ends with "/"), or −1. */
function layerOf(layers: readonly string[], file: string): number {
  return layers.findIndex((l) => (l.endsWith('/') ? file.startsWith(l) : file === l));
}

/** Every import of a TypeScript source, in order. */
function importsOf(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

/** The .ts file a relative specifier names (`./x.js` is `./x.ts`, as tsc's NodeNext resolution has it). */
function resolve(from: string, spec: string, exists: (p: string) => boolean): string | undefined {
  const base = posix.normalize(posix.join(posix.dirname(from), spec));
  for (const c of [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, `${base}/index.ts`]) if (exists(c)) return c;
  return undefined;
}

/** Every rule broken by `files` (repo-relative path → source text) under `layers`, one line each. */
function violations(layers: readonly string[], files: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  const exists = (p: string) => files.has(p);
  for (const [file, text] of files) {
    const from = layerOf(layers, file);
    if (from < 0) {
      out.push(`${file} is in no layer of ARCHITECTURE.md`);
      continue;
    }
    for (const spec of importsOf(text)) {
      if (!spec.startsWith('.')) {
        if ((spec === 'webgpu' || spec.startsWith('webgpu/')) && !file.startsWith('src/backends/webgpu/')) {
          out.push(`${file} imports the webgpu package (only src/backends/webgpu/ may)`);
        }
        continue;
      }
      const target = resolve(file, spec, exists);
      if (target === undefined) {
        out.push(`${file} imports "${spec}", which is no file under src/`);
        continue;
      }
      const to = layerOf(layers, target);
      if (to < from) out.push(`${file} (layer ${layers[from]}) imports ${target} (layer ${layers[to]}, above it)`);
      if (!file.startsWith('src/backends/') && target.startsWith('src/backends/') && !BACKEND_ENTRIES.includes(target)) {
        out.push(`${file} imports ${target}; from above backends/ only ${BACKEND_ENTRIES.join(', ')} may be imported`);
      }
    }
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const p = posix.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const architecture = readFileSync(join(root, 'ARCHITECTURE.md'), 'utf8');
const layers = layersFrom(architecture);

describe('layering (ARCHITECTURE.md "## Layers")', () => {
  it('the layer list parses: src/index.ts on top, the backends below the features, each entry a real path', () => {
    expect(layers[0]).toBe('src/index.ts');
    for (const [above, below] of [['src/cli/', 'src/coreset/'], ['src/coreset/', 'src/model/'], ['src/train/', 'src/model/'], ['src/model/', 'src/backends/']]) {
      expect(layers.indexOf(above!), `${above} above ${below}`).toBeLessThan(layers.indexOf(below!));
      expect(layers.indexOf(above!)).toBeGreaterThanOrEqual(0);
    }
    for (const l of layers) expect(existsSync(join(root, l)), l).toBe(true);
    expect(new Set(layers).size).toBe(layers.length);
  });

  it('every import under src/ points down the list (or stays in its layer)', () => {
    const files = new Map(sourceFiles('src').map((f) => [f, readFileSync(join(root, f), 'utf8')]));
    expect(files.size).toBeGreaterThan(50);
    expect(violations(layers, files)).toEqual([]);
  });

  it('ARCHITECTURE.md names the backends entry files the check allows', () => {
    for (const e of BACKEND_ENTRIES) expect(architecture, e).toContain('`' + relative('src/backends', e) + '`');
  });

  it('catches an import up the list: static, dynamic, type-only and re-export; stray files; webgpu; backend internals', () => {
    const L = ['src/index.ts', 'src/cli/', 'src/model/', 'src/io/', 'src/backends/'];
    const ok = new Map([
      ['src/cli/a.ts', "import { m } from '../model/m.js';\nconst x = await import('../io/f.js');"],
      ['src/model/m.ts', "import type { T } from '../backends/backend.js';\n// import { a } from '../cli/a.js' (a comment is not an import)\nexport const s = \"import('../cli/a.js')\";"],
      ['src/io/f.ts', "import { h } from '../backends/native/host.js';"],
      ['src/backends/backend.ts', ''],
      ['src/backends/native/host.ts', "import './index.js';"],
      ['src/backends/native/index.ts', ''],
      ['src/backends/webgpu/index.ts', "import 'webgpu';"],
    ]);
    expect(violations(L, ok)).toEqual([]);
    const bad = (file: string, text: string) => violations(L, new Map([...ok, [file, text]]));
    expect(bad('src/io/f.ts', "import { a } from '../cli/a.js';")).toEqual(['src/io/f.ts (layer src/io/) imports src/cli/a.ts (layer src/cli/, above it)']);
    expect(bad('src/io/f.ts', "const m = await import('../model/m.js');")).toHaveLength(1);
    expect(bad('src/io/f.ts', "import type { M } from '../model/m.js';")).toHaveLength(1);
    expect(bad('src/io/f.ts', "export { a } from '../cli/a.js';")).toHaveLength(1);
    expect(bad('src/plot/p.ts', '')).toEqual(['src/plot/p.ts is in no layer of ARCHITECTURE.md']);
    expect(bad('src/model/m.ts', "import { x } from './missing.js';")[0]).toMatch(/no file under src/);
    expect(bad('src/model/m.ts', "import { create } from 'webgpu';")[0]).toMatch(/webgpu package/);
    expect(bad('src/model/m.ts', "import { NativeBackend } from '../backends/native/index.js';")[0]).toMatch(/only src\/backends\/backend\.ts/);
  });
});
