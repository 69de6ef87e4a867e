/**
 * docs/models.md as written: the ```js example runs ('riverbed' mapped to the sources) and prints
 * what its comments say, and every error line it quotes is the message of the matching bad edit
 * of examples/cnn.json.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parseModelDescription } from '../../../src/model/description.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const doc = readFileSync(join(root, 'docs/models.md'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'riverbed-models-doc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(code: string): Promise<string[]> {
  const shim = pathToFileURL(join(here, '../curvature/riverbed-shim.ts')).href;
  const file = join(dir, 'example.ts');
  writeFileSync(file, code.replaceAll("from 'riverbed'", `from '${shim}'`));
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.map(String).join(' ')));
  try {
    await import(pathToFileURL(file).href);
  } finally {
    spy.mockRestore();
  }
  return lines;
}

describe('docs/models.md', () => {
  it('the TypeScript example runs and prints shapes, parameters, logits and two eigenvalues', async () => {
    const blocks = [...doc.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks).toHaveLength(1);
    const out = await run(blocks[0]!);
    expect(out[0]).toBe('1x8x8-conv4k3p1(tanh)-maxpool2-flatten-3');
    expect(out[1]).toBe('1x8x8 → 4x8x8 → 4x8x8 → 4x4x4 → 64 → 3');
    expect(out[2]).toBe('235 parameters 0.weight [4, 1, 3, 3], 0.bias [4], 4.weight [3, 64], 4.bias [3]');
    expect(out[3]).toBe('logits [48, 3]');
    const top = /^top-2 Hessian eigenvalues (\S+) (\S+)$/.exec(out[4]!)!;
    expect(Number(top[1])).toBeGreaterThanOrEqual(Number(top[2]));
    expect(Number(top[1])).toBeGreaterThan(0);
  });

  it('the description in the doc is examples/cnn.json', () => {
    const json = /## The description\n\n```json\n([\s\S]*?)```/.exec(doc)![1]!;
    expect(JSON.parse(json)).toEqual(JSON.parse(readFileSync(join(root, 'examples/cnn.json'), 'utf8')));
  });

  it('every quoted error is the real message', () => {
    const quoted = /```text\n([\s\S]*?)```/.exec(doc)![1]!.trim().split('\n');
    const cnn = () => JSON.parse(readFileSync(join(root, 'examples/cnn.json'), 'utf8'));
    const edits: ((d: ReturnType<typeof cnn>) => void)[] = [
      (d) => {
        d.input = [1, 8, 8];
        d.layers[2] = { type: 'maxpool2d', kernel: 4 };
        d.layers[3].padding = 0;
      },
      (d) => (d.layers[3].in = 16),
      (d) => (d.layers[7].in = 3000),
      (d) => d.layers.splice(6, 1),
      (d) => delete d.input,
    ];
    expect(quoted).toHaveLength(edits.length);
    edits.forEach((edit, k) => {
      const d = cnn();
      edit(d);
      expect(() => parseModelDescription(d, 'cnn.json')).toThrow(quoted[k]!);
    });
  });
});
