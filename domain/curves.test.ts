import { describe, expect, it } from 'vitest';
import { CURVE_LIMITS, CurveBuilder, Curves } from './curves.js';

describe('CurveBuilder', () => {
  it('keeps finite points by step, one per step, and refuses bad steps', () => {
    const b = new CurveBuilder();
    expect(b.result()).toBeUndefined();
    expect(b.add(0, { loss: 1, acc: Number.NaN })).toBe(true);
    expect(b.add(0, { loss: 0.9 })).toBe(true);
    expect(b.add(1, { loss: 0.5 })).toBe(true);
    for (const bad of [-1, 1.5, '2', null, Number.MAX_SAFE_INTEGER + 2])
      expect(b.add(bad, { loss: 0 })).toBe(false);
    expect(b.add(2, 'loss')).toBe(false);
    expect(b.result()).toEqual({
      loss: [
        [0, 0.9],
        [1, 0.5],
      ],
    });
    expect(b.dropped).toBe(1);
  });

  it('holds at most the metric limit of names, and of points per name, sampling the whole run', () => {
    const b = new CurveBuilder();
    const names = Array.from({ length: CURVE_LIMITS.metrics + 3 }, (_, i) => `m${i}`);
    for (let step = 0; step < 5000; step++)
      b.add(step, Object.fromEntries(names.map((n) => [n, step])));
    const curves = b.result()!;
    expect(Object.keys(curves)).toEqual(names.slice(0, CURVE_LIMITS.metrics));
    const points = curves.m0!;
    expect(points.length).toBeLessThanOrEqual(CURVE_LIMITS.points);
    expect(points.length).toBeGreaterThan(CURVE_LIMITS.points / 2);
    expect(points[0]).toEqual([0, 0]);
    // Evenly spread over the whole run: a constant stride, the last point near the end.
    const strides = new Set(points.slice(1).map((p, i) => p[0] - points[i]![0]));
    expect(strides.size).toBe(1);
    expect(points.at(-1)![0]).toBeGreaterThan(5000 - 2 * [...strides][0]!);
    expect(Curves.safeParse(curves).success).toBe(true);
    expect(JSON.stringify(curves).length).toBeLessThan(60_000);
  });
});
