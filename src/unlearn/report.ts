/** `unlearn evaluate` as text (a table of mean ± std over seeds) and as a plot (forget vs test accuracy). */
import { describeModel } from '../model/description.js';
import type { LinePlot } from '../plot/index.js';
import type { HarnessResult, MethodRow, Summary, SummaryKey } from './evaluate.js';

const COLUMNS: { key: SummaryKey; head: string; digits: number }[] = [
  { key: 'ua', head: 'UA %', digits: 2 },
  { key: 'ra', head: 'RA %', digits: 2 },
  { key: 'ta', head: 'TA %', digits: 2 },
  { key: 'forgetLoss', head: 'forget loss', digits: 2 },
  { key: 'miaAuc', head: 'MIA AUC', digits: 3 },
  { key: 'miaEfficacy', head: 'MIA-eff %', digits: 1 },
  { key: 'klForget', head: 'KL forget', digits: 3 },
  { key: 'klTest', head: 'KL test', digits: 4 },
  { key: 'seconds', head: 'time s', digits: 2 },
  { key: 'vsRetrain', head: '× retrain', digits: 2 },
];

function cell(s: Summary, digits: number, n: number): string {
  if (!Number.isFinite(s.mean)) return '—';
  return n > 1 ? `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}` : s.mean.toFixed(digits);
}

/** The table: one row per method (the original model first, retrain last). */
export function formatTable(r: HarnessResult): string {
  const n = r.seeds.length;
  const head = ['method', ...COLUMNS.map((c) => c.head)];
  const rows = r.rows.map((row) => [row.method, ...COLUMNS.map((c) => (row.method === 'original' && (c.key === 'seconds' || c.key === 'vsRetrain') ? '—' : cell(row.summary[c.key], c.digits, n)))]);
  const w = head.map((h, j) => Math.max(h.length, ...rows.map((x) => x[j]!.length)));
  const line = (x: string[]) => '  ' + x.map((v, j) => (j === 0 ? v.padEnd(w[j]!) : v.padStart(w[j]!))).join('  ');
  return [line(head), '  ' + w.map((k) => '-'.repeat(k)).join('  '), ...rows.map(line)].join('\n');
}

/** Markdown of the same table (README). */
export function markdownTable(r: HarnessResult): string {
  const n = r.seeds.length;
  const head = `| method | ${COLUMNS.map((c) => c.head).join(' | ')} |`;
  const sep = `|---|${COLUMNS.map(() => '---:').join('|')}|`;
  const body = r.rows.map((row) => `| ${row.method} | ${COLUMNS.map((c) => (row.method === 'original' && (c.key === 'seconds' || c.key === 'vsRetrain') ? '—' : cell(row.summary[c.key], c.digits, n))).join(' | ')} |`);
  return [head, sep, ...body].join('\n');
}

export function formatHarness(r: HarnessResult): string {
  const sizes = [...new Set(r.forget.sizes)];
  const lines = [
    `riverbed unlearn evaluate: ${r.dataset.name} (${r.dataset.train} train / ${r.dataset.test} test), forget ${r.forget.description[0]}${sizes.length > 1 ? ` (${sizes.join('/')} samples by seed)` : ''}`,
    `  model ${describeModel(r.model)}, trained ${r.recipe.epochs} epochs (SGD ${r.recipe.lr}, momentum ${r.recipe.momentum}, batch ${r.recipe.batchSize}, cosine); ${r.seeds.length} seed${r.seeds.length > 1 ? 's' : ''} (mean ± std), backend ${r.backend}`,
    '',
    formatTable(r),
    '',
    '  UA = 100 − forget accuracy; RA retain accuracy; TA test accuracy on the classes not wholly forgotten;',
    '  MIA AUC: loss threshold, forget vs test samples of the same classes (0.5 = indistinguishable);',
    '  MIA-eff: share of the forget set a retain-vs-test logistic regression calls non-member;',
    '  KL: mean KL(retrained ‖ model); time: the method alone, and as a multiple of retraining.',
    `  original training ${(r.originalSeconds.reduce((a, b) => a + b, 0) / r.originalSeconds.length).toFixed(2)} s per seed`,
  ];
  const gu = r.rows.find((x) => x.method === 'gu');
  if (gu?.perSeed[0]?.gu) {
    const kept = gu.perSeed.map((p) => p.gu!.keptFraction);
    const acc = gu.perSeed.reduce((a, p) => a + p.gu!.accepted, 0);
    const rej = gu.perSeed.reduce((a, p) => a + p.gu!.rejected, 0);
    lines.push(`  gu: ‖g⊥‖/‖g_f‖ ${(kept.reduce((a, b) => a + b, 0) / kept.length).toFixed(3)} on average; retain gradients accepted ${acc}, rejected ${rej}`);
  }
  return lines.join('\n') + '\n';
}

/** Forget accuracy against TA, one point (± std) per method: bottom-right is retrain's corner. */
export function harnessPlot(r: HarnessResult, title: string): LinePlot {
  const point = (row: MethodRow) => ({
    name: row.method,
    x: [100 - row.summary.ua.mean],
    y: [row.summary.ta.mean],
    yErr: [row.summary.ta.std],
  });
  return {
    title,
    xLabel: 'forget-set accuracy (%) — retrain is the target',
    yLabel: 'test accuracy on the retained classes (%)',
    series: r.rows.map(point),
  };
}
