/**
 * What every section can carry: the run manifest (io/manifest.ts: versions, backend, seeds,
 * parameters, hashed inputs, the command line), and the section of a riverbed result the report
 * has no pictures for (selections, shards, bench, audit, …): its fields as tables.
 */
import type { FieldReader } from './fields.js';
import { type Section, type Table, fmt, keyValues } from './model.js';

/** The run manifest of `j.manifest`, when there is one: settings, parameters and inputs. */
export function manifestTables(f: FieldReader, j: unknown): Table[] {
  if (!f.has(j, 'manifest')) return [];
  const m = f.obj(j, 'manifest');
  const tables: Table[] = [keyValues('Run manifest', m, ['parameters', 'inputs'])];
  if (f.has(j, 'manifest.parameters')) tables.push(keyValues('Run manifest: parameters', f.obj(j, 'manifest.parameters')));
  if (f.has(j, 'manifest.inputs')) {
    const inputs = f.arr(j, 'manifest.inputs');
    tables.push({
      caption: 'Run manifest: input files',
      head: ['path', 'bytes', 'hash'],
      rows: inputs.map((_, i) => [f.str(j, `manifest.inputs[${i}].path`), fmt(f.num(j, `manifest.inputs[${i}].bytes`)), f.str(j, `manifest.inputs[${i}].hash`)]),
      numeric: false,
    });
  }
  return tables;
}

/** A riverbed result without a section of its own: its fields and manifest as tables. */
export function genericSection(file: string, format: string, f: FieldReader, j: Record<string, unknown>): Section {
  return {
    title: format.replace(/^riverbed\./, 'riverbed '),
    file,
    format,
    summary: `A ${format} file; the report draws no picture for this format, its fields follow.`,
    figures: [],
    // The fields flattened are the whole file: no raw JSON after them.
    tables: [keyValues('Fields', j, ['format', 'manifest']), ...manifestTables(f, j)],
  };
}
