/**
 * Line charts as Vega specs: one line per series, a legend, axis titles, and the uncertainty
 * of each point (`yErr`, ± around y) drawn as error bars on short series and as a translucent
 * band on long ones (a band of 200 bars is unreadable; 8 bands look like one smear).
 *
 * Pure: builds the spec and validates the data; rendering lives in render.ts.
 */
import { fail } from '../errors.js';

export interface Series {
  name: string;
  x: number[];
  y: number[];
  /** Half-width of the uncertainty at each point: drawn from y − yErr to y + yErr. */
  yErr?: number[];
  /** Draw the points as filled marks without a line (events on a curve, e.g. the steps where a bound was exceeded). */
  pointsOnly?: boolean;
}

export interface LinePlot {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  xScale?: 'linear' | 'log';
  yScale?: 'linear' | 'log';
  /** Size of the plotting area in CSS pixels (axes, title and legend come on top). */
  width?: number;
  height?: number;
}

/** A series with at most this many points gets error bars and point marks; longer ones a band. */
export const BAR_POINTS_MAX = 24;

/** A points-only series' mark, on the plot and in the legend. */
const EVENT_SHAPE = 'triangle-up';
const EVENT_SIZE = 90;

/**
 * Categorical palette: Tableau 10 (Vega's `tableau10`), then four dark, distinct hues so that a
 * comparison of up to 14 methods never gives two series the same colour.
 */
const PALETTE = [
  '#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac',
  '#1b1b1b', '#17becf', '#8c6d31', '#6b6ecf',
];

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

interface Row {
  series: string;
  order: number;
  x: number;
  y: number;
  lo: number;
  hi: number;
}

function checkSeries(s: Series, i: number): void {
  const field = `series[${i}]${s.name ? ` (${s.name})` : ''}`;
  if (!Array.isArray(s.x) || !Array.isArray(s.y)) fail('E_ARG', 'x and y must be arrays of numbers', { field });
  if (s.x.length !== s.y.length) fail('E_SHAPE', `x has ${s.x.length} points but y has ${s.y.length}`, { field });
  if (s.yErr !== undefined && s.yErr.length !== s.y.length) {
    fail('E_SHAPE', `yErr has ${s.yErr.length} entries but y has ${s.y.length}`, { field });
  }
}

/**
 * The rows Vega draws. Non-finite points are dropped (a NaN would break the whole line), and
 * on a log axis so are points ≤ 0; the lower end of an error bar that would reach ≤ 0 on a
 * log y axis is clipped to a tenth of the smallest positive value drawn, so the bar runs off
 * the bottom instead of vanishing.
 */
function rows(plot: LinePlot): Row[] {
  const logX = plot.xScale === 'log';
  const logY = plot.yScale === 'log';
  const out: Row[] = [];
  plot.series.forEach((s, i) => {
    checkSeries(s, i);
    for (let j = 0; j < s.x.length; j++) {
      const x = s.x[j]!;
      const y = s.y[j]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      if ((logX && x <= 0) || (logY && y <= 0)) continue;
      const e = s.yErr === undefined ? 0 : Math.abs(s.yErr[j]!);
      const err = Number.isFinite(e) ? e : 0;
      out.push({ series: s.name, order: j, x, y, lo: y - err, hi: y + err });
    }
  });
  if (logY) {
    let floor = Infinity;
    for (const r of out) floor = Math.min(floor, r.y);
    floor /= 10;
    for (const r of out) if (r.lo <= 0) r.lo = floor;
  }
  return out;
}

/** The Vega spec of a line chart (pure; render it with renderSvg). */
export function lineChartSpec(plot: LinePlot): object {
  if (!Array.isArray(plot.series) || plot.series.length === 0) fail('E_ARG', 'a plot needs at least one series', { field: 'series' });
  const names = plot.series.map((s) => s.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) fail('E_ARG', `two series are named "${dup}"; the legend needs distinct names`, { field: 'series' });
  const width = plot.width ?? 560;
  const height = plot.height ?? 360;
  const data = rows(plot);
  const withErr = new Set(plot.series.filter((s) => s.yErr !== undefined).map((s) => s.name));
  const short = new Set(plot.series.filter((s) => s.x.length <= BAR_POINTS_MAX).map((s) => s.name));
  const isBand = (n: string) => withErr.has(n) && !short.has(n);
  const isBar = (n: string) => withErr.has(n) && short.has(n);
  const bands = names.filter(isBand);
  const bars = names.filter(isBar);
  const markOnly = plot.series.filter((s) => s.pointsOnly).map((s) => s.name);
  const pointed = names.filter((n) => short.has(n) && !markOnly.includes(n));
  const inList = (list: string[], field = 'datum.series') => `indexof(${JSON.stringify(list)}, ${field}) >= 0`;
  /** A symbol at each (x, y) of a data set, styled by `style`. */
  const symbols = (data: string, style: object) => ({ type: 'symbol', from: { data }, encode: { enter: { x: { scale: 'x', field: 'x' }, y: { scale: 'y', field: 'y' }, ...style } } });
  const logX = plot.xScale === 'log';
  const logY = plot.yScale === 'log';
  const xTicks = [...new Set(data.map((r) => r.x))].sort((a, b) => a - b);

  const lineMarks: object[] = [];
  if (bands.length > 0) {
    lineMarks.push({
      type: 'area',
      from: { data: 'bandFacet' },
      sort: { field: 'datum.x' },
      encode: {
        enter: {
          x: { scale: 'x', field: 'x' },
          y: { scale: 'y', field: 'lo' },
          y2: { scale: 'y', field: 'hi' },
          fill: { scale: 'color', field: 'series' },
          fillOpacity: { value: 0.18 },
          interpolate: { value: 'linear' },
        },
      },
    });
  }
  lineMarks.push({
    type: 'line',
    from: { data: 'line' },
    sort: { field: 'datum.x' },
    encode: {
      enter: {
        x: { scale: 'x', field: 'x' },
        y: { scale: 'y', field: 'y' },
        stroke: { scale: 'color', field: 'series' },
        strokeWidth: { value: 2 },
        interpolate: { value: 'linear' },
      },
    },
  });

  return {
    $schema: 'https://vega.github.io/schema/vega/v5.json',
    description: plot.title,
    width,
    height,
    padding: 8,
    autosize: { type: 'pad' },
    background: 'white',
    config: {
      text: { font: FONT },
      title: { font: FONT, fontSize: 15, fontWeight: 'bold', anchor: 'start', offset: 12 },
      axis: {
        labelFont: FONT,
        titleFont: FONT,
        labelFontSize: 11,
        titleFontSize: 12,
        titleFontWeight: 'normal',
        gridColor: '#e6e6e6',
        domainColor: '#888',
        tickColor: '#888',
      },
      legend: { labelFont: FONT, titleFont: FONT, labelFontSize: 11, titleFontSize: 12, symbolStrokeWidth: 2 },
    },
    title: { text: titleLines(plot.title, width) },
    data: [
      { name: 'points', values: data },
      { name: 'bars', source: 'points', transform: [{ type: 'filter', expr: inList(bars) }] },
      { name: 'dots', source: 'points', transform: [{ type: 'filter', expr: inList(pointed) }] },
      { name: 'marksOnly', source: 'points', transform: [{ type: 'filter', expr: inList(markOnly) }] },
      { name: 'lined', source: 'points', transform: [{ type: 'filter', expr: `!(${inList(markOnly)})` }] },
    ],
    scales: [
      {
        name: 'x',
        type: logX ? 'log' : 'linear',
        domain: { data: 'points', field: 'x' },
        range: 'width',
        nice: !logX,
        zero: false,
      },
      {
        name: 'y',
        type: logY ? 'log' : 'linear',
        domain: { fields: [{ data: 'points', field: 'lo' }, { data: 'points', field: 'hi' }] },
        range: 'height',
        nice: true,
        zero: false,
      },
      { name: 'color', type: 'ordinal', domain: names, range: PALETTE },
    ],
    axes: [
      {
        orient: 'bottom',
        scale: 'x',
        title: plot.xLabel,
        grid: true,
        labelOverlap: 'greedy',
        labelSeparation: 6,
        // A log axis over a few measured x values (fractions, sizes) is read best ticked at them.
        ...(logX && xTicks.length <= 12 ? { values: xTicks } : { tickCount: logX ? 6 : 8 }),
        format: logX ? '~g' : undefined,
      },
      { orient: 'left', scale: 'y', title: plot.yLabel, grid: true, labelOverlap: 'greedy', format: logY ? '~e' : undefined, tickCount: logY ? 6 : undefined },
    ],
    // One series needs no legend: the title and axis say what it is.
    legends:
      names.length > 1
        ? [
            {
              fill: 'color',
              stroke: 'color',
              orient: 'right',
              title: null,
              symbolType: 'stroke',
              symbolSize: 300,
              labelLimit: 260,
              // A points-only series shows its mark in the legend, the others a stroke.
              ...(markOnly.length > 0
                ? { encode: { symbols: { update: { shape: { signal: `${inList(markOnly, 'datum.value')} ? '${EVENT_SHAPE}' : 'stroke'` }, size: { signal: `${inList(markOnly, 'datum.value')} ? ${EVENT_SIZE} : 300` } } } } }
                : {}),
            },
          ]
        : [],
    marks: [
      {
        type: 'group',
        from: { facet: { name: 'line', data: 'lined', groupby: 'series' } },
        marks: lineMarks,
        data: [{ name: 'bandFacet', source: 'line', transform: [{ type: 'filter', expr: inList(bands) }] }],
      },
      {
        type: 'rule',
        from: { data: 'bars' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'x' },
            y: { scale: 'y', field: 'lo' },
            y2: { scale: 'y', field: 'hi' },
            stroke: { scale: 'color', field: 'series' },
            strokeWidth: { value: 1.5 },
          },
        },
      },
      ...['lo', 'hi'].map((end) => ({
        type: 'rule',
        from: { data: 'bars' },
        encode: {
          enter: {
            x: { scale: 'x', field: 'x', offset: -4 },
            x2: { scale: 'x', field: 'x', offset: 4 },
            y: { scale: 'y', field: end },
            stroke: { scale: 'color', field: 'series' },
            strokeWidth: { value: 1.5 },
          },
        },
      })),
      symbols('dots', { fill: { value: 'white' }, stroke: { scale: 'color', field: 'series' }, strokeWidth: { value: 2 }, size: { value: 36 } }),
      symbols('marksOnly', { shape: { value: EVENT_SHAPE }, fill: { scale: 'color', field: 'series' }, stroke: { value: 'white' }, strokeWidth: { value: 0.5 }, size: { value: EVENT_SIZE } }),
    ],
  };
}

/**
 * A title longer than the chart is wide, as lines (Vega draws a string[] as several lines):
 * otherwise a long model description widens the whole canvas and squeezes the chart into a corner.
 * Breaks after ", " or before " (" / " — "; a short title stays one string.
 */
export function titleLines(title: string, width: number): string | string[] {
  const maxChars = Math.max(40, Math.floor((width + 160) / 8.5)); // ~8.5 px per character at 15 px bold
  if (title.length <= maxChars) return title;
  const pieces = title.split(/(?<=, )|(?= \()|(?= — )/);
  const lines: string[] = [];
  let line = '';
  for (const piece of pieces) {
    if (line && (line + piece).length > maxChars) {
      lines.push(line.trimEnd());
      line = piece.trimStart();
    } else line += piece;
  }
  if (line) lines.push(line.trimEnd());
  return lines;
}
