/**
 * The optimizers' own hyper-parameter options (AdaGrad's lr decay, ε, CLASSP's power and
 * threshold), shared by `train` and `continual` so a value means the same in both. An option the
 * chosen optimizer does not read is an error (optimizerConfig says which), not silently ignored.
 */
import type { Command } from 'commander';
import { CLASSP_DEFAULT_THRESHOLD, type OptimizerConfig } from '../train/optimizer.js';
import { numberOption } from './options.js';

export interface OptimizerCliOptions {
  lrDecay?: number;
  eps?: number;
  classpPower?: number;
  classpThreshold?: number;
}

export function addOptimizerOptions(cmd: Command): Command {
  return cmd
    .option('--lr-decay <x>', "adagrad: PyTorch's lr_decay, rate lr/(1 + (t − 1)·x) at step t (default 0)", numberOption('--lr-decay', (n) => n >= 0, 'a number ≥ 0'))
    .option('--eps <x>', 'adam/adamw/adagrad: added to the root of the second moment (default 1e-8; adagrad 1e-10); classp: ε of (ε + A)^(1/p) (default 1e-5)', numberOption('--eps', (n) => n > 0, 'a positive number'))
    .option('--classp-power <p>', 'classp: p of A ← A + |g|^p and of the 1/p root (default 1)', numberOption('--classp-power', (n) => n > 0, 'a positive number'))
    .option('--classp-threshold <t>', `classp: a coordinate moves only where g² > t (default ${CLASSP_DEFAULT_THRESHOLD}; docs/optimizers.md)`, numberOption('--classp-threshold', (n) => n >= 0, 'a number ≥ 0'));
}

/** The overrides these options give (undefined = the optimizer's default). */
export function optimizerOverrides(o: OptimizerCliOptions): Partial<Omit<OptimizerConfig, 'name'>> {
  return { lrDecay: o.lrDecay, eps: o.eps, power: o.classpPower, threshold: o.classpThreshold };
}
