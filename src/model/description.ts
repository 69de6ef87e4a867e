/**
 * The JSON model description:
 *   {"format": "riverbed.model", "version": 1,
 *    "layers": [{"type": "linear", "in": 784, "out": 128}, {"type": "relu"}, {"type": "linear", "in": 128, "out": 10}],
 *    "loss": "cross_entropy"}
 * Layer i of the list is module i of a `torch.nn.Sequential`; its weights are `i.weight` / `i.bias`.
 */
import { JSON_LIMITS, readBoundedText } from '../io/files.js';
import { ACTIVATIONS, type Activation } from '../backends/backend.js';
import { fail } from '../errors.js';

export interface LinearLayer {
  type: 'linear';
  in: number;
  out: number;
  /** Default true. */
  bias?: boolean;
}
export interface ActivationLayer {
  type: Activation;
}
export type Layer = LinearLayer | ActivationLayer;

export interface ModelDescription {
  format: 'riverbed.model';
  version: 1;
  layers: Layer[];
  loss: 'cross_entropy';
}

export const MODEL_FORMAT = 'riverbed.model';
export const MODEL_VERSION = 1;

export function isLinear(l: Layer): l is LinearLayer {
  return l.type === 'linear';
}

/** Number of inputs the model takes (the first linear layer's `in`). */
export function inputSize(d: ModelDescription): number {
  return (d.layers.find(isLinear) as LinearLayer).in;
}
/** Number of classes (the last linear layer's `out`). */
export function outputSize(d: ModelDescription): number {
  return (d.layers.filter(isLinear).at(-1) as LinearLayer).out;
}

/** An MLP description: inputs → hidden… (activation after each) → classes. */
export function mlpDescription(inputs: number, hidden: readonly number[], classes: number, activation: Activation = 'relu'): ModelDescription {
  const layers: Layer[] = [];
  let prev = inputs;
  for (const h of hidden) {
    layers.push({ type: 'linear', in: prev, out: h }, { type: activation });
    prev = h;
  }
  layers.push({ type: 'linear', in: prev, out: classes });
  return parseModelDescription({ format: MODEL_FORMAT, version: MODEL_VERSION, layers, loss: 'cross_entropy' });
}

/** Validates a parsed JSON value; errors name `file` and the offending `layers[i].field`. */
export function parseModelDescription(value: unknown, file = '<model>'): ModelDescription {
  const at = (field: string) => ({ file, field });
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('E_MODEL', 'model description must be a JSON object', { file });
  const v = value as Record<string, unknown>;
  if (v.format !== MODEL_FORMAT) fail('E_MODEL', `expected "${MODEL_FORMAT}", got ${JSON.stringify(v.format)}`, at('format'));
  if (v.version !== MODEL_VERSION) fail('E_MODEL', `expected ${MODEL_VERSION}, got ${JSON.stringify(v.version)}`, at('version'));
  const loss = v.loss ?? 'cross_entropy';
  if (loss !== 'cross_entropy') fail('E_MODEL', `expected "cross_entropy", got ${JSON.stringify(v.loss)}`, at('loss'));
  if (!Array.isArray(v.layers) || v.layers.length === 0) fail('E_MODEL', 'expected a non-empty array of layers', at('layers'));
  const layers: Layer[] = [];
  let prevOut: number | undefined;
  let prevLinear = -1;
  v.layers.forEach((raw, i) => {
    const f = (name: string) => at(`layers[${i}]${name ? '.' + name : ''}`);
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail('E_MODEL', 'layer must be an object', f(''));
    const l = raw as Record<string, unknown>;
    if (l.type === 'linear') {
      for (const k of ['in', 'out'] as const) {
        const d = l[k];
        if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1) fail('E_MODEL', `expected a positive integer, got ${JSON.stringify(d)}`, f(k));
      }
      if (l.bias !== undefined && typeof l.bias !== 'boolean') fail('E_MODEL', `expected true or false, got ${JSON.stringify(l.bias)}`, f('bias'));
      const lin: LinearLayer = { type: 'linear', in: l.in as number, out: l.out as number };
      if (l.bias === false) lin.bias = false;
      if (prevOut !== undefined && lin.in !== prevOut) {
        fail('E_MODEL', `expected ${prevOut} to match layers[${prevLinear}].out, got ${lin.in}`, f('in'));
      }
      prevOut = lin.out;
      prevLinear = i;
      layers.push(lin);
    } else if (typeof l.type === 'string' && (ACTIVATIONS as readonly string[]).includes(l.type)) {
      layers.push({ type: l.type as Activation });
    } else {
      fail('E_MODEL', `expected one of linear, ${ACTIVATIONS.join(', ')}; got ${JSON.stringify(l.type)}`, f('type'));
    }
  });
  if (prevOut === undefined) fail('E_MODEL', 'the model needs at least one linear layer', at('layers'));
  if (layers.at(-1)!.type !== 'linear') fail('E_MODEL', 'the last layer must be linear (it produces the logits for cross_entropy)', at(`layers[${layers.length - 1}].type`));
  if (prevOut < 2) fail('E_MODEL', `cross_entropy needs at least 2 classes, the last linear layer has out = ${prevOut}`, at(`layers[${prevLinear}].out`));
  return { format: MODEL_FORMAT, version: MODEL_VERSION, layers, loss: 'cross_entropy' };
}

export async function loadModelDescription(path: string): Promise<ModelDescription> {
  // Bounded: a description is a list of layers; /dev/zero or a FIFO is refused, not read without end.
  const text = readBoundedText(path, JSON_LIMITS.model, 'a model description');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return fail('E_FORMAT', `model description is not valid JSON (${(err as Error).message})`, { file: path });
  }
  return parseModelDescription(json, path);
}

/** A model's shape in one line, e.g. "784-128(relu)-10". */
export function describeModel(d: ModelDescription): string {
  const parts: string[] = [];
  for (const l of d.layers) {
    if (l.type === 'linear') {
      if (parts.length === 0) parts.push(String(l.in));
      parts.push(String(l.out));
    } else parts[parts.length - 1] += `(${l.type})`;
  }
  return parts.join('-');
}
