import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFilesAtomic } from '../../../src/io/atomic.js';

const dir = mkdtempSync(join(tmpdir(), 'riverbed-atomic-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('atomic writes', () => {
  it('replaces a file in one step and leaves no temp files', () => {
    const p = join(dir, 'a.txt');
    writeFileSync(p, 'old');
    writeFileAtomic(p, 'new');
    expect(readFileSync(p, 'utf8')).toBe('new');
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
  it('when the second of two outputs fails, the first is removed too', () => {
    const first = join(dir, 'first.json');
    const blocker = join(dir, 'blocker');
    mkdirSync(join(blocker, 'inside'), { recursive: true }); // rename(file, non-empty dir) fails
    expect(() =>
      writeFilesAtomic([
        { path: first, data: Buffer.from('{}') },
        { path: blocker, data: Buffer.from('x') },
      ]),
    ).toThrow(/blocker/);
    expect(existsSync(first)).toBe(false);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
  it('when a temp file cannot be created, nothing is written', () => {
    const first = join(dir, 'one.json');
    expect(() =>
      writeFilesAtomic([
        { path: first, data: Buffer.from('{}') },
        { path: join(dir, 'no-such-dir', 'two.npy'), data: Buffer.from('x') },
      ]),
    ).toThrow(/no-such-dir/);
    expect(existsSync(first)).toBe(false);
    expect(readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });
});
