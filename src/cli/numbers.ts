/**
 * Strict number parsing for every numeric option and environment variable: decimal only. Its own
 * module (importing nothing but errors.ts) so that `coreset cld`, whose start-up time is measured,
 * can use it without loading the progress bar of options.ts.
 */
import { fail } from '../errors.js';

/**
 * A number as written in decimal: optional sign, digits with an optional point, optional
 * exponent. `Number()` alone also takes "0x1", "0b1", "0o7", "Infinity", "" and " " (= 0), which
 * no option means.
 */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A finite decimal number (see DECIMAL), or an E_ARG error naming `field` and `what` was expected. */
export function parseDecimal(text: string, field: string, what = 'a decimal number'): number {
  const t = text.trim();
  const n = DECIMAL.test(t) ? Number(t) : NaN;
  if (!Number.isFinite(n)) fail('E_ARG', `expected ${what}, got "${text}" (decimal digits, e.g. 0.25, 3 or 1e-3)`, { field });
  return n;
}

/** An integer in [min, max] written in decimal (exponents allowed when the value is whole: 1e6). */
export function parseInteger(text: string, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const range = max < Number.MAX_SAFE_INTEGER ? `an integer in [${min}, ${max}]` : `an integer ≥ ${min}`;
  const n = parseDecimal(text, field, range);
  if (!Number.isInteger(n) || n < min) fail('E_ARG', `expected ${range}, got "${text}"`, { field });
  if (n > max) fail('E_ARG', `"${text}" is too large: expected ${range}`, { field });
  return n;
}

/** RIVERBED_PROGRESS_EVERY: seconds between progress lines off a terminal (default 60; 0: none). */
export function progressEveryFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.RIVERBED_PROGRESS_EVERY;
  if (v === undefined || v === '') return 60;
  const s = parseDecimal(v, 'RIVERBED_PROGRESS_EVERY', 'a number of seconds ≥ 0 (0: no progress lines off a terminal; default 60)');
  if (s < 0) fail('E_ARG', `expected a number of seconds ≥ 0, got "${v}"`, { field: 'RIVERBED_PROGRESS_EVERY' });
  return s;
}
