/**
 * The one rule every command applies to its outputs, before any work (docs: README "Bad input"):
 *
 *   1. an output path is never empty;
 *   2. an output that exists must be a regular file (or a symlink to one, written through; see
 *      atomic.ts) — never a directory, FIFO, device or socket;
 *   3. an output never resolves to an input: not the same path, not another spelling of it, not a
 *      symlink or a hard link to it (same device + inode), and never a file inside an input
 *      directory (a `--run DIR`, a per-epoch trajectory folder);
 *   4. two outputs are never the same file;
 *   5. the directory an output goes into exists (or, for output directories, can be created) and
 *      is writable — a read-only file system is reported as such, not as a missing file;
 *   6. an output directory that already holds an earlier result (e.g. a recorded run) is only
 *      overwritten with `--force`; `--force` never permits overwriting an input.
 *
 * Commands list their inputs and outputs as an OutputPlan and call checkOutputPlan first; output
 * directories are created at write time by makeOutputDir, which removes what it created if the
 * write fails.
 */
import { accessSync, closeSync, constants, lstatSync, mkdirSync, openSync, readdirSync, realpathSync, rmSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fail } from '../errors.js';
import { tempPathFor, writeTarget } from './atomic.js';
import { errnoText, fileKind } from './files.js';

/** An input file or directory; `path` undefined = the flag was not given. */
export interface PlanInput {
  flag: string;
  path: string | undefined;
}

/** An output file. */
export interface PlanFile {
  flag: string;
  path: string | undefined;
}

/** An output directory and the files the command writes into it (relative names, may hold '/'). */
export interface PlanDir {
  flag: string;
  path: string | undefined;
  files: readonly string[];
  /** DIR holding any of `files` is an earlier result: refused unless `force` (then overwritten). */
  guard?: { what: string; force: boolean };
}

export interface OutputPlan {
  inputs: readonly PlanInput[];
  files?: readonly PlanFile[];
  dirs?: readonly PlanDir[];
}

interface InputId {
  flag: string;
  path: string;
}

interface Located {
  flag: string;
  /** The path as the user gave it (messages name this). */
  path: string;
  /** Absolute real location (symlinks of existing parts resolved). */
  real: string;
  /** device:inode when the output already exists. */
  id?: string;
  /** The deepest existing directory on the way to the output (where files or directories get created). */
  anchor: string;
  /** Whether the output's own parent directory must exist already (plain file outputs). */
  parentMustExist: boolean;
  /** For a file of an output directory: that directory as given (messages about creating it name it). */
  dir?: string;
}

const idOf = (st: { dev: number; ino: number }) => `${st.dev}:${st.ino}`;

/** `child` is `dir` or inside it (both absolute, real). */
function within(child: string, dir: string): boolean {
  const r = relative(dir, child);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/** The real absolute location of a path that may not exist: realpath of its deepest existing ancestor + the rest. */
function realLocation(path: string, flag: string): { real: string; anchor: string } {
  let head = resolve(path);
  const rest: string[] = [];
  for (;;) {
    let real: string | undefined;
    try {
      real = realpathSync(head);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') fail('E_FILE', `cannot resolve ${head}: ${errnoText(err)}`, { file: path, field: flag });
    }
    if (real !== undefined) {
      if (rest.length === 0) return { real, anchor: dirname(real) };
      const st = statSync(real);
      if (!st.isDirectory()) fail('E_FILE', `${head} is ${fileKind(st)}, not a directory, so nothing can be created under it`, { file: path, field: flag });
      return { real: join(real, ...[...rest].reverse()), anchor: real };
    }
    const up = dirname(head);
    if (up === head) fail('E_FILE', 'no part of this path exists', { file: path, field: flag });
    rest.push(basename(head));
    head = up;
  }
}

function inputIds(inputs: readonly PlanInput[]): { files: Map<string, InputId>; dirs: { flag: string; path: string; real: string }[]; reals: Map<string, InputId> } {
  const files = new Map<string, InputId>();
  const reals = new Map<string, InputId>();
  const dirs: { flag: string; path: string; real: string }[] = [];
  for (const { flag, path } of inputs) {
    if (path === undefined || path === '') continue;
    let st;
    let real: string;
    try {
      real = realpathSync(path);
      st = statSync(real);
    } catch {
      continue; // a missing input cannot be overwritten; its reader reports it
    }
    files.set(idOf(st), { flag, path });
    reals.set(real, { flag, path });
    if (st.isDirectory()) {
      dirs.push({ flag, path, real });
      let names: string[] = [];
      try {
        names = readdirSync(real);
      } catch {
        names = [];
      }
      for (const n of names) {
        try {
          files.set(idOf(statSync(join(real, n))), { flag, path: join(path, n) });
        } catch {
          /* vanished or unreadable: nothing to protect */
        }
      }
    }
  }
  return { files, dirs, reals };
}

/** One output file: its kind (rule 2) and real location. */
function locateFile(flag: string, path: string, parentMustExist: boolean, dir?: string): Located {
  const { target, exists } = writeTarget(path, flag);
  if (exists) {
    const real = realpathSync(target);
    return { flag, path, real, id: idOf(statSync(real)), anchor: dirname(real), parentMustExist, dir };
  }
  const { real, anchor } = realLocation(path, flag);
  return { flag, path, real, anchor, parentMustExist, dir };
}

/** Rule 5: files (or directories) can be created in `dir`; `path`/`flag` name the output in the message. */
function checkWritable(dir: string, path: string, flag: string, makesDir: boolean): void {
  const why = (err: unknown) => fail('E_FILE', `cannot write here: ${dir} is not writable: ${errnoText(err)}`, { file: path, field: flag });
  try {
    accessSync(dir, constants.W_OK);
  } catch (err) {
    why(err);
  }
  // access() can say yes where creating fails (sysfs, some network file systems): try it once.
  const probe = tempPathFor(join(dir, 'riverbed-probe'));
  try {
    if (makesDir) {
      mkdirSync(probe);
      rmdirSync(probe);
    } else {
      closeSync(openSync(probe, 'wx', 0o600));
      unlinkSync(probe);
    }
  } catch (err) {
    why(err);
  }
}

function lstatSafe(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** Rules 1–6 for one command's inputs and outputs; throws the first violation as a one-line RiverbedError. */
export function checkOutputPlan(plan: OutputPlan): void {
  const outputs: Located[] = [];
  // 1 + 2: every output path, its kind and real location
  for (const f of plan.files ?? []) {
    if (f.path === undefined) continue;
    if (f.path === '') fail('E_ARG', 'empty path; expected a file path', { field: f.flag });
    outputs.push(locateFile(f.flag, f.path, true));
  }
  for (const d of plan.dirs ?? []) {
    if (d.path === undefined) continue;
    if (d.path === '') fail('E_ARG', 'empty path; expected a directory path', { field: d.flag });
    const st = lstatSafe(d.path);
    let exists = false;
    if (st) {
      const to = st.isSymbolicLink() ? statFollow(d.path, d.flag) : st;
      if (!to.isDirectory()) fail('E_FILE', `exists and is not a directory (it is ${fileKind(to)}${st.isSymbolicLink() ? ', through a symbolic link' : ''}); ${d.flag} needs a directory`, { file: d.path, field: d.flag });
      exists = true;
    } else realLocation(d.path, d.flag); // names DIR when a part of it is not a directory
    if (exists && d.guard && !d.guard.force) {
      const found = d.files.filter((n) => lstatSafe(join(d.path!, n)) !== undefined);
      if (found.length > 0) {
        fail('E_FILE', `holds ${d.guard.what} (${found.slice(0, 3).join(', ')}${found.length > 3 ? ', …' : ''}); give --force to overwrite it`, { file: d.path, field: d.flag });
      }
    }
    for (const n of d.files) outputs.push(locateFile(d.flag, join(d.path, n), false, d.path));
  }
  // 3: never an input, never inside an input directory
  const ins = inputIds(plan.inputs);
  for (const o of outputs) {
    const same = (o.id !== undefined ? ins.files.get(o.id) : undefined) ?? ins.reals.get(o.real);
    if (same) {
      const spelled = resolve(same.path) === resolve(o.path) ? '' : ` (${same.path})`;
      fail('E_ARG', `is the input ${same.flag}${spelled}; riverbed never overwrites an input`, { file: o.path, field: o.flag });
    }
    for (const dir of ins.dirs) {
      if (within(o.real, dir.real)) fail('E_ARG', `is inside the input directory ${dir.flag} ${dir.path}; riverbed never writes into an input`, { file: o.path, field: o.flag });
    }
  }
  // 4: two outputs, one file
  const seen = new Map<string, Located>();
  for (const o of outputs) {
    const key = o.id ?? o.real;
    const other = seen.get(key) ?? seen.get(o.real);
    if (other) fail('E_ARG', `is given for both ${other.flag}${other.path !== o.path ? ` (as ${other.path})` : ''} and ${o.flag}`, { file: o.path, field: o.flag });
    seen.set(key, o);
    seen.set(o.real, o);
  }
  // 5: the places outputs are created in are writable (each directory probed once): the output's
  // own directory, or for a file of an output directory still to be made, the deepest existing ancestor
  const probed = new Set<string>();
  for (const o of outputs) {
    const makesDir = o.anchor !== dirname(o.real);
    if (makesDir && o.parentMustExist) fail('E_FILE', `directory ${dirname(resolve(o.path))} does not exist`, { file: o.path, field: o.flag });
    const key = `${makesDir ? 'd' : 'f'}:${o.anchor}`;
    if (probed.has(key)) continue;
    probed.add(key);
    checkWritable(o.anchor, makesDir && o.dir !== undefined ? o.dir : o.path, o.flag, makesDir);
  }
}

function statFollow(path: string, flag: string) {
  try {
    return statSync(path);
  } catch (err) {
    return fail('E_FILE', `is a symbolic link that does not resolve (${errnoText(err)})`, { file: path, field: flag });
  }
}

/**
 * Creates an output directory (and missing parents) at write time. `undo()` removes what this
 * call created, for a write that fails after it. Node reports a recursive mkdir on a read-only
 * file system as ENOENT: the error is re-diagnosed on the deepest existing ancestor.
 */
export function makeOutputDir(dir: string, field?: string): { undo(): void } {
  let created: string | undefined;
  try {
    created = mkdirSync(dir, { recursive: true });
  } catch (err) {
    let why = errnoText(err);
    try {
      const { anchor } = realLocation(dir, field ?? '');
      accessSync(anchor, constants.W_OK);
    } catch (e) {
      if ((e as { name?: string }).name !== 'RiverbedError') why = errnoText(e);
    }
    fail('E_FILE', `cannot create output directory: ${why}`, { file: dir, field });
  }
  return {
    undo: () => {
      if (created !== undefined) rmSync(created, { recursive: true, force: true });
    },
  };
}
