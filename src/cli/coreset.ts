/**
 * `riverbed coreset <method>`: the command group. Each method or tool registers itself from its
 * own file, and only the file of the member being run is imported: `coreset cld` must not pay
 * for loading the evaluation harness, the model engine or the plotting library (start-up time is
 * part of the CLI benchmark).
 */
import type { Command } from 'commander';

type RegisterMember = (coreset: Command) => void;

const baselines = async (): Promise<RegisterMember> => (await import('./coreset-baselines.js')).registerCoresetBaselines;

/** Member name → the module that registers it (several baselines share one module). */
const MEMBERS: Record<string, () => Promise<RegisterMember>> = {
  cld: async () => (await import('./coreset-cld.js')).registerCoresetCld,
  random: baselines,
  forgetting: baselines,
  el2n: baselines,
  aum: baselines,
  dynunc: baselines,
  ccs: baselines,
  merge: async () => (await import('./coreset-merge.js')).registerCoresetMerge,
  evaluate: async () => (await import('./coreset-evaluate.js')).registerCoresetEvaluate,
  stability: async () => (await import('./coreset-stability.js')).registerCoresetStability,
};

export async function registerCoreset(program: Command, argv: string[] = []): Promise<void> {
  const coreset = program.command('coreset').description('select a coreset of the training data, evaluate and compare methods');
  const named = argv[3];
  const loaders = named !== undefined && named in MEMBERS ? [MEMBERS[named]!] : [...new Set(Object.values(MEMBERS))];
  for (const load of loaders) (await load())(coreset);
}
