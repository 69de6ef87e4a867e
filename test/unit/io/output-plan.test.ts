/**
 * The output rule's pieces that the CLI table (test/e2e/cli-file-safety.test.ts) does not reach
 * directly: the library writers refuse special files and write through symlinks, makeOutputDir
 * undoes only what it made, and paths under a regular file are named as such.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../src/io/atomic.js';
import { readBoundedText } from '../../../src/io/files.js';
import { checkOutputPlan, makeOutputDir } from '../../../src/io/output-plan.js';

const dir = mkdtempSync(join(tmpdir(), 'riverbed-output-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`;
  }
};

describe('output rule', () => {
  it('writeFileAtomic writes through a symlink to a regular file and keeps the link; refuses a FIFO and a dangling link', () => {
    const target = join(dir, 'target.txt');
    writeFileSync(target, 'old');
    symlinkSync('target.txt', join(dir, 'link.txt'));
    writeFileAtomic(join(dir, 'link.txt'), 'new');
    expect(readFileSync(target, 'utf8')).toBe('new');
    expect(readlinkSync(join(dir, 'link.txt'))).toBe('target.txt');

    execFileSync('mkfifo', [join(dir, 'pipe')]);
    expect(code(() => writeFileAtomic(join(dir, 'pipe'), 'x'))).toMatch(/^E_FILE: .*pipe: is a FIFO/);
    expect(lstatSync(join(dir, 'pipe')).isFIFO()).toBe(true);
    symlinkSync('nowhere', join(dir, 'dangling'));
    expect(code(() => writeFileAtomic(join(dir, 'dangling'), 'x'))).toMatch(/^E_FILE: .*dangling: is a symbolic link that does not resolve/);
    expect(lstatSync(join(dir, 'dangling')).isSymbolicLink()).toBe(true);
  });

  it('an output under a regular file, or in a missing directory, is named before any work', () => {
    const file = join(dir, 'plain.npy');
    writeFileSync(file, 'x');
    expect(code(() => checkOutputPlan({ inputs: [], dirs: [{ flag: '--record', path: join(file, 'run'), files: ['a.npy'] }] }))).toMatch(/plain\.npy is a regular file, not a directory/);
    expect(code(() => checkOutputPlan({ inputs: [], files: [{ flag: '--out', path: join(dir, 'missing', 'o.json') }] }))).toMatch(/^E_FILE: .*--out: directory .*missing does not exist/);
    // a new directory several levels deep is fine: it is created at write time
    expect(code(() => checkOutputPlan({ inputs: [], dirs: [{ flag: '--out', path: join(dir, 'a', 'b', 'c'), files: ['x.json'] }] }))).toBeUndefined();
    expect(existsSync(join(dir, 'a'))).toBe(false);
  });

  it('an input named twice by its hard link and a directory input both protect their files', () => {
    mkdirSync(join(dir, 'run'));
    writeFileSync(join(dir, 'run', 'train_loss.npy'), 'x');
    const plan = (out: string) => () => checkOutputPlan({ inputs: [{ flag: '--run', path: join(dir, 'run') }], files: [{ flag: '--scores', path: out }] });
    expect(code(plan(join(dir, 'run', 'train_loss.npy')))).toMatch(/^E_ARG: .*is the input --run/);
    expect(code(plan(join(dir, 'run', 'new.npy')))).toMatch(/^E_ARG: .*inside the input directory --run/);
    expect(code(plan(join(dir, 'elsewhere.npy')))).toBeUndefined();
  });

  it('makeOutputDir undo removes the directories it made and nothing that was there', () => {
    mkdirSync(join(dir, 'keep'));
    writeFileSync(join(dir, 'keep', 'old.txt'), 'old');
    const made = makeOutputDir(join(dir, 'keep', 'new', 'deeper'));
    expect(existsSync(join(dir, 'keep', 'new', 'deeper'))).toBe(true);
    made.undo();
    expect(existsSync(join(dir, 'keep', 'new'))).toBe(false);
    expect(readFileSync(join(dir, 'keep', 'old.txt'), 'utf8')).toBe('old');
    const existing = makeOutputDir(join(dir, 'keep'));
    existing.undo();
    expect(existsSync(join(dir, 'keep', 'old.txt'))).toBe(true);
  });

  it('readBoundedText refuses a file over its cap before reading it, and a directory', () => {
    const big = join(dir, 'big.json');
    writeFileSync(big, '{}' + ' '.repeat(100));
    expect(readBoundedText(big, 102, 'a test file')).toHaveLength(102);
    expect(code(() => readBoundedText(big, 101, 'a test file'))).toMatch(/^E_FORMAT: .*big\.json: is 102 bytes; a test file is read whole and may be at most 101 bytes/);
    expect(code(() => readBoundedText(dir, 1000, 'a test file'))).toMatch(/^E_FILE: .*is a directory; a test file must be a regular file/);
  });
});
