/**
 * What `riverbed hvp` and `riverbed hessian` both read: a model description, its weights, and a
 * batch of inputs and labels. Everything that can be checked on the host is checked before a
 * backend is opened, and every error names the file and the field at fault.
 */
import type { Backend } from '../backends/backend.js';
import { parseBackendChoice, selectBackend } from '../backends/select.js';
import { type Dataset, loadNpyDataset } from '../data/dataset.js';
import { fail } from '../errors.js';
import { readNpy } from '../io/npy.js';
import type { PlanInput } from '../io/output-plan.js';
import { type ModelDescription, inputMismatch, inputSize, isLinear, loadModelDescription, outputSize } from '../model/description.js';
import { Mlp, parameterSpecs } from '../model/mlp.js';

export interface CurvatureFiles {
  model: string;
  weights: string;
  inputs: string;
  labels: string;
}

export interface LoadedProblem {
  description: ModelDescription;
  data: Dataset;
  classes: number;
  /** Number of parameters of the whole model. */
  parameters: number;
}

/** The four files as output-plan inputs (src/io/output-plan.ts). */
export function curvatureInputs(f: CurvatureFiles): PlanInput[] {
  return [
    { flag: '--model', path: f.model },
    { flag: '--weights', path: f.weights },
    { flag: '--inputs', path: f.inputs },
    { flag: '--labels', path: f.labels },
  ];
}

export function requireOption<T>(value: T | undefined, flag: string, what: string): T {
  if (value === undefined) fail('E_ARG', `missing ${flag} ${what}`, { field: flag });
  return value;
}

/** Reads and cross-checks the description, inputs and labels (no backend yet). */
export async function loadProblem(f: CurvatureFiles): Promise<LoadedProblem> {
  const description = await loadModelDescription(f.model);
  const data = await loadNpyDataset(f.inputs, f.labels);
  const first = description.layers.findIndex(isLinear);
  const mismatch = inputMismatch(description, data.features, data.shape);
  if (mismatch && !description.input) {
    fail('E_SHAPE', `inputs have ${data.features} features per sample but the model's layers[${first}].in is ${inputSize(description)} (${f.model})`, {
      file: f.inputs,
      field: data.shape ? 'shape' : 'shape[1]',
    });
  }
  if (mismatch) fail('E_SHAPE', `${mismatch} (${f.model})`, { file: f.inputs, field: 'shape' });
  const classes = outputSize(description);
  for (let i = 0; i < data.count; i++) {
    if (data.labels[i]! >= classes) {
      const last = description.layers.length - 1;
      fail('E_LABEL', `labels[${i}] is ${data.labels[i]}; the model has ${classes} classes (${f.model} layers[${last}].out), so labels must be in 0..${classes - 1}`, {
        file: f.labels,
      });
    }
  }
  const parameters = parameterSpecs(description).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  return { description, data, classes, parameters };
}

/** Opens the backend and loads the weights onto it (shape mismatches name the tensor). */
export async function openModel(p: LoadedProblem, weights: string, backendChoice: string): Promise<{ backend: Backend; model: Mlp; reason: string }> {
  const { backend, reason } = await selectBackend(parseBackendChoice(backendChoice));
  try {
    const model = await Mlp.load(backend, p.description, weights);
    return { backend, model, reason };
  } catch (err) {
    backend.dispose();
    throw err;
  }
}

/** A float vector [n] from .npy (float32 or float64, finite), for `riverbed hvp --vector`. */
export async function loadVector(path: string, n: number, what: string): Promise<Float32Array> {
  const arr = await readNpy(path);
  if (arr.dtype !== 'f4' && arr.dtype !== 'f8') fail('E_DTYPE', `vector must be float32 or float64, got ${arr.dtype}`, { file: path });
  const size = arr.shape.reduce((a, b) => a * b, 1);
  if (arr.shape.length !== 1 || size !== n) {
    fail('E_SHAPE', `vector has shape [${arr.shape.join(', ')}]; expected [${n}] (${what}, in parameter order)`, { file: path, field: 'shape' });
  }
  const out = arr.data instanceof Float32Array ? Float32Array.from(arr.data) : Float32Array.from(arr.data as Float64Array);
  for (let i = 0; i < n; i++) if (!Number.isFinite(out[i]!)) fail('E_VALUE', `vector[${i}] is ${out[i]}; expected finite values`, { file: path });
  return out;
}
