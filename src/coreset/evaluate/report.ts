/** The evaluation as text (tables) and as a plot description (accuracy against fraction). */
import type { LinePlot } from '../../plot/index.js';
import type { ArchitectureResult, EvaluationResult } from '../evaluate.js';
import { fmtFraction } from '../evaluate.js';
import { pm } from './stats.js';
import { describeModel, isMlpDescription } from '../../model/description.js';

/** The architecture in one line, "784-128(relu)-10 MLP" or the CNN's layers (no "MLP"). */
function describe(a: ArchitectureResult): string {
  return describeModel(a.model) + (isMlpDescription(a.model) ? ' MLP' : '');
}

/** One table: rows = methods, columns = fractions, cells = test accuracy mean ± std (%). */
export function formatTable(r: EvaluationResult, a: ArchitectureResult, title: string): string {
  const head = ['method', ...r.fractions.map(fmtFraction)];
  const rows: string[][] = r.methods.map((m) => [
    m,
    ...r.fractions.map((f) => {
      const c = a.cells.find((x) => x.method === m && x.fraction === f)!;
      const mark = c.vsRandom ? (c.vsRandom.mean > 0 ? ' +' : ' −') : '  ';
      return pm(c.summary) + mark;
    }),
  ]);
  rows.push([`all data (${r.epochs} epochs)`, pm(a.full.summary) + '  ', ...r.fractions.slice(1).map(() => '')]);
  const w = head.map((_, j) => Math.max(head[j]!.length, ...rows.map((x) => x[j]!.length)));
  const line = (x: string[]) => '  ' + x.map((v, j) => (j === 0 ? v.padEnd(w[j]!) : v.padStart(w[j]!))).join('  ');
  const steps = r.fractions.map((f) => a.cells.find((c) => c.fraction === f)!.steps);
  return [
    title,
    line(head),
    '  ' + w.map((n) => '-'.repeat(n)).join('  '),
    ...rows.map(line),
    `  coreset sizes ${r.fractions.map((f) => a.cells.find((c) => c.fraction === f)!.size).join(' / ')}; retraining steps ${steps.join(' / ')}`,
  ].join('\n');
}

/** "Does it beat random?" per method and fraction: the paired difference (same seed, same init). */
export function formatVsRandom(r: EvaluationResult, a: ArchitectureResult): string {
  if (!r.methods.includes('random')) return '';
  const out = [`  paired difference to random (points, mean ± std over ${r.seeds.length} seed${r.seeds.length > 1 ? 's' : ''}); wins = seeds where the method beat random`];
  for (const m of r.methods) {
    if (m === 'random') continue;
    const cells = r.fractions.map((f) => {
      const c = a.cells.find((x) => x.method === m && x.fraction === f)!;
      const rnd = a.cells.find((x) => x.method === 'random' && x.fraction === f)!;
      const wins = c.accuracy.filter((v, i) => v > rnd.accuracy[i]!).length;
      const d = c.vsRandom!;
      return `${fmtFraction(f)} ${d.mean >= 0 ? '+' : '−'}${Math.abs(100 * d.mean).toFixed(2)} ± ${(100 * d.std).toFixed(2)} (${wins}/${c.accuracy.length})`;
    });
    const all = r.fractions.every((f) => a.cells.find((x) => x.method === m && x.fraction === f)!.vsRandom!.mean > 0);
    out.push(`    ${m.padEnd(12)} ${cells.join(',  ')}${all ? '  — beats random at every fraction' : ''}`);
  }
  return out.join('\n');
}

export function formatEvaluation(r: EvaluationResult): string {
  const blocks = [
    `riverbed coreset evaluate: ${r.dataset.name} (${r.dataset.train} train / ${r.dataset.val} val / ${r.dataset.test} test), ${r.seeds.length} seed${r.seeds.length > 1 ? 's' : ''}, backend ${r.backend}`,
    `  budget: ${r.budgetRule}`,
    '',
    formatTable(r, r.source, `test accuracy (%), ${describe(r.source)} selects and retrains (+/− = mean above/below random)`),
    formatVsRandom(r, r.source),
  ];
  if (r.transfer) {
    blocks.push(
      '',
      formatTable(r, r.transfer, `transfer: ${describe(r.source)} trajectories select, ${describe(r.transfer)} retrains — test accuracy (%)`),
      formatVsRandom(r, r.transfer),
    );
  }
  blocks.push('', `  time ${r.seconds.total.toFixed(1)} s (recording ${r.seconds.record.toFixed(1)} s, selection ${r.seconds.select.toFixed(1)} s, retraining ${r.seconds.retrain.toFixed(1)} s)`);
  return blocks.filter((b) => b !== undefined).join('\n') + '\n';
}

/** Accuracy (%) against coreset fraction, one line per method, ± std error bars. */
export function evaluationPlot(r: EvaluationResult, a: ArchitectureResult, title: string): LinePlot {
  return {
    title,
    xLabel: 'coreset fraction of the training set (log scale)',
    yLabel: 'test accuracy (%)',
    xScale: 'log',
    series: r.methods.map((m) => {
      const cells = r.fractions.map((f) => a.cells.find((c) => c.method === m && c.fraction === f)!);
      return { name: m, x: [...r.fractions], y: cells.map((c) => 100 * c.summary.mean), yErr: cells.map((c) => 100 * c.summary.std) };
    }),
  };
}

export { describe as describeArchitecture };
