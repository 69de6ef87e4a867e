/** R-operator of the activation backward (shaders/act_rgrad.wgsl): ga ⊙ f''(z) ⊙ rz + rga ⊙ f'(z). */
import type { Activation, Tensor } from '../../backend.js';
import { asGpu, sameSize } from '../tensor.js';
import type { Ctx } from './ctx.js';
import { ACTIVATION_OP } from './elementwise.js';
import { runMap } from './map.js';

export function activationRGrad(ctx: Ctx, kind: Activation, z: Tensor, rz: Tensor, ga: Tensor, rga: Tensor): Tensor {
  for (const [t, what] of [[rz, 'rz'], [ga, 'ga'], [rga, 'rga']] as const) sameSize(z, t, `activationRGrad ${what}`);
  const out = ctx.alloc(z.shape);
  runMap(ctx.rt, { family: 'act_rgrad', entry: 'main', constants: { OP: ACTIVATION_OP[kind] } }, z.size, [
    { name: 'z', buffer: asGpu(z, 'f32', 'activationRGrad z').buffer, base: 'zBase' },
    { name: 'rz', buffer: asGpu(rz, 'f32', 'activationRGrad rz').buffer, base: 'rzBase' },
    { name: 'ga', buffer: asGpu(ga, 'f32', 'activationRGrad ga').buffer, base: 'gaBase' },
    { name: 'rga', buffer: asGpu(rga, 'f32', 'activationRGrad rga').buffer, base: 'rgaBase' },
    { name: 'o', buffer: out.buffer, base: 'oBase' },
  ]);
  return out;
}
