/** Strict decimal parsing of numeric options: what Number() would take but no option means is refused. */
import { describe, expect, it } from 'vitest';
import { intOption, numberOption, optionalInt, parseDecimal, parseInteger } from '../../../src/cli/options.js';

describe('parseDecimal', () => {
  it('takes decimal numbers as people write them', () => {
    const ok: [string, number][] = [['1', 1], ['0.25', 0.25], ['.5', 0.5], ['5.', 5], ['-3', -3], ['+2', 2], ['1e-9', 1e-9], ['2.5E3', 2500], [' 7 ', 7], ['007', 7]];
    for (const [t, v] of ok) expect(parseDecimal(t, '--x'), t).toBe(v);
  });
  it('refuses hex, binary, octal, Infinity, NaN, empty, blanks, separators and trailing junk', () => {
    for (const t of ['0x1', '0X10', '0b1', '0o7', 'Infinity', '-Infinity', 'NaN', '', ' ', '1_000', '1,5', '1e', 'e3', '.', '1.2.3', '0.5abc', '1e400', '--1', '½']) {
      expect(() => parseDecimal(t, '--fraction'), JSON.stringify(t)).toThrow(/^--fraction: expected a decimal number, got/);
    }
  });
});

describe('parseInteger / intOption / optionalInt', () => {
  it('takes whole decimal values, exponents included', () => {
    expect(parseInteger('42', '--n', 1)).toBe(42);
    expect(parseInteger('1e6', '--n', 1)).toBe(1_000_000);
    expect(parseInteger('2.5e1', '--n', 0)).toBe(25);
    expect(intOption('--epochs')('3')).toBe(3);
    expect(optionalInt(undefined, '--seed', 0)).toBeUndefined();
    expect(optionalInt('0', '--seed', 0)).toBe(0);
  });
  it('refuses fractions, values below the minimum, non-decimal forms and values beyond the limit', () => {
    expect(() => parseInteger('1.5', '--n', 1)).toThrow(/--n: expected an integer ≥ 1, got "1.5"/);
    expect(() => parseInteger('0', '--n', 1)).toThrow(/expected an integer ≥ 1, got "0"/);
    expect(() => intOption('--epochs')('0x10')).toThrow(/--epochs: expected an integer ≥ 1, got "0x10"/);
    expect(() => optionalInt('-1', '--seed', 0)).toThrow(/--seed: expected an integer ≥ 0/);
    expect(() => parseInteger('1e20', '--n', 1)).toThrow(/--n: "1e20" is too large: expected an integer ≥ 1/);
    expect(() => parseInteger('65', '--k', 1, 64)).toThrow(/--k: "65" is too large: expected an integer in \[1, 64\]/);
  });
  it('numberOption checks the range after parsing', () => {
    const f = numberOption('--lr', (n) => n > 0, 'a positive number');
    expect(f('1e-3')).toBe(0.001);
    expect(() => f('0')).toThrow(/--lr: expected a positive number, got "0"/);
    expect(() => f('0x1')).toThrow(/--lr: expected a positive number, got "0x1"/);
  });
});
