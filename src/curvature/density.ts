/**
 * Spectral density by stochastic Lanczos quadrature (Golub & Meurant; Ubaru, Chen & Saad 2017;
 * used on network Hessians by Ghorbani et al. 2019 and Papyan 2019/2020).
 *
 * For each probe v (Rademacher, normalised), m Lanczos steps give a tridiagonal T with eigenpairs
 * (θ_i, s_i). The spectral measure of A seen from v, Σ_j (u_jᵀ v)² δ(λ − λ_j), is approximated by
 * the Gauss quadrature Σ_i τ_i δ(λ − θ_i) with nodes θ_i (Ritz values) and weights τ_i = s_i[0]²
 * (squared FIRST components of T's eigenvectors; they sum to 1). Averaging over probes estimates
 * the normalised density φ(λ) = (1/n) Σ_j δ(λ − λ_j). Smoothing with a Gaussian of standard
 * deviation σ gives a function on a grid:
 *   φ_σ(t) = (1/probes) Σ_probes Σ_i τ_i · exp(−(t − θ_i)² / (2σ²)) / (σ√(2π)),
 * which integrates to 1 (over the real line; the grid extends 5σ past the extreme nodes).
 * Its mean Σ τ_i θ_i equals vᵀAv/‖v‖², so n × mean is a Hutchinson trace estimate.
 */
import { fail } from '../errors.js';
import { KrylovBasis } from './krylov.js';
import type { LinearOperator } from './operator.js';
import { probeRng, rademacher } from './probes.js';
import { symmetricEigen } from './symeig.js';

export interface DensityOptions {
  /** Probe vectors (default 5). */
  probes?: number;
  /** Lanczos steps per probe (default 80, at most the operator's size). */
  steps?: number;
  seed?: number;
  /** Gaussian broadening, a standard deviation in eigenvalue units (default: (max − min node)/100). */
  sigma?: number;
  /** Grid points (default 1000), spanning [min node − 5σ, max node + 5σ] unless `range` is given. */
  points?: number;
  range?: [number, number];
}

export interface SpectralDensity {
  /** Ritz values per probe (ascending). */
  nodes: number[][];
  /** Quadrature weights per probe (squared first components; each probe's sum to 1). */
  weights: number[][];
  sigma: number;
  grid: number[];
  density: number[];
  /** Trapezoidal integral of density over the grid (≈ 1 when the grid covers the nodes). */
  mass: number;
  /** Σ weights·nodes averaged over probes: the density's mean, ≈ trace / size. */
  mean: number;
  matvecs: number;
}

/** The Gaussian-smoothed density of quadrature nodes/weights (averaged over probes) on a grid. */
export function gaussianDensity(nodes: readonly (readonly number[])[], weights: readonly (readonly number[])[], grid: readonly number[], sigma: number): number[] {
  if (!(sigma > 0)) fail('E_ARG', `sigma must be positive, got ${sigma}`, { field: 'sigma' });
  const norm = 1 / (sigma * Math.sqrt(2 * Math.PI) * nodes.length);
  return grid.map((t) => {
    let s = 0;
    nodes.forEach((ns, p) => {
      ns.forEach((θ, i) => {
        const z = (t - θ) / sigma;
        s += weights[p]![i]! * Math.exp(-0.5 * z * z);
      });
    });
    return s * norm;
  });
}

/** Trapezoidal rule. */
export function integrate(grid: readonly number[], values: readonly number[]): number {
  let s = 0;
  for (let i = 1; i < grid.length; i++) s += 0.5 * (values[i]! + values[i - 1]!) * (grid[i]! - grid[i - 1]!);
  return s;
}

export async function spectralDensity(op: LinearOperator, options: DensityOptions = {}): Promise<SpectralDensity> {
  const n = op.size;
  const probes = options.probes ?? 5;
  if (!Number.isSafeInteger(probes) || probes < 1) fail('E_ARG', `probes must be a positive integer, got ${probes}`, { field: 'probes' });
  const steps = Math.min(n, options.steps ?? 80);
  if (!Number.isSafeInteger(steps) || steps < 1) fail('E_ARG', `steps must be a positive integer, got ${options.steps}`, { field: 'steps' });
  const points = options.points ?? 1000;
  if (!Number.isSafeInteger(points) || points < 2) fail('E_ARG', `points must be an integer ≥ 2, got ${points}`, { field: 'points' });
  if (options.sigma !== undefined && !(options.sigma > 0)) fail('E_ARG', `sigma must be positive, got ${options.sigma}`, { field: 'sigma' });
  const rng = probeRng(options.seed ?? 0, 'slq');
  const nodes: number[][] = [];
  const weights: number[][] = [];
  let matvecs = 0;
  for (let p = 0; p < probes; p++) {
    const basis = new KrylovBasis(op, steps);
    try {
      basis.start(rademacher(n, rng));
      for (let j = 0; j < steps; j++) {
        await basis.step();
        const scale = basis.scale();
        // An invariant subspace: the quadrature is exact with the steps taken; stop (no fresh direction,
        // which would break the Krylov structure the weights rely on).
        if (basis.beta <= 1e-6 * scale) break;
      }
      const m = basis.count;
      const eig = symmetricEigen(basis.projected(), m);
      nodes.push(Array.from(eig.values));
      weights.push(Array.from({ length: m }, (_, i) => eig.vectors[i]! ** 2)); // row 0 = first components
      matvecs += basis.matvecs;
    } finally {
      basis.dispose();
    }
  }
  // a loop, not Math.min(...all): spreading 10^5+ nodes (many probes) overflows the call stack
  let lo = Infinity;
  let hi = -Infinity;
  for (const ns of nodes) {
    for (const θ of ns) {
      if (θ < lo) lo = θ;
      if (θ > hi) hi = θ;
    }
  }
  const sigma = options.sigma ?? Math.max((hi - lo) / 100, 1e-12 * Math.max(1, Math.abs(hi)));
  const [a, z] = options.range ?? [lo - 5 * sigma, hi + 5 * sigma];
  if (!(z > a)) fail('E_ARG', `range must be increasing, got [${a}, ${z}]`, { field: 'range' });
  const grid = Array.from({ length: points }, (_, i) => a + ((z - a) * i) / (points - 1));
  const density = gaussianDensity(nodes, weights, grid, sigma);
  let mean = 0;
  nodes.forEach((ns, p) => ns.forEach((θ, i) => (mean += weights[p]![i]! * θ)));
  mean /= probes;
  return { nodes, weights, sigma, grid, density, mass: integrate(grid, density), mean, matvecs };
}
