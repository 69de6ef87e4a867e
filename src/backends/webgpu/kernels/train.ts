/**
 * The fused training step (Backend.mlpTrainSteps) on webgpu: shaders/mlp_train.wgsl, plus the
 * plain GEMM of kernels/matmul.ts and the elementwise family's activations where nothing is fused.
 *
 * Every step of a call is recorded into the runtime's batched command buffers, with its learning
 * rate and Adam bias corrections in its dispatches' uniforms; the host waits once, at the end, for
 * the per-row losses. Per mini-batch, as native/mlp_train.cc: gather the batch rows; per linear
 * layer one GEMM with the bias and the next activation in its epilogue (z and f(z) both kept: the
 * backward needs f'(z)); softmax cross-entropy, its per-row loss and the gradient of the batch
 * mean in one pass; then top down, per linear layer, the input gradient (old weights) with the
 * activation derivative below in the epilogue, the weight-gradient GEMM with the optimizer update
 * of the weight in its epilogue, and the bias's gradient and update in one pass.
 *
 * GEMMs are tiled as matmul() tiles (matmulBlocks: every bound span under the storage-binding cap,
 * K chunks under the loop cap); their epilogue runs on the last K chunk, earlier chunks leave
 * partial sums in C (for the weight gradient: a scratch the size of the largest weight).
 *
 * A GPU error anywhere in the call rejects its promise with the runtime's RiverbedError (the loss
 * readback reports it); the parameters and optimizer state are then lost (reading them rejects too).
 * `req.state` is not used: the workspace buffers come from the runtime's pool and go back to it.
 */
import { fail } from '../../../errors.js';
import type { FusedTrainLayer, FusedTrainRequest, Tensor } from '../../backend.js';
import type { TrainPlan } from '../../ops.js';
import type { Bindable, Runtime } from '../runtime.js';
import { shaderLayout } from '../shader.js';
import { GpuTensor, asGpu } from '../tensor.js';
import type { Ctx } from './ctx.js';
import { ACTIVATION_OP } from './elementwise.js';
import { runMap } from './map.js';
import { matmul, matmulBlocks } from './matmul.js';

const FAMILY = 'mlp_train';

type Linear = Extract<FusedTrainLayer, { type: 'linear' }>;
const isLinear = (l: FusedTrainLayer): l is Linear => l.type === 'linear';

/** Every Params field of the family at 0 (dispatches set theirs); the dfloat ones at 1. */
let zeroParams: Record<string, number> | undefined;
function baseParams(): Record<string, number> {
  zeroParams ??= Object.fromEntries(shaderLayout(FAMILY).params.fields.map((f) => [f.name, 0]));
  return { ...zeroParams, one_a: 1, one_b: 1 };
}

/** An epilogue operand: bound under `name`, its bound range's first element in uniform `base`. */
interface Side {
  name: string;
  buffer: GPUBuffer;
  base: string;
}

/**
 * C [M, N] (+)= op(A)·op(B) with `entry`'s epilogue, tiled as matmul(): `withC` operands share C's
 * layout (bound over the block's span), `perCol` ones are indexed by C's column (a bias).
 */
function fusedGemm(
  rt: Runtime,
  entry: string,
  constants: Record<string, number>,
  dims: { M: number; N: number; K: number; transA: boolean; transB: boolean },
  A: GPUBuffer,
  B: GPUBuffer,
  C: GPUBuffer,
  withC: Side[],
  perCol: Side[],
  params: Record<string, number>,
): void {
  const { M, N, K, transA, transB } = dims;
  const { mb, nb, kb } = matmulBlocks(M, N, K, transA, transB, rt.maxElems(), rt.loopChunk);
  const consts = { TRANS_A: transA ? 1 : 0, TRANS_B: transB ? 1 : 0, ...constants };
  for (let m0 = 0; m0 < M; m0 += mb) {
    const mc = Math.min(mb, M - m0);
    for (let n0 = 0; n0 < N; n0 += nb) {
      const nc = Math.min(nb, N - n0);
      const lo = m0 * N + n0;
      const hi = (m0 + mc - 1) * N + n0 + nc;
      const vc = rt.view(C, lo, hi);
      const bound: Record<string, Bindable> = { c: vc.binding };
      const bases: Record<string, number> = { cBase: vc.base };
      for (const s of withC) {
        const v = rt.view(s.buffer, lo, hi);
        bound[s.name] = v.binding;
        bases[s.base] = v.base;
      }
      for (const s of perCol) {
        const v = rt.view(s.buffer, n0, n0 + nc);
        bound[s.name] = v.binding;
        bases[s.base] = v.base;
      }
      for (let k0 = 0; k0 < K; k0 += kb) {
        const kc = Math.min(kb, K - k0);
        const va = transA ? rt.view(A, k0 * M + m0, (k0 + kc - 1) * M + m0 + mc) : rt.view(A, m0 * K + k0, (m0 + mc - 1) * K + k0 + kc);
        const vb = transB ? rt.view(B, n0 * K + k0, (n0 + nc - 1) * K + k0 + kc) : rt.view(B, k0 * N + n0, (k0 + kc - 1) * N + n0 + nc);
        rt.dispatch(
          FAMILY,
          entry,
          consts,
          { ...params, ...bases, M, N, K, m0, n0, k0, mb: mc, nb: nc, kb: kc, aBase: va.base, bBase: vb.base, accumulate: k0 > 0 ? 1 : 0, last: k0 + kc >= K ? 1 : 0 },
          { ...bound, a: va.binding, b: vb.binding },
          [Math.ceil(nc / 32), Math.ceil(mc / 32)],
        );
      }
    }
  }
}

/** The optimizer update of a bias [N] with the column sums of g [k, N] (rows in loop/binding-sized chunks). */
function biasUpdate(rt: Runtime, entry: string, g: GPUBuffer, k: number, N: number, scratch: GPUBuffer, state: Side[], params: Record<string, number>): void {
  const rowsPer = Math.min(rt.loopChunk, Math.floor(rt.maxElems() / N));
  if (rowsPer < 1) fail('E_ARG', `mlpTrainSteps: a layer of ${N} outputs exceeds the webgpu binding cap`);
  const bound: Record<string, Bindable> = { c: rt.view(scratch, 0, N).binding };
  const bases: Record<string, number> = { cBase: 0 };
  for (const s of state) {
    const v = rt.view(s.buffer, 0, N);
    bound[s.name] = v.binding;
    bases[s.base] = v.base;
  }
  for (let k0 = 0; k0 < k; k0 += rowsPer) {
    const kc = Math.min(rowsPer, k - k0);
    const va = rt.view(g, k0 * N, (k0 + kc) * N);
    rt.dispatch(
      FAMILY,
      entry,
      {},
      { ...params, ...bases, N, k0, kb: kc, aBase: va.base, accumulate: k0 > 0 ? 1 : 0, last: k0 + kc >= k ? 1 : 0 },
      { ...bound, a: va.binding },
      Math.ceil(N / 64),
    );
  }
}

/** xb [k, D] = x[rows[r0 .. r0 + k), :], in binding-sized output chunks × x row chunks (gather.ts's tiling). */
function gather(rt: Runtime, X: GPUBuffer, M: number, D: number, rows: GPUBuffer, r0: number, k: number, xb: GPUBuffer): void {
  const maxE = rt.maxElems();
  if (D > maxE) fail('E_ARG', `mlpTrainSteps: rows of ${D} features exceed the webgpu binding cap`);
  const total = k * D;
  const xRowsPer = Math.max(1, Math.floor(maxE / D));
  const outChunk = Math.max(D, Math.floor(maxE / D) * D);
  const P = baseParams();
  for (let first = 0; first < total; first += outChunk) {
    const cnt = Math.min(outChunk, total - first);
    const vo = rt.view(xb, first, first + cnt);
    const vi = rt.view(rows, r0 + Math.floor(first / D), r0 + Math.floor((first + cnt - 1) / D) + 1);
    for (let xRow0 = 0; xRow0 < M; xRow0 += xRowsPer) {
      const xRows = Math.min(xRowsPer, M - xRow0);
      const vx = rt.view(X, xRow0 * D, (xRow0 + xRows) * D);
      rt.dispatch(
        FAMILY,
        'gather',
        {},
        { ...P, count: cnt, first, n: D, m: M, xRow0, xRows, xBase: vx.base, iBase: vi.base, oBase: vo.base, r0 },
        { x: vx.binding, idx: vi.binding, xb: vo.binding },
        Math.ceil(cnt / 256),
      );
    }
  }
}

/** loss[r0 ..] and the batch-mean gradient g of logits [k, C] (row chunks under the binding cap). */
function crossEntropy(rt: Runtime, logits: GPUBuffer, ys: GPUBuffer, loss: GPUBuffer, g: GPUBuffer, r0: number, k: number, C: number): void {
  const rowsPer = Math.max(1, Math.floor(rt.maxElems() / C));
  const P = baseParams();
  for (let first = 0; first < k; first += rowsPer) {
    const cnt = Math.min(rowsPer, k - first);
    const vz = rt.view(logits, first * C, (first + cnt) * C);
    const vg = rt.view(g, first * C, (first + cnt) * C);
    const vy = rt.view(ys, r0 + first, r0 + first + cnt);
    const vl = rt.view(loss, r0 + first, r0 + first + cnt);
    rt.dispatch(
      FAMILY,
      'xent',
      {},
      { ...P, count: cnt, first, n: C, r0, aBase: vz.base, cBase: vg.base, yBase: vy.base, lBase: vl.base, invBatch: 1 / k },
      { a: vz.binding, c: vg.binding, ys: vy.binding, loss: vl.binding },
      Math.ceil(cnt / 64),
    );
  }
}

/** What the step needs from the backend: the runtime, allocation, and freeing matmul()'s outputs. */
export interface TrainCtx extends Ctx {
  free(t: Tensor): void;
}

export async function mlpTrainSteps(ctx: TrainCtx, req: FusedTrainRequest, plan: TrainPlan): Promise<number> {
  const rt = ctx.rt;
  const n = req.rows.length;
  if (n === 0) return 0;
  const C = plan.classes;
  // One invocation walks a row of logits (xent); lavapipe stops loops at 65 535 iterations.
  if (C > 65_535) fail('E_ARG', `mlpTrainSteps: ${C} classes exceed the webgpu kernel's 65 535`);
  const L = req.layers;
  const nl = L.length;
  const first = L.findIndex(isLinear);
  const B = req.batchSize;
  const kmax = Math.min(B, n);
  const M = plan.samples;
  const D = req.x.shape[1]!;
  const widths = L.map((_, i) => plan.spec[4 * i + 2]!);
  const [kind, wd, momentum, nesterov, beta1, beta2, eps, stepsBefore] = Array.from(plan.hyper) as [number, number, number, number, number, number, number, number];
  const sgd = kind === 0;
  let maxW = D;
  let maxWeight = 1;
  for (let i = 0; i < nl; i++) {
    maxW = Math.max(maxW, widths[i]!);
    const l = L[i]!;
    if (isLinear(l)) maxWeight = Math.max(maxWeight, l.weight.size);
  }

  const acquired: GPUBuffer[] = [];
  const temps: Tensor[] = [];
  const buf = (elems: number): GPUBuffer => {
    const b = rt.acquire(Math.max(4, elems * 4));
    acquired.push(b);
    return b;
  };
  // A step-shaped tensor over a workspace buffer, for the kernels that take tensors (matmul()).
  const view = (b: GPUBuffer, shape: number[]): GpuTensor => new GpuTensor('f32', shape, b);
  const X = asGpu(req.x).buffer;
  try {
    const rowsBuf = buf(n);
    rt.write(rowsBuf, 0, req.rows);
    const ys = new Int32Array(n);
    for (let r = 0; r < n; r++) ys[r] = req.labels[req.rows[r]!]!;
    const ysBuf = buf(n);
    rt.write(ysBuf, 0, ys);
    const lossBuf = buf(n);
    const xb = buf(kmax * D);
    const ws = widths.map((w) => buf(kmax * w));
    const gws = [buf(kmax * maxW), buf(kmax * maxW)] as const;
    const other = (g: GPUBuffer): GPUBuffer => (g === gws[0] ? gws[1] : gws[0]);
    const gwScratch = buf(maxWeight);
    const gbScratch = buf(maxW);

    const steps = plan.steps;
    for (let s = 0; s < steps; s++) {
      const r0 = s * B;
      const k = Math.min(B, n - r0);
      gather(rt, X, M, D, rowsBuf, r0, k, xb);
      const outs: GPUBuffer[] = new Array(nl);
      const inp = (i: number): GPUBuffer => (i === 0 ? xb : outs[i - 1]!);

      // Forward. An activation right after a linear layer runs in that layer's GEMM epilogue.
      for (let i = 0; i < nl; i++) {
        const l = L[i]!;
        if (!isLinear(l)) {
          if (i === 0 || !isLinear(L[i - 1]!)) {
            outs[i] = ws[i]!;
            runMap(rt, { family: 'elementwise', entry: 'act_forward', constants: { OP: ACTIVATION_OP[l.type] } }, k * widths[i]!, [
              { name: 'x', buffer: inp(i), base: 'xBase' },
              { name: 'y', buffer: outs[i]!, base: 'yBase' },
            ], { n: 1, gBase: 0 });
          }
          continue;
        }
        const [out, inn] = l.weight.shape as [number, number];
        const next = L[i + 1];
        const act = next !== undefined && !isLinear(next) ? next.type : undefined;
        if (l.bias === undefined && act === undefined) {
          const z = matmul(ctx, view(inp(i), [k, inn]), l.weight, false, true);
          temps.push(z);
          outs[i] = asGpu(z).buffer;
          continue;
        }
        outs[i] = ws[i]!;
        const withC: Side[] = [];
        if (act !== undefined) {
          outs[i + 1] = ws[i + 1]!;
          withC.push({ name: 'h', buffer: outs[i + 1]!, base: 'hBase' });
        }
        const perCol: Side[] = l.bias !== undefined ? [{ name: 'bias', buffer: asGpu(l.bias).buffer, base: 'biasBase' }] : [];
        const entry = act === undefined ? 'fwd_b' : l.bias === undefined ? 'fwd_a' : 'fwd_ba';
        fusedGemm(rt, entry, act === undefined ? {} : { OP: ACTIVATION_OP[act] }, { M: k, N: out, K: inn, transA: false, transB: true }, inp(i), asGpu(l.weight).buffer, outs[i]!, withC, perCol, baseParams());
      }

      // Loss and the gradient of the batch mean at the logits.
      let g: GPUBuffer = gws[0];
      crossEntropy(rt, outs[nl - 1]!, ysBuf, lossBuf, g, r0, k, C);

      // Backward, top down; each linear layer passes the gradient to its input with the old
      // weights, then updates its weight and bias.
      const step = stepsBefore + s + 1;
      const opt = {
        ...baseParams(),
        lr: req.lr[s]!,
        wd,
        momentum,
        nesterov,
        beta1,
        beta2,
        eps,
        bc1: 1 - Math.pow(beta1, step),
        bc2: 1 - Math.pow(beta2, step),
        decoupled: kind === 2 ? 1 : 0,
      };
      let i = nl - 1;
      while (i >= first) {
        const l = L[i]!;
        if (!isLinear(l)) {
          // An activation under another activation (or leading): its own pass, g ⊙ f'(its input).
          const dst = other(g);
          runMap(rt, { family: 'elementwise', entry: 'act_backward', constants: { OP: ACTIVATION_OP[l.type] } }, k * widths[i]!, [
            { name: 'x', buffer: inp(i), base: 'xBase' },
            { name: 'g', buffer: g, base: 'gBase' },
            { name: 'y', buffer: dst, base: 'yBase' },
          ], { n: 1 });
          g = dst;
          i--;
          continue;
        }
        const [out, inn] = l.weight.shape as [number, number];
        const W = asGpu(l.weight).buffer;
        const needIn = i > first;
        const below = needIn ? L[i - 1]! : undefined;
        const absorb = below !== undefined && !isLinear(below);
        let gin: GPUBuffer | undefined;
        if (absorb) {
          gin = other(g);
          fusedGemm(rt, 'bwd_in', { OP: ACTIVATION_OP[below.type] }, { M: k, N: inn, K: out, transA: false, transB: false }, g, W, gin, [{ name: 'zin', buffer: inp(i - 1), base: 'zBase' }], [], baseParams());
        } else if (needIn) {
          const t = matmul(ctx, view(g, [k, out]), l.weight, false, false);
          temps.push(t);
          gin = asGpu(t).buffer;
        }
        const wState: Side[] = [
          { name: 'param', buffer: W, base: 'pBase' },
          ...l.weightState.slice(0, sgd ? 1 : 2).map((t, q) => ({ name: `s${q}`, buffer: asGpu(t).buffer, base: `s${q}Base` })),
        ];
        fusedGemm(rt, sgd ? 'wgrad_sgd' : 'wgrad_adam', {}, { M: out, N: inn, K: k, transA: true, transB: false }, g, inp(i), gwScratch, wState, [], opt);
        if (l.bias !== undefined) {
          const bState: Side[] = [
            { name: 'param', buffer: asGpu(l.bias).buffer, base: 'pBase' },
            ...l.biasState!.slice(0, sgd ? 1 : 2).map((t, q) => ({ name: `s${q}`, buffer: asGpu(t).buffer, base: `s${q}Base` })),
          ];
          biasUpdate(rt, sgd ? 'bgrad_sgd' : 'bgrad_adam', g, k, out, gbScratch, bState, opt);
        }
        if (!needIn) break;
        g = gin!;
        i -= absorb ? 2 : 1;
      }
      // matmul()'s outputs go back to the pool once this step's commands are submitted.
      for (const t of temps.splice(0)) ctx.free(t);
    }
    // The one host wait of the call; it also reports any GPU error of the call's commands.
    const loss = await rt.readInto(lossBuf, 0, n, req.loss);
    let total = 0;
    for (let r = 0; r < n; r++) total += loss[r]!;
    return total;
  } finally {
    for (const t of temps) ctx.free(t);
    for (const b of acquired) rt.release(b);
  }
}
