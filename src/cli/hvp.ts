/**
 * `riverbed hvp`: one exact Hessian-vector (or Gauss–Newton-vector) product of the mean
 * cross-entropy over a batch, by the R-operator (src/model/hvp.ts). The vector and the result are
 * flat float32 [P] in parameter order: layer by layer, weight (row-major [out, in]) then bias.
 */
import type { Command } from 'commander';
import { uploadBatches } from '../curvature/model-operators.js';
import { writeNpy } from '../io/npy.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { CurvatureProduct, parameterLayout } from '../model/hvp.js';
import { curvatureInputs, loadProblem, loadVector, openModel, requireOption } from './curvature-inputs.js';
import { intOption } from './options.js';

interface HvpCliOptions {
  model?: string;
  weights?: string;
  inputs?: string;
  labels?: string;
  vector?: string;
  out?: string;
  ggn?: boolean;
  layer?: string[];
  batchSize?: number;
  backend: string;
  json?: boolean;
}

export interface HvpSummary {
  format: 'riverbed.hvp';
  version: 1;
  kind: 'hessian' | 'ggn';
  out: string;
  parameters: number;
  layers: number[];
  samples: number;
  backend: string;
  backendReason: string;
  /** ‖v‖₂, ‖Hv‖₂ and the Rayleigh quotient vᵀHv / vᵀv (a quick sanity figure). */
  vectorNorm: number;
  productNorm: number;
  rayleigh: number;
  seconds: number;
}

export function registerHvp(program: Command): void {
  program
    .command('hvp')
    .description('Exact Hessian- (or Gauss–Newton-) vector product of the mean cross-entropy over a batch (R-operator, not finite differences).')
    .option('--model <M.json>', 'model description (riverbed.model JSON)')
    .option('--weights <W.safetensors>', 'weights (PyTorch nn.Sequential names: 0.weight [out, in] or conv [out, in, kh, kw], 0.bias, …)')
    .option('--inputs <X.npy>', 'inputs [N, D] or images [N, C, H, W], float32/float64')
    .option('--labels <Y.npy>', 'integer labels [N] in 0..classes-1')
    .option('--vector <V.npy>', 'direction v, float32/float64 [P] in parameter order (layer by layer, weight then bias)')
    .option('--out <HV.npy>', 'where to write H·v (float32 [P])')
    .option('--ggn', 'generalised Gauss–Newton product Jᵀ H_loss J v instead of the Hessian')
    .option('--layer <index...>', 'restrict to these linear or conv2d layers (module index as in the safetensors keys); v then holds only their parameters')
    .option('--batch-size <B>', 'process the samples in chunks of B rows (same result: the mean runs over all N)', intOption('--batch-size'))
    .option('--backend <name>', 'auto | js | native | webgpu', 'auto')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (o: HvpCliOptions) => {
      const s = await hvpCommand(o);
      if (o.json) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      else {
        process.stdout.write(
          `${s.kind === 'ggn' ? 'G·v' : 'H·v'} over ${s.samples} samples, ${s.parameters} parameters (${s.backend}, ${(s.seconds * 1000).toFixed(1)} ms) → ${s.out}\n` +
            `‖v‖ = ${s.vectorNorm.toPrecision(6)}   ‖${s.kind === 'ggn' ? 'G' : 'H'}v‖ = ${s.productNorm.toPrecision(6)}   vᵀ${s.kind === 'ggn' ? 'G' : 'H'}v / vᵀv = ${s.rayleigh.toPrecision(6)}\n`,
        );
      }
    });
}

export async function hvpCommand(o: HvpCliOptions): Promise<HvpSummary> {
  const files = {
    model: requireOption(o.model, '--model', '<M.json>'),
    weights: requireOption(o.weights, '--weights', '<W.safetensors>'),
    inputs: requireOption(o.inputs, '--inputs', '<X.npy>'),
    labels: requireOption(o.labels, '--labels', '<Y.npy>'),
  };
  const vectorPath = requireOption(o.vector, '--vector', '<V.npy>');
  const out = requireOption(o.out, '--out', '<HV.npy>');
  checkOutputPlan({ inputs: [...curvatureInputs(files), { flag: '--vector', path: vectorPath }], files: [{ flag: '--out', path: out }] });
  const problem = await loadProblem(files);
  // Without --layer the length is known from the description alone: check it before any backend opens.
  if (o.layer === undefined) await loadVector(vectorPath, problem.parameters, `${problem.parameters} parameters of ${files.model}`);
  const { backend, model, reason } = await openModel(problem, files.weights, o.backend);
  try {
    const layout = parameterLayout(model, o.layer);
    const what = o.layer === undefined ? `${layout.size} parameters of ${files.model}` : `${layout.size} parameters of layer(s) ${layout.layers.join(', ')}`;
    const v = await loadVector(vectorPath, layout.size, what);
    const t0 = performance.now();
    const batches = uploadBatches(backend, { inputs: problem.data.inputs, labels: problem.data.labels, count: problem.data.count, features: problem.data.features }, o.batchSize);
    const product = new CurvatureProduct(model, batches, { kind: o.ggn ? 'ggn' : 'hessian', layers: o.layer, cache: false });
    const vt = backend.upload(v, [v.length]);
    const hvt = product.apply(vt);
    const hv = await backend.read(hvt);
    const seconds = (performance.now() - t0) / 1000;
    for (const t of [vt, hvt]) backend.free(t);
    for (const b of batches) {
      backend.free(b.x);
      backend.free(b.labels);
    }
    let vv = 0;
    let hh = 0;
    let vh = 0;
    for (let i = 0; i < v.length; i++) {
      vv += v[i]! * v[i]!;
      hh += hv[i]! * hv[i]!;
      vh += v[i]! * hv[i]!;
    }
    writeNpy(out, hv, [hv.length]);
    return {
      format: 'riverbed.hvp',
      version: 1,
      kind: product.kind,
      out,
      parameters: layout.size,
      layers: layout.layers,
      samples: problem.data.count,
      backend: backend.name,
      backendReason: reason,
      vectorNorm: Math.sqrt(vv),
      productNorm: Math.sqrt(hh),
      rayleigh: vv > 0 ? vh / vv : 0,
      seconds,
    };
  } finally {
    model.dispose();
    backend.dispose();
  }
}
