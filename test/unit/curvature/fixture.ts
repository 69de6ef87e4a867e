/** A small trained-looking MLP problem and its dense Hessian (from HVP columns), shared by the curvature tests. */
import type { Backend } from '../../../src/backends/backend.js';
import { hessianOperator, type ModelCurvatureOperator } from '../../../src/curvature/model-operators.js';
import { type Activation } from '../../../src/backends/backend.js';
import { inputSize, mlpDescription, outputSize } from '../../../src/model/description.js';
import { Mlp } from '../../../src/model/mlp.js';
import { randomArray, randomInts } from '../../helpers/backends.js';
import { jacobiEigen, symmetrize } from '../../helpers/dense.js';

export interface CurvatureFixture {
  model: Mlp;
  op: ModelCurvatureOperator;
  /** Symmetrised dense matrix of the operator, float64, and its Jacobi eigenvalues (ascending). */
  dense: Float64Array;
  eigenvalues: Float64Array;
  trace: number;
}

/** Dense matrix of any operator from its products with the unit vectors. */
export async function denseMatrix(b: Backend, n: number, matvec: (v: ReturnType<Backend['zeros']>) => ReturnType<Backend['zeros']>): Promise<Float64Array> {
  const M = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const e = new Float32Array(n);
    e[j] = 1;
    const v = b.upload(e, [n]);
    const col = matvec(v);
    const host = await b.read(col);
    b.free(v);
    b.free(col);
    for (let i = 0; i < n; i++) M[i * n + j] = host[i]!;
  }
  return symmetrize(M, n);
}

/** A 6-12-12-4 MLP (292 parameters) with weights ×2.5, so the curvature is far from linear. */
export async function mlpModel(b: Backend, activation: Activation, seed: number): Promise<Mlp> {
  const d = mlpDescription(6, [12, 12], 4, activation);
  const base = Mlp.init(b, d, seed);
  const host = await base.toHost();
  base.dispose();
  return Mlp.fromHost(b, d, new Map(host.map((t) => [t.name, t.data.map((v) => v * 2.5)])));
}

/** The Hessian operator of mlpModel on 32 random samples, with its dense matrix and Jacobi spectrum. */
export async function mlpHessian(b: Backend, activation: Activation = 'tanh', seed = 7, layer?: string): Promise<CurvatureFixture> {
  const model = await mlpModel(b, activation, seed);
  const d = model.description;
  const B = 32;
  const x = b.upload(randomArray(B * inputSize(d), seed + 1, -2, 2), [B, inputSize(d)]);
  const y = b.uploadInt(randomInts(B, seed + 2, outputSize(d)), [B]);
  const op = hessianOperator(model, { x, labels: y }, { layer });
  const dense = await denseMatrix(b, op.size, (v) => op.matvec(v));
  const { values } = jacobiEigen(dense, op.size);
  let trace = 0;
  for (let i = 0; i < op.size; i++) trace += dense[i * op.size + i]!;
  return { model, op, dense, eigenvalues: values, trace };
}
