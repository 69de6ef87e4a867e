import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RiverbedError } from '../../../src/errors.js';
import { BAR_POINTS_MAX, lineChartSpec, renderSvg, writePlot, type LinePlot } from '../../../src/plot/index.js';
import { titleLines } from '../../../src/plot/spec.js';

type AnySpec = Record<string, any>;
const spec = (p: LinePlot) => lineChartSpec(p) as AnySpec;
const values = (s: AnySpec) => s.data.find((d: AnySpec) => d.name === 'points').values as AnySpec[];
const filterOf = (s: AnySpec, name: string) => s.data.find((d: AnySpec) => d.name === name).transform[0].expr as string;

const base: LinePlot = { title: 'T', xLabel: 'fraction', yLabel: 'accuracy', series: [] };

describe('lineChartSpec', () => {
  it('carries title, axis titles, scales and one colour per series in order', () => {
    const s = spec({ ...base, xScale: 'log', series: [{ name: 'a', x: [1, 2], y: [3, 4] }, { name: 'b', x: [1], y: [5] }] });
    expect(s.title.text).toBe('T');
    expect(s.axes.map((a: AnySpec) => a.title)).toEqual(['fraction', 'accuracy']);
    expect(s.scales.find((x: AnySpec) => x.name === 'x').type).toBe('log');
    expect(s.scales.find((x: AnySpec) => x.name === 'y').type).toBe('linear');
    expect(s.scales.find((x: AnySpec) => x.name === 'color').domain).toEqual(['a', 'b']);
    expect(s.legends).toHaveLength(1);
    expect(values(s)).toEqual([
      { series: 'a', order: 0, x: 1, y: 3, lo: 3, hi: 3 },
      { series: 'a', order: 1, x: 2, y: 4, lo: 4, hi: 4 },
      { series: 'b', order: 0, x: 1, y: 5, lo: 5, hi: 5 },
    ]);
  });

  it('turns yErr into lo/hi and picks bars for short series, a band for long ones', () => {
    const long = Array.from({ length: BAR_POINTS_MAX + 1 }, (_, i) => i);
    const s = spec({
      ...base,
      series: [
        { name: 'short', x: [1, 2], y: [10, 20], yErr: [1, -2] },
        { name: 'long', x: long, y: long, yErr: long.map(() => 0.5) },
        { name: 'plain', x: [1, 2], y: [1, 1] },
      ],
    });
    const rows = values(s);
    expect(rows.slice(0, 2).map((r) => [r.lo, r.hi])).toEqual([[9, 11], [18, 22]]); // |yErr|
    expect(rows[2]).toMatchObject({ series: 'long', lo: -0.5, hi: 0.5 });
    expect(filterOf(s, 'bars')).toContain('"short"');
    expect(filterOf(s, 'bars')).not.toContain('"long"');
    const group = s.marks.find((m: AnySpec) => m.type === 'group');
    expect(group.data[0].transform[0].expr).toBe('indexof(["long"], datum.series) >= 0');
    expect(group.marks.map((m: AnySpec) => m.type)).toEqual(['area', 'line']);
    expect(filterOf(s, 'dots')).toBe('indexof(["short","plain"], datum.series) >= 0');
  });

  it('draws no band when no series has yErr, and no legend for a single series', () => {
    const s = spec({ ...base, series: [{ name: 'only', x: [0, 1], y: [0, 1] }] });
    const group = s.marks.find((m: AnySpec) => m.type === 'group');
    expect(group.marks.map((m: AnySpec) => m.type)).toEqual(['line']);
    expect(s.legends).toEqual([]);
  });

  it('drops non-finite points, and points <= 0 on log axes; clips error bars at a log floor', () => {
    const s = spec({
      ...base,
      xScale: 'log',
      yScale: 'log',
      series: [{ name: 'd', x: [0, 1, 2, 3, Number.NaN], y: [1, 0.5, -1, 2, 1], yErr: [0, 1, 0, 0.1, 0] }],
    });
    const rows = values(s);
    expect(rows.map((r) => r.x)).toEqual([1, 3]);
    expect(rows[0]!.lo).toBeCloseTo(0.05, 12); // 0.5 − 1 ≤ 0 → smallest y / 10
    expect(rows[1]!.lo).toBeCloseTo(1.9, 12);
  });

  it('ticks a log x axis at the measured x values when there are few', () => {
    const s = spec({ ...base, xScale: 'log', series: [{ name: 'a', x: [0.5, 0.01, 0.1], y: [1, 2, 3] }] });
    expect(s.axes[0].values).toEqual([0.01, 0.1, 0.5]);
  });

  it('rejects mismatched lengths, duplicate names and empty plots with a RiverbedError', () => {
    expect(() => spec({ ...base, series: [{ name: 'a', x: [1, 2], y: [1] }] })).toThrow(/series\[0\] \(a\): x has 2 points but y has 1/);
    expect(() => spec({ ...base, series: [{ name: 'a', x: [1], y: [1], yErr: [] }] })).toThrow(/yErr has 0 entries/);
    expect(() => spec({ ...base, series: [{ name: 'a', x: [1], y: [1] }, { name: 'a', x: [1], y: [1] }] })).toThrow(RiverbedError);
    expect(() => spec(base)).toThrow(/at least one series/);
  });
});

describe('renderSvg / writePlot', () => {
  const plot: LinePlot = {
    ...base,
    title: 'Accuracy vs fraction',
    series: [
      { name: 'CLD', x: [0.1, 0.2, 0.3], y: [0.9, 0.95, 0.97], yErr: [0.01, 0.01, 0.005] },
      { name: 'random', x: [0.1, 0.2, 0.3], y: [0.8, 0.9, 0.93] },
    ],
  };

  it('renders an SVG with the title, axis titles and legend labels', async () => {
    const svg = await renderSvg(plot);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['Accuracy vs fraction', 'fraction', 'accuracy', 'CLD', 'random']) expect(svg).toContain(`>${text}<`);
  });

  it('writes outBase.svg and outBase.png and nothing else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'riverbed-plot-'));
    const out = await writePlot(plot, join(dir, 'acc'));
    expect(out).toEqual({ svg: join(dir, 'acc.svg'), png: join(dir, 'acc.png') });
    expect(readdirSync(dir).sort()).toEqual(['acc.png', 'acc.svg']);
    const png = readFileSync(out.png);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.readUInt32BE(16)).toBeGreaterThan(1000); // 2× zoom of a ~600 px wide chart
    expect(readFileSync(out.svg, 'utf8')).toContain('Accuracy vs fraction');
  });
});

describe('titleLines', () => {
  it('keeps a short title whole and breaks a long one at its clauses, losing no text', () => {
    expect(titleLines('T', 480)).toBe('T');
    const long = 'fashion-mnist: coreset test accuracy (1x28x28-conv32k3p1(relu)-maxpool2-conv64k3p1(relu)-maxpool2-flatten-128(relu)-10, 3 seeds, mean ± std)';
    const lines = titleLines(long, 480) as string[];
    expect(Array.isArray(lines)).toBe(true);
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(Math.max(40, Math.floor((480 + 160) / 8.5)) + 60);
    expect(lines.join(' ').replace(/\s+/g, ' ')).toBe(long.replace(/\s+/g, ' '));
    expect(lines[0]).toBe('fashion-mnist: coreset test accuracy');
  });
});
