import { describe, expect, it } from 'vitest';
import { constraintVerdicts } from './constraints.js';

describe('constraint verdicts on metric means', () => {
  it('judges absolute and relative constraints, and fails a metric not reported', () => {
    const v = constraintVerdicts(
      [
        { kind: 'absolute', metric: 'cost', op: '<=', value: 2 },
        { kind: 'relative', metric: 'latency', op: '<=', factor: 1.1 },
        { kind: 'absolute', metric: 'missing', op: '>', value: 0 },
      ],
      { cost: 3, latency: 1.05, missing: null },
      { latency: 1 },
    );
    expect(v.map((x) => x.ok)).toEqual([false, true, false]);
    expect(v[1]).toMatchObject({ description: 'latency <= 1.1 x baseline (1.1)', value: 1.05 });
    expect(v[1]!.limit).toBeCloseTo(1.1);
    expect(v[2]).toMatchObject({ value: null, description: 'missing > 0: metric not reported' });
  });

  it('forgives rounding on a non-strict limit, as the campaign does, but not on a strict one', () => {
    const [le, lt] = constraintVerdicts(
      [
        { kind: 'absolute', metric: 'cost', op: '<=', value: 0.3 },
        { kind: 'absolute', metric: 'cost', op: '<', value: 0.3 },
      ],
      { cost: 0.1 + 0.2 },
    );
    expect(le!.ok).toBe(true);
    expect(lt!.ok).toBe(false);
  });

  it('fails a relative constraint when the baseline mean is unknown, and says so', () => {
    const [v] = constraintVerdicts([{ kind: 'relative', metric: 'latency', op: '<', factor: 2 }], {
      latency: 0.1,
    });
    expect(v).toMatchObject({
      ok: false,
      limit: 0,
      description: 'latency < 2 x baseline (baseline not measured)',
    });
  });
});
