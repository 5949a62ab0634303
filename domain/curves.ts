/**
 * Learning curves: a seed's metrics by step (`{"step": 3, "metrics": {"loss": 0.4}}` on a command
 * experiment's stdout, `ctx.progress({ step, metrics })` in a function experiment), kept bounded
 * so they can travel with the seed's result to MLflow's metric history: at most CURVE_LIMITS.metrics
 * names per seed (the first reported), names of at most CURVE_LIMITS.nameChars characters, and
 * at most CURVE_LIMITS.points points per name. A full curve drops every other point and from then
 * on keeps every second one reported (then every fourth, ...), so a long run keeps an even sample
 * of its whole course, the first point included; the seed's final metrics give its end.
 *
 * Pure: zod and the domain only.
 */
import { z } from 'zod';

export const CURVE_LIMITS = { metrics: 8, points: 200, nameChars: 100 } as const;

/** A point: `[step, value]`, step a non-negative integer, value finite. */
export const CurvePoint = z.tuple([z.number().int().nonnegative(), z.number()]);
export type CurvePoint = z.infer<typeof CurvePoint>;

/** A seed's curves by metric name, each in step order. */
export const Curves = z.record(z.string().max(CURVE_LIMITS.nameChars), z.array(CurvePoint));
export type Curves = z.infer<typeof Curves>;

/** A seed's curves as they are reported: bounded, in step order, thinned when full. */
export class CurveBuilder {
  private readonly curves = new Map<
    string,
    { stride: number; seen: number; points: CurvePoint[] }
  >();
  /** Points refused: a name past the limit, a bad step or value. */
  dropped = 0;

  constructor(private readonly limits: { metrics: number; points: number } = CURVE_LIMITS) {}

  /** Adds the finite values of `metrics` at `step` (a non-negative integer); false when refused. */
  add(step: unknown, metrics: unknown): boolean {
    if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0) return false;
    if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)) return false;
    let any = false;
    for (const [name, value] of Object.entries(metrics as Record<string, unknown>)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        this.dropped++;
        continue;
      }
      const curve = this.curve(name);
      if (!curve) {
        this.dropped++;
        continue;
      }
      any = true;
      // One point per step: a repeated step keeps the latest value.
      const last = curve.points[curve.points.length - 1];
      if (last && last[0] === step) {
        last[1] = value;
        continue;
      }
      // A thinned curve keeps every `stride`-th point reported, as the points it kept.
      if (curve.seen++ % curve.stride !== 0) continue;
      curve.points.push([step, value]);
      if (curve.points.length > this.limits.points) {
        curve.points = curve.points.filter((_, i) => i % 2 === 0);
        curve.stride *= 2;
      }
    }
    return any;
  }

  private curve(name: string) {
    const have = this.curves.get(name);
    if (have) return have;
    if (name.length === 0 || name.length > CURVE_LIMITS.nameChars) return undefined;
    if (this.curves.size >= this.limits.metrics) return undefined;
    const fresh = { stride: 1, seen: 0, points: [] as CurvePoint[] };
    this.curves.set(name, fresh);
    return fresh;
  }

  /** The curves, or undefined when none was reported. */
  result(): Curves | undefined {
    if (this.curves.size === 0) return undefined;
    return Object.fromEntries([...this.curves].map(([k, c]) => [k, c.points.map((p) => [...p])]));
  }
}
