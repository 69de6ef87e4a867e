/**
 * `buildReport(RUN_DIR)`: the run directory's results recognised by their JSON `format`, one
 * section each, drawn and written into one self-contained HTML page (html.ts). Everything is read
 * and checked before anything is drawn: a malformed file fails the report with one line naming the
 * file and the field, and a directory with no result the report knows fails naming the directory.
 */
import { basename } from 'node:path';
import { fail } from '../errors.js';
import { type RunContents, collectRun } from './collect.js';
import { fieldReader } from './fields.js';
import { genericSection } from './generic.js';
import { renderHtml } from './html.js';
import { KINDS, landscapeSection } from './landscape.js';
import type { Section } from './model.js';
import { continualSection, evaluationSection, hessianSection, unlearningSection } from './results.js';
import { checkpointsSection, probesSection, trajectorySection } from './training.js';

/** The formats with a section of their own, in the order the report shows them. */
export const REPORT_FORMATS = [
  'riverbed.trajectory',
  'riverbed.checkpoint',
  'riverbed.probes',
  'riverbed.landscape',
  'riverbed.hessian',
  'riverbed.evaluation',
  'riverbed.unlearn-evaluation',
  'riverbed.continual',
] as const;
/** The version of each format this report reads. */
const VERSION = 1;

export interface Report {
  html: string;
  sections: Section[];
  contents: RunContents;
  /** JSON files that are no riverbed result (listed in the report, not shown). */
  ignored: { rel: string; why: string }[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** `unlearn evaluate` wrote unlearning.json without a format field before riverbed.unlearn-evaluation. */
const legacyUnlearning = (rel: string, j: Record<string, unknown>) => basename(rel) === 'unlearning.json' && j.format === undefined && Array.isArray(j.rows) && isObject(j.manifest);

export async function buildReport(input: string, o: { title?: string; field?: string } = {}): Promise<Report> {
  const contents = collectRun(input, o.field);
  const sections: { rank: number; section: Section }[] = [];
  const ignored: Report['ignored'] = [];
  const checkpoints: { file: string; json: Record<string, unknown> }[] = [];
  for (const { rel, path, json } of contents.json) {
    if (!isObject(json)) {
      ignored.push({ rel, why: 'JSON that is not an object' });
      continue;
    }
    const format = legacyUnlearning(rel, json) ? 'riverbed.unlearn-evaluation' : json.format;
    if (typeof format !== 'string') {
      ignored.push({ rel, why: 'no "format" field: not a riverbed result' });
      continue;
    }
    if (!format.startsWith('riverbed.')) {
      ignored.push({ rel, why: `format "${format}" is not riverbed's` });
      continue;
    }
    const rank = REPORT_FORMATS.indexOf(format as (typeof REPORT_FORMATS)[number]);
    const f = fieldReader(path, `a ${format} file`);
    if (rank >= 0 && !(format === 'riverbed.unlearn-evaluation' && json.version === undefined) && json.version !== VERSION) {
      f.bad('version', `is ${JSON.stringify(json.version)}; this riverbed reads version ${VERSION}`);
    }
    // Sections name the file as the user spelled the run directory.
    switch (format) {
      case 'riverbed.trajectory':
        sections.push({ rank, section: await trajectorySection(path, json) });
        break;
      case 'riverbed.checkpoint':
        checkpoints.push({ file: path, json });
        break;
      case 'riverbed.probes':
        sections.push({ rank, section: probesSection(path, json) });
        break;
      case 'riverbed.landscape':
        // slice, interpolation, curve, trajectory, valley: in the order the docs introduce them
        sections.push({ rank: rank + Math.max(0, KINDS.indexOf(json.kind as (typeof KINDS)[number])) / KINDS.length, section: landscapeSection(path, json) });
        break;
      case 'riverbed.hessian':
        sections.push({ rank, section: hessianSection(path, json) });
        break;
      case 'riverbed.evaluation':
        sections.push({ rank, section: evaluationSection(path, json) });
        break;
      case 'riverbed.unlearn-evaluation':
        sections.push({ rank, section: unlearningSection(path, json) });
        break;
      case 'riverbed.continual':
        sections.push({ rank, section: continualSection(path, json) });
        break;
      default:
        sections.push({ rank: REPORT_FORMATS.length, section: genericSection(path, format, f, json) });
    }
  }
  if (checkpoints.length > 0) sections.push({ rank: REPORT_FORMATS.indexOf('riverbed.checkpoint'), section: checkpointsSection(checkpoints) });
  if (sections.length === 0) {
    const what = contents.files.length === 0 ? 'is empty' : contents.json.length === 0 ? `holds ${contents.files.length} file${contents.files.length > 1 ? 's' : ''} but no JSON result` : `holds no riverbed result (${ignored.map((i) => `${i.rel}: ${i.why}`).slice(0, 3).join('; ')})`;
    fail('E_ARG', `${what}; expected a run directory of riverbed train --record, landscape, hessian, coreset/unlearn evaluate or continual (a JSON file with a riverbed "format")`, { file: input, field: 'format' });
  }
  const ordered = sections.sort((a, b) => a.rank - b.rank || a.section.file.localeCompare(b.section.file)).map((s) => s.section);
  const html = await renderHtml({ title: o.title ?? `riverbed report: ${input}`, input, sections: ordered, contents, ignored });
  return { html, sections: ordered, contents, ignored };
}
