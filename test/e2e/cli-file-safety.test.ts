/**
 * "No command ever damages a file" (issue 8 §2), as ONE table: every row is a command line that
 * must be refused. The runner gives each row its own copy of a small fixture ($D), lets the row
 * prepare it (symlinks, FIFOs, hard links, odd files), hashes everything there (and every absolute
 * path of the command line outside $D) before and after, and asserts for every row:
 *   - a non-zero exit, nothing on stdout, exactly one line on stderr `riverbed: error [E_…] …`
 *     that names the file (or flag) at fault;
 *   - nothing written: no file or directory added or removed, every pre-existing file byte-identical
 *     and still the same inode (a rename with equal bytes counts as a write), symlinks and FIFOs
 *     untouched.
 * Rows never name a system file as an OUTPUT (a regression would replace it for the whole machine,
 * as a run of these rows against the old code replaced /dev/null): devices are made inside $D
 * (mknod, root only) or reached through a symlink in $D. Each run is capped at 8 GiB of address
 * space, so a regressed unbounded read of /dev/zero fails fast instead of eating the machine.
 * To add a case, add a row to CASES. The fixture (built once by the CLI itself) holds:
 *   model.json (4-6(tanh)-3), weights.safetensors, x.npy [60, 4] f32, y.npy [60] i64, v.npy [51] f32,
 *   run/ (train --record, 3 epochs + init, 54 train / 6 val), part1.json part2.json (cld --shard 0/2, 1/2),
 *   ex.txt (exclude list "0").
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../src/errors.js';
import { writeNpy } from '../../src/io/npy.js';
import { encodeSafetensors, parseSafetensors } from '../../src/io/safetensors.js';
import { type CldShardPart, decodeShardPart, encodeShardPart, partDigest } from '../../src/coreset/shard.js';
import { RECORD_FILES } from '../../src/train/recorder.js';
import { CLI, requireBuiltCli } from './cli.js';
import { parameterCount, writeProblem } from './curvature-fixture.js';

export interface FileSafetyCase {
  /** What the row shows. */
  name: string;
  /** The command line after `riverbed`; `$D` stands for the row's own copy of the fixture. */
  argv: string[];
  /** Prepares $D before the run; may return an undo (for anything outside $D, e.g. a mount). */
  setup?: (d: string) => void | (() => void);
  /** Text the one-line error must contain (`$D` substituted): the file or flag at fault. */
  names: string;
  /** The error code, when the row pins it. */
  code?: ErrorCode;
  /** A reason to skip the row on this machine (e.g. no read-only mount possible), or undefined. */
  skip?: () => string | undefined;
  /** Environment variables for the run (on top of the test's own). */
  env?: Record<string, string>;
}

// --- building blocks for rows -------------------------------------------------------------------

const MODEL = ['--model', '$D/model.json'];
const PROBLEM = [...MODEL, '--weights', '$D/weights.safetensors', '--inputs', '$D/x.npy', '--labels', '$D/y.npy'];
const HVP = ['hvp', ...PROBLEM, '--vector', '$D/v.npy', '--backend', 'js'];
const HESSIAN = ['hessian', ...PROBLEM, '--top-k', '1', '--backend', 'js'];
const TRAIN = ['train', '--inputs', '$D/x.npy', '--labels', '$D/y.npy', '--hidden', '4', '--epochs', '3', '--batch-size', '16', '--backend', 'js'];
const BRANCH = [...TRAIN, '--schedule', 'wsd', '--branch-at', '0.5,1'];
const BRANCH_RUN = [...BRANCH, '--run', '$D/new/run'];
const CLD_INPUTS = ['--train-loss', '$D/run/train_loss.npy', '--train-labels', '$D/run/train_labels.npy', '--val-loss', '$D/run/val_loss.npy', '--val-labels', '$D/run/val_labels.npy'];
const CLD = ['coreset', 'cld', ...CLD_INPUTS, '--fraction', '0.5', '--backend', 'js'];
const baseline = (m: string) => ['coreset', m, '--run', '$D/run', '--fraction', '0.5'];
const MERGE = ['coreset', 'merge', '$D/part1.json', '$D/part2.json', '--fraction', '0.5'];
const STABILITY = ['coreset', 'stability', '--method', 'aum', '--compare', 'checkpoints', '--run', '$D/run'];
const EVALUATE = ['coreset', 'evaluate', '--inputs', '$D/x.npy', '--labels', '$D/y.npy', '--methods', 'random', '--fractions', '0.5', '--seeds', '1', '--epochs', '2', '--retrain-epochs', '1', '--hidden', '4', '--backend', 'js'];
const DEMO = ['demo', '--train-size', '100', '--epochs', '3', '--retrain-epochs', '1', '--backend', 'js'];

const fifo = (p: string): void => void execFileSync('mkfifo', [p]);
/** A character device like /dev/full (1, 7), inside $D. */
const device = (p: string): void => void execFileSync('mknod', ['-m', '666', p, 'c', '1', '7']);
const canMknod = (): string | undefined => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root on Linux to make a device node';
  const probe = mkdtempSync(join(tmpdir(), 'riverbed-mknod-probe-'));
  try {
    device(join(probe, 'full'));
    return undefined;
  } catch {
    return 'mknod is not permitted here';
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
};
const canMount = (): string | undefined => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'needs root on Linux to mount a read-only tmpfs';
  const probe = mkdtempSync(join(tmpdir(), 'riverbed-ro-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'mount is not permitted here';
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
};
/** A read-only tmpfs at $D/ro (with one file, ro/in.json, written before it turns read-only). */
const readOnlyDir = (d: string): (() => void) => {
  const ro = join(d, 'ro');
  mkdirSync(ro);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', ro]);
  writeFileSync(join(ro, 'in.json'), '{}');
  execFileSync('mount', ['-o', 'remount,ro', ro]);
  return () => execFileSync('umount', [ro]);
};

// --- building blocks for the rows about contents and sizes -------------------------------------

/** part2.json with its candidates edited; `resign` recomputes its digest as a careful editor would, so only validation can catch it. */
const editPart = (edit: (p: CldShardPart) => void, resign: boolean) => (d: string) => {
  const file = join(d, 'part2.json');
  const part = decodeShardPart(readFileSync(file, 'utf8'), file);
  const q = { ...part, indices: part.indices.slice(), scores: part.scores.slice() };
  edit(q);
  writeFileSync(file, encodeShardPart(resign ? { ...q, digest: partDigest(q) } : q));
};
/** weights.safetensors with element `i` of tensor `name` set to `v`. */
const poisonWeights = (name: string, i: number, v: number) => (d: string) => {
  const file = join(d, 'weights.safetensors');
  const w = parseSafetensors(readFileSync(file), file);
  const ts = [...w.tensors.values()].map((t) => ({ name: t.name, shape: t.shape, data: t.data.slice() }));
  ts.find((t) => t.name === name)!.data[i] = v;
  writeFileSync(file, encodeSafetensors(ts, w.metadata));
};
/** A metric of the recorded run ([4 checkpoints, 54 train samples]) replaced, with `v` at flat index `at`. */
const poisonMetric = (file: string, at: number, v: number) => (d: string) => {
  const a = file.endsWith('correct.npy') ? new Uint8Array(4 * 54) : new Float32Array(4 * 54).fill(0.5);
  a[at] = v;
  writeNpy(join(d, 'run', file), a, [4, 54]);
};
/** A .npy of the 60 labels whose header dict is followed by junk (numpy refuses it). */
const junkHeaderLabels = (d: string) => {
  const dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (60,), } junk";
  const text = `${dict}${' '.repeat(128 - 10 - dict.length - 1)}\n`;
  const head = Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, text.length & 0xff, text.length >> 8]), Buffer.from(text, 'latin1')]);
  writeFileSync(join(d, 'yj.npy'), Buffer.concat([head, Buffer.from(BigInt64Array.from({ length: 60 }, (_, i) => BigInt(i % 3)).buffer)]));
};
const withOption = (argv: string[], flag: string, value: string) => argv.map((a, i) => (argv[i - 1] === flag ? value : a));

// --- the table ----------------------------------------------------------------------------------

export const CASES: FileSafetyCase[] = [
  // (a) an output that is an input — same path, another spelling, a symlink, a hard link, inside a --run directory
  { name: 'hvp --out is the --weights file', argv: [...HVP, '--out', '$D/weights.safetensors'], names: '$D/weights.safetensors', code: 'E_ARG' },
  { name: 'hvp --out is the --vector file spelled through ..', setup: (d) => mkdirSync(join(d, 'sub')), argv: [...HVP, '--out', '$D/sub/../v.npy'], names: 'v.npy', code: 'E_ARG' },
  { name: 'hvp --out is a symlink to --inputs', setup: (d) => symlinkSync(join(d, 'x.npy'), join(d, 'link.npy')), argv: [...HVP, '--out', '$D/link.npy'], names: '$D/link.npy', code: 'E_ARG' },
  { name: 'hvp --out is a hard link to --labels', setup: (d) => linkSync(join(d, 'y.npy'), join(d, 'hard.npy')), argv: [...HVP, '--out', '$D/hard.npy'], names: '$D/hard.npy', code: 'E_ARG' },
  { name: 'hessian --out is the --model file', argv: [...HESSIAN, '--out', '$D/model.json'], names: '$D/model.json', code: 'E_ARG' },
  { name: 'hessian --plot BASE.png is the --labels file', setup: (d) => cpSync(join(d, 'y.npy'), join(d, 'y.png')), argv: ['hessian', ...MODEL, '--weights', '$D/weights.safetensors', '--inputs', '$D/x.npy', '--labels', '$D/y.png', '--density', '--json', '--backend', 'js', '--plot', '$D/y'], names: '$D/y.png', code: 'E_ARG' },
  { name: 'train --save is the --init file', argv: [...TRAIN, '--model', '$D/model.json', '--init', '$D/weights.safetensors', '--save', '$D/weights.safetensors'], names: '$D/weights.safetensors', code: 'E_ARG' },
  { name: 'train --online-cld is the --inputs file', argv: [...TRAIN, '--online-cld', '$D/x.npy'], names: '$D/x.npy', code: 'E_ARG' },
  { name: 'train --save is a symlink to --labels', setup: (d) => symlinkSync('y.npy', join(d, 'w.safetensors')), argv: [...TRAIN, '--save', '$D/w.safetensors'], names: '$D/w.safetensors', code: 'E_ARG' },
  { name: 'train --record over an existing run (no --force)', argv: [...TRAIN, '--record', '$D/run'], names: '$D/run', code: 'E_FILE' },
  { name: 'train --probe ghosts,rankme into a --record DIR holding earlier probe plots (no --force)', setup: (d) => { mkdirSync(join(d, 'pr')); writeFileSync(join(d, 'pr', 'probe-ghosts.png'), ''); }, argv: [...TRAIN, '--probe', 'ghosts:every=2,rankme:layer=1', '--record', '$D/pr'], names: 'probe-ghosts.png', code: 'E_FILE' },
  { name: 'train --record DIR holding an input, even with --force', argv: ['train', '--inputs', '$D/x.npy', '--labels', '$D/run/train_labels.npy', '--hidden', '4', '--epochs', '3', '--backend', 'js', '--record', '$D/run', '--force'], names: 'train_labels.npy', code: 'E_ARG' },
  { name: 'coreset cld --out is --train-labels', argv: [...CLD, '--out', '$D/run/train_labels.npy'], names: '$D/run/train_labels.npy', code: 'E_ARG' },
  { name: 'coreset cld --scores is a symlink to --val-loss', setup: (d) => symlinkSync(join(d, 'run', 'val_loss.npy'), join(d, 's.npy')), argv: [...CLD, '--out', '$D/sel.json', '--scores', '$D/s.npy'], names: '$D/s.npy', code: 'E_ARG' },
  { name: 'coreset cld --shard --out is the --exclude file', argv: [...CLD, '--exclude', '$D/ex.txt', '--shard', '1/2', '--out', '$D/ex.txt'], names: '$D/ex.txt', code: 'E_ARG' },
  { name: 'coreset random --indices-npy is the run\'s train_indices.npy', argv: [...baseline('random'), '--out', '$D/sel.json', '--indices-npy', '$D/run/train_indices.npy'], names: '$D/run/train_indices.npy', code: 'E_ARG' },
  { name: 'coreset el2n --scores is the run\'s train_loss.npy', argv: [...baseline('el2n'), '--out', '$D/sel.json', '--scores', '$D/run/train_loss.npy'], names: '$D/run/train_loss.npy', code: 'E_ARG' },
  { name: 'coreset aum --out is a new file inside the --run directory', argv: [...baseline('aum'), '--out', '$D/run/aum.json'], names: '$D/run/aum.json', code: 'E_ARG' },
  { name: 'coreset forgetting --out is the run manifest', argv: [...baseline('forgetting'), '--out', '$D/run/trajectory.json'], names: '$D/run/trajectory.json', code: 'E_ARG' },
  { name: 'coreset dynunc --out is inside the run through a symlinked directory', setup: (d) => symlinkSync(join(d, 'run'), join(d, 'alias')), argv: [...baseline('dynunc'), '--out', '$D/alias/new.json'], names: '$D/alias/new.json', code: 'E_ARG' },
  { name: 'coreset ccs --scores is a hard link to the run\'s train_margin.npy', setup: (d) => linkSync(join(d, 'run', 'train_margin.npy'), join(d, 'm.npy')), argv: [...baseline('ccs'), '--out', '$D/sel.json', '--scores', '$D/m.npy'], names: '$D/m.npy', code: 'E_ARG' },
  { name: 'coreset merge --out is a part file', argv: [...MERGE, '--out', '$D/part2.json'], names: '$D/part2.json', code: 'E_ARG' },
  { name: 'coreset merge --indices-npy is the --exclude file', argv: [...MERGE, '--exclude', '$D/ex.txt', '--out', '$D/sel.json', '--indices-npy', '$D/ex.txt'], names: '$D/ex.txt', code: 'E_ARG' },
  { name: 'coreset stability --out is inside a --run directory', argv: [...STABILITY, '--out', '$D/run/stability.json'], names: '$D/run/stability.json', code: 'E_ARG' },
  { name: 'coreset evaluate --out DIR would overwrite --labels (DIR/evaluation.json)', setup: (d) => (mkdirSync(join(d, 'ev')), cpSync(join(d, 'y.npy'), join(d, 'ev', 'evaluation.json'))), argv: ['coreset', 'evaluate', '--inputs', '$D/x.npy', '--labels', '$D/ev/evaluation.json', '--methods', 'random', '--fractions', '0.5', '--seeds', '1', '--epochs', '2', '--backend', 'js', '--out', '$D/ev'], names: 'evaluation.json', code: 'E_ARG' },
  { name: 'two outputs are one file (hessian --out and --plot BASE.svg)', argv: [...HESSIAN, '--out', '$D/r.svg', '--plot', '$D/r'], names: '$D/r.svg', code: 'E_ARG' },

  // (b) outputs that exist and are not regular files are refused, never replaced
  { name: 'hvp --out is a character device (like /dev/full)', setup: (d) => device(join(d, 'full')), argv: [...HVP, '--out', '$D/full'], names: '$D/full', code: 'E_FILE', skip: canMknod },
  { name: 'hessian --out is a FIFO', setup: (d) => fifo(join(d, 'pipe')), argv: [...HESSIAN, '--out', '$D/pipe'], names: '$D/pipe', code: 'E_FILE' },
  { name: 'train --save is a directory', setup: (d) => mkdirSync(join(d, 'w')), argv: [...TRAIN, '--save', '$D/w'], names: '$D/w', code: 'E_FILE' },
  { name: 'train --record is a FIFO', setup: (d) => fifo(join(d, 'pipe')), argv: [...TRAIN, '--record', '$D/pipe'], names: '$D/pipe', code: 'E_FILE' },
  { name: 'coreset cld --out is a dangling symlink', setup: (d) => symlinkSync(join(d, 'nowhere.json'), join(d, 'dangling.json')), argv: [...CLD, '--out', '$D/dangling.json'], names: '$D/dangling.json', code: 'E_FILE' },
  { name: 'coreset random --scores is a character device', setup: (d) => device(join(d, 'null')), argv: [...baseline('random'), '--out', '$D/sel.json', '--scores', '$D/null'], names: '$D/null', code: 'E_FILE', skip: canMknod },
  { name: 'coreset merge --out is a symlink to /dev/full', setup: (d) => symlinkSync('/dev/full', join(d, 'full.json')), argv: [...MERGE, '--out', '$D/full.json'], names: '$D/full.json', code: 'E_FILE' },
  { name: 'coreset stability --out is a FIFO', setup: (d) => fifo(join(d, 'pipe')), argv: [...STABILITY, '--out', '$D/pipe'], names: '$D/pipe', code: 'E_FILE' },
  { name: 'coreset evaluate --out DIR/evaluation.json is a FIFO', setup: (d) => (mkdirSync(join(d, 'ev')), fifo(join(d, 'ev', 'evaluation.json'))), argv: [...EVALUATE, '--out', '$D/ev'], names: 'evaluation.json', code: 'E_FILE' },
  { name: 'demo --out is a character device', setup: (d) => device(join(d, 'full')), argv: [...DEMO, '--out', '$D/full'], names: '$D/full', code: 'E_FILE', skip: canMknod },
  { name: 'demo --out is a symlink to a FIFO', setup: (d) => (fifo(join(d, 'pipe')), symlinkSync('pipe', join(d, 'out'))), argv: [...DEMO, '--out', '$D/out'], names: '$D/out', code: 'E_FILE' },

  // (c) inputs that are not regular files, or larger than their format allows, are refused before they are read whole
  { name: 'hvp --model /dev/zero', argv: ['hvp', '--model', '/dev/zero', ...PROBLEM.slice(2), '--vector', '$D/v.npy', '--out', '$D/hv.npy'], names: '/dev/zero', code: 'E_FILE' },
  { name: 'hvp --weights /dev/zero', argv: ['hvp', ...MODEL, '--weights', '/dev/zero', ...PROBLEM.slice(4), '--vector', '$D/v.npy', '--out', '$D/hv.npy', '--backend', 'js'], names: '/dev/zero', code: 'E_FILE' },
  { name: 'hessian --weights is a FIFO (no hang)', setup: (d) => fifo(join(d, 'pipe')), argv: ['hessian', ...MODEL, '--weights', '$D/pipe', ...PROBLEM.slice(4), '--out', '$D/r.json', '--backend', 'js'], names: '$D/pipe', code: 'E_FILE' },
  { name: 'hvp --inputs is a FIFO (no hang)', setup: (d) => fifo(join(d, 'pipe')), argv: ['hvp', ...PROBLEM.slice(0, 4), '--inputs', '$D/pipe', '--labels', '$D/y.npy', '--vector', '$D/v.npy', '--out', '$D/hv.npy'], names: '$D/pipe', code: 'E_FILE' },
  { name: 'train --model is a directory', argv: [...TRAIN, '--model', '$D/run'], names: '$D/run', code: 'E_FILE' },
  { name: 'train --model larger than a model description may be (16 MiB)', setup: (d) => truncateSync(join(d, 'model.json'), 17 * 2 ** 20), argv: [...TRAIN, '--model', '$D/model.json'], names: '$D/model.json', code: 'E_FORMAT' },
  { name: 'train --init safetensors with 4 GiB after its tensors (sparse)', setup: (d) => truncateSync(join(d, 'weights.safetensors'), 2 ** 32), argv: [...TRAIN, '--model', '$D/model.json', '--init', '$D/weights.safetensors'], names: '$D/weights.safetensors', code: 'E_FORMAT' },
  { name: 'hvp --weights whose header length exceeds the 100 MB cap', setup: (d) => writeFileSync(join(d, 'w.safetensors'), Buffer.from([0, 0, 0, 0x10, 0, 0, 0, 0])), argv: ['hvp', ...MODEL, '--weights', '$D/w.safetensors', ...PROBLEM.slice(4), '--vector', '$D/v.npy', '--out', '$D/hv.npy', '--backend', 'js'], names: '$D/w.safetensors', code: 'E_FORMAT' },
  { name: 'coreset cld --exclude /dev/zero', argv: [...CLD, '--exclude', '/dev/zero', '--out', '$D/sel.json'], names: '/dev/zero', code: 'E_FILE' },
  { name: 'coreset aum --exclude is a FIFO .npy (no hang)', setup: (d) => fifo(join(d, 'ex.npy')), argv: [...baseline('aum'), '--exclude', '$D/ex.npy', '--out', '$D/sel.json'], names: '$D/ex.npy', code: 'E_FILE' },
  { name: 'coreset el2n --run whose manifest is /dev/zero', setup: (d) => (rmSync(join(d, 'run', 'trajectory.json')), symlinkSync('/dev/zero', join(d, 'run', 'trajectory.json'))), argv: [...baseline('el2n'), '--out', '$D/sel.json'], names: 'trajectory.json', code: 'E_FILE' },
  { name: 'coreset stability --run whose manifest is a FIFO (no hang)', setup: (d) => (rmSync(join(d, 'run', 'trajectory.json')), fifo(join(d, 'run', 'trajectory.json'))), argv: [...STABILITY, '--json'], names: 'trajectory.json', code: 'E_FILE' },
  { name: 'coreset merge with /dev/zero as a part', argv: ['coreset', 'merge', '$D/part1.json', '/dev/zero', '--fraction', '0.5', '--out', '$D/sel.json'], names: '/dev/zero', code: 'E_FILE' },
  { name: 'coreset evaluate --target-model /dev/zero', argv: [...EVALUATE, '--target-model', '/dev/zero'], names: '/dev/zero', code: 'E_FILE' },

  // (d) unwritable places, empty paths, and what a failure leaves behind
  { name: 'hessian --out "" is refused before any computation', argv: [...HESSIAN, '--out', ''], names: '--out', code: 'E_ARG' },
  { name: 'hvp --out ""', argv: [...HVP, '--out', ''], names: '--out', code: 'E_ARG' },
  { name: 'train --save ""', argv: [...TRAIN, '--save', ''], names: '--save', code: 'E_ARG' },
  { name: 'coreset cld --scores ""', argv: [...CLD, '--out', '$D/sel.json', '--scores', ''], names: '--scores', code: 'E_ARG' },
  { name: 'coreset stability --out ""', argv: [...STABILITY, '--out', ''], names: '--out', code: 'E_ARG' },
  { name: 'coreset evaluate --out ""', argv: [...EVALUATE, '--out', ''], names: '--out', code: 'E_ARG' },
  { name: 'hvp --out where files cannot be created (sysfs: EACCES)', argv: [...HVP, '--out', '/sys/riverbed-hv.npy'], names: '/sys/riverbed-hv.npy', code: 'E_FILE', skip: () => (existsSync('/sys/kernel') ? undefined : 'no sysfs') },
  { name: 'coreset random --out on a read-only file system says EROFS', setup: readOnlyDir, argv: [...baseline('random'), '--out', '$D/ro/sel.json'], names: 'read-only', code: 'E_FILE', skip: canMount },
  { name: 'train --record new DIR under a read-only file system says EROFS', setup: readOnlyDir, argv: [...TRAIN, '--record', '$D/ro/new/run'], names: 'read-only', code: 'E_FILE', skip: canMount },
  { name: 'coreset evaluate --out DIR on a read-only file system says EROFS', setup: readOnlyDir, argv: [...EVALUATE, '--out', '$D/ro/ev'], names: 'read-only', code: 'E_FILE', skip: canMount },
  { name: 'coreset evaluate failing in the grid (a fraction selecting nothing) leaves no --out directory', argv: [...EVALUATE.map((a) => (a === '0.5' ? '0.01' : a)), '--json', '--out', '$D/new/ev'], names: '--fractions', code: 'E_ARG' },
  { name: 'train --record new DIR failing on bad --init weights leaves no directory', setup: (d) => writeFileSync(join(d, 'model9.json'), JSON.stringify({ format: 'riverbed.model', version: 1, layers: [{ type: 'linear', in: 4, out: 9 }], loss: 'cross_entropy' })), argv: [...TRAIN, '--model', '$D/model9.json', '--init', '$D/weights.safetensors', '--record', '$D/new/run'], names: '$D/weights.safetensors', code: 'E_MODEL' },

  // (e) contents that cannot be right: edited shard parts, non-finite weights and run metrics
  { name: 'coreset merge with a part whose candidate was edited (digest no longer matches)', setup: editPart((p) => void (p.indices[0] = -1), false), argv: [...MERGE, '--out', '$D/sel.json'], names: '$D/part2.json: digest', code: 'E_FORMAT' },
  { name: 'coreset merge with a re-signed part holding a negative index', setup: editPart((p) => void (p.indices[0] = -1), true), argv: [...MERGE, '--out', '$D/sel.json'], names: 'sample -1, outside this part', code: 'E_FORMAT' },
  { name: 'coreset merge with a re-signed part holding another slice\'s sample', setup: editPart((p) => void (p.indices[0] = 0), true), argv: [...MERGE, '--out', '$D/sel.json'], names: '$D/part2.json', code: 'E_FORMAT' },
  { name: 'coreset merge with a re-signed part holding a sample twice', setup: editPart((p) => void (p.indices[1] = p.indices[0]!), true), argv: [...MERGE, '--out', '$D/sel.json'], names: 'repeats sample', code: 'E_FORMAT' },
  { name: 'coreset merge with a re-signed part holding a NaN score', setup: editPart((p) => void (p.scores[0] = NaN), true), argv: [...MERGE, '--out', '$D/sel.json'], names: 'score NaN', code: 'E_FORMAT' },
  { name: 'hvp --weights holding a NaN', setup: poisonWeights('0.weight', 5, NaN), argv: [...HVP, '--out', '$D/hv.npy'], names: '0.weight: element 5 [1, 1] is NaN', code: 'E_VALUE' },
  { name: 'hessian --weights holding +Inf', setup: poisonWeights('2.bias', 1, Infinity), argv: [...HESSIAN, '--out', '$D/r.json'], names: '2.bias: element 1 is Infinity', code: 'E_VALUE' },
  { name: 'train --init weights holding -Inf', setup: poisonWeights('2.weight', 0, -Infinity), argv: [...TRAIN, '--model', '$D/model.json', '--init', '$D/weights.safetensors', '--save', '$D/w2.safetensors'], names: '$D/weights.safetensors: 2.weight', code: 'E_VALUE' },
  { name: 'coreset aum --run whose margins hold a NaN', setup: poisonMetric('train_margin.npy', 60, NaN), argv: [...baseline('aum'), '--out', '$D/sel.json'], names: 'train_margin.npy: margin must be finite, found NaN at [1, 6]', code: 'E_VALUE' },
  { name: 'coreset el2n --run whose error norms hold +Inf', setup: poisonMetric('train_error_norm.npy', 7, Infinity), argv: [...baseline('el2n'), '--out', '$D/sel.json'], names: 'train_error_norm.npy', code: 'E_VALUE' },
  { name: 'coreset forgetting --run whose correctness holds a 2', setup: poisonMetric('train_correct.npy', 100, 2), argv: [...baseline('forgetting'), '--out', '$D/sel.json'], names: 'correctness must be 0 or 1, found 2', code: 'E_VALUE' },
  { name: 'coreset stability --run whose margins hold a NaN', setup: poisonMetric('train_margin.npy', 3, NaN), argv: [...STABILITY, '--json'], names: 'train_margin.npy', code: 'E_VALUE' },

  // (f) sizes that cannot fit: refused up front with the estimate and the limit
  { name: 'train --hidden 1e9', argv: [...withOption(TRAIN, '--hidden', '1e9'), '--save', '$D/w2.safetensors'], names: '--hidden: training the model 4-1000000000(relu)-3 would need about', code: 'E_ARG' },
  { name: 'train --hidden 8e6 (14 GiB) under the runner\'s 8 GiB address-space limit', argv: withOption(TRAIN, '--hidden', '8e6'), names: '--hidden', code: 'E_ARG', skip: () => (process.platform === 'linux' ? undefined : 'the runner sets ulimit -v on Linux only') },
  { name: 'train on labels with one stray label 1 048 575 (a million-output model)', setup: (d) => writeNpy(join(d, 'ybig.npy'), BigInt64Array.from({ length: 60 }, (_, i) => (i === 7 ? 1_048_575n : BigInt(i % 3))), [60], { dtype: 'i8' }), argv: withOption(TRAIN, '--labels', '$D/ybig.npy'), names: 'the largest label is 1048575, so the model would get 1048576 outputs', code: 'E_LABEL' },
  { name: 'train --epochs 1e9 --record', argv: [...withOption(TRAIN, '--epochs', '1e9'), '--record', '$D/new/run'], names: '--epochs: recording 1000000000 checkpoints', code: 'E_ARG' },
  { name: 'hessian --density --grid-points 1e12', argv: [...HESSIAN, '--density', '--grid-points', '1e12', '--out', '$D/r.json'], names: '--grid-points', code: 'E_ARG' },
  { name: 'hessian --density --density-probes 1e9', argv: [...HESSIAN, '--density', '--density-probes', '1e9', '--out', '$D/r.json'], names: '--density-probes', code: 'E_ARG' },
  { name: 'hessian --error-bars --repeats 1e9', argv: [...HESSIAN, '--error-bars', '--repeats', '1e9', '--out', '$D/r.json'], names: '--repeats', code: 'E_ARG' },

  // (g) the smaller ones
  { name: 'coreset random --fraction 1e-9 selects nothing (refused without --allow-empty)', argv: [...withOption(baseline('random'), '--fraction', '1e-9'), '--out', '$D/sel.json'], names: '--fraction: 1e-9 of 54 selectable samples rounds to 0', code: 'E_ARG' },
  { name: 'coreset aum --exclude of every sample', setup: (d) => writeFileSync(join(d, 'all.txt'), Array.from({ length: 60 }, (_, i) => i).join('\n')), argv: [...baseline('aum'), '--exclude', '$D/all.txt', '--out', '$D/sel.json'], names: '--exclude: excludes all 54 samples', code: 'E_ARG' },
  { name: 'coreset merge of parts whose budget selects nothing', argv: [...withOption(MERGE, '--fraction', '1e-9'), '--out', '$D/sel.json'], names: '--fraction', code: 'E_ARG' },
  { name: 'coreset random --fraction 0x1 (hexadecimal is not a fraction)', argv: [...withOption(baseline('random'), '--fraction', '0x1'), '--out', '$D/sel.json'], names: '--fraction', code: 'E_ARG' },
  { name: 'train --labels .npy with junk after its header dict', setup: junkHeaderLabels, argv: withOption(TRAIN, '--labels', '$D/yj.npy'), names: '$D/yj.npy: header: header is not a .npy header dict: trailing bytes', code: 'E_FORMAT' },
  { name: 'RIVERBED_THREADS=4x', env: { RIVERBED_THREADS: '4x' }, argv: [...baseline('random'), '--out', '$D/sel.json'], names: 'RIVERBED_THREADS: "4x" is not a thread count', code: 'E_ARG' },
  { name: 'RIVERBED_ISA=avx3', env: { RIVERBED_ISA: 'avx3' }, argv: [...HVP, '--out', '$D/hv.npy'], names: 'RIVERBED_ISA', code: 'E_ARG' },
  { name: 'RIVERBED_PROGRESS_EVERY=soon', env: { RIVERBED_PROGRESS_EVERY: 'soon' }, argv: [...TRAIN, '--save', '$D/w2.safetensors'], names: 'RIVERBED_PROGRESS_EVERY', code: 'E_ARG' },
  { name: 'RIVERBED_NATIVE_POOL_MB=lots', env: { RIVERBED_NATIVE_POOL_MB: 'lots' }, argv: [...TRAIN, '--save', '$D/w2.safetensors'], names: 'RIVERBED_NATIVE_POOL_MB', code: 'E_ARG' },
  { name: 'coreset cld --max-memory 99999999999TB says too large', argv: [...CLD, '--max-memory', '99999999999TB', '--out', '$D/sel.json'], names: '--max-memory: size "99999999999TB" is too large: at most', code: 'E_ARG' },

  // (h) landscapes (issue 10)
  { name: 'landscape slice --out is the --weights file', argv: ['landscape', 'slice', ...PROBLEM, '--grid', '3x3', '--backend', 'js', '--out', '$D/weights.safetensors'], names: '$D/weights.safetensors', code: 'E_ARG' },
  { name: 'landscape slice --plot BASE.png is the --inputs file', setup: (d) => cpSync(join(d, 'x.npy'), join(d, 'x.png')), argv: ['landscape', 'slice', ...MODEL, '--weights', '$D/weights.safetensors', '--inputs', '$D/x.png', '--labels', '$D/y.npy', '--grid', '3x3', '--backend', 'js', '--out', '$D/l.json', '--plot', '$D/x'], names: '$D/x.png', code: 'E_ARG' },
  { name: 'landscape slice --save-dirs is the --weights file', argv: ['landscape', 'slice', ...PROBLEM, '--grid', '3', '--backend', 'js', '--out', '$D/l.json', '--save-dirs', '$D/weights.safetensors'], names: '$D/weights.safetensors', code: 'E_ARG' },
  { name: 'landscape slice --out is a FIFO', setup: (d) => fifo(join(d, 'pipe')), argv: ['landscape', 'slice', ...PROBLEM, '--grid', '3x3', '--backend', 'js', '--out', '$D/pipe'], names: '$D/pipe', code: 'E_FILE' },
  { name: 'landscape slice --grid 1e5x1e5 is refused with its cost', argv: ['landscape', 'slice', ...PROBLEM, '--grid', '100000x100000', '--backend', 'js', '--out', '$D/l.json'], names: '--grid: the grid has 10,000,000,000 points', code: 'E_ARG' },
  { name: 'landscape slice --dirs FILE holding NaN', setup: poisonWeights('2.bias', 0, NaN), argv: ['landscape', 'slice', ...MODEL, '--weights', '$D/weights.safetensors', '--inputs', '$D/x.npy', '--labels', '$D/y.npy', '--dirs', '$D/weights.safetensors', '--grid', '3', '--backend', 'js', '--out', '$D/l.json'], names: '$D/weights.safetensors', code: 'E_VALUE' },
  { name: 'landscape interpolate --out is model B', argv: ['landscape', 'interpolate', '$D/weights.safetensors', '$D/w2.safetensors', ...MODEL, '--inputs', '$D/x.npy', '--labels', '$D/y.npy', '--backend', 'js', '--out', '$D/w2.safetensors'], setup: (d) => cpSync(join(d, 'weights.safetensors'), join(d, 'w2.safetensors')), names: '$D/w2.safetensors', code: 'E_ARG' },
  { name: 'landscape merge --out is a part', argv: ['landscape', 'merge', '$D/part1.json', '--out', '$D/part1.json'], names: '$D/part1.json', code: 'E_ARG' },
  { name: 'landscape trajectory of a run without weight checkpoints', argv: ['landscape', 'trajectory', '$D/run', '--inputs', '$D/x.npy', '--labels', '$D/y.npy', '--backend', 'js', '--out', '$D/t.json'], names: 'weightCheckpoints', code: 'E_ARG' },
  { name: 'train --checkpoints without --record', argv: [...TRAIN, '--checkpoints', '1', '--save', '$D/w2.safetensors'], names: '--checkpoints: checkpoints go into the run directory', code: 'E_ARG' },
  { name: 'train --run is a regular file', argv: [...TRAIN, '--run', '$D/x.npy'], names: '$D/x.npy', code: 'E_FILE' },
  { name: 'train --run holds checkpoints of the steps it would write (no --force)', setup: (d) => { mkdirSync(join(d, 'r', 'checkpoints', 'step-00000008'), { recursive: true }); writeFileSync(join(d, 'r', 'checkpoints', 'step-00000008', 'weights.safetensors'), 'earlier'); }, argv: [...TRAIN, '--run', '$D/r'], names: '$D/r', code: 'E_FILE' },
  { name: 'train --resume is a FIFO', setup: (d) => fifo(join(d, 'ck')), argv: [...TRAIN, '--resume', '$D/ck', '--save', '$D/w2.safetensors'], names: '$D/ck', code: 'E_FILE' },
  { name: 'train --resume of a damaged checkpoint', setup: (d) => { mkdirSync(join(d, 'ck')); writeFileSync(join(d, 'ck', 'state.json'), '{"format": "riverbed.checkpoint", "version": 9}'); }, argv: [...TRAIN, '--resume', '$D/ck', '--save', '$D/w2.safetensors'], names: '$D/ck/state.json', code: 'E_FORMAT' },
  { name: 'continual --out is a regular file', argv: ['continual', '--tasks', 'permuted-mnist:2', '--train-size', '50', '--seeds', '1', '--backend', 'js', '--out', '$D/x.npy'], names: '$D/x.npy', code: 'E_FILE' },
  { name: 'train --branch-at: --run is a regular file', argv: [...BRANCH, '--run', '$D/x.npy'], names: '$D/x.npy', code: 'E_FILE' },
  { name: 'train --branch-at: --run holds an earlier branching run (no --force)', setup: (d) => { mkdirSync(join(d, 'b')); writeFileSync(join(d, 'b', 'branches.json'), '{}'); }, argv: [...BRANCH, '--run', '$D/b'], names: '$D/b', code: 'E_FILE' },
  { name: 'train --branch-at: --labels is the branches.json --run would write, even with --force', setup: (d) => { mkdirSync(join(d, 'b')); cpSync(join(d, 'y.npy'), join(d, 'b', 'branches.json')); }, argv: ['train', '--inputs', '$D/x.npy', '--labels', '$D/b/branches.json', '--hidden', '4', '--epochs', '3', '--backend', 'js', '--schedule', 'wsd', '--branch-at', '1', '--run', '$D/b', '--force'], names: 'branches.json', code: 'E_ARG' },
  { name: 'train --branch-at fractions out of order', argv: withOption(BRANCH_RUN, '--branch-at', '0.5,0.25'), names: '--branch-at: expected increasing fractions', code: 'E_ARG' },
  { name: 'train --branch-at with a duplicate', argv: withOption(BRANCH_RUN, '--branch-at', '0.5,0.5,1'), names: '--branch-at: fraction 0.5 is given twice', code: 'E_ARG' },
  { name: 'train --branch-at past 1', argv: withOption(BRANCH_RUN, '--branch-at', '0.5,1.5'), names: '--branch-at: expected fractions of the run in (0, 1]', code: 'E_ARG' },
  { name: 'train --branch-at 0', argv: withOption(BRANCH_RUN, '--branch-at', '0,1'), names: '--branch-at: expected fractions of the run in (0, 1]', code: 'E_ARG' },
  { name: 'train --branch-at with a fraction that is not a number', argv: withOption(BRANCH_RUN, '--branch-at', '0.5,x'), names: '--branch-at', code: 'E_ARG' },
  { name: 'train --branch-at without --schedule wsd', argv: withOption(BRANCH_RUN, '--schedule', 'cosine'), names: '--branch-at: branching needs the wsd schedule', code: 'E_ARG' },
  { name: 'train --branch-at rounding two budgets to the same epochs', argv: withOption(BRANCH_RUN, '--branch-at', '0.6,0.7'), names: '--branch-at: fractions 0.6 and 0.7 of 3 epochs both round to 2 epochs', code: 'E_ARG' },
  { name: 'train --branch-at without --run', argv: BRANCH, names: '--branch-at: a branching run writes', code: 'E_ARG' },
  { name: 'train --branch-at with --save', argv: [...BRANCH_RUN, '--save', '$D/w2.safetensors'], names: '--save: does not apply with --branch-at', code: 'E_ARG' },
  { name: 'train --eval-every without --branch-at', argv: [...TRAIN, '--eval-every', '5', '--save', '$D/w2.safetensors'], names: '--eval-every: applies to a branching run only', code: 'E_ARG' },
  { name: 'continual --out holds an earlier result (no --force)', setup: (d) => { mkdirSync(join(d, 'cont')); writeFileSync(join(d, 'cont', 'continual.json'), '{}'); }, argv: ['continual', '--tasks', 'permuted-mnist:2', '--train-size', '50', '--seeds', '1', '--backend', 'js', '--out', '$D/cont'], names: '$D/cont', code: 'E_FILE' },

  // (i) report (issue 10 §5)
  { name: 'report --out is a file of RUN_DIR (its trajectory.json)', argv: ['report', '$D/run', '--out', '$D/run/trajectory.json'], names: '$D/run/trajectory.json', code: 'E_ARG' },
  { name: 'report --out is a new file inside RUN_DIR', argv: ['report', '$D/run', '--out', '$D/run/report.html'], names: '$D/run/report.html', code: 'E_ARG' },
  { name: 'report --out is the one result file given as RUN_DIR', argv: ['report', '$D/part1.json', '--out', '$D/part1.json'], names: '$D/part1.json', code: 'E_ARG' },
  { name: 'report --out is a FIFO', setup: (d) => fifo(join(d, 'pipe')), argv: ['report', '$D/run', '--out', '$D/pipe'], names: '$D/pipe', code: 'E_FILE' },
  { name: 'report --out is a character device', setup: (d) => device(join(d, 'full')), argv: ['report', '$D/run', '--out', '$D/full'], names: '$D/full', code: 'E_FILE', skip: canMknod },
  { name: 'report --out is a symlink to /dev/full', setup: (d) => symlinkSync('/dev/full', join(d, 'r.html')), argv: ['report', '$D/run', '--out', '$D/r.html'], names: '$D/r.html', code: 'E_FILE' },
  { name: 'report --out ""', argv: ['report', '$D/run', '--out', ''], names: '--out', code: 'E_ARG' },
  { name: 'report RUN_DIR is a FIFO (no hang)', setup: (d) => fifo(join(d, 'pipe')), argv: ['report', '$D/pipe', '--out', '$D/r.html'], names: '$D/pipe', code: 'E_FILE' },
  { name: 'report of a run holding a FIFO named .json (no hang)', setup: (d) => fifo(join(d, 'run', 'x.json')), argv: ['report', '$D/run', '--out', '$D/r.html'], names: '$D/run/x.json', code: 'E_FILE' },
  { name: 'report of a run holding JSON that does not parse', setup: (d) => writeFileSync(join(d, 'run', 'bad.json'), '{"format": '), argv: ['report', '$D/run', '--out', '$D/r.html'], names: '$D/run/bad.json: json', code: 'E_FORMAT' },
  { name: 'report of a run whose manifest lost a field', setup: (d) => { const p = join(d, 'run', 'trajectory.json'); const m = JSON.parse(readFileSync(p, 'utf8')); delete m.train; writeFileSync(p, JSON.stringify(m)); }, argv: ['report', '$D/run', '--out', '$D/r.html'], names: '$D/run/trajectory.json: train.samples: is missing', code: 'E_FORMAT' },
  { name: 'report of an empty directory', setup: (d) => mkdirSync(join(d, 'empty')), argv: ['report', '$D/empty', '--out', '$D/r.html'], names: '$D/empty: format', code: 'E_ARG' },
];

// --- the runner ---------------------------------------------------------------------------------

let base: string;
const made: string[] = [];

beforeAll(async () => {
  requireBuiltCli();
  base = mkdtempSync(join(tmpdir(), 'riverbed-e2e-safety-'));
  made.push(base);
  await writeProblem(base, { sizes: [4, 6, 3], act: 'tanh', batch: 60, seed: 11 });
  writeNpy(join(base, 'v.npy'), Float32Array.from({ length: parameterCount([4, 6, 3]) }, (_, i) => Math.sin(i)), [parameterCount([4, 6, 3])]);
  writeFileSync(join(base, 'ex.txt'), '0\n');
  const ok = (argv: string[]) => {
    const r = cli(argv.map((a) => a.replaceAll('$D', base)), base);
    if (r.status !== 0) throw new Error(`fixture: riverbed ${argv.join(' ')}: ${r.stderr}`);
  };
  ok([...TRAIN, '--model', '$D/model.json', '--record', '$D/run', '--record-init']);
  ok([...CLD, '--shard', '0/2', '--out', '$D/part1.json']);
  ok([...CLD, '--shard', '1/2', '--out', '$D/part2.json']);
});
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function cli(argv: string[], cwd: string, env: Record<string, string> = {}) {
  const [cmd, args] = process.platform === 'linux' ? ['/bin/sh', ['-c', 'ulimit -v 8388608 && exec "$@"', 'sh', process.execPath, CLI, ...argv]] : [process.execPath, [CLI, ...argv]];
  const r = spawnSync(cmd as string, args as string[], { cwd, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0', ...env }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/** Type, inode and content of one path (never reads devices or FIFOs). */
function describePath(p: string): string {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return 'absent';
  }
  if (st.isSymbolicLink()) return `symlink → ${readlinkSync(p)}`;
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return `fifo #${st.ino}`;
  if (st.isCharacterDevice() || st.isBlockDevice()) return `device ${st.rdev}`;
  if (!st.isFile()) return `other ${st.mode}`;
  if (st.size > 64 * 2 ** 20) return `file #${st.ino} ${st.size} bytes (sparse, not hashed)`;
  return `file #${st.ino} sha256 ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
}

/** Everything under d (relative names), plus the absolute paths of the command line outside d. */
function snapshot(d: string, argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const what = describePath(p);
      out.set(relative(d, p), what);
      if (what === 'directory') walk(p);
    }
  };
  walk(d);
  for (const a of argv) if (isAbsolute(a) && relative(d, a).startsWith('..')) out.set(a, describePath(a));
  return out;
}

describe('no command damages a file: every row is refused with one line and writes nothing', () => {
  for (const c of CASES) {
    const why = c.skip?.();
    it.skipIf(why !== undefined)(`${c.name}${why ? ` (skipped: ${why})` : ''}`, () => {
      const d = mkdtempSync(join(tmpdir(), 'riverbed-safety-case-'));
      made.push(d);
      cpSync(base, d, { recursive: true });
      const undo = c.setup?.(d);
      try {
        const argv = c.argv.map((a) => a.replaceAll('$D', d));
        const before = snapshot(d, argv);
        const r = cli(argv, d, c.env);
        const after = snapshot(d, argv);
        expect(r.signal, `killed by ${r.signal} (a hang?)`).toBeNull();
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(/^riverbed: error \[E_[A-Z]+\] [^\n]*\n$/);
        expect(r.stderr).toContain(c.names.replaceAll('$D', d));
        if (c.code) expect(r.stderr.startsWith(`riverbed: error [${c.code}]`), r.stderr).toBe(true);
        expect(r.status).not.toBe(0);
        expect(Object.fromEntries(after)).toEqual(Object.fromEntries(before));
      } finally {
        if (typeof undo === 'function') undo();
      }
    });
  }
});

describe('what the rule allows', () => {
  it('the recorded run holds exactly the files train --record declares (RECORD_FILES, which the rule checks)', () => {
    expect(readdirSync(join(base, 'run')).sort()).toEqual([...RECORD_FILES].sort());
  });
  it('train --record EXISTING --force overwrites the run; a symlinked output is written through, the link kept', () => {
    const d = mkdtempSync(join(tmpdir(), 'riverbed-safety-ok-'));
    made.push(d);
    cpSync(base, d, { recursive: true });
    const manifest = readFileSync(join(d, 'run', 'trajectory.json'), 'utf8');
    const r = cli([...TRAIN, '--record', '$D/run', '--force', '--seed', '5'].map((a) => a.replaceAll('$D', d)), d);
    expect(r.status, r.stderr).toBe(0);
    const again = JSON.parse(readFileSync(join(d, 'run', 'trajectory.json'), 'utf8'));
    expect(again.seed).toBe(5);
    expect(readFileSync(join(d, 'run', 'trajectory.json'), 'utf8')).not.toBe(manifest);

    writeFileSync(join(d, 'target.json'), 'old');
    symlinkSync('target.json', join(d, 'latest.json'));
    const s = cli([...baseline('random'), '--out', '$D/latest.json'].map((a) => a.replaceAll('$D', d)), d);
    expect(s.status, s.stderr).toBe(0);
    expect(lstatSync(join(d, 'latest.json')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(d, 'latest.json'))).toBe('target.json');
    expect(JSON.parse(readFileSync(join(d, 'target.json'), 'utf8')).method).toBe('random');
  });
});
