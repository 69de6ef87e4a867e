/**
 * Reference kernel of the bisimulation loss (src/backends/ops.ts bisimulationLoss): float64
 * throughout, pair by pair, the gradient scattered to both rows of a pair — the plain form the
 * fused native and WGSL kernels (which assemble each gradient row from its two pairs instead) are
 * tested against.
 */

export interface BisimulationReference {
  loss: number;
  terms: Float32Array;
  grad: Float32Array;
}

export function bisimulationReference(
  z: Float32Array, reward: Float32Array, mu: Float32Array, sigma: Float32Array | undefined,
  perm: Int32Array, b: number, d: number, e: number, gamma: number,
): BisimulationReference {
  const terms = new Float32Array(b);
  const g = new Float64Array(b * d);
  let sum = 0;
  for (let i = 0; i < b; i++) {
    const j = perm[i]!;
    let zz = 0;
    for (let c = 0; c < d; c++) {
      const t = z[i * d + c]! - z[j * d + c]!;
      zz += t * t;
    }
    let w2 = 0;
    for (let c = 0; c < e; c++) {
      const dm = mu[i * e + c]! - mu[j * e + c]!;
      w2 += dm * dm;
      if (sigma) {
        const ds = sigma[i * e + c]! - sigma[j * e + c]!;
        w2 += ds * ds;
      }
    }
    const dist = Math.sqrt(zz);
    const res = dist - (Math.abs(reward[i]! - reward[j]!) + gamma * Math.sqrt(w2));
    terms[i] = res * res;
    sum += res * res;
    // ∂(res²/B)/∂z_i = (2·res/B)·(z_i − z_j)/dist, the negative for z_j; 0 where dist = 0.
    if (dist > 0) {
      const coef = (2 * res) / (b * dist);
      for (let c = 0; c < d; c++) {
        const v = coef * (z[i * d + c]! - z[j * d + c]!);
        g[i * d + c] = g[i * d + c]! + v;
        g[j * d + c] = g[j * d + c]! - v;
      }
    }
  }
  return { loss: sum / b, terms, grad: Float32Array.from(g) };
}
