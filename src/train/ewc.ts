/**
 * Elastic weight consolidation (Kirkpatrick et al. 2017) as a baseline for continual learning.
 *
 * After a task, `consolidate` keeps the weights θ* and a diagonal Fisher F estimated from squared
 * batch gradients over one epoch of that task: batch-mean cross-entropy gradients g_b at θ*,
 * batches in row order, F = Σ_b g_b² / N over the N samples — the normalisation of CLASSP's EWC
 * script, so that its λ means the same here. While later tasks train, the penalty
 *
 *   Ω(θ) = λ/2 · Σ_tasks Σ_i F_i (θ_i − θ*_i)²,   ∇Ω = λ · Σ_tasks F ⊙ (θ − θ*)
 *
 * is added to every batch gradient (a `GradientPenalty` for train()). λ = 5000 as in CLASSP's EWC
 * script. That script differs (docs/continual.md): it sums g_b² while still training on the first
 * task (the weights move under it), and adds λ·ΣF(θ − θ*)² without the ½ (twice this pull).
 * Dividing by the batch count instead would make F batch-size times larger; with λ = 5000 plain
 * SGD at rate 0.05 then diverges (rate·λ·F > 2 on the stiffest weights).
 */
import type { Backend, Tensor } from '../backends/backend.js';
import { fail } from '../errors.js';
import type { Mlp } from '../model/mlp.js';
import type { GradientPenalty, TrainSet } from './trainer.js';

/** CLASSP's EWC script uses λ = 5000. */
export const EWC_DEFAULT_LAMBDA = 5000;

interface Anchor {
  fisher: Tensor[];
  star: Tensor[];
}

/**
 * The diagonal empirical Fisher of `model` on `data` as CLASSP's EWC script estimates it: over one
 * epoch (rows in order, batches of `batchSize`, the last one smaller), the sum of each batch-mean
 * gradient squared, divided by the number of samples. Device tensors, one per parameter (the
 * caller frees them).
 */
export function diagonalFisher(model: Mlp, data: TrainSet, batchSize: number): Tensor[] {
  const b = model.backend;
  const rows = data.rows ?? Int32Array.from({ length: data.x.shape[0]! }, (_, i) => i);
  if (rows.length === 0) fail('E_ARG', 'EWC: no samples to estimate the Fisher information on');
  if (!Number.isInteger(batchSize) || batchSize < 1) fail('E_ARG', `expected a positive integer, got ${batchSize}`, { field: 'batch-size' });
  const batches = Math.ceil(rows.length / batchSize);
  let acc: Tensor[] | undefined;
  const y = new Int32Array(batchSize);
  for (let s = 0; s < batches; s++) {
    const idx = rows.subarray(s * batchSize, Math.min(rows.length, (s + 1) * batchSize));
    const idxT = b.uploadInt(idx, [idx.length]);
    const xb = b.gatherRows(data.x, idxT);
    b.free(idxT);
    for (let r = 0; r < idx.length; r++) y[r] = data.labels[idx[r]!]!;
    const yb = b.uploadInt(y.subarray(0, idx.length), [idx.length]);
    const { loss, grads } = model.lossAndGradients(xb, yb);
    b.free(xb);
    b.free(yb);
    b.free(loss);
    const sq = grads.map((g) => {
      const q = b.mul(g, g);
      b.free(g);
      return q;
    });
    if (!acc) acc = sq;
    else {
      acc = acc.map((a, i) => {
        const next = b.axpy(1, sq[i]!, a);
        b.free(a);
        b.free(sq[i]!);
        return next;
      });
    }
  }
  return acc!.map((a) => {
    const m = b.scale(1 / rows.length, a);
    b.free(a);
    return m;
  });
}

/** The EWC penalty over every consolidated task; pass it as TrainOptions.penalty. */
export class Ewc implements GradientPenalty {
  private readonly anchors: Anchor[] = [];
  private readonly backend: Backend;

  constructor(
    private readonly model: Mlp,
    readonly lambda: number = EWC_DEFAULT_LAMBDA,
  ) {
    if (!Number.isFinite(lambda) || lambda < 0) fail('E_ARG', `expected a number ≥ 0, got ${lambda}`, { field: 'ewc-lambda' });
    this.backend = model.backend;
  }

  /** Tasks consolidated so far. */
  get tasks(): number {
    return this.anchors.length;
  }

  /** Ends a task: keeps the current weights as θ* and their Fisher on `data` (one pass, no update). */
  consolidate(data: TrainSet, batchSize: number): void {
    const fisher = diagonalFisher(this.model, data, batchSize);
    const star = this.model.params.map((p) => this.backend.scale(1, p.tensor));
    this.anchors.push({ fisher, star });
  }

  /** Adds λ·Σ F ⊙ (θ − θ*) to each gradient (the old ones are freed). */
  addGradient(grads: Tensor[]): Tensor[] {
    if (this.anchors.length === 0 || this.lambda === 0) return grads;
    const b = this.backend;
    return grads.map((g, i) => {
      let out = g;
      for (const a of this.anchors) {
        const diff = b.axpy(-1, a.star[i]!, this.model.params[i]!.tensor);
        const fd = b.mul(a.fisher[i]!, diff);
        b.free(diff);
        const next = b.axpy(this.lambda, fd, out);
        b.free(fd);
        b.free(out);
        out = next;
      }
      return out;
    });
  }

  /** Ω(θ) = λ/2 · Σ F (θ − θ*)² at the current weights (one read). */
  async penalty(): Promise<number> {
    const b = this.backend;
    let total = 0;
    for (const a of this.anchors) {
      for (let i = 0; i < this.model.params.length; i++) {
        const diff = b.axpy(-1, a.star[i]!, this.model.params[i]!.tensor);
        const fd = b.mul(a.fisher[i]!, diff);
        const d = b.dot(fd, diff);
        b.free(diff);
        b.free(fd);
        total += (await b.read(d))[0]!;
        b.free(d);
      }
    }
    return (this.lambda / 2) * total;
  }

  /** The Fisher and θ* of task k as host arrays, in parameter order (tests, inspection). */
  async anchor(k: number): Promise<{ fisher: Float32Array[]; star: Float32Array[] }> {
    const a = this.anchors[k];
    if (!a) fail('E_ARG', `EWC has ${this.anchors.length} consolidated tasks, not ${k + 1}`);
    return { fisher: await Promise.all(a.fisher.map((t) => this.backend.read(t))), star: await Promise.all(a.star.map((t) => this.backend.read(t))) };
  }

  dispose(): void {
    for (const a of this.anchors) for (const t of [...a.fisher, ...a.star]) this.backend.free(t);
    this.anchors.length = 0;
  }
}
