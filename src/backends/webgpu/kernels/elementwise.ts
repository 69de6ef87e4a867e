/** Bias add, activations and their gradients (shaders/elementwise.wgsl). */
import { fail } from '../../../errors.js';
import type { Activation, Tensor } from '../../backend.js';
import type { Ctx } from './ctx.js';
import { runMap } from './map.js';
import { asGpu, dims2, sameSize } from '../tensor.js';

const FAMILY = 'elementwise';
export const ACTIVATION_OP: Record<Activation, number> = { relu: 0, tanh: 1, sigmoid: 2, gelu: 3 };

export function addBias(ctx: Ctx, x: Tensor, bias: Tensor): Tensor {
  const [, n] = dims2(x, 'addBias x');
  if (bias.size !== n) fail('E_SHAPE', `addBias: bias has ${bias.size} elements, expected ${n}`);
  const out = ctx.alloc(x.shape);
  runMap(ctx.rt, { family: FAMILY, entry: 'bias_add' }, x.size, [
    { name: 'x', buffer: asGpu(x).buffer, base: 'xBase' },
    { name: 'g', buffer: asGpu(bias).buffer, base: 'gBase', whole: n },
    { name: 'y', buffer: out.buffer, base: 'yBase' },
  ], { n });
  return out;
}

export function activation(ctx: Ctx, kind: Activation, x: Tensor): Tensor {
  const out = ctx.alloc(x.shape);
  runMap(ctx.rt, { family: FAMILY, entry: 'act_forward', constants: { OP: ACTIVATION_OP[kind] } }, x.size, [
    { name: 'x', buffer: asGpu(x).buffer, base: 'xBase' },
    { name: 'y', buffer: out.buffer, base: 'yBase' },
  ], { n: 1, gBase: 0 });
  return out;
}

export function activationGrad(ctx: Ctx, kind: Activation, x: Tensor, gy: Tensor): Tensor {
  sameSize(x, gy, 'activationGrad');
  const out = ctx.alloc(x.shape);
  runMap(ctx.rt, { family: FAMILY, entry: 'act_backward', constants: { OP: ACTIVATION_OP[kind] } }, x.size, [
    { name: 'x', buffer: asGpu(x).buffer, base: 'xBase' },
    { name: 'g', buffer: asGpu(gy).buffer, base: 'gBase' },
    { name: 'y', buffer: out.buffer, base: 'yBase' },
  ], { n: 1 });
  return out;
}
