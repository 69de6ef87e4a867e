/**
 * `riverbed landscape <slice|interpolate|curve|trajectory|merge>`: the command group. Each member
 * registers itself from its own file, imported only when it is the one being run.
 */
import type { Command } from 'commander';

type RegisterMember = (landscape: Command) => void;

const MEMBERS: Record<string, () => Promise<RegisterMember>> = {
  slice: async () => (await import('./landscape-slice.js')).registerLandscapeSlice,
  interpolate: async () => (await import('./landscape-interpolate.js')).registerLandscapeInterpolate,
  curve: async () => (await import('./landscape-interpolate.js')).registerLandscapeCurve,
  trajectory: async () => (await import('./landscape-trajectory.js')).registerLandscapeTrajectory,
  merge: async () => (await import('./landscape-merge.js')).registerLandscapeMerge,
};

export async function registerLandscape(program: Command, argv: string[] = []): Promise<void> {
  const landscape = program
    .command('landscape')
    .description('loss landscapes: 1-D/2-D slices (many grid points per dispatch), interpolation and Bézier mode connectivity between models, training trajectories on the landscape');
  const named = argv[3];
  const loaders = named !== undefined && named in MEMBERS ? [MEMBERS[named]!] : [...new Set(Object.values(MEMBERS))];
  for (const load of loaders) (await load())(landscape);
}
