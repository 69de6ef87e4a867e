/** Every ```js block of docs/curvature.md runs as written ('riverbed' mapped to the sources) and prints what it says. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const doc = readFileSync(join(here, '../../../docs/curvature.md'), 'utf8');
const blocks = [...doc.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = mkdtempSync(join(tmpdir(), 'riverbed-curv-doc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(code: string, i: number): Promise<string> {
  const shim = pathToFileURL(join(here, 'riverbed-shim.ts')).href;
  const file = join(dir, `block${i}.ts`);
  writeFileSync(file, code.replaceAll("from 'riverbed'", `from '${shim}'`));
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.map(String).join(' ')));
  try {
    await import(pathToFileURL(file).href);
  } finally {
    spy.mockRestore();
  }
  return lines.join('\n');
}

describe('docs/curvature.md examples', () => {
  it('has the three examples', () => expect(blocks.length).toBe(3));

  it('main example: Lanczos, power, Hutch++, SLQ, LLA', async () => {
    const out = await run(blocks[0]!, 0);
    expect(out).toMatch(/operator hessian, size 195/);
    const lz = Number(/\((\d+) HVPs\)/.exec(out)![1]);
    const pw = Number(/power iteration used (\d+) HVPs/.exec(out)![1]);
    expect(lz).toBeLessThan(pw);
    expect(Number(/density mass ([\d.]+)/.exec(out)![1])).toBeCloseTo(1, 2);
    expect(out).toMatch(/λmin\/λmax = -?[\d.]+/);
  });

  it('user operators print their closed-form eigenvalues', async () => {
    const out = await run(blocks[1]!, 1).then((s) => s.split('\n'));
    expect(Number(out[0])).toBeCloseTo(2 + Math.SQRT2, 5);
    expect(Number(out[1])).toBeCloseTo(3, 5);
  });

  it('error bars print one row per size and a recommendation', async () => {
    const out = (await run(blocks[2]!, 2)).split('\n');
    expect(out.slice(0, 3).map((l) => Number(l.split(' ')[0]))).toEqual([16, 64, 256]);
    expect(out[3]).toMatch(/^stable from (16|64|256|null) samples$/);
  });
});
