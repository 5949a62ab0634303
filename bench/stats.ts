/** Small summaries for benchmark numbers (pure). */

export interface Distribution {
  n: number;
  mean: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The q-quantile (0..1) of sorted values, linear between order statistics (numpy's default). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function distribution(values: readonly number[]): Distribution {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return { n: 0, mean: NaN, min: NaN, p50: NaN, p95: NaN, p99: NaN, max: NaN };
  return {
    n: s.length,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    min: s[0]!,
    p50: quantileSorted(s, 0.5),
    p95: quantileSorted(s, 0.95),
    p99: quantileSorted(s, 0.99),
    max: s.at(-1)!,
  };
}

export const mean = (xs: readonly number[]): number =>
  xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length;

export function median(xs: readonly number[]): number {
  return quantileSorted(
    [...xs].sort((a, b) => a - b),
    0.5,
  );
}

/** Standard error of the mean (0 for fewer than two values). */
export function stderr(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1) / xs.length);
}

/** Best-so-far PGR after each trial (PGR is always "higher is better"). */
export function bestSoFar(pgrs: readonly number[]): number[] {
  let best = -Infinity;
  return pgrs.map((p) => (best = Math.max(best, Number.isFinite(p) ? p : -Infinity)));
}

/** 1-based index of the first trial reaching `target`, or null. */
export function trialsToReach(pgrs: readonly number[], target: number): number | null {
  const i = pgrs.findIndex((p) => p >= target);
  return i < 0 ? null : i + 1;
}

/** Milliseconds between two ISO timestamps. */
export const msBetween = (from: string, to: string): number => Date.parse(to) - Date.parse(from);

/** Rounds for JSON output (keeps files readable and diffs small). */
export function round(x: number, digits = 3): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function roundDistribution(d: Distribution, digits = 3): Distribution {
  return {
    n: d.n,
    mean: round(d.mean, digits),
    min: round(d.min, digits),
    p50: round(d.p50, digits),
    p95: round(d.p95, digits),
    p99: round(d.p99, digits),
    max: round(d.max, digits),
  };
}

/** One trial's occupancy of a slot, in ms on any common clock. */
export interface Interval {
  start: number;
  end: number;
  /** The experiment's own run time within the interval (ms). @default 0 */
  work?: number;
  /** The slot (thread) when the runner knows it; otherwise slots are reconstructed. */
  slot?: number;
}

/**
 * The orchestration overhead each trial costs its slot: the time from its start to the next
 * start on the same slot, minus the experiment's own run time. Only trials another trial
 * followed on their slot count. In steady state the cycles average wall x concurrency / trials.
 * Slots come from `slot` when given, else are reconstructed greedily (each trial goes to the
 * slot that freed up last before it started).
 */
export function slotOverheads(intervals: readonly Interval[]): number[] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start);
  const slots: Interval[][] = [];
  if (sorted.every((i) => i.slot !== undefined)) {
    const bySlot = new Map<number, Interval[]>();
    for (const i of sorted) bySlot.set(i.slot!, [...(bySlot.get(i.slot!) ?? []), i]);
    slots.push(...bySlot.values());
  } else {
    for (const i of sorted) {
      let best: Interval[] | undefined;
      for (const s of slots) {
        const last = s.at(-1)!;
        if (last.end <= i.start && (!best || last.end > best.at(-1)!.end)) best = s;
      }
      if (best) best.push(i);
      else slots.push([i]);
    }
  }
  const out: number[] = [];
  for (const s of slots)
    for (let k = 0; k + 1 < s.length; k++)
      out.push(s[k + 1]!.start - s[k]!.start - (s[k]!.work ?? 0));
  return out;
}
