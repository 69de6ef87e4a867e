/**
 * The data options `riverbed unlearn` and `riverbed audit` share: the training rows rebuilt exactly
 * as `riverbed train` split them, and the held-out set the metrics use.
 */
import type { Command } from 'commander';
import { type Dataset, loadNpyDataset, numClasses, splitDataset } from '../data/dataset.js';
import { fail } from '../errors.js';
import type { PlanInput } from '../io/output-plan.js';
import { type ModelDescription, inputSize, outputSize } from '../model/description.js';
import { type ForgetSpec, forgetInput } from '../unlearn/forget.js';
import { intOption, numberOption } from './options.js';

export interface DataCli {
  dataset?: string;
  inputs?: string;
  labels?: string;
  trainSize?: number;
  valSize?: number;
  testSize?: number;
  valFraction: number;
  seed: number;
}

export function addDataOptions(c: Command): Command {
  return c
    .option('--dataset <name>', 'bundled dataset: mnist | fashion-mnist (split as `riverbed train` splits it, with --seed)')
    .option('--inputs <X.npy>', 'inputs [N, D] float32/float64 (instead of --dataset)')
    .option('--labels <Y.npy>', 'integer labels [N] (with --inputs)')
    .option('--train-size <n>', 'bundled datasets: training samples (default: all 50 000 left after validation)', intOption('--train-size'))
    .option('--val-size <n>', 'bundled datasets: validation samples (default 10 000)', intOption('--val-size', 0))
    .option('--test-size <n>', 'bundled datasets: test samples (default all 10 000)', intOption('--test-size'))
    .option('--val-fraction <f>', '--inputs: fraction held out for validation (the held-out set the metrics use)', numberOption('--val-fraction', (n) => n >= 0 && n < 1, 'a number in [0, 1)'), 0.1);
}

export interface LoadedData {
  name: string;
  train: Dataset;
  /** The held-out set the metrics use: the test split, or the validation split of --inputs. */
  heldOut: Dataset;
  heldOutName: 'test' | 'validation';
  classes: number;
  /** Rows of the whole dataset that dataset indices may name. */
  datasetSize: number;
}

export async function loadData(o: DataCli): Promise<LoadedData> {
  if (o.dataset !== undefined && o.inputs !== undefined) fail('E_ARG', 'give either --dataset or --inputs/--labels, not both', { field: '--dataset' });
  if (o.dataset !== undefined) {
    const opts = { seed: o.seed, trainSize: o.trainSize, valSize: o.valSize, testSize: o.testSize };
    if (o.dataset === 'mnist') {
      const { loadMnist } = await import('../data/mnist.js');
      const s = await loadMnist(opts);
      return { name: 'mnist', train: s.train, heldOut: s.test, heldOutName: 'test', classes: 10, datasetSize: 60_000 };
    }
    if (o.dataset === 'fashion-mnist') {
      const { loadFashionMnist } = await import('../data/fashion.js');
      const s = await loadFashionMnist(opts);
      return { name: 'fashion-mnist', train: s.train, heldOut: s.test, heldOutName: 'test', classes: 10, datasetSize: 70_000 };
    }
    return fail('E_ARG', `unknown dataset "${o.dataset}"; expected mnist or fashion-mnist`, { field: '--dataset' });
  }
  if (o.inputs === undefined || o.labels === undefined) fail('E_ARG', 'give --dataset mnist|fashion-mnist, or both --inputs X.npy and --labels Y.npy', { field: o.inputs ? '--labels' : '--inputs' });
  const all = await loadNpyDataset(o.inputs, o.labels);
  const valCount = Math.round(all.count * o.valFraction);
  if (all.count - valCount < 2) fail('E_ARG', `--val-fraction ${o.valFraction} leaves fewer than 2 training samples out of ${all.count}`, { field: '--val-fraction' });
  if (valCount < 1) fail('E_ARG', 'the metrics need held-out samples: give --val-fraction > 0 (as the weights were trained with)', { field: '--val-fraction' });
  const { train, val } = splitDataset(all, valCount, o.seed);
  return { name: o.inputs, train, heldOut: val, heldOutName: 'validation', classes: numClasses(all), datasetSize: all.count };
}

export function checkModel(desc: ModelDescription, file: string, features: number, classes: number): void {
  if (inputSize(desc) !== features) fail('E_MODEL', `the model takes ${inputSize(desc)} inputs but the data have ${features} features`, { file, field: 'layers[0].in' });
  if (outputSize(desc) < classes) fail('E_MODEL', `the model has ${outputSize(desc)} outputs but the labels need ${classes} classes`, { file, field: 'layers[-1].out' });
}


/**
 * The files an unlearning command reads — model, weights, data, forget indices, reference samples —
 * flagged for the output rule; absent ones are undefined. The run manifests list the same paths.
 */
export function unlearnInputs(o: { model?: string; weights?: string; inputs?: string; labels?: string; referenceSamples?: string }, spec: ForgetSpec): PlanInput[] {
  return [
    { flag: '--model', path: o.model },
    { flag: '--weights', path: o.weights },
    { flag: '--inputs', path: o.inputs },
    { flag: '--labels', path: o.labels },
    { flag: '--forget', path: forgetInput(spec) },
    { flag: '--reference-samples', path: o.referenceSamples },
  ];
}

/** The paths of `unlearnInputs` that are given, in order (for a run manifest). */
export function unlearnInputPaths(o: Parameters<typeof unlearnInputs>[0], spec: ForgetSpec): string[] {
  return unlearnInputs(o, spec).flatMap((i) => (i.path === undefined ? [] : [i.path]));
}
