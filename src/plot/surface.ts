/**
 * Loss-landscape pictures as Vega specs: a 2-D surface (heatmap cells, isocontour lines, a colour
 * bar, optionally a path drawn over it — Li et al.'s trajectory figures) and 1-D curves with the
 * loss on the left axis and the accuracy on a second, right axis. Pure spec builders plus
 * `renderVegaSvg`; render.ts's `svgToPng` rasterises.
 */
import * as vega from 'vega';
import { fail } from '../errors.js';

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const CONFIG = {
  text: { font: FONT },
  title: { font: FONT, fontSize: 15, fontWeight: 'bold', anchor: 'start', offset: 10, subtitleFontSize: 11, subtitleColor: '#555' },
  axis: { labelFont: FONT, titleFont: FONT, labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', domainColor: '#888', tickColor: '#888' },
  legend: { labelFont: FONT, titleFont: FONT, labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' },
};

export interface SurfacePlot {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  /** Axis coordinates (evenly spaced). */
  x: number[];
  y: number[];
  /** Row-major [ny][nx] values (row 0 at y[0]). */
  values: number[][];
  /** Colour-bar title. */
  valueLabel: string;
  /** Log colour scale and contour levels (default: when all values are positive and span > 10×). */
  log?: boolean;
  /** Number of contour levels (default 14). */
  levels?: number;
  /** A path over the surface (a training trajectory), with optional point labels. */
  path?: { x: number[]; y: number[]; labels?: string[] };
  /** Marked points (e.g. the centre, the minimum). */
  marks?: { x: number; y: number; label: string }[];
  /** Size of one grid cell in pixels is chosen so that the plot is about this wide (default 480). */
  width?: number;
}

/** The Vega spec of a 2-D surface. */
export function surfaceSpec(p: SurfacePlot): object {
  const nx = p.x.length;
  const ny = p.y.length;
  if (nx < 2 || ny < 2) fail('E_ARG', 'a surface needs at least 2 points per axis', { field: 'grid' });
  if (p.values.length !== ny || p.values.some((r) => r.length !== nx)) fail('E_SHAPE', `values must be [${ny}][${nx}]`, { field: 'values' });
  const finite = p.values.flat().filter((v) => Number.isFinite(v));
  if (finite.length === 0) fail('E_VALUE', 'no finite value to draw', { field: 'values' });
  const lo = Math.min(...finite);
  const hi = Math.max(...finite);
  const log = p.log ?? (lo > 0 && hi / lo > 10);
  const t = (v: number) => (log ? Math.log10(v) : v);
  const levels = p.levels ?? 14;
  const tlo = t(lo);
  const thi = t(hi);
  const thresholds = Array.from({ length: levels }, (_, i) => tlo + ((thi - tlo) * (i + 0.5)) / levels);
  // Square cells: the plot's aspect follows the grid's, about `width` pixels on its long side.
  const target = p.width ?? 480;
  const cell = target / Math.max(nx, ny);
  const width = cell * nx;
  const height = cell * ny;
  const dx = (p.x[nx - 1]! - p.x[0]!) / (nx - 1);
  const dy = (p.y[ny - 1]! - p.y[0]!) / (ny - 1);
  const cells: { x0: number; x1: number; y0: number; y1: number; v: number }[] = [];
  for (let iy = 0; iy < ny; iy++) {
    for (let ix = 0; ix < nx; ix++) {
      const v = p.values[iy]![ix]!;
      if (!Number.isFinite(v)) continue;
      cells.push({ x0: p.x[ix]! - dx / 2, x1: p.x[ix]! + dx / 2, y0: p.y[iy]! - dy / 2, y1: p.y[iy]! + dy / 2, v });
    }
  }
  // isocontour reads a raster with row 0 at the top: rows reversed (largest y first), in the
  // transformed (log) units, non-finite cells at the top of the range (drawn as walls).
  const raster: number[] = [];
  for (let iy = ny - 1; iy >= 0; iy--) for (let ix = 0; ix < nx; ix++) {
    const v = p.values[iy]![ix]!;
    raster.push(Number.isFinite(v) ? t(v) : thi);
  }
  const pathData = p.path ? p.path.x.map((x, i) => ({ x, y: p.path!.y[i]!, i, label: p.path!.labels?.[i] ?? '' })) : [];
  const marks = p.marks ?? [];
  return {
    $schema: 'https://vega.github.io/schema/vega/v5.json',
    width,
    height,
    padding: 8,
    autosize: { type: 'pad' },
    background: 'white',
    config: CONFIG,
    title: { text: p.title, ...(p.subtitle ? { subtitle: p.subtitle } : {}) },
    data: [
      { name: 'cells', values: cells },
      {
        name: 'contours',
        values: [{ width: nx, height: ny, values: raster }],
        transform: [{ type: 'isocontour', thresholds, scale: cell, smooth: true }],
      },
      { name: 'path', values: pathData },
      { name: 'labelled', source: 'path', transform: [{ type: 'filter', expr: "datum.label !== ''" }] },
      { name: 'marks', values: marks },
    ],
    scales: [
      { name: 'x', type: 'linear', domain: [p.x[0]! - dx / 2, p.x[nx - 1]! + dx / 2], range: 'width', zero: false, nice: false },
      { name: 'y', type: 'linear', domain: [p.y[0]! - dy / 2, p.y[ny - 1]! + dy / 2], range: 'height', zero: false, nice: false },
      {
        name: 'color',
        type: log ? 'log' : 'linear',
        domain: [lo, hi],
        range: { scheme: 'viridis' },
        zero: false,
        nice: false,
      },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: p.xLabel, tickCount: 6, labelFlush: true },
      { orient: 'left', scale: 'y', title: p.yLabel, tickCount: 6, labelFlush: true },
    ],
    legends: [
      {
        fill: 'color',
        type: 'gradient',
        title: p.valueLabel,
        orient: 'right',
        direction: 'vertical',
        gradientLength: Math.max(120, height - 40),
        gradientThickness: 14,
        tickCount: 6,
        format: log ? '~g' : '.3~g',
      },
    ],
    marks: [
      {
        type: 'rect',
        from: { data: 'cells' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'x0' },
            x2: { scale: 'x', field: 'x1' },
            y: { scale: 'y', field: 'y1' },
            y2: { scale: 'y', field: 'y0' },
            fill: { scale: 'color', field: 'v' },
            stroke: { scale: 'color', field: 'v' },
            strokeWidth: { value: 0.4 },
          },
        },
      },
      {
        type: 'shape',
        from: { data: 'contours' },
        encode: { enter: { stroke: { value: 'white' }, strokeWidth: { value: 0.9 }, strokeOpacity: { value: 0.75 }, fill: { value: null } } },
        transform: [{ type: 'geoshape', field: 'datum.contour' }],
      },
      {
        type: 'line',
        from: { data: 'path' },
        sort: { field: 'datum.i' },
        encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, stroke: { value: '#e45756' }, strokeWidth: { value: 2.2 } } },
      },
      {
        type: 'symbol',
        from: { data: 'path' },
        encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, size: { value: 28 }, fill: { value: '#e45756' }, stroke: { value: 'white' }, strokeWidth: { value: 0.8 } } },
      },
      {
        type: 'text',
        from: { data: 'labelled' },
        encode: { enter: { x: { scale: 'x', field: 'x', offset: 6 }, y: { scale: 'y', field: 'y', offset: -6 }, text: { field: 'label' }, fill: { value: 'white' }, fontSize: { value: 11 }, fontWeight: { value: 'bold' } } },
      },
      {
        type: 'symbol',
        from: { data: 'marks' },
        encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, shape: { value: 'cross' }, size: { value: 90 }, fill: { value: 'white' }, stroke: { value: '#222' }, strokeWidth: { value: 0.8 } } },
      },
      {
        type: 'text',
        from: { data: 'marks' },
        encode: { enter: { x: { scale: 'x', field: 'x', offset: 7 }, y: { scale: 'y', field: 'y', offset: 12 }, text: { field: 'label' }, fill: { value: 'white' }, fontSize: { value: 11 } } },
      },
    ],
  };
}

export interface CurveSeries {
  name: string;
  x: number[];
  loss: number[];
  accuracy?: number[];
}

export interface CurvesPlot {
  title: string;
  subtitle?: string;
  xLabel: string;
  series: CurveSeries[];
  /** Log loss axis (default: when all losses are positive and span > 20×). */
  log?: boolean;
  /** Vertical rules with labels (e.g. the endpoints, the barrier's position). */
  rules?: { x: number; label: string }[];
  width?: number;
  height?: number;
}

const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#b279a2', '#72b7b2'];

/** Loss (solid, left axis) and accuracy (dashed, right axis, %) along one coordinate. */
export function curvesSpec(p: CurvesPlot): object {
  if (p.series.length === 0) fail('E_ARG', 'a plot needs at least one series', { field: 'series' });
  const pts = p.series.flatMap((s) => s.x.map((x, i) => ({ s: s.name, x, loss: s.loss[i]!, acc: s.accuracy ? 100 * s.accuracy[i]! : null })));
  const losses = pts.map((r) => r.loss).filter((v) => Number.isFinite(v));
  const log = p.log ?? (losses.every((v) => v > 0) && Math.max(...losses) / Math.min(...losses) > 20);
  const hasAcc = p.series.some((s) => s.accuracy);
  const accs = pts.map((r) => r.acc).filter((v): v is number => v !== null && Number.isFinite(v));
  // The accuracy axis from a round value below the lowest accuracy to 100 %: flat lines stay readable.
  const accLo = accs.length ? Math.max(0, Math.floor(Math.min(...accs) / 10) * 10 - 10) : 0;
  const names = p.series.map((s) => s.name);
  return {
    $schema: 'https://vega.github.io/schema/vega/v5.json',
    width: p.width ?? 520,
    height: p.height ?? 320,
    padding: 8,
    autosize: { type: 'pad' },
    background: 'white',
    config: CONFIG,
    title: { text: p.title, ...(p.subtitle ? { subtitle: p.subtitle } : {}) },
    data: [
      { name: 'pts', values: pts.filter((r) => Number.isFinite(r.loss) && (!log || r.loss > 0)) },
      { name: 'acc', values: pts.filter((r) => r.acc !== null && Number.isFinite(r.acc)) },
      { name: 'rules', values: p.rules ?? [] },
    ],
    scales: [
      { name: 'x', type: 'linear', domain: { data: 'pts', field: 'x' }, range: 'width', zero: false, nice: false },
      { name: 'loss', type: log ? 'log' : 'linear', domain: { data: 'pts', field: 'loss' }, range: 'height', zero: false, nice: true },
      { name: 'acc', type: 'linear', domain: [accLo, 100], range: 'height', zero: false },
      { name: 'color', type: 'ordinal', domain: names, range: PALETTE },
    ],
    axes: [
      { orient: 'bottom', scale: 'x', title: p.xLabel, tickCount: 8, grid: true, gridColor: '#eee' },
      { orient: 'left', scale: 'loss', title: 'loss (cross-entropy, solid)', grid: true, gridColor: '#eee', format: log ? '~g' : undefined },
      ...(hasAcc ? [{ orient: 'right', scale: 'acc', title: 'accuracy % (dashed)', tickCount: 6 }] : []),
    ],
    legends: names.length > 1 ? [{ stroke: 'color', orient: 'bottom', direction: 'horizontal', symbolType: 'stroke', symbolStrokeWidth: 2.5, labelLimit: 240 }] : [],
    marks: [
      {
        type: 'rule',
        from: { data: 'rules' },
        encode: { enter: { x: { scale: 'x', field: 'x' }, y: { value: 0 }, y2: { field: { group: 'height' } }, stroke: { value: '#aaa' }, strokeDash: { value: [2, 3] } } },
      },
      {
        type: 'text',
        from: { data: 'rules' },
        encode: { enter: { x: { scale: 'x', field: 'x', offset: 3 }, y: { value: 12 }, text: { field: 'label' }, fill: { value: '#555' }, fontSize: { value: 10 } } },
      },
      {
        type: 'group',
        from: { facet: { name: 'byS', data: 'pts', groupby: 's' } },
        marks: [{ type: 'line', from: { data: 'byS' }, sort: { field: 'datum.x' }, encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'loss', field: 'loss' }, stroke: { scale: 'color', field: 's' }, strokeWidth: { value: 2.2 } } } }],
      },
      {
        type: 'group',
        from: { facet: { name: 'byA', data: 'acc', groupby: 's' } },
        marks: [{ type: 'line', from: { data: 'byA' }, sort: { field: 'datum.x' }, encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'acc', field: 'acc' }, stroke: { scale: 'color', field: 's' }, strokeWidth: { value: 1.6 }, strokeDash: { value: [5, 3] }, strokeOpacity: { value: 0.8 } } } }],
      },
    ],
  };
}

/** Any Vega spec as an SVG document (headless, no canvas). */
export async function renderVegaSvg(spec: object): Promise<string> {
  const view = new vega.View(vega.parse(spec as vega.Spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
