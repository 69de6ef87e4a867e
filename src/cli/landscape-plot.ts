/** Pictures of a landscape result (PNG + SVG through src/plot), drawn by every landscape command. */
import type { PendingFile } from '../io/atomic.js';
import type { LandscapeResult } from '../landscape/result.js';
import { svgToPng } from '../plot/render.js';
import { type CurvesPlot, type SurfacePlot, curvesSpec, renderVegaSvg, surfaceSpec } from '../plot/surface.js';

async function files(spec: object, base: string): Promise<PendingFile[]> {
  const svg = await renderVegaSvg(spec);
  return [
    { path: `${base}.png`, data: svgToPng(svg) },
    { path: `${base}.svg`, data: Buffer.from(svg, 'utf8') },
  ];
}

/** The default picture of a result: a surface (2-D) or loss/accuracy curves (1-D). */
export async function landscapePictures(r: LandscapeResult, base: string, extra: Partial<SurfacePlot> & Partial<CurvesPlot> = {}): Promise<PendingFile[]> {
  r.files = { ...(r.files as object), png: `${base}.png`, svg: `${base}.svg` };
  const title = extra.title ?? `Loss landscape (${r.samples} samples)`;
  if (r.dims === 2) {
    const spec = surfaceSpec({
      title,
      subtitle: extra.subtitle,
      xLabel: r.axes.x.label,
      yLabel: r.axes.y!.label,
      x: r.axes.x.values,
      y: r.axes.y!.values,
      values: r.loss,
      valueLabel: 'loss',
      path: extra.path,
      marks: extra.marks,
    });
    return files(spec, base);
  }
  const spec = curvesSpec({
    title,
    subtitle: extra.subtitle,
    xLabel: r.axes.x.label,
    series: extra.series ?? [{ name: 'loss', x: r.axes.x.values, loss: r.loss[0]!, accuracy: r.accuracy[0]! }],
    rules: extra.rules,
  });
  return files(spec, base);
}
