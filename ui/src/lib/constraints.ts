/**
 * Constraint verdicts for the trial page, judged on the trial's metric means as the campaign
 * judges them (absolute limits, or a factor of the baseline's mean). The campaign's own
 * `feasible` stays the authority; this shows which constraint made the difference.
 */
import type { Constraint } from '../../../domain/schemas.js';

export interface Verdict {
  description: string;
  metric: string;
  value: number | null;
  limit: number | null;
  ok: boolean;
}

const OPS: Record<Constraint['op'], (a: number, b: number) => boolean> = {
  '<=': (a, b) => a <= b,
  '>=': (a, b) => a >= b,
  '<': (a, b) => a < b,
  '>': (a, b) => a > b,
};

export function judgeConstraints(
  constraints: readonly Constraint[],
  metrics: Readonly<Record<string, number | null>>,
  baselineMetrics?: Readonly<Record<string, number | null>>,
): Verdict[] {
  return constraints.map((c) => {
    const v = metrics[c.metric];
    const value = typeof v === 'number' && Number.isFinite(v) ? v : null;
    let limit: number | null;
    let description: string;
    if (c.kind === 'absolute') {
      limit = c.value;
      description = `${c.metric} ${c.op} ${c.value}`;
    } else {
      const base = baselineMetrics?.[c.metric];
      limit = typeof base === 'number' && Number.isFinite(base) ? c.factor * base : null;
      description = `${c.metric} ${c.op} ${c.factor} × baseline`;
    }
    return {
      description,
      metric: c.metric,
      value,
      limit,
      ok: value !== null && limit !== null && OPS[c.op](value, limit),
    };
  });
}
