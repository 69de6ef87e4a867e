/**
 * Reading input files safely: only regular files are read (a FIFO, `/dev/zero`, a directory or a
 * socket is refused by name, never opened in a way that blocks, never read without end), and
 * whole-file reads are bounded by a size that the caller derives from the file's format.
 * Also the one place that turns an errno into words for messages (EROFS is not ENOENT).
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { fail } from '../errors.js';

/** A short human reason for a failed file operation, with the errno code. */
export function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    EISDIR: 'is a directory',
    ENOTDIR: 'a parent is not a directory',
    ELOOP: 'too many levels of symbolic links',
    ENAMETOOLONG: 'name too long',
    EEXIST: 'already exists',
    EXDEV: 'crosses file systems',
  };
  if (code && words[code]) return `${words[code]} (${code})`;
  return code ?? (err as Error).message;
}

/** What kind of file a stat describes, in words ("a FIFO", "a character device", …). */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/**
 * Opens `path` for reading and checks it is a regular file. O_NONBLOCK keeps a FIFO from blocking
 * the open (it has no effect on regular files); the caller closes the descriptor.
 */
export function openRegularFile(path: string, what: string, field?: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    return fail('E_FILE', `cannot open ${what}: ${errnoText(err)}`, { file: path, field });
  }
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (err) {
    closeSync(fd);
    return fail('E_FILE', `cannot stat ${what}: ${errnoText(err)}`, { file: path, field });
  }
  if (!st.isFile()) {
    closeSync(fd);
    fail('E_FILE', `is ${fileKind(st)}; ${what} must be a regular file`, { file: path, field });
  }
  return { fd, size: st.size };
}

/** Reads `length` bytes at `position`, failing (as truncated) if the file ends first. */
export function readExactly(fd: number, length: number, position: number, file: string, field?: string): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let off = 0;
  while (off < length) {
    const n = readSync(fd, buf, off, Math.min(length - off, 1 << 30), position + off);
    if (n === 0) fail('E_FORMAT', `truncated: the file ended after ${position + off} bytes, ${position + length} expected`, { file, field });
    off += n;
  }
  return buf;
}

function bytesText(n: number): string {
  return n >= 2 ** 20 ? `${+(n / 2 ** 20).toFixed(1)} MiB` : n >= 1024 ? `${+(n / 1024).toFixed(1)} KiB` : `${n} bytes`;
}

/**
 * A whole regular file as a Buffer, refused (before reading) when it is larger than `maxBytes`,
 * the most that `what` can sensibly be.
 */
export function readBoundedFile(path: string, maxBytes: number, what: string, field?: string): Buffer {
  const { fd, size } = openRegularFile(path, what, field);
  try {
    if (size > maxBytes) fail('E_FORMAT', `is ${bytesText(size)}; ${what} is read whole and may be at most ${bytesText(maxBytes)}`, { file: path, field });
    return readExactly(fd, size, 0, path, field);
  } finally {
    closeSync(fd);
  }
}

/** A whole regular text file (UTF-8), bounded as `readBoundedFile`. */
export function readBoundedText(path: string, maxBytes: number, what: string, field?: string): string {
  return readBoundedFile(path, maxBytes, what, field).toString('utf8');
}

/** JSON files riverbed reads whole, and the most each may be. */
export const JSON_LIMITS = {
  /** A riverbed.model description: a list of layers (kilobytes in practice). */
  model: 16 * 2 ** 20,
  /** A recorded run's trajectory.json: parameters, per-epoch losses and a file list. */
  runManifest: 64 * 2 ** 20,
} as const;

/** Exclusion lists as text: one index (≤ 10 digits) per line; 2^31 indices would be ~23 GB, 128 MiB is ~12 M indices. */
export const TEXT_INDEX_LIST_LIMIT = 128 * 2 ** 20;
