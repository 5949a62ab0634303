/**
 * Progress of a long step (an install, a service starting): its name when it begins, then at a
 * steady beat the time it has taken and what it is waiting for, and how long it took in the end,
 * so that a first run that builds the Temporal CLI for minutes is never silent.
 */
export type Log = (line: string) => void;

/** How often a running step reports: within 10 s, with room for a busy machine's timers. */
export const PROGRESS_EVERY_MS = 8_000;

/** "7 s", "2m05s", "1h02m". */
export function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface ProgressOptions {
  /** @default PROGRESS_EVERY_MS */
  everyMs?: number;
  /** Printed once at the start, after the step's name ("first run only, a few minutes"). */
  note?: string;
}

/**
 * Runs `work` as the step `step`: logs "<step>..." now, "<step>: 35 s, waiting for <what>" every
 * `everyMs` while it runs (`waitingFor` is asked each time, so it may name the latest output),
 * then "<step>: done in 7m02s" or "<step>: failed after 12 s".
 */
export async function withProgress<T>(
  log: Log,
  step: string,
  waitingFor: string | (() => string),
  work: () => Promise<T>,
  opts: ProgressOptions = {},
): Promise<T> {
  const started = Date.now();
  const elapsed = () => formatElapsed(Date.now() - started);
  log(`${step}${opts.note ? ` (${opts.note})` : ''}...`);
  const timer = setInterval(() => {
    const what = typeof waitingFor === 'function' ? waitingFor() : waitingFor;
    log(`  ${step}: ${elapsed()}, waiting for ${what}`);
  }, opts.everyMs ?? PROGRESS_EVERY_MS);
  try {
    const result = await work();
    log(`${step}: done in ${elapsed()}`);
    return result;
  } catch (err) {
    log(`${step}: failed after ${elapsed()}`);
    throw err;
  } finally {
    clearInterval(timer);
  }
}
