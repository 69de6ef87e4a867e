/**
 * Progress off a terminal. Its own module (importing nothing) so that `coreset cld`, whose start-up
 * time is measured, can report to a log without loading cli-progress.
 */

export interface ProgressBar {
  start(total: number): void;
  update(v: number, payload?: Record<string, string>): void;
  stop(): void;
}

export const SILENT: ProgressBar = { start() {}, update() {}, stop() {} };

const minutes = (ms: number): string => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms < 90_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`);

/**
 * Off a terminal (a log file, a Slurm job's output, CI) a bar would be noise, but an hour-long run
 * that says nothing looks hung: one plain line every `everySeconds`, none before the first interval
 * has passed (so short runs print nothing), and a closing line once any was printed.
 */
export function progressLines(label: string, out: { write(s: string): unknown }, everySeconds: number, now: () => number = () => performance.now()): ProgressBar {
  if (!(everySeconds > 0)) return SILENT;
  const every = everySeconds * 1000;
  let t0 = 0;
  let last = 0;
  let total = 0;
  let printed = false;
  return {
    start(n) {
      total = n;
      t0 = last = now();
    },
    update(v, payload) {
      const t = now();
      if (t - last < every || total <= 0) return;
      last = t;
      printed = true;
      // a Lanczos run's length is not known ahead: past the planned total, no estimate
      const left = v > 0 && v < total ? ((t - t0) * (total - v)) / v : NaN;
      const info = payload?.info ? ` — ${payload.info}` : '';
      out.write(`${label}: ${v}/${total} (${Math.min(100, Math.floor((100 * v) / total))} %), ${minutes(t - t0)} elapsed${Number.isFinite(left) ? `, about ${minutes(left)} left` : ''}${info}\n`);
    },
    stop() {
      if (printed) out.write(`${label}: finished in ${minutes(now() - t0)}\n`);
      printed = false;
    },
  };
}
