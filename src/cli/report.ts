/**
 * `riverbed report RUN_DIR [--out report.html]`: one self-contained offline HTML page with every
 * picture and number of a run directory (src/report/). The output goes through the output rule
 * (never an input, never a special file, never inside the run directory) before anything is read.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { fail } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutputPlan } from '../io/output-plan.js';

interface ReportCliOptions {
  out?: string;
  title?: string;
  json?: boolean;
}

/** RUN_DIR.html beside the run directory (a report written into RUN_DIR would be inside its input). */
export function defaultReportPath(dir: string): string {
  const abs = resolve(dir);
  if (abs === resolve('/')) fail('E_ARG', 'give --out report.html for a report of /', { field: '--out' });
  return `${abs.replace(/\.json$/i, '')}.html`;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('one self-contained offline HTML page with every picture and number of a run directory (train --record, landscape, hessian, coreset/unlearn evaluate, continual)')
    .argument('<RUN_DIR>', 'a run directory (or one result JSON)')
    .option('--out <report.html>', 'where to write the page (default: RUN_DIR.html beside the directory)')
    .option('--title <text>', 'the page title (default: "riverbed report: RUN_DIR")')
    .option('--json', 'print what was written as JSON on stdout')
    .action(async (dir: string, o: ReportCliOptions) => {
      const out = o.out ?? defaultReportPath(dir);
      checkOutputPlan({ inputs: [{ flag: 'RUN_DIR', path: dir }], files: [{ flag: '--out', path: out }] });
      const { buildReport } = await import('../report/build.js');
      const r = await buildReport(dir, { title: o.title });
      writeFileAtomic(out, Buffer.from(r.html, 'utf8'));
      const summary = {
        out,
        bytes: Buffer.byteLength(r.html, 'utf8'),
        sections: r.sections.map((s) => ({ title: s.title, file: s.file, format: s.format, figures: s.figures.length, tables: s.tables.length })),
        ignored: r.ignored,
      };
      if (o.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      else process.stdout.write(`report of ${dir}: ${r.sections.length} section${r.sections.length === 1 ? '' : 's'}, ${summary.sections.reduce((a, s) => a + s.figures, 0)} figures → ${out} (${(summary.bytes / 1024).toFixed(0)} KiB)\n`);
    });
}
