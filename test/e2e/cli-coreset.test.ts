/**
 * `riverbed coreset cld` end to end on small .npy files: the happy paths, and every bad input of
 * the issue (item 8): non-zero exit, exactly one line on stderr naming the file/field, no output.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../src/backends/js/index.js';
import { cldCoreset } from '../../src/coreset/cld.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { rng } from '../helpers/backends.js';
import { requireBuiltCli, runCli } from './cli.js';

const E = 6;
const N = 60;
const M = 24;
const C = 4;
let dir: string;

function data() {
  const r = rng(5);
  const train = new Float32Array(E * N).map(() => r());
  const val = new Float32Array(E * M).map(() => r());
  const yt = new BigInt64Array(N).map((_, i) => BigInt(i % C));
  const yv = new BigInt64Array(M).map((_, j) => BigInt(j % C));
  return { train, val, yt, yv };
}

beforeAll(() => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), 'riverbed-e2e-'));
  const { train, val, yt, yv } = data();
  writeNpy(join(dir, 'T.npy'), train, [E, N]);
  writeNpy(join(dir, 'V.npy'), val, [E, M]);
  writeNpy(join(dir, 'YT.npy'), yt);
  writeNpy(join(dir, 'YV.npy'), yv);
  mkdirSync(join(dir, 'epochs'));
  for (let e = 0; e < E; e++) writeNpy(join(dir, 'epochs', `loss_epoch${e + 1}.npy`), train.slice(e * N, (e + 1) * N));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * stderr lines, less Dawn's own adapter-limit notices ("Warning: max… artificially reduced …"),
 * which Dawn prints itself when `auto` probes the GPU adapter (not riverbed output).
 */
function stderrLines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0 && !/^Warning: max\w+ artificially reduced/.test(l));
}

const base = ['coreset', 'cld', '--train-loss', 'T.npy', '--train-labels', 'YT.npy', '--val-loss', 'V.npy', '--val-labels', 'YV.npy'];

function withArg(args: string[], flag: string, value: string): string[] {
  const out = args.slice();
  out[out.indexOf(flag) + 1] = value;
  return out;
}

describe('coreset cld: happy paths', () => {
  it('--per-class, matching the library on the same arrays', async () => {
    const r = runCli([...base, '--per-class', '5', '--out', 'sel.json', '--backend', 'js'], dir);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const sel = JSON.parse(readFileSync(join(dir, 'sel.json'), 'utf8'));
    expect(sel).toMatchObject({ format: 'riverbed.selection', version: 1, method: 'cld', n: N, numClasses: C, backend: 'js' });
    expect(sel.parameters).toMatchObject({ perClass: 5 });
    expect(sel.perClass).toEqual([5, 5, 5, 5]);
    const { train, val, yt, yv } = data();
    const lib = await cldCoreset(
      {
        trainLoss: train,
        epochs: E,
        samples: N,
        trainLabels: Int32Array.from(yt, Number),
        valLoss: val,
        valSamples: M,
        valLabels: Int32Array.from(yv, Number),
      },
      { perClass: 5 },
      { backend: new JsBackend() },
    );
    expect(sel.indices).toEqual(Array.from(lib.indices));
  });

  it('--fraction from a directory of per-epoch files, with --scores, --indices-npy and --json', async () => {
    const r = runCli(
      [...withArg(base, '--train-loss', 'epochs'), '--fraction', '0.25', '--out', 'frac.json', '--scores', 'scores.npy', '--indices-npy', 'idx.npy', '--json'],
      dir,
    );
    expect(stderrLines(r.stderr)).toEqual([]);
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ n: N, epochs: E, selected: 15, numClasses: C });
    expect(typeof summary.backendReason).toBe('string');
    const sel = JSON.parse(readFileSync(join(dir, 'frac.json'), 'utf8'));
    expect(sel.indices.length).toBe(15); // round(0.25 · 60)
    expect(sel.perClass).toEqual([4, 4, 4, 3]); // 3.75 each → 15: largest remainder, ties by class
    const idx = await readNpy(join(dir, 'idx.npy'));
    expect(idx.dtype).toBe('i8');
    expect(Array.from(idx.data as BigInt64Array, Number)).toEqual(sel.indices);
    const scores = await readNpy(join(dir, 'scores.npy'));
    expect(scores.dtype).toBe('f4');
    expect(scores.shape).toEqual([N]);
    // the same run from the stacked file selects the same samples
    const r2 = runCli([...base, '--fraction', '0.25', '--out', 'frac2.json', '--backend', 'js'], dir);
    expect(r2.status).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'frac2.json'), 'utf8')).indices).toEqual(sel.indices);
  });

  it('a class without validation samples selects nothing, with one warning line', () => {
    writeNpy(join(dir, 'YV3.npy'), new Int32Array(M).map((_, j) => (j % C === 3 ? 0 : j % C)));
    const r = runCli([...withArg(base, '--val-labels', 'YV3.npy'), '--per-class', '2', '--out', 'absent.json', '--scores', 'absent.npy', '--backend', 'js'], dir);
    expect(r.status).toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/warning: .*3/);
    const sel = JSON.parse(readFileSync(join(dir, 'absent.json'), 'utf8'));
    expect(sel.absentClasses).toEqual([3]);
    expect(sel.perClass).toEqual([2, 2, 2, 0]);
  });

  it('--help', () => {
    const r = runCli(['coreset', 'cld', '--help'], dir);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--per-class');
  });
});

describe('coreset cld: bad input → one line, exit ≠ 0, no output file', () => {
  const bad = join(tmpdir(), `riverbed-e2e-bad-${process.pid}`);
  beforeAll(() => {
    mkdirSync(bad, { recursive: true });
    for (const f of ['T.npy', 'V.npy', 'YT.npy', 'YV.npy']) copyFileSync(join(dir, f), join(bad, f));
    const { train, val } = data();
    const nanT = train.slice();
    nanT[3 * N + 7] = NaN;
    writeNpy(join(bad, 'T_nan.npy'), nanT, [E, N]);
    const infV = val.slice();
    infV[1 * M + 2] = Infinity;
    writeNpy(join(bad, 'V_inf.npy'), infV, [E, M]);
    writeNpy(join(bad, 'YT_short.npy'), new BigInt64Array(N - 1));
    writeNpy(join(bad, 'YT_neg.npy'), new BigInt64Array(N).map((_, i) => (i === 9 ? -1n : 0n)));
    writeNpy(join(bad, 'YT_frac.npy'), new Float32Array(N).map((_, i) => (i === 4 ? 0.5 : 1)));
    writeNpy(join(bad, 'V_5ep.npy'), val.slice(0, 5 * M), [5, M]);
    writeNpy(join(bad, 'T_1d.npy'), train.slice(0, N));
    writeNpy(join(bad, 'T_2ep.npy'), train.slice(0, 2 * N), [2, N]);
    writeNpy(join(bad, 'V_2ep.npy'), val.slice(0, 2 * M), [2, M]);
    writeNpy(join(bad, 'T_int.npy'), new Int32Array(E * N), [E, N]);
    const full = readFileSync(join(bad, 'T.npy'));
    writeFileSync(join(bad, 'T_trunc.npy'), full.subarray(0, full.byteLength - 17));
    const f2 = Buffer.from(full);
    f2.write("'<f2'", f2.indexOf("'<f4'"), 'latin1');
    writeFileSync(join(bad, 'T_f2.npy'), f2);
    writeFileSync(join(bad, 'T_text.npy'), 'epoch,sample,loss\n0,0,1.5\n');
    mkdirSync(join(bad, 'ragged'));
    writeNpy(join(bad, 'ragged', 'e1.npy'), new Float32Array(N));
    writeNpy(join(bad, 'ragged', 'e2.npy'), new Float32Array(N));
    writeNpy(join(bad, 'ragged', 'e3.npy'), new Float32Array(N + 1));
  });
  afterAll(() => rmSync(bad, { recursive: true, force: true }));

  const budget = ['--per-class', '3'];
  const cases: [string, string[], RegExp][] = [
    ['NaN in the train loss', [...withArg(base, '--train-loss', 'T_nan.npy'), ...budget], /E_VALUE.*T_nan\.npy.*epoch 3, sample 7/],
    ['Inf in the val loss', [...withArg(base, '--val-loss', 'V_inf.npy'), ...budget], /E_VALUE.*V_inf\.npy.*epoch 1, sample 2/],
    ['train labels shorter than the loss', [...withArg(base, '--train-labels', 'YT_short.npy'), ...budget], /E_SHAPE.*YT_short\.npy/],
    ['val loss with other epochs', [...withArg(base, '--val-loss', 'V_5ep.npy'), ...budget], /E_SHAPE.*V_5ep\.npy.*5 epochs/],
    ['1-D train loss', [...withArg(base, '--train-loss', 'T_1d.npy'), ...budget], /E_SHAPE.*T_1d\.npy/],
    ['per-epoch files of different lengths', [...withArg(base, '--train-loss', 'ragged'), ...budget], /E_SHAPE.*e3\.npy/],
    ['negative label', [...withArg(base, '--train-labels', 'YT_neg.npy'), ...budget], /E_LABEL.*YT_neg\.npy.*\[9\] is -1/],
    ['non-integer label', [...withArg(base, '--train-labels', 'YT_frac.npy'), ...budget], /E_LABEL.*YT_frac\.npy.*0\.5/],
    [
      'fewer than 3 epochs',
      [...withArg(withArg(base, '--train-loss', 'T_2ep.npy'), '--val-loss', 'V_2ep.npy'), ...budget],
      /E_ARG.*3 epochs/,
    ],
    ['K = 0', [...base, '--per-class', '0'], /E_ARG.*--per-class/],
    ['K not an integer', [...base, '--per-class', '2.5'], /E_ARG.*--per-class/],
    ['F = 0', [...base, '--fraction', '0'], /E_ARG.*--fraction/],
    ['F > 1', [...base, '--fraction', '1.5'], /E_ARG.*--fraction/],
    ['F not a number', [...base, '--fraction', 'ten'], /E_ARG.*--fraction/],
    ['both K and F', [...base, '--per-class', '2', '--fraction', '0.5'], /E_ARG/],
    ['no budget', [...base], /E_ARG.*budget/],
    ['unsupported dtype', [...withArg(base, '--train-loss', 'T_f2.npy'), ...budget], /E_DTYPE.*T_f2\.npy.*descr/],
    ['integer loss', [...withArg(base, '--train-loss', 'T_int.npy'), ...budget], /E_DTYPE.*T_int\.npy.*float32 or float64/],
    ['truncated file', [...withArg(base, '--train-loss', 'T_trunc.npy'), ...budget], /E_FORMAT.*T_trunc\.npy.*truncated/],
    ['not a .npy file', [...withArg(base, '--train-loss', 'T_text.npy'), ...budget], /E_FORMAT.*T_text\.npy.*magic/],
    ['missing file', [...withArg(base, '--val-labels', 'nope.npy'), ...budget], /E_FILE.*nope\.npy/],
    ['unknown backend', [...base, ...budget, '--backend', 'cuda'], /E_ARG.*--backend/],
  ];
  it.each(cases)('%s', (_name, args, pattern) => {
    const before = new Set(readdirSync(bad));
    // default backend (auto), as a user would run it: every check happens before a backend opens
    const r = runCli([...args, '--out', 'out.json', '--scores', 'scores.npy', '--indices-npy', 'idx.npy'], bad);
    expect(r.status, r.stderr).not.toBe(0);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n').filter((l) => l.length > 0);
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
    expect(readdirSync(bad).filter((f) => !before.has(f))).toEqual([]);
    expect(existsSync(join(bad, 'out.json'))).toBe(false);
  });
  it('a missing output directory', () => {
    const r = runCli([...base, ...budget, '--out', 'no/such/dir/out.json', '--backend', 'js'], bad);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/E_FILE.*no\/such\/dir/);
  });
});
