/**
 * Online CLD: the CLD score of every training sample accumulated while training runs, from running
 * sums only — O(N) memory, no [E, N] trajectory files.
 *
 * Pearson r of x_t = loss_i(t+1) − loss_i(t) and y_t = v_c(t+1) − v_c(t) (v_c the mean validation
 * loss of the sample's class) over the D = E − 1 differences, with population moments:
 *
 *   r = (Sxy/D − Sx·Sy/D²) / sqrt((Sxx/D − (Sx/D)²) · (Syy/D − (Sy/D)²))
 *
 * Per sample: Sx, Sxx, Sxy (float64) of the SHIFTED differences x − x₀ (x₀ = the sample's first
 * difference; Pearson r is shift-invariant, and the shift removes the cancellation in Sxx − Sx²/D
 * when the differences are large next to their spread), the previous loss and x₀. Per class: Sy, Syy
 * of y − y₀. 5 doubles + 1 byte per sample. Exactly constant differences give r = 0 (tracked
 * exactly, as the offline kernel does); a class without validation samples gives NaN. Equal to the
 * offline `cldScores` (float64 js reference) within 1e-6 on the same losses.
 *
 * Sxy needs y_t per class at the time x_t arrives, so feed each checkpoint's train losses together
 * with that checkpoint's class means (`observe`), or the validation losses (`observeVal`).
 */
import { fail } from '../errors.js';

export class OnlineCld {
  readonly samples: number;
  readonly numClasses: number;
  private readonly labels: Int32Array;
  private readonly prev: Float64Array;
  private readonly x0: Float64Array;
  private readonly sx: Float64Array;
  private readonly sxx: Float64Array;
  private readonly sxy: Float64Array;
  private readonly varies: Uint8Array;
  private readonly prevV: Float64Array;
  private readonly y0: Float64Array;
  private readonly sy: Float64Array;
  private readonly syy: Float64Array;
  private readonly yVaries: Uint8Array;
  private readonly hasVal: Uint8Array;
  private seen = 0;

  /** `labels`: the class of each training sample; `numClasses` ≥ 1 + max label. */
  constructor(labels: Int32Array, numClasses: number) {
    const N = labels.length;
    if (!Number.isInteger(numClasses) || numClasses < 1) fail('E_ARG', `numClasses must be an integer ≥ 1, got ${numClasses}`, { field: 'numClasses' });
    for (let i = 0; i < N; i++) if (labels[i]! < 0 || labels[i]! >= numClasses) fail('E_LABEL', `labels[${i}] is ${labels[i]}; expected 0..${numClasses - 1}`, { field: 'labels' });
    this.samples = N;
    this.numClasses = numClasses;
    this.labels = labels;
    this.prev = new Float64Array(N);
    this.x0 = new Float64Array(N);
    this.sx = new Float64Array(N);
    this.sxx = new Float64Array(N);
    this.sxy = new Float64Array(N);
    this.varies = new Uint8Array(N);
    const C = numClasses;
    this.prevV = new Float64Array(C);
    this.y0 = new Float64Array(C);
    this.sy = new Float64Array(C);
    this.syy = new Float64Array(C);
    this.yVaries = new Uint8Array(C);
    this.hasVal = new Uint8Array(C).fill(1);
  }

  /** Checkpoints fed so far. */
  get checkpoints(): number {
    return this.seen;
  }

  /**
   * One checkpoint: every training sample's loss (in label order) and every class's mean validation
   * loss (NaN or a missing class: no validation samples → that class scores NaN).
   */
  observe(trainLoss: ArrayLike<number>, classValMean: ArrayLike<number>): void {
    const N = this.samples;
    const C = this.numClasses;
    if (trainLoss.length !== N) fail('E_SHAPE', `got ${trainLoss.length} train losses, expected ${N}`, { field: 'train loss' });
    if (classValMean.length !== C) fail('E_SHAPE', `got ${classValMean.length} class means, expected ${C}`, { field: 'class val means' });
    for (let i = 0; i < N; i++) if (!Number.isFinite(trainLoss[i]!)) fail('E_VALUE', `train loss [checkpoint ${this.seen}, sample ${i}] is ${trainLoss[i]}; losses must be finite`);
    const t = this.seen;
    const y = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const v = classValMean[c]!;
      if (!(v === v)) this.hasVal[c] = 0;
      if (t > 0) {
        const d = v - this.prevV[c]!;
        if (t === 1) this.y0[c] = d;
        else if (d !== this.y0[c]) this.yVaries[c] = 1;
        y[c] = d - this.y0[c]!;
        this.sy[c]! += y[c]!;
        this.syy[c]! += y[c]! * y[c]!;
      }
      this.prevV[c] = v;
    }
    const labels = this.labels;
    for (let i = 0; i < N; i++) {
      const l = trainLoss[i]!;
      if (t > 0) {
        const d = l - this.prev[i]!;
        if (t === 1) this.x0[i] = d;
        else if (d !== this.x0[i]) this.varies[i] = 1;
        const x = d - this.x0[i]!;
        this.sx[i]! += x;
        this.sxx[i]! += x * x;
        this.sxy[i]! += x * y[labels[i]!]!;
      }
      this.prev[i] = l;
    }
    this.seen++;
  }

  /** `observe` with the validation losses of every validation sample (class means computed here in float64). */
  observeVal(trainLoss: ArrayLike<number>, valLoss: ArrayLike<number>, valLabels: Int32Array): void {
    this.observe(trainLoss, classMeans(valLoss, valLabels, this.numClasses));
  }

  /** r of every sample from the checkpoints seen so far (needs ≥ 3 checkpoints, i.e. 2 differences). */
  scores(): Float32Array {
    const D = this.seen - 1;
    if (D < 2) fail('E_ARG', `CLD needs at least 3 checkpoints (2 loss differences), got ${this.seen}`, { field: 'epochs' });
    const C = this.numClasses;
    const yMean = new Float64Array(C);
    const yStd = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      yMean[c] = this.sy[c]! / D;
      yStd[c] = this.yVaries[c] ? Math.sqrt(Math.max(0, this.syy[c]! / D - yMean[c]! ** 2)) : 0;
    }
    const out = new Float32Array(this.samples);
    for (let i = 0; i < this.samples; i++) {
      const c = this.labels[i]!;
      if (!this.hasVal[c]) {
        out[i] = NaN;
        continue;
      }
      if (!this.varies[i] || yStd[c] === 0) continue;
      const xm = this.sx[i]! / D;
      const xs = Math.sqrt(Math.max(0, this.sxx[i]! / D - xm * xm));
      if (xs === 0) continue;
      out[i] = (this.sxy[i]! / D - xm * yMean[c]!) / (xs * yStd[c]!);
    }
    return out;
  }
}

/** Mean validation loss per class (NaN for a class with no validation samples), float64 in sample order like the offline path. */
export function classMeans(valLoss: ArrayLike<number>, valLabels: Int32Array, numClasses: number): Float64Array {
  if (valLoss.length !== valLabels.length) fail('E_SHAPE', `got ${valLoss.length} validation losses for ${valLabels.length} labels`, { field: 'val loss' });
  const sum = new Float64Array(numClasses);
  const count = new Int32Array(numClasses);
  for (let j = 0; j < valLabels.length; j++) {
    const c = valLabels[j]!;
    if (c < 0 || c >= numClasses) fail('E_LABEL', `val labels[${j}] is ${c}; expected 0..${numClasses - 1}`, { field: 'val labels' });
    sum[c]! += valLoss[j]!;
    count[c]!++;
  }
  for (let c = 0; c < numClasses; c++) sum[c] = count[c]! > 0 ? sum[c]! / count[c]! : NaN;
  return sum;
}
