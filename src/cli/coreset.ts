/**
 * `riverbed coreset <method>`: the command group. Each method or tool registers itself from its
 * own file, so the group stays a list.
 */
import type { Command } from 'commander';
import { registerCoresetBaselines } from './coreset-baselines.js';
import { registerCoresetCld } from './coreset-cld.js';
import { registerCoresetEvaluate } from './coreset-evaluate.js';
import { registerCoresetMerge } from './coreset-merge.js';
import { registerCoresetStability } from './coreset-stability.js';

export function registerCoreset(program: Command): void {
  const coreset = program.command('coreset').description('select a coreset of the training data, evaluate and compare methods');
  registerCoresetCld(coreset);
  registerCoresetBaselines(coreset);
  registerCoresetMerge(coreset);
  registerCoresetEvaluate(coreset);
  registerCoresetStability(coreset);
}
