import { describe, expect, it } from 'vitest';
import { judgeConstraints } from './constraints.js';

describe('constraint verdicts on the trial page', () => {
  it('judges absolute and relative constraints on metric means', () => {
    const v = judgeConstraints(
      [
        { kind: 'absolute', metric: 'cost', op: '<=', value: 2 },
        { kind: 'relative', metric: 'latency', op: '<=', factor: 1.1 },
        { kind: 'absolute', metric: 'missing', op: '>', value: 0 },
      ],
      { cost: 3, latency: 1.05 },
      { latency: 1 },
    );
    expect(v.map((x) => x.ok)).toEqual([false, true, false]);
    expect(v[1]!.limit).toBeCloseTo(1.1);
    expect(v[2]!.value).toBeNull();
  });
  it('fails a relative constraint when the baseline is unknown', () => {
    const [v] = judgeConstraints([{ kind: 'relative', metric: 'latency', op: '<', factor: 2 }], {
      latency: 0.1,
    });
    expect(v).toMatchObject({ ok: false, limit: null });
  });
});
