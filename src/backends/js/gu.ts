/**
 * Reference maths of GU's projection (the guProject op): float64 throughout. The native kernel
 * (native/gu_project.cc) and the WGSL one (shaders/gu_project.wgsl) follow the same steps, so the
 * same rows are treated as dependent everywhere:
 *
 *   G = UᵀHU and c = UᵀHg over the active rows in ring order (oldest first);
 *   Jacobi scaling s_i = 1/√G_ii (0 for a zero row), Ĝ = SGS, ĉ = Sc;
 *   Cholesky of Ĝ row by row; a row whose pivot Ĝ_ii − Σ L_im² is ≤ GU_PIVOT_TOL (its squared sine
 *   to the earlier rows in the H-metric) is dependent: its L row and its coefficient are 0;
 *   forward and back substitution, a = Sâ; g⊥ = g − Σ a_i u_i.
 */

/** Pivot (squared sine in the H-metric, after Jacobi scaling) at or below which a row counts as dependent. */
export const GU_PIVOT_TOL = 1e-10;

/**
 * Coefficients a of the projection from the Gram matrix G (k×k, row-major, symmetric) and c = UᵀHg,
 * by the scaled, skipping Cholesky described above.
 */
export function guSolve(G: Float64Array, c: Float64Array, k: number): Float64Array {
  const s = new Float64Array(k);
  for (let i = 0; i < k; i++) s[i] = G[i * k + i]! > 0 ? 1 / Math.sqrt(G[i * k + i]!) : 0;
  const L = new Float64Array(k * k);
  const skip = new Uint8Array(k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < i; j++) {
      if (skip[j]) continue;
      let v = s[i]! * s[j]! * G[i * k + j]!;
      for (let m = 0; m < j; m++) v -= L[i * k + m]! * L[j * k + m]!;
      L[i * k + j] = v / L[j * k + j]!;
    }
    let d = s[i]! * s[i]! * G[i * k + i]!;
    for (let m = 0; m < i; m++) d -= L[i * k + m]! * L[i * k + m]!;
    if (s[i] === 0 || !(d > GU_PIVOT_TOL)) {
      skip[i] = 1;
      for (let m = 0; m < i; m++) L[i * k + m] = 0;
    } else L[i * k + i] = Math.sqrt(d);
  }
  const y = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    if (skip[i]) continue;
    let v = s[i]! * c[i]!;
    for (let m = 0; m < i; m++) v -= L[i * k + m]! * y[m]!;
    y[i] = v / L[i * k + i]!;
  }
  const a = new Float64Array(k);
  for (let i = k - 1; i >= 0; i--) {
    if (skip[i]) continue;
    let v = y[i]!;
    for (let m = i + 1; m < k; m++) v -= L[m * k + i]! * a[m]!;
    a[i] = v / L[i * k + i]!;
  }
  for (let i = 0; i < k; i++) a[i] = a[i]! * s[i]!;
  return a;
}

/** g⊥ of guProject in float64 (rows (first + j) mod K of U [K, P], j < count; h = diag(H) or undefined for I). */
export function guProjectReference(g: Float32Array, U: Float32Array, K: number, h: Float32Array | undefined, first: number, count: number): Float64Array {
  const P = g.length;
  const rows = Array.from({ length: count }, (_, j) => ((first + j) % K) * P);
  const G = new Float64Array(count * count);
  const c = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const ri = rows[i]!;
    for (let j = 0; j <= i; j++) {
      const rj = rows[j]!;
      let sum = 0;
      for (let p = 0; p < P; p++) sum += U[ri + p]! * (h ? h[p]! : 1) * U[rj + p]!;
      G[i * count + j] = sum;
      G[j * count + i] = sum;
    }
    let sc = 0;
    for (let p = 0; p < P; p++) sc += U[ri + p]! * (h ? h[p]! : 1) * g[p]!;
    c[i] = sc;
  }
  const a = guSolve(G, c, count);
  const out = Float64Array.from(g);
  for (let i = 0; i < count; i++) {
    const ri = rows[i]!;
    const ai = a[i]!;
    if (ai === 0) continue;
    for (let p = 0; p < P; p++) out[p] = out[p]! - ai * U[ri + p]!;
  }
  return out;
}
