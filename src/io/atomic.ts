/**
 * Atomic output: every file is written to a temp file in the same directory, then renamed over
 * the target, so a reader never sees half a file and bad input never leaves one behind.
 *
 * `writeFilesAtomic` commits several outputs as one: all temp files are written first (any
 * failure removes them all, nothing is renamed); then they are renamed in turn, and if a rename
 * fails the targets already renamed are removed, so the caller sees all outputs or none.
 *
 * No fsync: the guarantee is against readers and against this process failing (bad input, a
 * crash), not against power loss; fsync would cost the CLI more than the whole CLD kernel.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fail } from '../errors.js';

/** The bytes of one output, as one or more chunks written back to back. */
export type FileChunks = ArrayBufferView | readonly ArrayBufferView[];

export interface PendingFile {
  path: string;
  data: FileChunks;
}

let counter = 0;

/** A unique temp path next to `path` (same directory, so rename() stays on one filesystem). */
export function tempPathFor(path: string): string {
  counter += 1;
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.${counter}.tmp`);
}

function asBytes(view: ArrayBufferView): Uint8Array {
  return view instanceof Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function writeTemp(path: string, data: FileChunks): string {
  const tmp = tempPathFor(path);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o644);
  } catch (err) {
    return fail('E_FILE', `cannot create output (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file: path });
  }
  try {
    const chunks = ArrayBuffer.isView(data) ? [data] : (data as readonly ArrayBufferView[]);
    for (const chunk of chunks) {
      const bytes = asBytes(chunk);
      let off = 0;
      while (off < bytes.byteLength) off += writeSync(fd, bytes, off, Math.min(bytes.byteLength - off, 1 << 30));
    }
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    return fail('E_FILE', `cannot write output (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { file: path });
  }
  closeSync(fd);
  return tmp;
}

/** Writes one file atomically (temp file + rename). */
export function writeFileAtomic(path: string, data: FileChunks | string): void {
  writeFilesAtomic([{ path, data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data }]);
}

/** Writes several files as one commit: all of them, or (on any failure) none. */
export function writeFilesAtomic(files: readonly PendingFile[]): void {
  const temps: string[] = [];
  try {
    for (const f of files) temps.push(writeTemp(f.path, f.data));
  } catch (err) {
    for (const t of temps) rmSync(t, { force: true });
    throw err;
  }
  const done: string[] = [];
  for (let i = 0; i < files.length; i++) {
    try {
      renameSync(temps[i]!, files[i]!.path);
      done.push(files[i]!.path);
    } catch (err) {
      for (let j = i; j < temps.length; j++) rmSync(temps[j]!, { force: true });
      for (const p of done) rmSync(p, { force: true });
      return fail('E_FILE', `cannot move output into place (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, {
        file: files[i]!.path,
      });
    }
  }
}
