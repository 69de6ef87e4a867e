/**
 * Landscape pictures: the surface spec draws one cell per grid point in the colour of its value,
 * contour lines, a colour bar and the path; a log scale when values span more than 10×; the
 * curves spec puts accuracy on a second axis. Rendered headless to SVG (what the PNG is made from).
 */
import { describe, expect, it } from 'vitest';
import { curvesSpec, renderVegaSvg, surfaceSpec } from '../../../src/plot/surface.js';

const grid = (nx: number, ny: number, f: (x: number, y: number) => number) => {
  const x = Array.from({ length: nx }, (_, i) => -1 + (2 * i) / (nx - 1));
  const y = Array.from({ length: ny }, (_, i) => -1 + (2 * i) / (ny - 1));
  return { x, y, values: y.map((b) => x.map((a) => f(a, b))) };
};

describe('surfaceSpec', () => {
  it('one cell per grid point, contours, a colour bar, the path and its labels', async () => {
    const g = grid(7, 5, (a, b) => 0.1 + a * a + 2 * b * b);
    const spec = surfaceSpec({ title: 'T', xLabel: 'alpha', yLabel: 'beta', ...g, valueLabel: 'loss', path: { x: [-0.8, 0], y: [0.5, 0], labels: ['start', 'end'] } }) as { scales: { name: string; type: string }[] };
    expect(spec.scales.find((s) => s.name === 'color')!.type).toBe('log'); // 0.1 … 3.1: 31×
    const svg = await renderVegaSvg(spec);
    for (const t of ['alpha', 'beta', 'loss', 'start', 'end', 'T']) expect(svg).toContain(`>${t}<`);
    // 35 heatmap cells: rect marks are drawn as paths inside the mark-rect group.
    const rects = /<g class="mark-rect role-mark"[^>]*>([\s\S]*?)<\/g>/.exec(svg)![1]!;
    expect(rects.match(/<path /g)).toHaveLength(35);
    // The lowest value (centre cell) is viridis's darkest colour, the highest corners its brightest.
    expect(rects).toContain('fill="rgb(68, 1, 84)"');
    expect(svg).toContain('mark-shape role-mark'); // the contour lines
    expect(svg).toContain('mark-line role-mark'); // the path
    expect(svg).toContain('role-legend-gradient'); // the colour bar
  });
  it('a linear colour scale when the values span less than 10×; shapes are checked', () => {
    const g = grid(4, 3, (a, b) => 1 + a + b);
    expect((surfaceSpec({ title: '', xLabel: '', yLabel: '', ...g, valueLabel: '' }) as { scales: { type: string }[] }).scales[2]!.type).toBe('linear');
    expect(() => surfaceSpec({ title: '', xLabel: '', yLabel: '', ...g, values: g.values.slice(1), valueLabel: '' })).toThrow(/values must be \[3\]\[4\]/);
  });
});

describe('curvesSpec', () => {
  it('loss on the left axis, accuracy (%) on a right one, a legend for several series', async () => {
    const x = [0, 0.5, 1];
    const svg = await renderVegaSvg(curvesSpec({ title: 'line', xLabel: 't', series: [{ name: 'curve', x, loss: [1, 1.2, 1], accuracy: [0.9, 0.88, 0.9] }, { name: 'line', x, loss: [1, 3, 1], accuracy: [0.9, 0.5, 0.9] }] }));
    expect(svg).toContain('accuracy % (dashed)');
    expect(svg).toContain('loss (cross-entropy, solid)');
    expect(svg).toContain('>curve<');
  });
});
