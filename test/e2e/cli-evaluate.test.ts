/**
 * `riverbed coreset evaluate` end to end on a tiny .npy dataset: the table, --json, the files
 * of --out (JSON with manifest, SVG, PNG), and bad input → one line, exit ≠ 0, no output.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeNpy } from '../../src/io/npy.js';
import { Rng } from '../../src/model/rng.js';
import { ROOT, requireBuiltCli, runCli } from './cli.js';

let dir: string;
const N = 300;
const D = 6;
const C = 3;

beforeAll(() => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), 'riverbed-evaluate-'));
  const rng = new Rng(11);
  const x = new Float32Array(N * D);
  const y = new BigInt64Array(N);
  for (let i = 0; i < N; i++) {
    const c = i % C;
    y[i] = BigInt(c);
    for (let d = 0; d < D; d++) x[i * D + d] = (d % C === c ? 2 : 0) + (rng.next() - 0.5) * 2;
  }
  writeNpy(join(dir, 'X.npy'), x, [N, D]);
  writeNpy(join(dir, 'Y.npy'), y);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const grid = ['--inputs', 'X.npy', '--labels', 'Y.npy', '--methods', 'random,cld,cld-bottom,cld-strat', '--fractions', '0.1,0.3', '--seeds', '2', '--epochs', '3', '--retrain-epochs', '5', '--hidden', '8', '--batch-size', '16', '--backend', 'js'];

describe('riverbed coreset evaluate', () => {
  it('prints the table and writes evaluation.json + plots with --out', () => {
    const r = runCli(['coreset', 'evaluate', ...grid, '--out', 'res'], dir);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/test accuracy \(%\)/);
    expect(r.stdout).toMatch(/cld-bottom/);
    expect(r.stdout).toMatch(/paired difference to random/);
    expect(readdirSync(join(dir, 'res')).sort()).toEqual(['evaluation.json', 'evaluation.png', 'evaluation.svg']);
    const j = JSON.parse(readFileSync(join(dir, 'res', 'evaluation.json'), 'utf8'));
    expect(j.format).toBe('riverbed.evaluation');
    expect(j.methods).toEqual(['random', 'cld', 'cld-bottom', 'cld-strat']);
    expect(j.source.cells.length).toBe(8);
    for (const c of j.source.cells) expect(c.accuracy.length).toBe(2);
    expect(j.manifest.seeds).toEqual([0, 1]);
    expect(j.manifest.inputs.map((i: { path: string }) => i.path)).toEqual(['X.npy', 'Y.npy']);
    expect(j.manifest.parameters.dataSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(join(dir, 'res', 'evaluation.svg'), 'utf8')).toMatch(/<svg/);
    expect(readFileSync(join(dir, 'res', 'evaluation.png')).subarray(1, 4).toString()).toBe('PNG');
  });

  it('--json with transfer', () => {
    const r = runCli(['coreset', 'evaluate', ...grid, '--seeds', '1', '--transfer-hidden', '4,4', '--json'], dir);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.transfer.model.layers.filter((l: { type: string }) => l.type === 'linear').length).toBe(3);
    expect(j.transfer.cells.length).toBe(8);
  });

  const bad: [string, string[], RegExp][] = [
    ['unknown method', ['--methods', 'cld,nope'], /unknown method "nope"/],
    ['fraction out of range', ['--fractions', '0.1,1.5'], /--fractions/],
    ['fraction zero', ['--fractions', '0'], /--fractions/],
    ['seeds < 1', ['--seeds', '0'], /--seeds/],
    ['both budgets', ['--retrain-steps', '10'], /--retrain-steps/],
    ['missing labels', ['--labels', 'missing.npy'], /missing\.npy/],
    ['--dataset with --inputs', ['--dataset', 'mnist'], /give either --dataset or --inputs/],
  ];
  for (const [what, extra, msg] of bad) {
    it(`bad input: ${what} → one line, exit ≠ 0, no output`, () => {
      const out = join(dir, `bad-${what.replace(/\W+/g, '-')}`);
      const r = runCli(['coreset', 'evaluate', ...grid, ...extra, '--out', out], dir);
      expect(r.status).not.toBe(0);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines.length, r.stderr).toBe(1);
      expect(lines[0]).toMatch(msg);
      expect(existsSync(out)).toBe(false);
    });
  }
});

describe('docs/coreset-evaluation.md', () => {
  it('the quick run works as written', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'coreset-evaluation.md'), 'utf8');
    const block = /## Quick run\s+```sh\n([\s\S]*?)```/.exec(doc)![1]!.replace(/\\\n\s*/g, ' ').trim();
    const args = block.split(/\s+/);
    expect(args.slice(0, 3)).toEqual(['riverbed', 'coreset', 'evaluate']);
    const r = runCli(args.slice(1), dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/cld-strat/);
    expect(readdirSync(join(dir, 'eval-quick')).sort()).toEqual(['evaluation.json', 'evaluation.png', 'evaluation.svg']);
  });
});
