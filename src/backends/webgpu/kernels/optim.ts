/** SGD (momentum, Nesterov, weight decay) and Adam/AdamW steps in place (shaders/optim.wgsl). */
import type { AdamHyper, SgdHyper, Tensor } from '../../backend.js';
import { asGpu, sameSize } from '../tensor.js';
import type { Ctx } from './ctx.js';
import { runMap } from './map.js';

const COMMON = { beta1: 0, beta2: 0, eps: 0, bc1: 1, bc2: 1, decoupled: 0, momentum: 0, nesterov: 0 };

export function sgdStep(ctx: Ctx, param: Tensor, grad: Tensor, velocity: Tensor, h: SgdHyper): void {
  sameSize(param, grad, 'sgdStep');
  sameSize(param, velocity, 'sgdStep');
  runMap(ctx.rt, { family: 'optim', entry: 'sgd' }, param.size, [
    { name: 'param', buffer: asGpu(param).buffer, base: 'pBase' },
    { name: 'grad', buffer: asGpu(grad).buffer, base: 'gBase' },
    { name: 'vel', buffer: asGpu(velocity).buffer, base: 'vBase' },
  ], { ...COMMON, mBase: 0, lr: h.lr, wd: h.weightDecay, momentum: h.momentum, nesterov: h.nesterov ? 1 : 0 });
}

export function adamStep(ctx: Ctx, param: Tensor, grad: Tensor, m: Tensor, v: Tensor, h: AdamHyper): void {
  sameSize(param, grad, 'adamStep');
  sameSize(param, m, 'adamStep');
  sameSize(param, v, 'adamStep');
  runMap(ctx.rt, { family: 'optim', entry: 'adam' }, param.size, [
    { name: 'param', buffer: asGpu(param).buffer, base: 'pBase' },
    { name: 'grad', buffer: asGpu(grad).buffer, base: 'gBase' },
    { name: 'vel', buffer: asGpu(v).buffer, base: 'vBase' },
    { name: 'mom', buffer: asGpu(m).buffer, base: 'mBase' },
  ], {
    ...COMMON,
    lr: h.lr,
    wd: h.weightDecay,
    beta1: h.beta1,
    beta2: h.beta2,
    eps: h.eps,
    bc1: 1 - Math.pow(h.beta1, h.step),
    bc2: 1 - Math.pow(h.beta2, h.step),
    decoupled: h.decoupled ? 1 : 0,
  });
}
