/** Progress off a terminal: a line per interval, none in a short run, an estimate that adds up. */
import { describe, expect, it } from 'vitest';
import { progressEveryFromEnv, progressLines } from '../../../src/cli/options.js';

function clocked(everySeconds: number) {
  let t = 0;
  const out: string[] = [];
  const bar = progressLines('evaluate', { write: (s: string) => out.push(s) }, everySeconds, () => t);
  return { bar, out, at: (s: number) => (t = s * 1000) };
}

describe('progressLines', () => {
  it('prints one line per interval with elapsed time and the linear estimate of what is left', () => {
    const { bar, out, at } = clocked(60);
    bar.start(400);
    at(30);
    bar.update(50, { info: 'cld 10 %' }); // before the first interval: silent
    expect(out).toEqual([]);
    at(120);
    bar.update(100, { info: 'cld 10 %' }); // 100 of 400 in 2 min: 6 min left
    at(150);
    bar.update(130); // 30 s after the last line: silent
    at(2400);
    bar.update(399);
    bar.stop();
    expect(out).toEqual([
      'evaluate: 100/400 (25 %), 2 min elapsed, about 6 min left — cld 10 %\n',
      'evaluate: 399/400 (99 %), 40 min elapsed, about 6.0 s left\n',
      'evaluate: finished in 40 min\n',
    ]);
  });
  it('says nothing at all in a run shorter than one interval', () => {
    const { bar, out, at } = clocked(60);
    bar.start(10);
    for (let i = 1; i <= 10; i++) {
      at(i);
      bar.update(i);
    }
    bar.stop();
    expect(out).toEqual([]);
  });
  it('gives no estimate past the planned total (a Lanczos run grows) and never more than 100 %', () => {
    const { bar, out, at } = clocked(1);
    bar.start(10);
    at(5);
    bar.update(15);
    expect(out).toEqual(['evaluate: 15/10 (100 %), 5.0 s elapsed\n']);
  });
  it('is silent with an interval of 0', () => {
    const { bar, out, at } = clocked(0);
    bar.start(10);
    at(1000);
    bar.update(5);
    bar.stop();
    expect(out).toEqual([]);
  });
});

describe('RIVERBED_PROGRESS_EVERY', () => {
  it('defaults to 60 s, takes decimal seconds ≥ 0', () => {
    expect(progressEveryFromEnv({})).toBe(60);
    expect(progressEveryFromEnv({ RIVERBED_PROGRESS_EVERY: '' })).toBe(60);
    expect(progressEveryFromEnv({ RIVERBED_PROGRESS_EVERY: '0' })).toBe(0);
    expect(progressEveryFromEnv({ RIVERBED_PROGRESS_EVERY: '2.5' })).toBe(2.5);
  });
  it('refuses what is not a number of seconds, naming the variable', () => {
    for (const v of ['soon', '-1', '1m', 'Infinity']) {
      expect(() => progressEveryFromEnv({ RIVERBED_PROGRESS_EVERY: v }), v).toThrow(expect.objectContaining({ code: 'E_ARG', field: 'RIVERBED_PROGRESS_EVERY' }));
    }
  });
});
