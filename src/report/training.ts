/**
 * Sections of a training run directory: the recorded run (`trajectory.json`, format
 * "riverbed.trajectory": the run's settings, the loss per epoch, the learning-rate schedule, and
 * per checkpoint the mean loss and accuracy of the recorded train and validation samples, read from
 * its .npy files), the probes (`probes.json`) and the resumable checkpoints of `train --run`
 * (`checkpoints/step-*\/state.json`, format "riverbed.checkpoint").
 */
import { dirname, join } from 'node:path';
import { RiverbedError } from '../errors.js';
import { readNpy, readNpyHeader } from '../io/npy.js';
import { describeModel, parseModelDescription } from '../model/description.js';
import type { LinePlot } from '../plot/index.js';
import { type ScheduleConfig, type ScheduleField, compileSchedule } from '../train/schedule.js';
import { type FieldReader, fieldReader, key } from './fields.js';
import { type Cell, type Figure, type Section, type Table, keyValues, pct } from './model.js';

/** Larger metric files are not read (the report says so): the means need one pass over each. */
export const NPY_READ_LIMIT = 1024 * 2 ** 20;
/** Points of the learning-rate curve (a run of 10⁶ steps is drawn from this many). */
const SCHEDULE_POINTS = 600;

/** The model description of a manifest field, in one line ("784-128(relu)-10"). */
function modelText(f: FieldReader, j: unknown, path: string): string | undefined {
  if (!f.has(j, path)) return undefined;
  try {
    return describeModel(parseModelDescription(f.get(j, path), `${f.file} (${path})`));
  } catch (e) {
    if (e instanceof RiverbedError) f.bad(path, e.message);
    throw e;
  }
}

/** The learning rate along the run (sampled), from the schedule the manifest names. */
function scheduleFigure(f: FieldReader, j: unknown, at = ''): Figure | undefined {
  if (!f.has(j, `${at}schedule`) || !f.has(j, `${at}optimizer.lr`)) return undefined;
  const lr = f.num(j, `${at}optimizer.lr`, { min: 0 });
  const total = f.num(j, `${at}schedule.totalSteps`, { integer: true, min: 1 });
  const { totalSteps: _t, ...s } = f.obj(j, `${at}schedule`);
  const names = Object.fromEntries(['name', 'warmupSteps', 'minFactor', 'decayFraction', 'decayShape', 'decayPoints', 'beta', 'cooldownFraction', 'constantFactor', 'halfCycle', 'timescale', 'fn'].map((k) => [k, `${at}schedule.${k}`])) as Partial<Record<ScheduleField, string>>;
  names.base = `${at}optimizer.lr`;
  names.total = `${at}schedule.totalSteps`;
  let rate: (t: number) => number;
  try {
    rate = compileSchedule(lr, total, s as unknown as ScheduleConfig, names).rate;
  } catch (e) {
    if (e instanceof RiverbedError) f.bad(e.field ?? `${at}schedule`, e.message.replace(/^[^:]*: /, ''));
    throw e;
  }
  const n = Math.min(SCHEDULE_POINTS, total);
  const x = Array.from({ length: n }, (_, i) => (n === 1 ? 0 : Math.round((i * (total - 1)) / (n - 1))));
  const name = String(s.name);
  return { title: 'Learning rate', line: { title: `Learning rate: ${name} schedule, base ${lr}, ${total} steps`, xLabel: 'optimizer step', yLabel: 'learning rate', series: [{ name, x, y: x.map(rate) }] } };
}

interface SplitMeans {
  loss: number[];
  accuracy: number[];
  margin: number[];
  errorNorm: number[];
}

/** Mean per-sample loss and accuracy of one split at every checkpoint, or why they are not shown. */
async function splitMeans(dir: string, split: 'train' | 'val', rows: number, samples: number, read: string[]): Promise<SplitMeans | string> {
  if (samples === 0) return `${split}: no samples recorded`;
  const out: SplitMeans = { loss: [], accuracy: [], margin: [], errorNorm: [] };
  const files = [['loss', `${split}_loss.npy`], ['accuracy', `${split}_correct.npy`], ['margin', `${split}_margin.npy`], ['errorNorm', `${split}_error_norm.npy`]] as const;
  for (const [metric, name] of files) {
    const path = join(dir, name);
    let header;
    try {
      header = readNpyHeader(path);
    } catch (e) {
      if (e instanceof RiverbedError && e.code === 'E_FILE') return `${name}: not read (${e.message.replace(`${path}: `, '')})`;
      throw e;
    }
    const want = [rows, samples];
    if (header.shape.length !== 2 || header.shape[0] !== rows || header.shape[1] !== samples) {
      throw new RiverbedError('E_FORMAT', `shape [${header.shape.join(', ')}] differs from the manifest's [${want.join(', ')}] (checkpoints × ${split} samples)`, { file: path, field: 'shape' });
    }
    if (header.dataBytes > NPY_READ_LIMIT) return `${name}: ${(header.dataBytes / 2 ** 20).toFixed(0)} MiB, not read (the report reads metric files up to ${NPY_READ_LIMIT / 2 ** 20} MiB)`;
    const { data } = await readNpy(path);
    read.push(path);
    const means: number[] = [];
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < samples; c++) s += Number(data[r * samples + c]!);
      means.push(s / samples);
    }
    out[metric] = means;
  }
  return out;
}

/** `trajectory.json` of `train --record DIR`. */
export async function trajectorySection(file: string, j: Record<string, unknown>): Promise<Section> {
  const f = fieldReader(file, 'a riverbed.trajectory manifest (riverbed train --record DIR)');
  const checkpoints = f.arr(j, 'checkpoints').map((c, i) => (c === 'init' || (typeof c === 'number' && Number.isSafeInteger(c)) ? c : f.bad(`checkpoints[${i}]`, `is ${JSON.stringify(c)}, not "init" or an epoch`)));
  const trainN = f.num(j, 'train.samples', { integer: true, min: 0 });
  const valN = f.num(j, 'val.samples', { integer: true, min: 0 });
  const model = modelText(f, j, 'model');
  const figures: Figure[] = [];
  const tables: Table[] = [];
  const notes: string[] = [];
  const epochX = checkpoints.map((c) => (c === 'init' ? 0 : c));

  if (f.has(j, 'epochLoss')) {
    const el = f.nums(j, 'epochLoss', { nullable: true });
    figures.push({ title: 'Training loss per epoch', line: { title: 'Training loss per epoch (mean over its mini-batches)', xLabel: 'epoch', yLabel: 'loss', series: [{ name: 'training loss', x: el.map((_, i) => i + 1), y: el }] } });
  }
  const dirName = dirname(file); // the .npy files lie beside trajectory.json
  const read: string[] = [];
  const train = await splitMeans(dirName, 'train', checkpoints.length, trainN, read);
  const val = await splitMeans(dirName, 'val', checkpoints.length, valN, read);
  const got = [['train', train], ['validation', val]] as const;
  for (const [, m] of got) if (typeof m === 'string') notes.push(m);
  const means = got.filter((g): g is readonly [(typeof g)[0], SplitMeans] => typeof g[1] !== 'string');
  if (means.length > 0) {
    const plot = (what: 'loss' | 'accuracy', scale: number): LinePlot => ({
      title: `Recorded samples: mean ${what} at each checkpoint`,
      xLabel: 'epoch (0 = before training)',
      yLabel: what === 'loss' ? 'mean per-sample loss' : 'accuracy (%)',
      series: means.map(([name, m]) => ({ name, x: epochX, y: m[what].map((v) => scale * v) })),
    });
    figures.push({ title: 'Mean loss at each checkpoint', line: plot('loss', 1) }, { title: 'Accuracy at each checkpoint', line: plot('accuracy', 100) });
    tables.push({
      caption: 'Per checkpoint: means over the recorded samples (from the .npy files; margin = true-class logit − largest other, EL2N = ‖softmax − one-hot‖)',
      head: ['checkpoint', ...means.flatMap(([n]) => [`${n} loss`, `${n} accuracy`, `${n} margin`, `${n} EL2N`])],
      rows: checkpoints.map((c, i) => [String(c), ...means.flatMap(([, m]) => [m.loss[i], pct(m.accuracy[i]), m.margin[i], m.errorNorm[i]])]),
    });
  }
  const sched = scheduleFigure(f, j);
  if (sched) figures.push(sched);

  const run = keyValues('The run', j, ['format', 'version', 'files', 'model', 'checkpoints', 'weightCheckpoints', 'epochLoss']);
  if (model) run.rows.unshift(['model', model]);
  tables.push(run);
  if (f.has(j, 'weightCheckpoints')) {
    const files = f.arr(j, 'weightCheckpoints.files');
    tables.push({ caption: 'Weight checkpoints (for riverbed landscape trajectory)', head: ['epoch', 'file'], rows: files.map((_, i) => [f.num(j, `weightCheckpoints.files[${i}].epoch`), f.str(j, `weightCheckpoints.files[${i}].file`)]), numeric: false });
  }
  if (f.has(j, 'files')) {
    const files = f.obj(j, 'files');
    tables.push({
      caption: 'Recorded files',
      head: ['file', 'shape', 'dtype', 'what'],
      rows: Object.keys(files).map((name) => [name, `[${f.nums(j, `files${key(name)}.shape`).join(', ')}]`, f.str(j, `files${key(name)}.dtype`), f.str(j, `files${key(name)}.description`)]),
      numeric: false,
    });
  }
  return {
    title: 'Training run (recorded trajectories)',
    file,
    format: 'riverbed.trajectory',
    summary: `${model ? `${model}, ` : ''}${checkpoints.length} checkpoints (${checkpoints.join(', ')}) of ${trainN} training and ${valN} validation samples.`,
    figures,
    tables,
    notes,
    raw: [{ file, json: j }],
    uses: read.map((path) => ({ path, how: 'averaged per checkpoint' })),
  };
}

/** Keys of a probe record that are bookkeeping, not measurements. */
const BOOKKEEPING = new Set(['matvecs', 'converged', 'iterations']);

/** `probes.json` of `train --probe`. */
export function probesSection(file: string, j: Record<string, unknown>): Section {
  const f = fieldReader(file, 'a riverbed.probes file (riverbed train --probe)');
  const specs = f.arr(j, 'probes').map((_, i) => ({ name: f.str(j, `probes[${i}].name`), every: f.num(j, `probes[${i}].every`) }));
  const records = f.arr(j, 'records').map((_, i) => ({ probe: f.str(j, `records[${i}].probe`), step: f.num(j, `records[${i}].step`), values: f.obj(j, `records[${i}].values`) }));
  records.forEach((r, i) => Object.keys(r.values).forEach((k) => f.num(j, `records[${i}].values${key(k)}`, { nullable: true })));
  const figures: Figure[] = [];
  const tables: Table[] = [];
  for (const s of specs) {
    const rs = records.filter((r) => r.probe === s.name);
    const keys = [...new Set(rs.flatMap((r) => Object.keys(r.values)))];
    for (const k of keys.filter((k) => !BOOKKEEPING.has(k))) {
      figures.push({ title: `${s.name}: ${k}`, line: { title: `Probe ${s.name}: ${k} (every ${s.every} steps)`, xLabel: 'optimizer step', yLabel: k, series: [{ name: k, x: rs.map((r) => r.step), y: rs.map((r) => (r.values[k] as number | null) ?? NaN) }] } });
    }
    tables.push({ caption: `Probe ${s.name} (every ${s.every} steps)`, head: ['step', ...keys], rows: rs.map((r) => [r.step, ...keys.map((k) => r.values[k] as number | undefined)]) });
  }
  const settings = keyValues('Probe settings', j, ['format', 'version', 'probes', 'records', 'model']);
  const model = modelText(f, j, 'model');
  if (model) settings.rows.unshift(['model', model]);
  tables.push(settings);
  const uses = specs.flatMap((s) => ['svg', 'png'].map((e) => ({ path: join(dirname(file), `probe-${s.name}.${e}`), how: 'drawn again from the JSON' })));
  return { title: 'Probes along the run', file, format: 'riverbed.probes', summary: `${specs.map((s) => s.name).join(', ')} measured ${records.length} times on a fixed probe batch.`, figures, tables, raw: [{ file, json: j }], uses };
}

/** Every `checkpoints/step-*\/state.json` of `train --run DIR`, as one section. */
export function checkpointsSection(items: { file: string; json: Record<string, unknown> }[]): Section {
  const rows: Cell[][] = [];
  const states = items.map(({ file, json }) => {
    const f = fieldReader(file, 'a riverbed.checkpoint state (riverbed train --run DIR)');
    return {
      file,
      f,
      json,
      step: f.num(json, 'step', { integer: true, min: 0 }),
      epoch: f.num(json, 'epoch', { integer: true, min: 0 }),
      position: f.num(json, 'position', { integer: true, min: 0 }),
      epochLoss: f.nums(json, 'epochLoss', { nullable: true }),
      recorded: f.has(json, 'recorded') ? f.num(json, 'recorded') : undefined,
    };
  });
  states.sort((a, b) => a.step - b.step);
  for (const s of states) rows.push([s.step, s.epoch, s.position, s.epochLoss.length, s.epochLoss.at(-1), s.recorded, s.file]);
  const last = states.at(-1)!;
  const figures: Figure[] = [];
  if (last.epochLoss.length > 0) {
    figures.push({ title: 'Loss per finished epoch', line: { title: `Training loss per finished epoch (checkpoint at step ${last.step})`, xLabel: 'epoch', yLabel: 'loss', series: [{ name: 'training loss', x: last.epochLoss.map((_, i) => i + 1), y: last.epochLoss }] } });
  }
  const sched = scheduleFigure(last.f, last.json, 'run.');
  if (sched) figures.push(sched);
  const tables: Table[] = [{ caption: 'Checkpoints', head: ['step', 'epoch', 'position in epoch', 'epochs finished', 'last epoch loss', 'recorder rows', 'file'], rows }];
  if (last.f.has(last.json, 'run')) {
    const run = last.f.obj(last.json, 'run');
    const t = keyValues(`The run (from ${last.file})`, run, ['model']);
    const model = modelText(last.f, last.json, 'run.model');
    if (model) t.rows.unshift(['model', model]);
    tables.push(t);
  }
  return {
    title: 'Checkpoints (resumable run)',
    file: states.length === 1 ? last.file : `${last.file.replace(/step-[^/\\]*[/\\]state\.json$/, 'step-*/state.json')} (${states.length} states)`,
    format: 'riverbed.checkpoint',
    summary: `${states.length} checkpoint${states.length > 1 ? 's' : ''}, the latest at step ${last.step} (epoch ${last.epoch}).`,
    figures,
    tables,
    raw: states.map((s) => ({ file: s.file, json: s.json })),
  };
}
