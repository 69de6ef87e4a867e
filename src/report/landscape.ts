/**
 * A landscape result (`format: "riverbed.landscape"`: slice, interpolation, Bézier curve,
 * trajectory, valley) as a report section: the surface or the curves drawn as the landscape
 * commands draw them (plot/surface.ts), the accuracy surface too, and the numbers — centre,
 * grid minimum, barrier(s), the directions' cosine and explained variance, the path.
 */
import { curvesSpec, surfaceSpec } from '../plot/surface.js';
import { fieldReader } from './fields.js';
import { type Cell, type Figure, type Section, type Table, fmt, keyValues, pct } from './model.js';

export const KINDS = ['slice', 'interpolation', 'curve', 'trajectory', 'valley'] as const;
const TITLES: Record<(typeof KINDS)[number], string> = {
  slice: 'Loss landscape',
  interpolation: 'Linear interpolation between two models',
  curve: 'Mode connectivity: Bézier curve vs straight line',
  trajectory: 'Training trajectory on the loss landscape',
  valley: 'The valley: Hessian wall × direction of travel',
};
/** Grid width in pixels: two surfaces (loss, accuracy) side by side on a laptop screen. */
const SURFACE_WIDTH = 380;
/** Grid points drawn per axis at most (the surface has one cell per point drawn). */
const DRAWN_MAX = 101;
/** Fields drawn or tabled on their own; the rest goes into the "result" table. */
const SHOWN = ['format', 'version', 'kind', 'dims', 'axes', 'loss', 'accuracy', 'path', 'line', 'directions', 'barrier', 'center', 'minimum', 'training', 'distance'];

export function landscapeSection(file: string, j: Record<string, unknown>): Section {
  const f = fieldReader(file, 'a riverbed.landscape result (riverbed landscape slice|interpolate|curve|trajectory|merge --out)');
  const kind = f.str(j, 'kind') as (typeof KINDS)[number];
  if (!KINDS.includes(kind)) f.bad('kind', `is "${kind}"; one of ${KINDS.join(', ')}`);
  const dims = f.num(j, 'dims');
  if (dims !== 1 && dims !== 2) f.bad('dims', `is ${dims}, not 1 or 2`);
  const xs = f.nums(j, 'axes.x.values');
  const xLabel = f.str(j, 'axes.x.label');
  const ys = dims === 2 ? f.nums(j, 'axes.y.values') : [0];
  const yLabel = dims === 2 ? f.str(j, 'axes.y.label') : '';
  if (xs.length < 2 || ys.length < (dims === 2 ? 2 : 1)) f.bad(dims === 2 && ys.length < 2 ? 'axes.y.values' : 'axes.x.values', 'has fewer than 2 points');
  const loss = f.matrix(j, 'loss', ys.length, xs.length);
  const accuracy = f.matrix(j, 'accuracy', ys.length, xs.length);
  const samples = f.num(j, 'samples', { integer: true, min: 0 });
  const title = TITLES[kind];
  const figures: Figure[] = [];
  const tables: Table[] = [];
  const notes: string[] = [];

  if (dims === 2) {
    let path: { x: number[]; y: number[]; labels?: string[] } | undefined;
    const rows: Cell[][] = [];
    if (f.has(j, 'path')) {
      const px = f.nums(j, 'path.x');
      const py = f.nums(j, 'path.y', { length: px.length });
      const epochs = f.arr(j, 'path.epochs', px.length).map((e) => String(e));
      path = { x: px, y: py, labels: epochs.map((e, i) => (i === 0 || i === epochs.length - 1 || epochs.length <= 8 ? e : '')) };
      px.forEach((x, i) => rows.push([epochs[i], x, py[i]]));
      tables.push({ caption: 'The path: each checkpoint projected onto the two directions', head: ['epoch', 'x', 'y'], rows });
    }
    const inside = (v: number, a: number[]) => v >= Math.min(...a) && v <= Math.max(...a);
    const marks = kind === 'slice' && inside(0, xs) && inside(0, ys) ? [{ x: 0, y: 0, label: 'w' }] : undefined;
    // A cell per grid point is a mark per point: past DRAWN_MAX points per axis every k-th is drawn
    // (still evenly spaced, endpoints kept when k divides the grid); the JSON below has them all.
    const kx = Math.ceil((xs.length - 1) / (DRAWN_MAX - 1));
    const ky = Math.ceil((ys.length - 1) / (DRAWN_MAX - 1));
    const pick = <T>(a: T[], k: number) => a.filter((_, i) => i % k === 0);
    const dx = pick(xs, kx);
    const dy = pick(ys, ky);
    const thin = (m: number[][]) => pick(m, ky).map((r) => pick(r, kx));
    const subtitle = `${samples} samples, ${xs.length}×${ys.length} grid${kx > 1 || ky > 1 ? ` (drawn: one point in ${kx === ky ? kx : `${kx} along x, ${ky} along y`})` : ''}`;
    if (kx > 1 || ky > 1) notes.push(`The ${xs.length}×${ys.length} grid is drawn at ${dx.length}×${dy.length} points (one in ${kx === ky ? kx : `${kx} along x, ${ky} along y`}); the JSON below holds every point.`);
    figures.push({ title: `${title}: loss`, spec: surfaceSpec({ title, subtitle, xLabel, yLabel, x: dx, y: dy, values: thin(loss), valueLabel: 'loss', path, marks, width: SURFACE_WIDTH }) });
    figures.push({ title: `${title}: accuracy`, spec: surfaceSpec({ title: `${title}: accuracy`, subtitle, xLabel, yLabel, x: dx, y: dy, values: thin(accuracy).map((r) => r.map((v) => 100 * v)), valueLabel: 'accuracy %', log: false, path, marks, width: SURFACE_WIDTH }) });
  } else {
    const series = [{ name: kind === 'curve' ? 'Bézier curve' : 'loss', x: xs, loss: loss[0]!, accuracy: accuracy[0]! }];
    let line: { loss: number[]; accuracy: number[] } | undefined;
    if (kind === 'curve' && f.has(j, 'line')) {
      line = { loss: f.nums(j, 'line.loss', { length: xs.length, nullable: true }), accuracy: f.nums(j, 'line.accuracy', { length: xs.length, nullable: true }) };
      series.push({ name: 'straight line', x: xs, loss: line.loss, accuracy: line.accuracy });
    }
    const rules = kind === 'interpolation' || kind === 'curve' ? [{ x: 0, label: 'A' }, { x: 1, label: 'B' }].filter((r) => r.x >= xs[0]! && r.x <= xs.at(-1)!) : undefined;
    figures.push({ title, spec: curvesSpec({ title, subtitle: `${samples} samples, ${xs.length} points`, xLabel, series, rules }) });
    const head = [xLabel, 'loss', 'accuracy', ...(line ? ['straight line: loss', 'straight line: accuracy'] : [])];
    const rows = xs.map((x, i) => [x, loss[0]![i], pct(accuracy[0]![i]), ...(line ? [line.loss[i], pct(line.accuracy[i])] : [])]);
    tables.push({ caption: `Loss and accuracy at each of the ${xs.length} points`, head, rows });
  }

  // The numbers a reader looks for first.
  const key: Cell[][] = [];
  if (f.has(j, 'center')) key.push(['loss at the centre (the model itself)', f.num(j, 'center.loss', { nullable: true })], ['accuracy at the centre', pct(f.num(j, 'center.accuracy', { nullable: true }))]);
  if (f.has(j, 'minimum')) {
    const at = dims === 2 ? `(${fmt(f.num(j, 'minimum.x'))}, ${fmt(f.num(j, 'minimum.y'))})` : `α = ${fmt(f.num(j, 'minimum.x'))}`;
    key.push(['grid minimum of the loss', `${fmt(f.num(j, 'minimum.loss', { nullable: true }))} at ${at}`]);
  }
  const barrier = (path: string, what: string) => {
    const b = f.get(j, path);
    if (b === undefined) return;
    if (b === null) return void key.push([what, '— (not measured: the endpoints are not on the grid)']);
    key.push([what, f.num(j, `${path}.loss`, { nullable: true })]);
    if (f.has(j, `${path}.at`)) key.push([`${what}: at`, f.num(j, `${path}.at`)]);
    if (f.has(j, `${path}.endpoints`)) key.push([`${what}: endpoint losses L(0), L(1)`, f.nums(j, `${path}.endpoints`, { nullable: true }).map(fmt).join(', ')]);
    if (f.has(j, `${path}.accuracyDrop`)) key.push([`${what}: accuracy drop`, pct(f.num(j, `${path}.accuracyDrop`, { nullable: true }))]);
  };
  barrier('barrier', kind === 'curve' ? 'barrier of the Bézier curve' : 'barrier');
  if (kind === 'curve') barrier('line.barrier', 'barrier of the straight line');
  if (f.has(j, 'distance')) key.push(['distance ‖B − A‖', f.num(j, 'distance')]);
  if (f.has(j, 'directions.cosine')) key.push(['cosine of the two directions before orthogonalisation', f.num(j, 'directions.cosine', { nullable: true })]);
  if (f.has(j, 'directions.explained')) key.push(['variance explained by the PCA directions', f.nums(j, 'directions.explained').map(pct).join(', ')]);
  if (key.length) tables.unshift({ caption: `Key numbers${f.has(j, 'barrier') ? ' (barrier = max over the path of L − ½(L(0) + L(1)))' : ''}`, head: ['quantity', 'value'], rows: key });
  if (f.has(j, 'directions')) tables.push(keyValues('Directions', f.obj(j, 'directions')));
  if (f.has(j, 'training')) tables.push(keyValues('Training of the bend θ', f.obj(j, 'training')));
  tables.push(keyValues('The run', { grid: dims === 2 ? `${xs.length} × ${ys.length}` : `${xs.length} points`, ...j }, SHOWN));
  return {
    title: `${title} (${kind})`,
    file,
    format: 'riverbed.landscape',
    summary: `A ${dims}-D ${kind} over ${samples} samples on ${typeof j.backend === 'string' ? j.backend : 'an unnamed backend'}: ${dims === 2 ? `${xs.length} × ${ys.length}` : xs.length} points.`,
    figures,
    tables,
    notes,
    raw: [{ file, json: j }],
    uses: ['loss.npy', 'accuracy.npy'].map((e) => ({ path: `${file.replace(/\.json$/i, '')}.${e}`, how: 'the same numbers as the JSON' })),
  };
}
