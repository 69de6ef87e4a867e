/** Shared plotting: line charts (with error bars / bands) as Vega specs, SVG and PNG. */
export { lineChartSpec, BAR_POINTS_MAX, type LinePlot, type Series } from './spec.js';
export { renderSvg, svgToPng, writePlot } from './render.js';
