/**
 * Rendering: Vega lays the chart out headless (no canvas, renderer 'none') into SVG; resvg
 * rasterises that SVG to PNG at 2× so the text stays crisp on high-density screens.
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { writeFilesAtomic } from '../io/atomic.js';
import { lineChartSpec, type LinePlot } from './spec.js';

/** The chart as an SVG document. */
export async function renderSvg(plot: LinePlot): Promise<string> {
  const view = new vega.View(vega.parse(lineChartSpec(plot) as vega.Spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises an SVG document to PNG bytes (2× zoom, white background). */
export function svgToPng(svg: string): Uint8Array {
  const png = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/**
 * Writes `outBase.svg` and `outBase.png` together (both or neither) and returns their paths.
 */
export async function writePlot(plot: LinePlot, outBase: string): Promise<{ svg: string; png: string }> {
  const svgText = await renderSvg(plot);
  const png = svgToPng(svgText);
  const paths = { svg: `${outBase}.svg`, png: `${outBase}.png` };
  writeFilesAtomic([
    { path: paths.svg, data: Buffer.from(svgText, 'utf8') },
    { path: paths.png, data: png },
  ]);
  return paths;
}
