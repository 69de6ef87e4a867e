/**
 * `riverbed hvp` end to end through the built CLI: the product written to --out equals the
 * library's R-operator product and, independently, a float64 central difference of gradients
 * computed without the library; every bad input is one line, exit 2 and no output file.
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { JsBackend } from '../../src/backends/js/index.js';
import { readNpy, writeNpy } from '../../src/io/npy.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { loadModelDescription } from '../../src/model/description.js';
import { ggnVectorProduct, hessianVectorProduct } from '../../src/model/hvp.js';
import { Mlp } from '../../src/model/mlp.js';
import { Rng } from '../../src/model/rng.js';
import { requireBuiltCli, runCli } from './cli.js';
import { type Problem, fdGgnVp, fdHvp, modelJson, parameterCount, relErr, writeProblem } from './curvature-fixture.js';

let dir: string;
let prob: Problem;
let vPath: string;
let v: Float32Array;
const P = parameterCount([6, 8, 5, 3]);

beforeAll(async () => {
  requireBuiltCli();
  dir = mkdtempSync(join(tmpdir(), 'riverbed-e2e-hvp-'));
  prob = await writeProblem(dir, { sizes: [6, 8, 5, 3], act: 'tanh', batch: 24, seed: 7 });
  const r = new Rng(99);
  v = Float32Array.from({ length: P }, () => r.uniform(-1, 1));
  vPath = join(dir, 'v.npy');
  writeNpy(vPath, v, [P]);
});

const base = () => ['hvp', '--model', prob.files.model, '--weights', prob.files.weights, '--inputs', prob.files.inputs, '--labels', prob.files.labels];

async function libraryProduct(kind: 'hessian' | 'ggn'): Promise<Float32Array> {
  const b = new JsBackend();
  const model = await Mlp.load(b, await loadModelDescription(prob.files.model), prob.files.weights);
  const x = b.upload(Float32Array.from(prob.x), [prob.spec.batch, 6]);
  const y = b.uploadInt(prob.y, [prob.spec.batch]);
  const vt = b.upload(v, [P]);
  const out = (kind === 'hessian' ? hessianVectorProduct : ggnVectorProduct)(model, x, y, vt);
  return b.read(out);
}

describe('riverbed hvp', () => {
  it.each(['js', 'native'] as const)('H·v on %s equals the library and a float64 finite difference of gradients', async (backend) => {
    const out = join(dir, `hv-${backend}.npy`);
    const r = runCli([...base(), '--vector', vPath, '--out', out, '--backend', backend, '--json'], dir);
    if (backend === 'native' && r.status === 2 && r.stderr.includes('E_BACKEND')) {
      throw new Error(`native backend unavailable here: ${r.stderr.trim()}`);
    }
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ format: 'riverbed.hvp', kind: 'hessian', parameters: P, samples: 24, backend, out });
    const hv = await readNpy(out);
    expect(hv.dtype).toBe('f4');
    expect(hv.shape).toEqual([P]);
    const lib = await libraryProduct('hessian');
    expect(relErr(hv.data as Float32Array, lib)).toBeLessThan(backend === 'js' ? 1e-6 : 1e-4);
    const fd = fdHvp(prob, v);
    expect(relErr(hv.data as Float32Array, fd)).toBeLessThan(1e-4);
    // The summary's Rayleigh quotient is vᵀHv / vᵀv of what was written.
    let vh = 0;
    let vv = 0;
    for (let i = 0; i < P; i++) {
      vh += v[i]! * fd[i]!;
      vv += v[i]! * v[i]!;
    }
    expect(s.rayleigh).toBeCloseTo(vh / vv, 4);
  });

  it('--ggn gives Jᵀ H_loss J v (finite-difference J v, closed-form softmax Hessian) and accepts a float64 vector', async () => {
    const v64 = join(dir, 'v64.npy');
    writeNpy(v64, Float64Array.from(v), [P]);
    const out = join(dir, 'gv.npy');
    const r = runCli([...base(), '--vector', v64, '--out', out, '--ggn', '--backend', 'js'], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('G·v over 24 samples');
    const gv = (await readNpy(out)).data as Float32Array;
    expect(relErr(gv, fdGgnVp(prob, v))).toBeLessThan(1e-4);
    expect(relErr(gv, await libraryProduct('ggn'))).toBeLessThan(1e-6);
  });

  it('--batch-size chunks the mean without changing it; --layer takes that layer’s block', async () => {
    const full = join(dir, 'hv-full.npy');
    const chunked = join(dir, 'hv-chunked.npy');
    expect(runCli([...base(), '--vector', vPath, '--out', full, '--backend', 'js'], dir).status).toBe(0);
    expect(runCli([...base(), '--vector', vPath, '--out', chunked, '--batch-size', '5', '--backend', 'js'], dir).status).toBe(0);
    expect(relErr((await readNpy(chunked)).data as Float32Array, (await readNpy(full)).data as Float32Array)).toBeLessThan(1e-6);

    // Layer "2" (the 8→5 linear layer): parameters [56, 101) of the flat vector.
    const lo = 6 * 8 + 8;
    const hi = lo + 8 * 5 + 5;
    const vb = v.slice(lo, hi);
    const vbPath = join(dir, 'v-block.npy');
    writeNpy(vbPath, vb, [vb.length]);
    const out = join(dir, 'hv-block.npy');
    const r = runCli([...base(), '--vector', vbPath, '--out', out, '--layer', '2', '--backend', 'js', '--json'], dir);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ parameters: hi - lo, layers: [2] });
    // Truth: the diagonal block H[b, b] v_b = (H ṽ)[b] with ṽ = v_b embedded in zeros.
    const emb = new Float64Array(P);
    emb.set(vb, lo);
    const fd = fdHvp(prob, emb).slice(lo, hi);
    expect(relErr((await readNpy(out)).data as Float32Array, fd)).toBeLessThan(1e-4);
  });

  describe('bad input: one line naming the file, exit 2, no output file', () => {
    const cases: [string, () => Promise<{ args: string[]; file: string; code: string; text: RegExp }>][] = [
      ['a vector of the wrong length', async () => {
        const p = join(dir, 'short.npy');
        writeNpy(p, new Float32Array(P - 1), [P - 1]);
        return { args: [...base(), '--vector', p], file: p, code: 'E_SHAPE', text: new RegExp(`expected \\[${P}\\]`) };
      }],
      ['a non-finite vector', async () => {
        const p = join(dir, 'nan.npy');
        const bad = v.slice();
        bad[3] = Number.NaN;
        writeNpy(p, bad, [P]);
        return { args: [...base(), '--vector', p], file: p, code: 'E_VALUE', text: /vector\[3\] is NaN/ };
      }],
      ['weights with a tensor of the wrong shape', async () => {
        const p = join(dir, 'bad-weights.safetensors');
        const r = new Rng(3);
        const t = (name: string, shape: number[]) => ({ name, shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => r.uniform(-1, 1)) });
        await writeSafetensors(p, [t('0.weight', [8, 6]), t('0.bias', [8]), t('2.weight', [5, 7]), t('2.bias', [5]), t('4.weight', [3, 5]), t('4.bias', [3])]);
        const args = base();
        args[args.indexOf('--weights') + 1] = p;
        return { args: [...args, '--vector', vPath], file: p, code: 'E_MODEL', text: /2\.weight: has shape \[5, 7\]; expected \[5, 8\]/ };
      }],
      ['weights missing a tensor the description needs', async () => {
        const m = join(dir, 'bigger-model.json');
        writeFileSync(m, JSON.stringify(modelJson([6, 8, 5, 5, 3], 'tanh')));
        const args = base();
        args[args.indexOf('--model') + 1] = m;
        const vp = join(dir, 'v-bigger.npy');
        writeNpy(vp, new Float32Array(parameterCount([6, 8, 5, 5, 3])));
        return { args: [...args, '--vector', vp], file: prob.files.weights, code: 'E_MODEL', text: /missing tensor|has shape/ };
      }],
      ['labels out of range', async () => {
        const p = join(dir, 'y-bad.npy');
        const y = Int32Array.from(prob.y);
        y[5] = 3;
        writeNpy(p, y, [y.length], { dtype: 'i8' });
        const args = base();
        args[args.indexOf('--labels') + 1] = p;
        return { args: [...args, '--vector', vPath], file: p, code: 'E_LABEL', text: /labels\[5\] is 3; the model has 3 classes/ };
      }],
      ['inputs with the wrong width', async () => {
        const p = join(dir, 'x-wide.npy');
        writeNpy(p, new Float32Array(24 * 7), [24, 7]);
        const args = base();
        args[args.indexOf('--inputs') + 1] = p;
        return { args: [...args, '--vector', vPath], file: p, code: 'E_SHAPE', text: /7 features per sample but the model's layers\[0\]\.in is 6/ };
      }],
      ['a layer that is not linear', async () => ({ args: [...base(), '--vector', vPath, '--layer', '1'], file: '--layer', code: 'E_ARG', text: /"1" is not a linear layer/ })],
    ];
    it.each(cases)('%s', async (_name, make) => {
      const c = await make();
      const out = join(dir, 'never.npy');
      const before = readdirSync(dir).length;
      const r = runCli([...c.args, '--out', out, '--backend', 'js'], dir);
      expect(r.status, r.stderr).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain(`[${c.code}]`);
      if (c.file !== '--layer') expect(lines[0]).toContain(c.file);
      expect(lines[0]).toMatch(c.text);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir).length).toBe(before); // no temp file left behind either
      expect(r.stdout).toBe('');
    });
  });
});
