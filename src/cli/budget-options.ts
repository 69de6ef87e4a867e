/**
 * The budget options every `riverbed coreset <method>` shares:
 *   --per-class K | --fraction F, --budget proportional|equal, --min-per-class M, --exclude FILE,
 *   --allow-empty (a budget that selects nothing is refused without it: `requireSelection`).
 * `addBudgetOptions(cmd)` declares them, `parseBudgetOptions(opts)` checks them and reads the
 * exclusion list (a 1-D .npy of integers, or a text file with one index per line; blank lines and
 * lines starting with # are ignored).
 */
import type { Command } from 'commander';
import { type Budget, type BudgetMode, type BudgetOptions, validateBudgetOptions } from '../coreset/select.js';
import { fail } from '../errors.js';
import { TEXT_INDEX_LIST_LIMIT, readBoundedText } from '../io/files.js';
import { readNpy } from '../io/npy.js';
import { parseDecimal, parseInteger } from './numbers.js';

export interface BudgetCliOptions {
  perClass?: string;
  fraction?: string;
  budget?: string;
  minPerClass?: string;
  exclude?: string;
  allowEmpty?: boolean;
}

export interface ParsedBudget {
  budget: Budget;
  options: BudgetOptions;
  /** The exclusion file, for the manifest. */
  excludeFile?: string;
  /** --allow-empty: an empty selection is written instead of refused. */
  allowEmpty: boolean;
}

export function addBudgetOptions(cmd: Command): Command {
  return cmd
    .option('--per-class <K>', 'keep K samples of every class (at most the class size)')
    .option('--fraction <F>', 'keep round(F·N) samples (0 < F ≤ 1), split over classes by --budget')
    .option('--budget <mode>', 'proportional (k_c = F·n_c, largest remainder) | equal (same k per class; what small classes cannot fill goes to the others)', 'proportional')
    .option('--min-per-class <M>', 'every class keeps at least min(M, n_c) samples, on top of the budget')
    .option('--exclude <FILE>', 'sample indices never to select (with --run: dataset rows): 1-D .npy of integers, or text with one index per line')
    .option('--allow-empty', 'write the selection even when the budget selects no sample (refused otherwise)');
}

export function parseBudget(perClass: string | undefined, fraction: string | undefined): Budget {
  if (perClass !== undefined && fraction !== undefined) fail('E_ARG', 'give either --per-class K or --fraction F, not both', { field: '--per-class' });
  if (perClass !== undefined) {
    return { perClass: parseInteger(perClass, '--per-class', 1) };
  }
  if (fraction !== undefined) {
    const f = parseDecimal(fraction, '--fraction', 'a number F with 0 < F ≤ 1');
    if (!(f > 0 && f <= 1)) fail('E_ARG', `expected a number F with 0 < F ≤ 1, got "${fraction}"`, { field: '--fraction' });
    return { fraction: f };
  }
  return fail('E_ARG', 'a budget is required: --per-class K or --fraction F', { field: '--per-class' });
}

/** Reads an exclusion list: .npy (any integer dtype, or float with integral values) or text. */
export async function readIndexList(path: string): Promise<Int32Array> {
  if (path.toLowerCase().endsWith('.npy')) {
    const a = await readNpy(path, { mmap: false });
    if (a.shape.length !== 1) fail('E_SHAPE', `an index list must be 1-D, got shape [${a.shape.join(', ')}]`, { file: path, field: '--exclude' });
    const out = new Int32Array(a.shape[0]!);
    for (let i = 0; i < out.length; i++) {
      const v = Number(a.data[i]!);
      if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) fail('E_VALUE', `entry ${i} is ${a.data[i]}; indices must be integers ≥ 0`, { file: path, field: '--exclude' });
      out[i] = v;
    }
    return out;
  }
  const text = readBoundedText(path, TEXT_INDEX_LIST_LIMIT, 'an exclusion list', '--exclude');
  const out: number[] = [];
  text.split(/\r?\n/).forEach((line, n) => {
    const s = line.trim();
    if (s === '' || s.startsWith('#')) return;
    if (!/^\d+$/.test(s) || Number(s) > 0x7fffffff) fail('E_VALUE', `line ${n + 1} is "${s}"; expected one integer index ≥ 0 per line`, { file: path, field: '--exclude' });
    out.push(Number(s));
  });
  return Int32Array.from(out);
}

export async function parseBudgetOptions(o: BudgetCliOptions): Promise<ParsedBudget> {
  const budget = parseBudget(o.perClass, o.fraction);
  const mode = (o.budget ?? 'proportional') as BudgetMode;
  let minPerClass: number | undefined;
  if (o.minPerClass !== undefined) minPerClass = parseInteger(o.minPerClass, '--min-per-class', 0);
  const options: BudgetOptions = { mode, minPerClass };
  validateBudgetOptions(options);
  if (o.exclude !== undefined) options.exclude = await readIndexList(o.exclude);
  return { budget, options, excludeFile: o.exclude, allowEmpty: o.allowEmpty === true };
}

/**
 * Refuses a selection of no sample (unless --allow-empty), saying why: every sample excluded, a
 * fraction too small for N (round(F·N) = 0), or no class able to select (e.g. none has validation
 * samples for CLD). An empty selection written with exit 0 looked like a result.
 */
export function requireSelection(
  selected: number,
  samples: number,
  parsed: Pick<ParsedBudget, 'budget' | 'options' | 'allowEmpty'>,
  excluded = parsed.options.exclude ? new Set(parsed.options.exclude).size : 0,
): void {
  if (selected > 0 || parsed.allowEmpty || samples === 0) return;
  const b = parsed.budget;
  const selectable = samples - excluded;
  const [field, why] =
    selectable <= 0
      ? ['--exclude', `excludes all ${samples} samples`]
      : 'fraction' in b && Math.round(b.fraction * selectable) === 0
        ? ['--fraction', `${b.fraction} of ${selectable} selectable samples rounds to 0 (round(F·N) = 0)`]
        : ['perClass' in b ? '--per-class' : '--fraction', `the budget selects none of the ${samples} samples (no class can select: see the warnings)`];
  fail('E_ARG', `${why}: the selection would be empty; ask for more, or pass --allow-empty to write it anyway`, { field });
}
