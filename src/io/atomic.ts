/**
 * Atomic output: every file is written to a temp file in the same directory, then renamed over
 * the target, so a reader never sees half a file and bad input never leaves one behind.
 *
 * `writeFilesAtomic` commits several outputs as one: all temp files are written first (any
 * failure removes them all, nothing is renamed); then they are renamed in turn, and if a rename
 * fails the targets already renamed are removed, so the caller sees all outputs or none.
 *
 * Only regular files are replaced: an output that exists as a FIFO, a device (`/dev/full`), a
 * socket or a directory is refused (rename would silently swap it for a regular file). A symlink to
 * an existing regular file is written THROUGH: the target file gets the new content and the link
 * stays; a dangling symlink, or one to anything else, is refused.
 *
 * No fsync: the guarantee is against readers and against this process failing (bad input, a
 * crash), not against power loss; fsync would cost the CLI more than the whole CLD kernel.
 */
import { closeSync, lstatSync, openSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fail } from '../errors.js';
import { errnoText, fileKind } from './files.js';

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

/**
 * Where writing `path` lands: `path` itself (absent, or a regular file), or the existing regular
 * file a symlink resolves to. Anything else is refused with an E_FILE naming `path`.
 */
export function writeTarget(path: string, field?: string): { target: string; exists: boolean } {
  if (path === '') fail('E_ARG', 'empty path; expected a file path', { field });
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ENOTDIR: a parent is a file; creating the temp file fails and says so
    if (code === 'ENOENT' || code === 'ENOTDIR') return { target: path, exists: false };
    return fail('E_FILE', `cannot write here: ${errnoText(err)}`, { file: path, field });
  }
  if (st.isSymbolicLink()) {
    let real: string;
    try {
      real = realpathSync(path);
    } catch (err) {
      return fail('E_FILE', `is a symbolic link that does not resolve (${errnoText(err)}); outputs are written through symlinks only to existing regular files`, { file: path, field });
    }
    const to = statSync(real);
    if (!to.isFile()) fail('E_FILE', `is a symbolic link to ${fileKind(to)} (${real}); outputs must be regular files`, { file: path, field });
    return { target: real, exists: true };
  }
  if (st.isDirectory()) fail('E_FILE', 'is a directory; expected a file path', { file: path, field });
  if (!st.isFile()) fail('E_FILE', `is ${fileKind(st)}; outputs are replaced by rename, so they must be regular files (or not exist yet)`, { file: path, field });
  return { target: path, exists: true };
}

function asBytes(view: ArrayBufferView): Uint8Array {
  return view instanceof Uint8Array ? view : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Writes `data` to a new temp file next to `target`; `path` (what the caller named) is for messages. */
function writeTemp(path: string, target: string, data: FileChunks): string {
  const tmp = tempPathFor(target);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o644);
  } catch (err) {
    return fail('E_FILE', `cannot create output in ${dirname(target)}: ${errnoText(err)}`, { file: path });
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
    return fail('E_FILE', `cannot write output: ${errnoText(err)}`, { file: path });
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
  const targets = files.map((f) => writeTarget(f.path).target);
  const temps: string[] = [];
  try {
    for (let i = 0; i < files.length; i++) temps.push(writeTemp(files[i]!.path, targets[i]!, files[i]!.data));
  } catch (err) {
    for (const t of temps) rmSync(t, { force: true });
    throw err;
  }
  const done: string[] = [];
  for (let i = 0; i < files.length; i++) {
    try {
      renameSync(temps[i]!, targets[i]!);
      done.push(targets[i]!);
    } catch (err) {
      for (let j = i; j < temps.length; j++) rmSync(temps[j]!, { force: true });
      for (const p of done) rmSync(p, { force: true });
      return fail('E_FILE', `cannot move output into place: ${errnoText(err)}`, {
        file: files[i]!.path,
      });
    }
  }
}
