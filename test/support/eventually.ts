/** Polling for a condition that becomes true in its own time (a campaign, a server, a run). */

/** Polls until `check` returns a value, or fails with the last error after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`condition not met in ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}

/**
 * The time limit of the stress tests (thousands of updates, kills and restarts of real
 * processes): they check behaviour, not speed, and on two cores shared with another CPU-heavy
 * job they can take several times the suite's default of 180 s.
 */
export const STRESS_TIMEOUT_MS = 480_000;
