/**
 * `riverbed train --run DIR [--checkpoint-every N] [--stop-after N]` and `--resume DIR`: the flag
 * checks, the checkpoint a resume starts from (checked against this command before any work) and
 * the files the run will write (for the output rule). The format is src/train/checkpoint.ts.
 */
import type { Command } from 'commander';
import { fail } from '../errors.js';
import type { PlanDir, PlanInput } from '../io/output-plan.js';
import { describeModel } from '../model/description.js';
import { type CheckpointRun, type CheckpointState, checkSameRun, checkpointFiles, checkpointPath, checkpointSteps, locateCheckpoint, readCheckpointState, recordRowPath } from '../train/checkpoint.js';
import { intOption } from './options.js';

export interface ResumeCliOptions {
  run?: string;
  checkpointEvery?: number;
  resume?: string;
  stopAfter?: number;
  force?: boolean;
}

export function addResumeOptions(cmd: Command): Command {
  return cmd
    .option('--run <DIR>', 'write resumable checkpoints into DIR/checkpoints/step-*/ (weights, optimizer state, schedule step, shuffle state, data order; docs/checkpoints.md)')
    .option('--checkpoint-every <N>', 'with --run: a checkpoint every N optimizer steps (default: at the end of every epoch)', intOption('--checkpoint-every', 1))
    .option('--stop-after <N>', 'stop after N optimizer steps in all, with a checkpoint there (go on later with --resume)', intOption('--stop-after', 1))
    .option('--resume <DIR>', 'continue from a checkpoint (a run directory: its latest) with the options the run was started with; it goes on saving into that run directory unless --run names another');
}

/** What the flags ask for, with the checkpoint to resume from (read and format-checked, not yet compared). */
export interface ResumePlan {
  runDir?: string;
  /** The flag that named runDir. */
  runFlag: '--run' | '--resume';
  every?: number;
  stopAfter?: number;
  from?: { dir: string; runDir: string; state: CheckpointState };
}

export function resumePlan(o: ResumeCliOptions & { onlineCld?: string; checkpoints?: number }): ResumePlan {
  if (o.run === '') fail('E_ARG', 'empty path; expected a directory path', { field: '--run' });
  const from = o.resume !== undefined ? locateCheckpoint(o.resume) : undefined;
  const runDir = o.run ?? from?.runDir;
  if (o.checkpointEvery !== undefined && runDir === undefined) fail('E_ARG', 'checkpoints go into a run directory: give --run DIR (or --resume DIR)', { field: '--checkpoint-every' });
  if (o.stopAfter !== undefined && runDir === undefined) fail('E_ARG', 'a stopped run is continued from its checkpoint: give --run DIR (or --resume DIR)', { field: '--stop-after' });
  // What lives only in memory until the run ends cannot be carried across a stop.
  if (o.onlineCld !== undefined && (from || o.stopAfter !== undefined)) fail('E_ARG', 'online CLD keeps its sums in memory until the run ends; it cannot be stopped or resumed', { field: from ? '--resume' : '--stop-after' });
  if (o.checkpoints !== undefined && (from || o.stopAfter !== undefined)) fail('E_ARG', '--checkpoints keeps its weight snapshots in memory until the run ends; use the resumable checkpoints of --run (their weights.safetensors) instead', { field: from ? '--resume' : '--stop-after' });
  return { runDir, runFlag: o.run !== undefined ? '--run' : '--resume', every: o.checkpointEvery, stopAfter: o.stopAfter, from: from ? { ...from, state: readCheckpointState(from.dir) } : undefined };
}

/** The resumed checkpoint as an input of the output rule. */
export function resumeInputs(p: ResumePlan): PlanInput[] {
  return [{ flag: '--resume', path: p.from?.dir }];
}

/**
 * Checks the resumed checkpoint belongs to this run (one-line error otherwise) and returns the
 * run directory's output entry: every checkpoint and recorder row this run may write. Files of a
 * later point that already exist (resuming from an older checkpoint) need --force.
 */
export function runDirPlan(p: ResumePlan, run: CheckpointRun, total: number, perEpoch: number, force: boolean): { dir: PlanDir; every: number; start: number } | undefined {
  if (p.from) {
    checkSameRun(p.from.state, run, p.from.dir, describeModel);
    if (p.stopAfter !== undefined && p.stopAfter <= p.from.state.step) {
      fail('E_ARG', `the checkpoint is at step ${p.from.state.step}; a stop must come after it`, { field: '--stop-after' });
    }
  }
  if (p.stopAfter !== undefined && p.stopAfter > total) fail('E_ARG', `the run has ${total} steps; cannot stop after step ${p.stopAfter}`, { field: '--stop-after' });
  if (p.runDir === undefined) return undefined;
  const every = p.every ?? p.from?.state.every ?? perEpoch;
  const start = p.from?.state.step ?? 0;
  const files = checkpointSteps(start, total, every, p.stopAfter).flatMap((t) => checkpointFiles(run.saf !== undefined).map((f) => `${checkpointPath(t)}/${f}`));
  if (run.record) {
    const rows = (run.record.init ? 1 : 0) + run.epochs;
    // Rows already in this run directory stay; into another directory the resumed rows are written too.
    const kept = p.from && p.runDir === p.from.runDir ? p.from.state.recorded : 0;
    for (let k = kept; k < rows; k++) files.push(recordRowPath(k));
  }
  return { dir: { flag: p.runFlag, path: p.runDir, files, guard: { what: 'checkpoints of a run at later steps', force } }, every, start };
}
