/**
 * `riverbed landscape merge part-*.json --out result.json [--plot BASE]`: the parts of
 * `landscape slice --shard i/n` (any order) into exactly the result of one run. Parts of other
 * grids or kernels, overlapping or missing shards and edited parts are refused before anything
 * is written.
 */
import { constants } from 'node:buffer';
import type { Command } from 'commander';
import { fail } from '../errors.js';
import { readBoundedText } from '../io/files.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { type LandscapeResult, decodePart, mergeParts, rows } from '../landscape/result.js';
import { resultFiles, writeResult } from './landscape-inputs.js';
import { landscapePictures } from './landscape-plot.js';
import { finishResult } from './landscape-slice.js';

interface MergeCliOptions {
  out?: string;
  plot?: string;
  json?: boolean;
}

export function registerLandscapeMerge(landscape: Command): void {
  landscape
    .command('merge')
    .description('merge the parts of `landscape slice --shard i/n` into the result of one run')
    .argument('<parts...>', 'part JSON files (riverbed.landscape-shard), one per shard, any order')
    .option('--out <result.json>', 'result JSON (OUT.loss.npy and OUT.accuracy.npy beside it)')
    .option('--plot <BASE>', 'draw BASE.png and BASE.svg')
    .option('--json', 'print the result on stdout')
    .action(async (files: string[], o: MergeCliOptions) => {
      const r = await mergeCommand(files, o);
      if (o.json) process.stdout.write(JSON.stringify(r, null, 1) + '\n');
    });
}

export async function mergeCommand(files: string[], o: MergeCliOptions): Promise<LandscapeResult> {
  if (o.out === undefined && !o.json) fail('E_ARG', 'give --out result.json (or --json)', { field: '--out' });
  checkOutputPlan({ inputs: files.map((path) => ({ flag: 'part', path })), files: resultFiles(o.out, o.plot) });
  const parts = files.map((file) => ({ file, part: decodePart(readBoundedText(file, constants.MAX_STRING_LENGTH, 'a landscape part'), file) }));
  const m = mergeParts(parts);
  const nx = m.header.axes.x.values.length;
  const result: LandscapeResult = { ...m.header, loss: rows(m.loss, nx), accuracy: rows(m.accuracy, nx), shards: m.shards } as unknown as LandscapeResult;
  delete (result as Record<string, unknown>).seconds;
  (result.evaluation as Record<string, unknown>) = { ...(result.evaluation as object), mergedFrom: m.shards };
  finishResult(result);
  const pictures = o.plot !== undefined ? await landscapePictures(result, o.plot) : [];
  writeResult(result, o.out, pictures);
  if (!o.json) process.stdout.write(`merged ${m.shards} parts: ${m.loss.length} points → ${o.out}\n`);
  return result;
}
