import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsBackend } from '../../../src/backends/js/index.js';
import { RiverbedError } from '../../../src/errors.js';
import { encodeSafetensors, halfToFloat, parseSafetensors, readSafetensors, writeSafetensors } from '../../../src/io/safetensors.js';
import { parseModelDescription } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'riverbed-st-'));

/** A safetensors file built by hand, byte by byte, the way the reference writer lays it out. */
function handBuilt(entries: { name: string; dtype: string; shape: number[]; bytes: Uint8Array }[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.bytes.length] };
    off += e.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const e of entries) {
    out.set(e.bytes, p);
    p += e.bytes.length;
  }
  return out;
}
const f32bytes = (a: number[]) => new Uint8Array(Float32Array.from(a).buffer);

function expectError(fn: () => unknown, code: string, ...parts: string[]): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RiverbedError);
    expect((err as RiverbedError).code).toBe(code);
    for (const p of parts) expect((err as Error).message).toContain(p);
    return;
  }
  expect.fail('expected a RiverbedError');
}

describe('safetensors', () => {
  it('round-trips tensors and metadata, header 8-byte aligned', async () => {
    const dir = tmp();
    const path = join(dir, 'w.safetensors');
    const tensors = [
      { name: '0.weight', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, -6.5]) },
      { name: '0.bias', shape: [2], data: Float32Array.from([0.25, -1e-8]) },
      { name: 'empty', shape: [0, 4], data: new Float32Array(0) },
    ];
    await writeSafetensors(path, tensors, { hello: 'world' });
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
    const back = await readSafetensors(path);
    expect(back.metadata).toEqual({ hello: 'world' });
    expect([...back.tensors.keys()]).toEqual(['0.weight', '0.bias', 'empty']);
    for (const t of tensors) {
      const b = back.tensors.get(t.name)!;
      expect(b.shape).toEqual(t.shape);
      expect(Array.from(b.data)).toEqual(Array.from(t.data));
    }
    const bytes = encodeSafetensors(tensors);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
  });

  it('reads F64, F16 and BF16 as float32', () => {
    const f64 = new Uint8Array(Float64Array.from([1.5, -2.25]).buffer);
    const f16 = new Uint8Array(Uint16Array.from([0x3c00, 0xc000, 0x0001, 0x7c00]).buffer); // 1, -2, 2^-24, inf
    const bf16 = new Uint8Array(Uint16Array.from([0x3f80, 0xc0a0]).buffer); // 1, -5
    const c = parseSafetensors(
      handBuilt([
        { name: 'a', dtype: 'F64', shape: [2], bytes: f64 },
        { name: 'b', dtype: 'F16', shape: [4], bytes: f16 },
        { name: 'c', dtype: 'BF16', shape: [2], bytes: bf16 },
      ]),
    );
    expect(Array.from(c.tensors.get('a')!.data)).toEqual([1.5, -2.25]);
    expect(Array.from(c.tensors.get('b')!.data)).toEqual([1, -2, 2 ** -24, Infinity]);
    expect(Array.from(c.tensors.get('c')!.data)).toEqual([1, -5]);
    expect(halfToFloat(0x3555)).toBeCloseTo(0.333251953125, 12);
  });

  it('loads a hand-built PyTorch-style file with a "model." prefix into an Mlp', async () => {
    const desc = parseModelDescription({
      format: 'riverbed.model',
      version: 1,
      layers: [{ type: 'linear', in: 2, out: 3 }, { type: 'tanh' }, { type: 'linear', in: 3, out: 2 }],
      loss: 'cross_entropy',
    });
    const w0 = [1, 2, 3, 4, 5, 6]; // [out=3, in=2]
    const b0 = [0.1, 0.2, 0.3];
    const w2 = [1, 0, -1, 0, 1, 0]; // [2, 3]
    const b2 = [0, 0.5];
    const dir = tmp();
    const path = join(dir, 'torch.safetensors');
    writeFileSync(
      path,
      handBuilt(
        [
          { name: 'model.0.weight', dtype: 'F32', shape: [3, 2], bytes: f32bytes(w0) },
          { name: 'model.0.bias', dtype: 'F32', shape: [3], bytes: f32bytes(b0) },
          { name: 'model.2.weight', dtype: 'F32', shape: [2, 3], bytes: f32bytes(w2) },
          { name: 'model.2.bias', dtype: 'F32', shape: [2], bytes: f32bytes(b2) },
        ],
        { format: 'pt' },
      ),
    );
    const b = new JsBackend();
    const m = await Mlp.load(b, desc, path);
    const x = b.upload(Float32Array.from([1, -1]), [1, 2]);
    const z = await b.read(m.forward(x));
    // hidden = tanh(W0 x + b0) = tanh([-1+0.1, -1+0.2, -1+0.3])
    const h = [Math.tanh(-0.9), Math.tanh(-0.8), Math.tanh(-0.7)];
    expect(z[0]).toBeCloseTo(h[0]! - h[2]!, 6);
    expect(z[1]).toBeCloseTo(h[1]! + 0.5, 6);
    // save() writes the same names and layout (no prefix).
    const out = join(dir, 'saved.safetensors');
    await m.save(out);
    const saved = await readSafetensors(out);
    expect([...saved.tensors.keys()]).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    expect(saved.tensors.get('0.weight')!.shape).toEqual([3, 2]);
    expect(Array.from(saved.tensors.get('0.weight')!.data)).toEqual(w0);
  });

  it('rejects truncated, malformed and mismatched files with the file and tensor named', async () => {
    const good = handBuilt([{ name: 'x', dtype: 'F32', shape: [2, 2], bytes: f32bytes([1, 2, 3, 4]) }]);
    expectError(() => parseSafetensors(good.subarray(0, 5), 'f.st'), 'E_FORMAT', 'f.st', 'too short');
    expectError(() => parseSafetensors(good.subarray(0, 20), 'f.st'), 'E_FORMAT', 'truncated');
    expectError(() => parseSafetensors(good.subarray(0, good.length - 1), 'f.st'), 'E_FORMAT', 'tensor "x"', 'truncated');
    const badJson = good.slice();
    badJson[8] = 0x5b; // '[' instead of '{'
    expectError(() => parseSafetensors(badJson, 'f.st'), 'E_FORMAT', 'JSON');
    expectError(
      () => parseSafetensors(handBuilt([{ name: 'y', dtype: 'F32', shape: [3], bytes: f32bytes([1, 2]) }]), 'f.st'),
      'E_FORMAT',
      'tensor "y"',
      'needs 12',
    );
    expectError(() => parseSafetensors(handBuilt([{ name: 'z', dtype: 'I64', shape: [1], bytes: new Uint8Array(8) }]), 'f.st'), 'E_DTYPE', 'tensor "z"', 'I64');
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expectError(() => parseSafetensors(huge, 'f.st'), 'E_FORMAT', 'implausible');
    await expect(readSafetensors('/nonexistent/w.safetensors')).rejects.toMatchObject({ code: 'E_FILE' });

    // Shape mismatch against the description → E_MODEL naming tensor and expected shape.
    const desc = parseModelDescription({ format: 'riverbed.model', version: 1, layers: [{ type: 'linear', in: 2, out: 2 }], loss: 'cross_entropy' });
    const dir = tmp();
    const p = join(dir, 'bad.safetensors');
    writeFileSync(
      p,
      handBuilt([
        { name: '0.weight', dtype: 'F32', shape: [2, 3], bytes: f32bytes([1, 2, 3, 4, 5, 6]) },
        { name: '0.bias', dtype: 'F32', shape: [2], bytes: f32bytes([0, 0]) },
      ]),
    );
    await expect(Mlp.load(new JsBackend(), desc, p)).rejects.toThrow(/0\.weight.*shape \[2, 3\]; expected \[2, 2\]/);
    const p2 = join(dir, 'missing.safetensors');
    writeFileSync(p2, handBuilt([{ name: '0.weight', dtype: 'F32', shape: [2, 2], bytes: f32bytes([1, 2, 3, 4]) }]));
    await expect(Mlp.load(new JsBackend(), desc, p2)).rejects.toMatchObject({ code: 'E_MODEL', field: '0.bias' });
  });
});
