/**
 * Trajectory PCA (Li et al.'s setup_PCA_directions + project_trajectory): checkpoints built in a
 * known plane are recovered — the two directions span it, are unit and orthogonal, the projected
 * coordinates reproduce the construction (up to sign and rotation: distances are preserved), and
 * the explained variance adds to 1 for a planar path.
 */
import { describe, expect, it } from 'vitest';
import type { Weights } from '../../../src/landscape/directions.js';
import { dotWeights, normWeights } from '../../../src/landscape/directions.js';
import { pathRange, projectPath, trajectoryPca } from '../../../src/landscape/trajectory.js';

const n = 50;
const vec = (f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
// An orthonormal pair u, v over two "parameters" of 30 and 20 values.
const u = vec((i) => (i % 2 === 0 ? 1 : 0) / 5);
const vRaw = vec((i) => (i % 2 === 1 ? Math.sin(i) : 0));
const vn = Math.hypot(...vRaw);
const v = vRaw.map((x) => x / vn);
const final = vec((i) => Math.cos(i));
const point = (a: number, b: number): Weights =>
  new Map([
    ['0.weight', final.subarray(0, 30).map((x, i) => x + a * u[i]! + b * v[i]!)],
    ['0.bias', final.subarray(30).map((x, i) => x + a * u[30 + i]! + b * v[30 + i]!)],
  ]);

describe('trajectoryPca', () => {
  it('recovers the plane of a planar path and its geometry', () => {
    const coords: [number, number][] = [[-5, 2], [-3, 2.5], [-2, 1], [-1, 0.4], [-0.3, 0.1], [0, 0]];
    const cps = coords.map(([a, b]) => point(a, b));
    const { dirs, explained } = trajectoryPca(cps);
    expect(normWeights(dirs[0])).toBeCloseTo(1, 5);
    expect(normWeights(dirs[1])).toBeCloseTo(1, 5);
    expect(dotWeights(dirs[0], dirs[1])).toBeCloseTo(0, 5);
    expect(explained[0] + explained[1]).toBeCloseTo(1, 5);
    expect(explained[0]).toBeGreaterThan(explained[1]);
    const p = projectPath(cps, cps.at(-1)!, dirs[0], dirs[1]);
    // Distances between checkpoints are kept by the projection (the path lies in the plane).
    for (let i = 0; i < coords.length; i++) {
      for (let j = 0; j < i; j++) {
        const want = Math.hypot(coords[i]![0] - coords[j]![0], coords[i]![1] - coords[j]![1]);
        expect(Math.hypot(p.x[i]! - p.x[j]!, p.y[i]! - p.y[j]!)).toBeCloseTo(want, 4);
      }
    }
    expect(p.x.at(-1)).toBe(0);
    expect(p.x[0]).toBeLessThanOrEqual(0); // the sign convention: the path starts on the negative side
    expect(pathRange([0, 4])).toEqual([-1, 5]);
  });
  it('needs 3 checkpoints that span 2 directions', () => {
    expect(() => trajectoryPca([point(0, 0), point(1, 0)])).toThrow(/at least 3 checkpoints/);
    expect(() => trajectoryPca([point(-2, 0), point(-1, 0), point(0, 0)])).toThrow(/fewer than 2 directions/);
  });
});
