/**
 * What a run directory holds: every file (relative path and size) and every JSON file parsed.
 * Only regular files are read (io/files.ts: a FIFO or a device is refused by name, never opened
 * in a way that blocks), each bounded; symbolic links to directories are not followed (a link
 * back up would never end), and the resume state of an unfinished landscape grid (`*.partial/`)
 * is left out. A JSON file that does not parse fails the whole report, naming the file.
 */
import { lstatSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fail } from '../errors.js';
import { errnoText, readBoundedText } from '../io/files.js';

/** The largest JSON file read (a 1 001 × 1 001 landscape grid is ~40 MB of JSON). */
export const JSON_READ_LIMIT = 256 * 2 ** 20;
/** Directory depth searched below the run directory (checkpoints/step-*\/state.json is 2 deep). */
const MAX_DEPTH = 4;
/** More files than this in a run directory is not a run directory. */
export const MAX_FILES = 100_000;

export interface RunFile {
  /** Relative to the run directory, with '/'. */
  rel: string;
  /** As the user would spell it: the run directory joined with `rel`. */
  path: string;
  bytes: number;
}

export interface RunContents {
  /** The directory given, or the directory of the one file given. */
  dir: string;
  files: RunFile[];
  /** Directories left out (and why). */
  skipped: { rel: string; why: string }[];
  json: (RunFile & { json: unknown })[];
}

function parse(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    return fail('E_FORMAT', `does not parse as JSON (${(e as Error).message})`, { file: path, field: 'json' });
  }
}

/** Lists and parses `input`: a run directory, or one result file. */
export function collectRun(input: string, field = 'RUN_DIR'): RunContents {
  let st;
  try {
    st = statSync(input);
  } catch (e) {
    return fail('E_FILE', `cannot open: ${errnoText(e)}`, { file: input, field });
  }
  if (st.isFile()) {
    const json = parse(readBoundedText(input, JSON_READ_LIMIT, 'a result JSON', field), input);
    const one = { rel: basename(input), path: input, bytes: st.size };
    return { dir: dirname(input), files: [one], skipped: [], json: [{ ...one, json }] };
  }
  if (!st.isDirectory()) fail('E_FILE', 'is neither a directory nor a regular file; RUN_DIR must be a run directory (or one result JSON)', { file: input, field });
  const out: RunContents = { dir: input, files: [], skipped: [], json: [] };
  const walk = (rel: string, depth: number) => {
    const abs = rel ? join(input, rel) : input;
    let names: string[];
    try {
      names = readdirSync(abs).sort();
    } catch (e) {
      return fail('E_FILE', `cannot list: ${errnoText(e)}`, { file: abs, field });
    }
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(input, r);
      let ls;
      try {
        ls = lstatSync(p);
      } catch {
        continue; // vanished while listing
      }
      const isDir = ls.isDirectory() || (ls.isSymbolicLink() && (() => { try { return statSync(p).isDirectory(); } catch { return false; } })());
      if (isDir) {
        if (ls.isSymbolicLink()) out.skipped.push({ rel: r, why: 'a symbolic link to a directory (not followed)' });
        else if (name.endsWith('.partial')) out.skipped.push({ rel: r, why: 'the resume state of an unfinished landscape grid' });
        else if (depth >= MAX_DEPTH) out.skipped.push({ rel: r, why: `deeper than ${MAX_DEPTH} levels` });
        else walk(r, depth + 1);
        continue;
      }
      if (out.files.length >= MAX_FILES) fail('E_ARG', `holds more than ${MAX_FILES} files; give the run directory itself`, { file: input, field });
      const bytes = ls.isSymbolicLink() ? (() => { try { return statSync(p).size; } catch { return 0; } })() : ls.size;
      const f: RunFile = { rel: r, path: p, bytes };
      out.files.push(f);
      if (name.toLowerCase().endsWith('.json')) out.json.push({ ...f, json: parse(readBoundedText(p, JSON_READ_LIMIT, 'a result JSON'), p) });
    }
  };
  walk('', 0);
  return out;
}
