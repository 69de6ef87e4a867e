/**
 * `riverbed coreset merge part-*.json --per-class K | --fraction F --out selection.json`: the
 * exact merge of `coreset cld --shard i/n` parts (src/coreset/shard.ts) into the selection one
 * run would give. Parts from different inputs, kernels or shard counts, overlapping or missing
 * slices, and budgets larger than the parts kept are refused before anything is written.
 */
import { constants } from 'node:buffer';
import type { Command } from 'commander';
import type { Budget } from '../coreset/select.js';
import { type CldShardPart, decodeShardPart, mergeCldShards } from '../coreset/shard.js';
import { fail } from '../errors.js';
import { readBoundedText } from '../io/files.js';
import { runManifest } from '../io/manifest.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { type BudgetCliOptions, addBudgetOptions, parseBudgetOptions, requireSelection } from './budget-options.js';
import { writeSelection } from './coreset-output.js';

interface MergeCliOptions extends BudgetCliOptions {
  out?: string;
  indicesNpy?: string;
  json?: boolean;
}

function readPart(file: string): CldShardPart {
  // Bounded by the longest string JSON.parse can take (~512 MiB, ~50 M candidates per part).
  return decodeShardPart(readBoundedText(file, constants.MAX_STRING_LENGTH, 'a shard part'), file);
}

/** `modeGiven`: whether --budget was on the command line (else the parts' mode applies). */
export async function runCoresetMerge(files: string[], o: MergeCliOptions, modeGiven = o.budget !== undefined): Promise<void> {
  if (!o.out) fail('E_ARG', '--out is required', { field: '--out' });
  if (files.length === 0) fail('E_ARG', 'give the part files: riverbed coreset merge part-*.json --out selection.json', { field: 'parts' });
  checkOutputPlan({
    inputs: [...files.map((path) => ({ flag: 'part', path })), { flag: '--exclude', path: o.exclude }],
    files: [
      { flag: '--out', path: o.out },
      { flag: '--indices-npy', path: o.indicesNpy },
    ],
  });
  const hasBudget = o.perClass !== undefined || o.fraction !== undefined;
  // without a budget the parts' own budget applies; the options are still parsed and checked
  const parsed = await parseBudgetOptions(hasBudget ? o : { ...o, perClass: '1' });
  const budget: Budget | undefined = hasBudget ? parsed.budget : undefined;
  const parts = files.map((file) => ({ file, part: readPart(file) }));
  const merged = mergeCldShards(parts, budget, {
    mode: modeGiven ? parsed.options.mode : undefined,
    minPerClass: parsed.options.minPerClass,
    exclude: parsed.options.exclude,
  });
  const first = parts[0]!.part;
  requireSelection(merged.indices.length, merged.samples, { budget: merged.budget, options: parsed.options, allowEmpty: parsed.allowEmpty }, first.exclude?.count ?? 0);
  const parameters: Record<string, unknown> = {
    ...merged.budget,
    budget: merged.budgetOptions.mode,
    ...(merged.budgetOptions.minPerClass ? { minPerClass: merged.budgetOptions.minPerClass } : {}),
    ...(first.exclude ? { excluded: first.exclude.count } : {}),
    ...(first.parameters ? { trainLoss: first.parameters.trainLoss, trainLabels: first.parameters.trainLabels, valLoss: first.parameters.valLoss, valLabels: first.parameters.valLabels } : {}),
    epochs: merged.epochs,
    valSamples: first.input.valSamples,
    shards: merged.shards,
    inputId: first.inputId,
  };
  const manifest = runManifest({ parameters, inputs: files, backend: merged.backend });
  writeSelection(
    o.out,
    { method: 'cld', parameters, backend: merged.backend, n: merged.samples, numClasses: merged.numClasses, perClass: merged.perClassSelected, absentClasses: merged.absentClasses, manifest },
    merged.indices,
    undefined,
    o.indicesNpy,
  );
  const summary = { out: o.out, indicesNpy: o.indicesNpy ?? null, shards: merged.shards, n: merged.samples, selected: merged.indices.length, numClasses: merged.numClasses, perClass: merged.perClassSelected, backend: merged.backend };
  if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stdout.write(`merged ${merged.shards} parts: selected ${merged.indices.length} of ${merged.samples} samples (${merged.numClasses} classes) → ${o.out}\n`);
}

export function registerCoresetMerge(coreset: Command): void {
  const cmd = coreset
    .command('merge')
    .description('merge the parts of `coreset cld --shard i/n` into exactly the selection of one run')
    .argument('<parts...>', 'part JSON files (riverbed.cld-shard), one per shard, any order');
  addBudgetOptions(cmd)
    .option('--out <path>', 'selection JSON (format riverbed.selection, version 1, with a run manifest)')
    .option('--indices-npy <path>', 'also write the selected indices as int64 .npy (grouped by class, by rank)')
    .option('--json', 'print a machine-readable summary on stdout')
    .action(async (parts: string[], opts: MergeCliOptions, command: Command) => {
      await runCoresetMerge(parts, opts, command.getOptionValueSource('budget') === 'cli');
    });
}
