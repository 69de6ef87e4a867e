/**
 * Fused CLD scores (shaders/cld.wgsl): the host validates, precomputes Σ_e z[e, c], and
 * streams the trajectory through one reusable slab per tile of samples ([rows + 1, stride]
 * row segments written with writeBuffer), so a trajectory past the storage-binding cap (1 M × 50
 * float32 is 200 MB > 128 MiB on lavapipe) never needs one binding. Epochs past `loopChunk`
 * differences run as several dispatches carrying per-sample state. Float64 trajectories are
 * prepared on the host in float64, in the pass any float64 → GPU upload needs anyway: the
 * exact "all differences equal" flags, the reference's own mean difference, and the centred
 * differences δ_e = (T[e+1] − T[e]) − mean rounded once to float32, which the kernel sums.
 */
import { fail } from '../../../errors.js';
import type { CldKernelInput } from '../../backend.js';
import type { Runtime } from '../runtime.js';
import type { Ctx } from './ctx.js';

export interface CldPlan {
  /** Differences per dispatch. */
  rowsPerChunk: number;
  chunks: number;
  /** Samples per tile (a multiple of 4 unless it is all samples). */
  tileN: number;
  tiles: number;
}

/** Tile and chunk sizes (pure; unit-testable). */
export function cldPlan(epochs: number, samples: number, maxElems: number, loopChunk: number): CldPlan {
  const D = epochs - 1;
  const rowsPerChunk = Math.min(D, loopChunk);
  const chunks = Math.ceil(D / rowsPerChunk);
  // Slab of (rows + 1) rows; state of 6 floats per sample when chunked.
  const perSample = Math.max(rowsPerChunk + 1, chunks > 1 ? 6 : 0);
  let tileN = Math.floor(maxElems / perSample / 4) * 4;
  if (tileN < 4) fail('E_ARG', `cld: ${epochs} epochs do not fit the webgpu binding cap`);
  tileN = Math.min(tileN, Math.ceil(samples / 4) * 4, 65_535 * 64 * 4 * 64);
  return { rowsPerChunk, chunks, tileN, tiles: Math.max(1, Math.ceil(samples / tileN)) };
}

function validate(input: CldKernelInput): void {
  const { trajectory: T, epochs: E, samples: N, labels, numClasses: C, classZ } = input;
  if (!Number.isInteger(E) || E < 2) fail('E_ARG', `cld: need at least 2 epochs, got ${E}`, { field: 'epochs' });
  if (T.length !== E * N) fail('E_SHAPE', `cld: trajectory has ${T.length} values, expected ${E} × ${N}`, { field: 'trajectory' });
  if (labels.length !== N) fail('E_SHAPE', `cld: ${labels.length} labels for ${N} samples`, { field: 'labels' });
  if (classZ.length !== (E - 1) * C) fail('E_SHAPE', `cld: classZ has ${classZ.length} values, expected ${E - 1} × ${C}`, { field: 'classZ' });
  for (let i = 0; i < N; i++) {
    const y = labels[i]!;
    if (y < 0 || y >= C) fail('E_LABEL', `cld: label ${y} of sample ${i} is outside [0, ${C})`, { field: 'labels' });
  }
}

/**
 * Per sample: the mean difference, summed in float64 in epoch order exactly as the reference
 * does (so even noise-level trajectories, whose r hinges on the mean's last bits, match it), and
 * 1 where every difference equals the first exactly (the reference's zero-variance test).
 */
function hostStats(T: Float64Array, E: number, N: number): { flags: Uint32Array; mean: Float64Array } {
  const flags = new Uint32Array(N).fill(1);
  const d0 = new Float64Array(N);
  const mean = new Float64Array(N);
  for (let i = 0; i < N; i++) mean[i] = d0[i] = T[N + i]! - T[i]!;
  for (let e = 1; e < E - 1; e++) {
    const a = e * N;
    const b = a + N;
    for (let i = 0; i < N; i++) {
      const d = T[b + i]! - T[a + i]!;
      mean[i]! += d;
      if (d !== d0[i]) flags[i] = 0;
    }
  }
  for (let i = 0; i < N; i++) mean[i]! /= E - 1;
  return { flags, mean };
}

export async function cldScores(ctx: Ctx, input: CldKernelInput): Promise<Float32Array> {
  validate(input);
  const { trajectory: T, epochs: E, samples: N, labels, numClasses: C, classZ } = input;
  const out = new Float32Array(N);
  if (N === 0) return out;
  const rt: Runtime = ctx.rt;
  const D = E - 1;
  const maxE = rt.maxElems();
  if (D * C > maxE) fail('E_ARG', `cld: classZ [${D}, ${C}] exceeds the webgpu binding cap`);

  const z = Float32Array.from(classZ);
  const sumz = new Float32Array(C);
  const acc = new Float64Array(C);
  for (let e = 0; e < D; e++) for (let c = 0; c < C; c++) acc[c]! += z[e * C + c]!;
  sumz.set(acc);

  const f64 = T instanceof Float64Array;
  const plan = cldPlan(E, N, maxE, rt.loopChunk);
  const own: GPUBuffer[] = [];
  const buf = (bytes: number): GPUBuffer => {
    const b = rt.acquire(bytes);
    own.push(b);
    return b;
  };
  const zBuf = buf(z.length * 4);
  rt.write(zBuf, 0, z);
  const sBuf = buf(C * 4);
  rt.write(sBuf, 0, sumz);
  const lBuf = buf(N * 4);
  rt.write(lBuf, 0, labels);
  const oBuf = buf(N * 4);
  const flagBuf = f64 ? buf(N * 4) : buf(16);
  const exact = f64 ? hostStats(T as Float64Array, E, N) : undefined;
  if (exact) rt.write(flagBuf, 0, exact.flags);

  const slabRows = plan.rowsPerChunk + 1;
  const hiBuf = buf(slabRows * plan.tileN * 4);
  const stateBuf = plan.chunks > 1 ? buf(plan.tileN * 6 * 4) : buf(96);
  const deltaHost = f64 ? rt.scratchF32(plan.rowsPerChunk * plan.tileN) : undefined;

  for (let tileStart = 0; tileStart < N; tileStart += plan.tileN) {
    const lanes = Math.min(plan.tileN, N - tileStart);
    const stride = Math.ceil(lanes / 4) * 4;
    const vl = rt.view(lBuf, tileStart, tileStart + lanes);
    const vo = rt.view(oBuf, tileStart, tileStart + lanes);
    const vf = f64 ? rt.view(flagBuf, tileStart, tileStart + lanes) : { binding: flagBuf, base: 0 };
    for (let c = 0; c < plan.chunks; c++) {
      const e0 = c * plan.rowsPerChunk;
      const rows = Math.min(plan.rowsPerChunk, D - e0);
      let slabElems: number;
      if (!f64) {
        slabElems = (rows + 1) * stride;
        const T32 = T as Float32Array;
        if (lanes === N && stride === N) rt.write(hiBuf, 0, T32, e0 * N, slabElems);
        else for (let r = 0; r <= rows; r++) rt.write(hiBuf, r * stride * 4, T32, (e0 + r) * N + tileStart, lanes);
      } else {
        slabElems = rows * stride;
        const mean = exact!.mean;
        const delta = deltaHost!;
        for (let r = 0; r < rows; r++) {
          const a = (e0 + r) * N + tileStart;
          const b = a + N;
          const dst = r * stride;
          for (let j = 0; j < lanes; j++) delta[dst + j] = T[b + j]! - T[a + j]! - mean[tileStart + j]!;
        }
        rt.write(hiBuf, 0, delta, 0, slabElems);
      }
      const slabBinding = { buffer: hiBuf, offset: 0, size: slabElems * 4 };
      rt.dispatch(
        'cld',
        'main',
        { F64: f64 ? 1 : 0 },
        {
          lanes,
          stride4: stride / 4,
          rows,
          e0,
          numClasses: C,
          first: c === 0 ? 1 : 0,
          last: c === plan.chunks - 1 ? 1 : 0,
          tileStart,
          labelBase: vl.base,
          outBase: vo.base,
          flagBase: vf.base,
          D,
          one_a: 1,
          one_b: 1,
        },
        { hi: slabBinding, labels: vl.binding, z: zBuf, sumz: sBuf, outv: vo.binding, state: stateBuf, flags: vf.binding },
        Math.ceil(stride / 4 / 64),
      );
      // The slab is rewritten by the next writeBuffer, which runs ahead of unsubmitted work.
      rt.flush();
    }
  }
  await rt.readInto(oBuf, 0, N, out);
  for (const b of own) rt.release(b);
  return out;
}
