/**
 * `riverbed hessian`: the curvature of the mean cross-entropy over a batch (or a data set, in
 * chunks) as a JSON report — extreme eigenvalues with residuals (Lanczos), the trace with a
 * confidence interval (Hutch++ or Hutchinson), the spectral density (stochastic Lanczos
 * quadrature, raw nodes and weights included), the LLA ratio — and optionally a density plot.
 * Every product is an exact R-operator HVP; the report counts them.
 */
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { type HostData, freeBatches, ggnOperator, hessianOperator, uploadBatches } from '../curvature/model-operators.js';
import { spectralDensity } from '../curvature/density.js';
import { defaultErrorBarSizes, errorBars } from '../curvature/errorbars.js';
import { lanczos } from '../curvature/lanczos.js';
import { type LinearOperator, countingOperator } from '../curvature/operator.js';
import { hutchinson, hutchPlusPlus } from '../curvature/trace.js';
import { fail } from '../errors.js';
import { type PendingFile, writeFilesAtomic } from '../io/atomic.js';
import { checkOutputPlan } from '../io/output-plan.js';
import { renderSvg, svgToPng } from '../plot/index.js';
import type { Mlp } from '../model/mlp.js';
import { VERSION } from '../version.js';
import { curvatureInputs, loadProblem, openModel, requireOption } from './curvature-inputs.js';
import { type ProgressBar, intOption, numberOption, progressEveryFromEnv, progressLines } from './options.js';
import { requireDensityFits, requireErrorBarsFit } from './resources.js';

interface HessianCliOptions {
  model?: string;
  weights?: string;
  inputs?: string;
  labels?: string;
  topK?: number;
  bottomK?: number;
  trace?: boolean;
  traceMethod: string;
  traceMatvecs: number;
  density?: boolean;
  densityProbes: number;
  densitySteps: number;
  sigma?: number;
  gridPoints: number;
  layer?: string[];
  ggn?: boolean;
  seed: number;
  batchSize?: number;
  tol: number;
  confidence: number;
  out?: string;
  plot?: string;
  backend: string;
  json?: boolean;
  /** `true` when given without a value (the library's default sizes), else "S1,S2,…". */
  errorBars?: string | true;
  repeats?: number;
  stableSpread?: number;
}

export interface HessianReport {
  format: 'riverbed.hessian';
  version: 1;
  riverbed: string;
  parameters: Record<string, unknown>;
  backend: { name: string; description: string; reason: string };
  /** Operator size (parameters in the block analysed) and samples the mean runs over. */
  size: number;
  samples: number;
  /** Top-k then bottom-k eigenvalue estimates, descending; residuals ‖Hx − θx‖ aligned. */
  eigenvalues?: number[];
  residuals?: number[];
  eigen?: { top: number; bottom: number; converged: boolean; matvecs: number; iterations: number; restarts: number; tol: number };
  trace?: { method: string; estimate: number; interval: [number, number]; confidence: number; stderr: number; matvecs: number; lowRank?: { trace: number; rank: number } };
  density?: {
    grid: number[];
    values: number[];
    /** Gaussian broadening, a standard deviation in eigenvalue units. */
    sigma: number;
    mass: number;
    mean: number;
    probes: number;
    steps: number;
    /** Raw SLQ nodes (Ritz values) and weights (squared first eigenvector components) per probe, to re-smooth. */
    nodes: number[][];
    weights: number[][];
    matvecs: number;
  };
  /** LLA criterion: smallest / largest eigenvalue (with both --top-k and --bottom-k). */
  lla?: { ratio: number; smallest: number; largest: number };
  /** Curvature-vector products used in all. */
  hvps: number;
  seconds: number;
  plot?: { svg: string; png: string };
  /** With --error-bars: the asked estimates repeated on random subsamples with fresh probe seeds. */
  errorBars?: HessianErrorBars;
}

export interface HessianErrorBars {
  /** What the components of mean/std/min/max are, in order. */
  estimate: string;
  components: string[];
  repeats: number;
  /** Largest acceptable relative spread std/|mean| (worst component). */
  threshold: number;
  /** Smallest size whose relative spread is ≤ threshold; null when none is. */
  recommendedSize: number | null;
  rows: { size: number; mean: number[]; std: number[]; min: number[]; max: number[]; relativeSpread: number }[];
  /** HVPs the repeats used (included in the report's `hvps`). */
  hvps: number;
}

export function registerHessian(program: Command): void {
  program
    .command('hessian')
    .description('Hessian (or Gauss–Newton) spectrum of the mean cross-entropy: top/bottom eigenvalues, trace with interval, spectral density, LLA ratio.')
    .option('--model <M.json>', 'model description (riverbed.model JSON)')
    .option('--weights <W.safetensors>', 'weights (PyTorch nn.Sequential names: 0.weight [out, in] or conv [out, in, kh, kw], 0.bias, …)')
    .option('--inputs <X.npy>', 'inputs [N, D] or images [N, C, H, W], float32/float64')
    .option('--labels <Y.npy>', 'integer labels [N] in 0..classes-1')
    .option('--top-k <K>', 'largest K eigenvalues (Lanczos; default 5 when nothing else is asked)', intOption('--top-k'))
    .option('--bottom-k <K>', 'smallest K eigenvalues (Lanczos)', intOption('--bottom-k'))
    .option('--trace', 'estimate the trace with a confidence interval')
    .option('--trace-method <name>', 'hutch++ | hutchinson', 'hutch++')
    .option('--trace-matvecs <n>', 'HVP budget of the trace estimate', intOption('--trace-matvecs', 6), 99)
    .option('--density', 'spectral density by stochastic Lanczos quadrature')
    .option('--density-probes <n>', 'SLQ probe vectors', intOption('--density-probes'), 5)
    .option('--density-steps <n>', 'Lanczos steps per probe', intOption('--density-steps'), 80)
    .option('--sigma <s>', 'Gaussian broadening of the density, a standard deviation (default: node range / 100)', numberOption('--sigma', (n) => n > 0, 'a positive number'))
    .option('--grid-points <n>', 'density grid points', intOption('--grid-points', 2), 1000)
    .option('--layer <index...>', 'restrict to these linear or conv2d layers (module index as in the safetensors keys): a diagonal block')
    .option('--ggn', 'the generalised Gauss–Newton matrix instead of the Hessian')
    .option('--seed <n>', 'seed of every random start and probe vector', intOption('--seed', 0), 0)
    .option('--batch-size <B>', 'process the samples in chunks of B rows (the loss is the mean over all N)', intOption('--batch-size'))
    .option('--tol <t>', 'relative residual tolerance of the eigenvalues', numberOption('--tol', (n) => n > 0 && n < 1, 'a number in (0, 1)'), 1e-4)
    .option('--confidence <c>', 'confidence level of the trace interval', numberOption('--confidence', (n) => n > 0 && n < 1, 'a number in (0, 1)'), 0.95)
    .option('--out <report.json>', 'write the report here')
    .option('--plot <BASE>', 'also draw the spectral density to BASE.png and BASE.svg (implies --density)')
    .option('--backend <name>', 'auto | js | native | webgpu', 'auto')
    .option('--json', 'print the report on stdout')
    .option('--error-bars [sizes]', 'repeat the eigenvalue/trace estimates on random subsamples of these sizes (comma-separated; default N/8,N/4,N/2,N) with fresh probe seeds, and report the spread')
    .option('--repeats <R>', 'repeats per subsample size (default 5; implies --error-bars)', intOption('--repeats', 2))
    .option('--stable-spread <T>', 'relative spread std/|mean| counted as stable (default 0.05; implies --error-bars)', numberOption('--stable-spread', (n) => n > 0, 'a positive number'))
    .action(async (o: HessianCliOptions) => {
      const report = await hessianCommand(o);
      if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else process.stdout.write(summaryText(report, o.out));
    });
}

/** Progress on stderr when it is a terminal: one bar per phase, counting HVPs. */
class Progress {
  private bar?: SingleBar;
  private lines?: ProgressBar;
  private total = 0;
  private done = 0;
  constructor(private readonly enabled: boolean) {}
  phase(label: string, total: number, unit = 'HVPs'): void {
    this.stop();
    if (!this.enabled) return;
    this.total = total;
    this.done = 0;
    if (!process.stderr.isTTY) {
      this.lines = progressLines(`${label} (${unit})`, process.stderr, progressEveryFromEnv());
      this.lines.start(total);
      return;
    }
    this.bar = new SingleBar({
      stream: process.stderr,
      format: `${label.padEnd(12)} {bar} {value}/{total} ${unit} | {duration_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
      barsize: 30,
    });
    this.bar.start(total, 0);
  }
  /** One more HVP (or repeat) in the current phase (a Lanczos run's length is not known ahead: the total grows). */
  tick(): void {
    const done = ++this.done;
    this.lines?.update(done);
    if (!this.bar) return;
    if (done > this.total) this.bar.setTotal((this.total = Math.ceil(done * 1.5)));
    this.bar.update(done);
  }
  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.lines?.stop();
    this.lines = undefined;
  }
}

/** The operator, with every product reported to the progress bar. */
function watched(op: LinearOperator, progress: Progress): LinearOperator & { count: number } {
  return countingOperator(op, () => progress.tick());
}

/** The estimates a run asks for that error bars repeat (the density is a picture, not repeated). */
interface Asked {
  topK: number;
  bottomK: number;
  tol: number;
  trace?: { method: string; matvecs: number; confidence: number };
}

type Estimates = Pick<HessianReport, 'eigenvalues' | 'residuals' | 'eigen' | 'lla' | 'trace'>;

/** The asked eigenvalues and trace of one operator with one seed: the main report and every error-bar repeat run this. */
async function estimate(op: LinearOperator, asked: Asked, seed: number, progress: Progress): Promise<Estimates> {
  const { topK, bottomK } = asked;
  const out: Estimates = {};
  if (topK > 0 || bottomK > 0) {
    const which = topK > 0 && bottomK > 0 ? 'both' : topK > 0 ? 'largest' : 'smallest';
    const k = Math.max(topK, bottomK);
    progress.phase('eigenvalues', Math.max(40, 8 * k));
    const r = await lanczos(op, { k, which, tol: asked.tol, seed });
    // 'both' returns the top k then the bottom k; keep what each end asked for.
    const idx: number[] = [];
    if (which === 'both') {
      for (let i = 0; i < topK; i++) idx.push(i);
      for (let i = 0; i < bottomK; i++) idx.push(r.eigenvalues.length - bottomK + i);
    } else for (let i = 0; i < Math.min(r.eigenvalues.length, which === 'largest' ? topK : bottomK); i++) idx.push(i);
    out.eigenvalues = idx.map((i) => r.eigenvalues[i]!);
    out.residuals = idx.map((i) => r.residuals[i]!);
    out.eigen = { top: topK, bottom: bottomK, converged: r.converged, matvecs: r.matvecs, iterations: r.iterations, restarts: r.restarts, tol: asked.tol };
    if (topK > 0 && bottomK > 0) {
      const largest = r.eigenvalues[0]!;
      const smallest = r.eigenvalues.at(-1)!;
      out.lla = { ratio: smallest / largest, smallest, largest };
    }
  }
  if (asked.trace) {
    const { method, matvecs, confidence } = asked.trace;
    progress.phase('trace', matvecs);
    const t =
      method === 'hutchinson' ? await hutchinson(op, { probes: matvecs, seed, confidence }) : await hutchPlusPlus(op, { matvecs, seed, confidence });
    out.trace = { method: t.method, estimate: t.estimate, interval: t.interval, confidence: t.confidence, stderr: t.stderr, matvecs: t.matvecs, lowRank: t.lowRank };
  }
  return out;
}

/** The estimates as one vector (eigenvalues in report order, then the trace), and its components' names. */
function estimateVector(e: Estimates): number[] {
  return [...(e.eigenvalues ?? []), ...(e.trace ? [e.trace.estimate] : [])];
}
function componentNames(asked: Asked): string[] {
  return [
    ...Array.from({ length: asked.topK }, (_, i) => `top ${i + 1}`),
    ...Array.from({ length: asked.bottomK }, (_, i) => `bottom ${asked.bottomK - i}`),
    ...(asked.trace ? ['trace'] : []),
  ];
}

/** --error-bars [S1,S2,…] → validated, distinct sizes (the library's default N/8, N/4, N/2, N when no list is given). */
function parseSizes(value: string | true, n: number): number[] {
  if (value === true) return defaultErrorBarSizes(n);
  const sizes = value.split(',').map((t) => {
    const v = Number(t);
    if (!/^\s*\d+\s*$/.test(t) || !Number.isSafeInteger(v) || v < 1 || v > n) {
      fail('E_ARG', `expected comma-separated subsample sizes, integers in [1, ${n}] (the samples given), got "${value}"`, { field: '--error-bars' });
    }
    return v;
  });
  return [...new Set(sizes)].sort((a, b) => a - b);
}

interface ErrorBarPlan {
  sizes: number[];
  repeats: number;
  threshold: number;
}

export async function hessianCommand(o: HessianCliOptions): Promise<HessianReport> {
  const files = {
    model: requireOption(o.model, '--model', '<M.json>'),
    weights: requireOption(o.weights, '--weights', '<W.safetensors>'),
    inputs: requireOption(o.inputs, '--inputs', '<X.npy>'),
    labels: requireOption(o.labels, '--labels', '<Y.npy>'),
  };
  if (o.out === undefined && !o.json) fail('E_ARG', 'give --out <report.json> (or --json to print the report)', { field: '--out' });
  if (o.traceMethod !== 'hutch++' && o.traceMethod !== 'hutchinson') fail('E_ARG', `expected hutch++ or hutchinson, got "${o.traceMethod}"`, { field: '--trace-method' });
  const density = o.density === true || o.plot !== undefined;
  const nothingAsked = o.topK === undefined && o.bottomK === undefined && !o.trace && !density;
  const asked: Asked = {
    topK: o.topK ?? (nothingAsked ? 5 : 0),
    bottomK: o.bottomK ?? 0,
    tol: o.tol,
    trace: o.trace ? { method: o.traceMethod, matvecs: o.traceMatvecs, confidence: o.confidence } : undefined,
  };
  const { topK, bottomK } = asked;
  // Every output path, before any work (an empty --out once failed only after the whole computation).
  checkOutputPlan({
    inputs: curvatureInputs(files),
    files: [
      { flag: '--out', path: o.out },
      { flag: '--plot', path: o.plot === undefined || o.plot === '' ? o.plot : `${o.plot}.svg` },
      { flag: '--plot', path: o.plot === undefined || o.plot === '' ? o.plot : `${o.plot}.png` },
    ],
  });
  const wantBars = o.errorBars !== undefined || o.repeats !== undefined || o.stableSpread !== undefined;
  if (wantBars && topK === 0 && bottomK === 0 && !asked.trace) {
    fail('E_ARG', 'error bars repeat the eigenvalues and the trace: ask for --top-k, --bottom-k or --trace too', { field: '--error-bars' });
  }

  const problem = await loadProblem(files);
  const bars: ErrorBarPlan | undefined = wantBars
    ? { sizes: parseSizes(o.errorBars ?? true, problem.data.count), repeats: o.repeats ?? 5, threshold: o.stableSpread ?? 0.05 }
    : undefined;
  // Sizes that cannot fit (--grid-points 1e12, --density-probes 1e9, --repeats 1e9): refused with the estimate, before any work.
  if (density) requireDensityFits({ probes: o.densityProbes, steps: o.densitySteps, points: o.gridPoints, parameters: problem.parameters });
  if (bars) requireErrorBarsFit({ sizes: bars.sizes.length, repeats: bars.repeats, values: topK + bottomK + (asked.trace ? 1 : 0) });
  const { backend, model, reason } = await openModel(problem, files.weights, o.backend);
  const progress = new Progress(!o.json);
  const t0 = performance.now();
  const data: HostData = { inputs: problem.data.inputs, labels: problem.data.labels, count: problem.data.count, features: problem.data.features };
  const batches = uploadBatches(backend, data, o.batchSize);
  const kind = o.ggn ? 'ggn' : 'hessian';
  const makeOperator = (m: Mlp, b: typeof batches) => (o.ggn ? ggnOperator : hessianOperator)(m, b, { layer: o.layer });
  let curvature: ReturnType<typeof hessianOperator> | undefined;
  try {
    curvature = makeOperator(model, batches);
    const n = curvature.size;
    if (topK + bottomK > n) {
      fail('E_ARG', `--top-k ${topK} + --bottom-k ${bottomK} exceeds the ${n} parameters of the operator`, { field: topK > n ? '--top-k' : '--bottom-k' });
    }
    const op = watched(curvature, progress);
    const report: HessianReport = {
      format: 'riverbed.hessian',
      version: 1,
      riverbed: VERSION,
      parameters: {
        model: files.model,
        weights: files.weights,
        inputs: files.inputs,
        labels: files.labels,
        kind,
        layer: o.layer === undefined ? null : curvature.layout.layers,
        topK,
        bottomK,
        trace: asked.trace ?? null,
        density: density ? { probes: o.densityProbes, steps: o.densitySteps, sigma: o.sigma ?? null, points: o.gridPoints } : null,
        tol: o.tol,
        seed: o.seed,
        batchSize: o.batchSize ?? problem.data.count,
        errorBars: bars ?? null,
      },
      backend: { name: backend.name, description: backend.info().description, reason },
      size: n,
      samples: curvature.samples,
      hvps: 0,
      seconds: 0,
    };

    Object.assign(report, await estimate(op, asked, o.seed, progress));
    if (density) {
      progress.phase('density', o.densityProbes * Math.min(n, o.densitySteps));
      const d = await spectralDensity(op, { probes: o.densityProbes, steps: o.densitySteps, seed: o.seed, sigma: o.sigma, points: o.gridPoints });
      report.density = {
        grid: d.grid,
        values: d.density,
        sigma: d.sigma,
        mass: d.mass,
        mean: d.mean,
        probes: o.densityProbes,
        steps: Math.min(n, o.densitySteps),
        nodes: d.nodes,
        weights: d.weights,
        matvecs: d.matvecs,
      };
    }
    let barHvps = 0;
    if (bars) {
      progress.phase('error bars', bars.sizes.length * bars.repeats, 'repeats');
      const quiet = new Progress(false);
      const eb = await errorBars({
        data,
        sizes: bars.sizes,
        repeats: bars.repeats,
        threshold: bars.threshold,
        seed: o.seed,
        estimate: async (subset, seed) => {
          const sub = uploadBatches(backend, subset, Math.min(o.batchSize ?? subset.count, subset.count));
          const c = makeOperator(model, sub);
          try {
            const counted = watched(c, quiet);
            const v = estimateVector(await estimate(counted, asked, seed, quiet));
            barHvps += counted.count;
            progress.tick();
            return v;
          } finally {
            c.dispose();
            freeBatches(backend, sub);
          }
        },
      });
      const components = componentNames(asked);
      report.errorBars = {
        estimate: `[${components.join(', ')}]: the report's eigenvalues in its order${asked.trace ? ', then the trace estimate' : ''}`,
        components,
        repeats: bars.repeats,
        threshold: eb.threshold,
        recommendedSize: eb.recommendedSize,
        rows: eb.rows.map((r) => ({ size: r.size, mean: r.mean, std: r.std, min: r.min, max: r.max, relativeSpread: r.relativeSpread })),
        hvps: barHvps,
      };
    }
    progress.stop();
    report.hvps = op.count + barHvps;
    report.seconds = (performance.now() - t0) / 1000;

    const pending: PendingFile[] = [];
    if (o.plot !== undefined) {
      const svg = await renderSvg(densityPlot(report, kind));
      report.plot = { svg: `${o.plot}.svg`, png: `${o.plot}.png` };
      pending.push({ path: report.plot.svg, data: Buffer.from(svg, 'utf8') }, { path: report.plot.png, data: svgToPng(svg) });
    }
    if (o.out !== undefined) pending.unshift({ path: o.out, data: Buffer.from(JSON.stringify(report, null, 2) + '\n', 'utf8') });
    writeFilesAtomic(pending); // the report and the plot appear together or not at all
    return report;
  } finally {
    progress.stop();
    curvature?.dispose();
    freeBatches(backend, batches);
    model.dispose();
    backend.dispose();
  }
}

/** Density values below this fraction of the peak are drawn at it: a log axis cannot show 0. */
const LOG_FLOOR = 1e-8;

function densityPlot(r: HessianReport, kind: string) {
  const d = r.density!;
  const peak = Math.max(...d.values);
  const floor = peak * LOG_FLOOR;
  const what = kind === 'ggn' ? 'Gauss–Newton' : 'Hessian';
  const block = Array.isArray(r.parameters.layer) ? `, layer ${(r.parameters.layer as number[]).join(',')}` : '';
  return {
    title: `${what} spectral density (${r.size.toLocaleString('en')} parameters${block}, ${r.samples} samples)`,
    xLabel: 'eigenvalue',
    yLabel: `density (SLQ, ${d.probes} probes × ${d.steps} steps, σ = ${d.sigma.toPrecision(2)})`,
    yScale: 'log' as const,
    series: [{ name: 'density', x: d.grid, y: d.values.map((v) => Math.max(v, floor)) }],
  };
}

function summaryText(r: HessianReport, out?: string): string {
  const lines: string[] = [];
  lines.push(`${r.parameters.kind} of the mean cross-entropy: ${r.size} parameters, ${r.samples} samples, backend ${r.backend.name}`);
  if (r.eigenvalues) {
    const e = r.eigen!;
    if (e.top > 0) lines.push(`top ${e.top}:    ${r.eigenvalues.slice(0, e.top).map((x) => x.toPrecision(6)).join('  ')}`);
    if (e.bottom > 0) lines.push(`bottom ${e.bottom}: ${r.eigenvalues.slice(e.top).map((x) => x.toPrecision(6)).join('  ')}`);
    lines.push(`  max residual ${Math.max(...r.residuals!).toExponential(2)}${e.converged ? '' : ' (NOT converged)'}, ${e.matvecs} HVPs`);
  }
  if (r.lla) lines.push(`LLA ratio (smallest / largest): ${r.lla.ratio.toPrecision(4)}`);
  if (r.trace) {
    const t = r.trace;
    lines.push(`trace (${t.method}): ${t.estimate.toPrecision(6)}, ${Math.round(t.confidence * 100)} % interval [${t.interval[0].toPrecision(5)}, ${t.interval[1].toPrecision(5)}], ${t.matvecs} HVPs`);
  }
  if (r.errorBars) lines.push(...errorBarLines(r.errorBars));
  if (r.density) lines.push(`density: ${r.density.probes} probes × ${r.density.steps} steps, σ = ${r.density.sigma.toPrecision(3)}, mass ${r.density.mass.toFixed(4)}, ${r.density.matvecs} HVPs`);
  lines.push(`${r.hvps} HVPs in ${r.seconds.toFixed(2)} s${out ? ` → ${out}` : ''}${r.plot ? `, ${r.plot.png}, ${r.plot.svg}` : ''}`);
  return lines.join('\n') + '\n';
}

const spreadText = (x: number): string => (x !== 0 && Math.abs(x) < 1e-3 ? x.toExponential(1) : x.toPrecision(2));
const percent = (x: number): string => (Number.isFinite(x) ? `${+(x * 100).toPrecision(3)} %` : '∞ %');

/** One line per subsample size (the top — or bottom — eigenvalue and the trace, mean ± std) and the recommendation. */
function errorBarLines(e: HessianErrorBars): string[] {
  const shown: [string, number][] = [];
  const eig = e.components.findIndex((c) => c !== 'trace');
  if (eig >= 0) shown.push([e.components[eig] === 'top 1' ? 'λmax' : e.components[eig] === 'bottom 1' ? 'λmin' : e.components[eig]!, eig]);
  const tr = e.components.indexOf('trace');
  if (tr >= 0) shown.push(['trace', tr]);
  const width = Math.max(...e.rows.map((r) => String(r.size).length));
  const lines = [`error bars (${e.repeats} repeats per size, new subsample and probe seed each):`];
  for (const r of e.rows) {
    const parts = shown.map(([name, i]) => `${name} ${r.mean[i]!.toPrecision(5)} ± ${spreadText(r.std[i]!)}`);
    lines.push(`  n = ${String(r.size).padStart(width)}: ${parts.join(', ')}, relative spread ${percent(r.relativeSpread)}`);
  }
  lines.push(
    e.recommendedSize === null
      ? `  not stable at any size tried (spread ≤ ${percent(e.threshold)}): use more samples`
      : `  stable (spread ≤ ${percent(e.threshold)}) from ${e.recommendedSize} samples`,
  );
  return lines;
}
