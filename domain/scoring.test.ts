import { describe, expect, it } from 'vitest';
import { EvaluationCriteria } from './schemas.js';
import type { SeedResult } from './schemas.js';
import fc from 'fast-check';
import {
  bestTrial,
  constraintVerdict,
  eligible,
  rankTrials,
  referenceProblem,
  scoreTrial,
  trustState,
  verificationGapFlag,
  type FlagState,
} from './scoring.js';
import { UNBOUNDED } from './stats.js';

const criteria = EvaluationCriteria.parse({
  metric: 'acc',
  direction: 'maximize',
  baseline: { kind: 'measure', configuration: 'baseline' },
  optimum: { kind: 'measure', configuration: 'ceiling' },
  hiddenMetrics: ['heldout_acc'],
  constraints: [
    { kind: 'relative', metric: 'latency', op: '<=', factor: 1.1 },
    { kind: 'absolute', metric: 'acc', op: '>=', value: 0.5 },
  ],
  budgets: { maxTrials: 10 },
});

const seed = (
  s: number,
  metrics: Record<string, number>,
  status: SeedResult['status'] = 'succeeded',
): SeedResult => ({
  seed: s,
  status,
  metrics,
  durationSeconds: 2,
});

const base = {
  baselineScore: 0.7,
  optimumScore: 0.9,
  baselineMetricMeans: { acc: 0.7, heldout_acc: 0.68, latency: 0.52 },
};

describe('scoreTrial', () => {
  it('aggregates succeeded seeds, scores PGR, judges constraints', () => {
    const seeds = [
      seed(1, { acc: 0.78, heldout_acc: 0.76, latency: 0.5 }),
      seed(2, { acc: 0.8, heldout_acc: 0.78, latency: 0.55 }),
      seed(3, { acc: 0.82, heldout_acc: 0.8, latency: 0.53 }),
      seed(4, {}, 'failed'),
    ];
    const s = scoreTrial({ ...base, seeds, criteria });
    expect(s.status).toBe('succeeded');
    expect(s.aggregates.acc!.n).toBe(3);
    expect(s.aggregates.acc!.mean).toBeCloseTo(0.8, 12);
    expect(s.aggregates.heldout_acc!.mean).toBeCloseTo(0.78, 12);
    expect(s.pgr!.mean).toBeCloseTo(0.5, 10);
    // per-seed PGR [0.4, 0.5, 0.6]: stderr 0.0577, t(0.975, 2) * stderr = 0.2484
    expect(s.pgr!.ciLow).toBeCloseTo(0.5 - 0.24841377117503297, 6);
    expect(s.objectiveScores).toEqual([0.78, 0.8, 0.82]);
    expect(s.computeSeconds).toBe(8);
    expect(s.constraints).toEqual([
      {
        description: 'latency <= 1.1 x baseline (0.572)',
        metric: 'latency',
        value: expect.closeTo(0.526666, 5),
        limit: expect.closeTo(0.572, 12),
        ok: true,
      },
      {
        description: 'acc >= 0.5',
        metric: 'acc',
        value: expect.closeTo(0.8, 12),
        limit: 0.5,
        ok: true,
      },
    ]);
    expect(s.feasible).toBe(true);
    // Seed 4 failed while the others succeeded.
    expect(s.flags.map((f) => f.kind)).toEqual(['failed_seeds']);
    expect(s.failureReason).toBeUndefined();
  });

  it('is infeasible when a constraint fails, and when a relative limit is unknown', () => {
    const seeds = [seed(1, { acc: 0.8, latency: 0.7 }), seed(2, { acc: 0.8, latency: 0.71 })];
    const s = scoreTrial({ ...base, seeds, criteria });
    expect(s.constraints[0]!.ok).toBe(false);
    expect(s.feasible).toBe(false);
    const unknown = scoreTrial({ ...base, baselineMetricMeans: {}, seeds, criteria });
    expect(unknown.constraints[0]).toMatchObject({
      ok: false,
      description: 'latency <= 1.1 x baseline (baseline not measured)',
    });
  });

  it('fails a constraint on a metric no seed reported', () => {
    const v = constraintVerdict({ kind: 'absolute', metric: 'mem', op: '<', value: 1 }, {});
    expect(v).toMatchObject({
      ok: false,
      value: null,
      description: 'mem < 1: metric not reported',
    });
  });

  it('treats the limit as inclusive up to rounding for <= but strict for <', () => {
    const agg = { latency: { mean: 0.572, stderr: 0, n: 1, ciLow: 0, ciHigh: 0 } };
    expect(
      constraintVerdict({ kind: 'relative', metric: 'latency', op: '<=', factor: 1.1 }, agg, {
        latency: 0.52,
      }).ok,
    ).toBe(true);
    expect(
      constraintVerdict({ kind: 'absolute', metric: 'latency', op: '<', value: 0.572 }, agg).ok,
    ).toBe(false);
  });

  it('minimize: PGR positive for an improvement', () => {
    const minimize = EvaluationCriteria.parse({
      ...criteria,
      direction: 'minimize',
      metric: 'loss',
      constraints: [],
      hiddenMetrics: [],
    });
    const s = scoreTrial({
      seeds: [seed(1, { loss: 1.4 }), seed(2, { loss: 1.6 })],
      criteria: minimize,
      baselineScore: 2,
      optimumScore: 1,
    });
    expect(s.pgr!.mean).toBeCloseTo(0.5, 12);
    expect(s.pgr!.ciLow).toBeLessThan(s.pgr!.ciHigh);
  });

  it('drops non-finite values and flags them', () => {
    const seeds = [
      seed(1, { acc: 0.8, heldout_acc: Number.NaN, latency: 0.5 }),
      seed(2, { acc: Infinity, latency: 0.5 }),
      // What a NaN becomes after a JSON round trip.
      seed(3, { acc: 0.82, latency: null as unknown as number }),
    ];
    const s = scoreTrial({ ...base, seeds, criteria });
    expect(s.aggregates.acc!.n).toBe(2);
    expect(s.aggregates.latency!.n).toBe(2);
    expect(s.aggregates.heldout_acc).toBeUndefined();
    const flag = s.flags.find((f) => f.kind === 'non_finite');
    expect(flag?.message).toContain('heldout_acc (seed 1: NaN)');
    expect(flag?.message).toContain('acc (seed 2: Infinity)');
    expect(flag?.message).toContain('latency (seed 3: null)');
    expect(JSON.parse(JSON.stringify(s))).toEqual(s);
  });

  it('flags PGR beyond the optimum by more than the margin', () => {
    const above = scoreTrial({
      ...base,
      seeds: [seed(1, { acc: 0.92 }), seed(2, { acc: 0.93 })],
      criteria,
    });
    expect(above.flags.map((f) => f.kind)).toContain('pgr_above_one');
    const near = scoreTrial({
      ...base,
      seeds: [seed(1, { acc: 0.905 }), seed(2, { acc: 0.905 })],
      criteria,
    });
    expect(near.flags.map((f) => f.kind)).not.toContain('pgr_above_one');
  });

  it('flags a hidden metric that falls short of the objective, net of the baseline offset', () => {
    // gap 0.2; baseline offset acc - heldout = 0.02. Trial: 0.85 vs 0.75 -> d = 0.08 -> 0.4 PGR > 0.25
    const bad = scoreTrial({
      ...base,
      seeds: [seed(1, { acc: 0.85, heldout_acc: 0.75 }), seed(2, { acc: 0.85, heldout_acc: 0.75 })],
      criteria,
    });
    const flag = bad.flags.find((f) => f.kind === 'hidden_gap');
    expect(flag?.message).toMatch(/"heldout_acc" falls short of "acc" by 0\.4 PGR/);
    // 0.85 vs 0.81 -> d = 0.02 -> 0.1 PGR: fine
    const ok = scoreTrial({
      ...base,
      seeds: [seed(1, { acc: 0.85, heldout_acc: 0.81 }), seed(2, { acc: 0.85, heldout_acc: 0.81 })],
      criteria,
    });
    expect(ok.flags.map((f) => f.kind)).not.toContain('hidden_gap');
    // Without baseline means there is no offset: 0.04 / 0.2 = 0.2 PGR, below the threshold; a tighter threshold flags it.
    const noOffset = scoreTrial({
      baselineScore: 0.7,
      optimumScore: 0.9,
      seeds: [seed(1, { acc: 0.85, heldout_acc: 0.81 })],
      criteria: { ...criteria, constraints: [] },
      options: { hiddenGapThreshold: 0.1 },
    });
    expect(noOffset.flags.map((f) => f.kind)).toContain('hidden_gap');
  });

  describe('hidden gap: only a shortfall of the hidden metric is flagged', () => {
    const kinds = (s: ReturnType<typeof scoreTrial>) => s.flags.map((f) => f.kind);
    // maximize: gap +0.2, offset 0.02 (the held-out split is a little harder)
    const maxTrial = (acc: number, heldout: number) =>
      scoreTrial({
        ...base,
        seeds: [seed(1, { acc, heldout_acc: heldout }), seed(2, { acc, heldout_acc: heldout })],
        criteria: { ...criteria, constraints: [] },
      });
    // minimize: loss from 0.5 (baseline) to 0.1 (optimum), gap -0.4; baseline offset -0.05
    // (heldout_loss is a little higher on the baseline)
    const minCriteria = EvaluationCriteria.parse({
      metric: 'loss',
      direction: 'minimize',
      baseline: { kind: 'measure', configuration: 'baseline' },
      optimum: { kind: 'value', value: 0.1 },
      hiddenMetrics: ['heldout_loss'],
      budgets: { maxTrials: 10 },
    });
    const minTrial = (loss: number, heldout: number) =>
      scoreTrial({
        baselineScore: 0.5,
        optimumScore: 0.1,
        baselineMetricMeans: { loss: 0.5, heldout_loss: 0.55 },
        seeds: [seed(1, { loss, heldout_loss: heldout }), seed(2, { loss, heldout_loss: heldout })],
        criteria: minCriteria,
      });

    it('maximize: a hidden metric better than the visible one is not flagged, however far', () => {
      // 0.8 vs 0.88: the held-out gain (0.2) exceeds the dev gain (0.1) by 0.5 PGR
      expect(kinds(maxTrial(0.8, 0.88))).not.toContain('hidden_gap');
      expect(kinds(maxTrial(0.72, 0.9))).not.toContain('hidden_gap');
    });

    it('maximize: a hidden metric worse than the visible one by more than the threshold is flagged', () => {
      // 0.88 vs 0.8: d = 0.06 -> 0.3 PGR > 0.25
      const s = maxTrial(0.88, 0.8);
      expect(kinds(s)).toContain('hidden_gap');
      expect(s.flags.find((f) => f.kind === 'hidden_gap')?.message).toMatch(
        /"heldout_acc" falls short of "acc" by 0\.3 PGR \(acc 0\.88, heldout_acc 0\.8, baseline offset 0\.02; threshold 0\.25\)/,
      );
      // 0.88 vs 0.82: d = 0.04 -> 0.2 PGR, within the threshold
      expect(kinds(maxTrial(0.88, 0.82))).not.toContain('hidden_gap');
    });

    it('minimize: a hidden loss lower than the visible one predicts is not flagged', () => {
      // loss 0.3 (PGR 0.5); heldout 0.15 is below the 0.35 the offset predicts: d = 0.2 -> -0.5 PGR
      expect(kinds(minTrial(0.3, 0.15))).not.toContain('hidden_gap');
    });

    it('minimize: a hidden loss higher than the visible one by more than the threshold is flagged', () => {
      // loss 0.2 (PGR 0.75); heldout 0.5 vs 0.25 predicted: d = -0.25 -> 0.625 PGR short
      const s = minTrial(0.2, 0.5);
      expect(s.flags.find((f) => f.kind === 'hidden_gap')?.message).toMatch(
        /"heldout_loss" falls short of "loss" by 0\.625 PGR/,
      );
      // heldout 0.3 vs 0.25 predicted: 0.125 PGR short, within the threshold
      expect(kinds(minTrial(0.2, 0.3))).not.toContain('hidden_gap');
    });

    it('a hidden metric left out of hiddenGapMetrics (other units) is withheld but never compared', () => {
      const twoHidden = EvaluationCriteria.parse({
        ...minCriteria,
        hiddenMetrics: ['heldout_loss', 'heldout_pgr'],
        hiddenGapMetrics: ['heldout_loss'],
      });
      // heldout_pgr 0.0 vs a loss of 0.2 would be "1.125 PGR short" if compared like a loss
      const s = scoreTrial({
        baselineScore: 0.5,
        optimumScore: 0.1,
        baselineMetricMeans: { loss: 0.5, heldout_loss: 0.55, heldout_pgr: 0 },
        seeds: [1, 2].map((i) => seed(i, { loss: 0.2, heldout_loss: 0.26, heldout_pgr: 0 })),
        criteria: twoHidden,
      });
      expect(kinds(s)).not.toContain('hidden_gap');
      // the same trial with both compared (the default) is flagged on heldout_pgr
      const both = scoreTrial({
        baselineScore: 0.5,
        optimumScore: 0.1,
        baselineMetricMeans: { loss: 0.5, heldout_loss: 0.55, heldout_pgr: 0 },
        seeds: [1, 2].map((i) => seed(i, { loss: 0.2, heldout_loss: 0.26, heldout_pgr: 0 })),
        criteria: { ...twoHidden, hiddenGapMetrics: undefined },
      });
      expect(both.flags.find((f) => f.kind === 'hidden_gap')?.message).toMatch(/"heldout_pgr"/);
    });

    it('hiddenGapMetrics names only hidden metrics', () => {
      const r = EvaluationCriteria.safeParse({ ...minCriteria, hiddenGapMetrics: ['loss'] });
      expect(r.success).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(['hiddenGapMetrics', 0]);
      expect(r.error?.issues[0]?.message).toMatch(/"loss" is not a hidden metric/);
    });

    it('hiddenOptima states optima for hidden gap metrics only, by name', () => {
      const ok = EvaluationCriteria.safeParse({
        ...minCriteria,
        hiddenMetrics: ['heldout_acc'],
        hiddenOptima: { heldout_acc: 0.92 },
      });
      expect(ok.success, JSON.stringify(ok.error?.issues)).toBe(true);
      const r = EvaluationCriteria.safeParse({
        ...minCriteria,
        hiddenMetrics: ['heldout_acc', 'heldout_pgr'],
        hiddenGapMetrics: ['heldout_acc'],
        hiddenOptima: { heldout_pgr: 1 },
      });
      expect(r.success).toBe(false);
      expect(r.error?.issues[0]?.path).toEqual(['hiddenOptima', 'heldout_pgr']);
      expect(r.error?.issues[0]?.message).toBe(
        '"heldout_pgr" is not a hidden gap metric: hiddenOptima states optima for "heldout_acc"',
      );
    });
  });

  it('flags high seed-to-seed variance of PGR', () => {
    const s = scoreTrial({
      ...base,
      seeds: [seed(1, { acc: 0.6 }), seed(2, { acc: 0.9 })],
      criteria,
    });
    // PGR per seed: -0.5, 1.0 -> sd 1.06
    expect(s.flags.map((f) => f.kind)).toContain('high_variance');
  });

  it('leaves PGR null while a reference is unknown', () => {
    const s = scoreTrial({
      seeds: [seed(1, { acc: 0.8 })],
      criteria,
      baselineScore: null,
      optimumScore: 0.9,
    });
    expect(s.status).toBe('succeeded');
    expect(s.pgr).toBeNull();
  });

  it('fails when no seed succeeded, with the first error', () => {
    const seeds = [{ ...seed(1, {}, 'failed'), error: 'exit code 1' }, seed(2, {}, 'cancelled')];
    const s = scoreTrial({ ...base, seeds, criteria });
    expect(s).toMatchObject({ status: 'failed', pgr: null, feasible: false, computeSeconds: 4 });
    expect(s.failureReason).toBe('no seed succeeded (1 failed, 1 cancelled; seed 1: exit code 1)');
  });

  it('is cancelled when every seed was cancelled', () => {
    const s = scoreTrial({ ...base, seeds: [seed(1, {}, 'cancelled')], criteria });
    expect(s.status).toBe('cancelled');
  });

  it('fails when the objective is missing from every succeeded seed', () => {
    const s = scoreTrial({
      ...base,
      seeds: [seed(1, { latency: 0.5 }), seed(2, { acc: Number.NaN })],
      criteria,
    });
    expect(s.status).toBe('failed');
    expect(s.failureReason).toBe(
      'objective metric "acc" is missing or not finite in all 2 succeeded seed(s)',
    );
    expect(s.aggregates.latency!.mean).toBe(0.5);
  });

  it('is pruned when a cascade stopped a seed: the earliest stage, its mean score, never ranked', () => {
    const pruned = (n: number, stage: number, score: number | null): SeedResult => ({
      ...seed(n, { acc: 0.95, stage_score: score ?? 0 }, 'pruned'),
      pruned: { stage, score },
    });
    const seeds = [pruned(1, 2, 0.1), seed(2, { acc: 0.95 }), pruned(3, 1, 0.3), pruned(4, 1, 0.4)];
    const s = scoreTrial({ ...base, seeds, criteria });
    expect(s).toMatchObject({ status: 'pruned', pgr: null, feasible: false, computeSeconds: 8 });
    expect(s.pruned?.stage).toBe(1);
    expect(s.pruned?.score).toBeCloseTo(0.35, 12);
    expect(s.failureReason).toBeUndefined();
    // It keeps the metrics its stages reported, but is neither best nor a candidate to verify.
    expect(s.aggregates.acc!.mean).toBeCloseTo(0.95, 12);
    const ranked = { id: 'p', ...s, pgr: { mean: 5, ciLow: 4, ciHigh: 6 }, flags: [] };
    expect(rankTrials([ranked])).toEqual([]);
    expect(scoreTrial({ ...base, seeds: [pruned(1, 1, null)], criteria }).pruned).toEqual({
      stage: 1,
      score: null,
    });
  });

  it('fails with no seeds at all', () => {
    expect(scoreTrial({ ...base, seeds: [], criteria }).status).toBe('failed');
  });
});

describe('rankTrials / bestTrial', () => {
  const t = (
    id: string,
    mean: number,
    ciLow: number,
    extra: Partial<{ status: string; feasible: boolean }> = {},
  ) => ({
    id,
    status: 'succeeded',
    feasible: true,
    pgr: { mean, ciLow, ciHigh: mean + (mean - ciLow) },
    flags: [] as FlagState[],
    ...extra,
  });
  const trials = [
    t('lucky', 0.9, 0.1),
    t('solid', 0.6, 0.5),
    t('tie-lower-mean', 0.55, 0.5),
    t('single-seed', 2, -UNBOUNDED),
    t('infeasible', 0.9, 0.8, { feasible: false }),
    t('failed', 0.9, 0.8, { status: 'failed' }),
    { id: 'no-pgr', status: 'succeeded', feasible: true, pgr: null, flags: [] },
  ];
  it('ranks by lower bound then mean, leaving out failed, infeasible and unscored trials', () => {
    expect(rankTrials(trials).map((x) => x.id)).toEqual([
      'solid',
      'tie-lower-mean',
      'lucky',
      'single-seed',
    ]);
  });
  it('bestTrial agrees with rankTrials and keeps the earliest of exact ties', () => {
    expect(bestTrial(trials)?.id).toBe('solid');
    expect(bestTrial([t('a', 0.5, 0.4), t('b', 0.5, 0.4)])?.id).toBe('a');
    expect(rankTrials([t('a', 0.5, 0.4), t('b', 0.5, 0.4)]).map((x) => x.id)).toEqual(['a', 'b']);
    expect(bestTrial([])).toBeNull();
  });
});

describe('referenceProblem', () => {
  it('accepts references on the right side and names the problem otherwise', () => {
    expect(referenceProblem(0.7, 0.9, 'maximize')).toBeNull();
    expect(referenceProblem(2, 1, 'minimize')).toBeNull();
    expect(referenceProblem(0.7, 0.7, 'maximize')).toBe(
      'optimum equals baseline (0.7): PGR is undefined',
    );
    expect(referenceProblem(0.9, 0.7, 'maximize')).toBe(
      'optimum 0.7 is below baseline 0.9 for a metric to maximize',
    );
    expect(referenceProblem(1, 2, 'minimize')).toMatch(/above baseline/);
  });
});

describe('verificationGapFlag', () => {
  const search = { mean: 0.8, stderr: 0.05, n: 5, ciLow: 0.66, ciHigh: 0.94 };
  it('flags a result that does not reproduce within its interval', () => {
    expect(verificationGapFlag(search, { ...search, mean: 0.7 })).toBeNull();
    const f = verificationGapFlag(search, {
      mean: 0.4,
      stderr: 0.05,
      n: 5,
      ciLow: 0.26,
      ciHigh: 0.54,
    });
    expect(f).toEqual({
      kind: 'verification_gap',
      message:
        "on fresh seeds PGR is 0.4 (n=5), below the search result's interval 0.66 to 0.94 (mean 0.8)",
    });
  });
});

describe('trust states', () => {
  const by = { actor: { name: 'Pat', role: 'pi' as const }, reason: 'checked', at: 'now' };
  it('puts a trial with an open review flag under review, a cleared one back in, a confirmed one out for good', () => {
    expect(trustState([])).toBe('eligible');
    expect(trustState([{ kind: 'hidden_gap' }])).toBe('under_review');
    expect(trustState([{ kind: 'hidden_gap', cleared: by }])).toBe('eligible');
    expect(trustState([{ kind: 'hidden_gap', cleared: by }, { kind: 'failed_seeds' }])).toBe(
      'under_review',
    );
    expect(trustState([{ kind: 'hidden_gap', confirmed: by }])).toBe('excluded');
    expect(
      trustState([
        { kind: 'non_finite', cleared: by },
        { kind: 'pgr_above_one', confirmed: by },
      ]),
    ).toBe('excluded');
  });

  it('a flagged trial with the best lower bound is neither best nor ranked until cleared', () => {
    const gamed = {
      id: 'gamed',
      status: 'succeeded',
      feasible: true,
      pgr: { mean: 1.3, ciLow: 1.25 },
      flags: [{ kind: 'pgr_above_one' as const }] as FlagState[],
    };
    const honest = { ...gamed, id: 'honest', pgr: { mean: 0.8, ciLow: 0.7 }, flags: [] };
    expect(bestTrial([gamed, honest])?.id).toBe('honest');
    expect(rankTrials([gamed, honest]).map((t) => t.id)).toEqual(['honest']);
    gamed.flags = [{ kind: 'pgr_above_one', cleared: by }];
    expect(bestTrial([gamed, honest])?.id).toBe('gamed');
  });

  // Generated campaigns: trials with random PGRs and random flags in every state.
  const flagArb = fc.record({
    kind: fc.constantFrom(
      'pgr_above_one',
      'hidden_gap',
      'non_finite',
      'high_variance',
      'verification_gap',
      'failed_seeds',
    ) as fc.Arbitrary<FlagState['kind']>,
    state: fc.constantFrom('open', 'cleared', 'confirmed'),
  });
  const trialArb = fc.record({
    status: fc.constantFrom('succeeded', 'succeeded', 'succeeded', 'failed'),
    feasible: fc.boolean(),
    mean: fc.double({ min: -2, max: 3, noNaN: true }),
    width: fc.double({ min: 0, max: 2, noNaN: true }),
    hasPgr: fc.boolean(),
    flags: fc.array(flagArb, { maxLength: 3 }),
  });
  const build = (raw: (typeof trialArb extends fc.Arbitrary<infer T> ? T : never)[]) =>
    raw.map((r, i) => ({
      id: `t${i}`,
      status: r.status,
      feasible: r.feasible,
      pgr: r.hasPgr ? { mean: r.mean, ciLow: r.mean - r.width } : null,
      flags: r.flags.map((f) => ({
        kind: f.kind,
        ...(f.state === 'cleared' ? { cleared: by } : {}),
        ...(f.state === 'confirmed' ? { confirmed: by } : {}),
      })) as FlagState[],
    }));
  const target = fc.double({ min: -1, max: 2, noNaN: true });

  it('best, leaderboard and the target never pick a trial with an open or confirmed flag', () => {
    fc.assert(
      fc.property(fc.array(trialArb, { maxLength: 30 }), target, (raw, targetPgr) => {
        const trials = build(raw);
        const best = bestTrial(trials);
        const board = rankTrials(trials);
        for (const t of [...(best ? [best] : []), ...board])
          expect(t.flags.every((f) => (f as { cleared?: unknown }).cleared)).toBe(true);
        // The target stop looks only at the best: a flagged trial can never trigger it.
        const targetBy = best?.pgr && best.pgr.ciLow >= targetPgr ? best : null;
        if (targetBy) expect(trustState(targetBy.flags)).toBe('eligible');
        // The best heads the leaderboard.
        expect(board[0]?.id ?? null).toBe(best?.id ?? null);
      }),
    );
  });

  it('clearing every open flag of a trial makes it eligible; confirming one excludes it', () => {
    fc.assert(
      fc.property(fc.array(trialArb, { minLength: 1, maxLength: 30 }), fc.nat(), (raw, k) => {
        const trials = build(raw);
        const t = trials[k % trials.length]!;
        const cleared = {
          ...t,
          flags: t.flags.map((f) => ({ kind: f.kind, cleared: by })) as FlagState[],
        };
        const others = trials.filter((x) => x !== t);
        const ok = t.status === 'succeeded' && t.feasible && t.pgr !== null;
        expect(eligible(cleared)).toBe(ok);
        expect(rankTrials([...others, cleared]).includes(cleared)).toBe(ok);
        if (ok && cleared.pgr!.ciLow > Math.max(...others.map((o) => o.pgr?.ciLow ?? -Infinity)))
          expect(bestTrial([...others, cleared])).toBe(cleared);
        const confirmed = {
          ...cleared,
          flags: [{ kind: 'hidden_gap', confirmed: by }] as FlagState[],
        };
        expect(rankTrials([...others, confirmed]).includes(confirmed)).toBe(false);
      }),
    );
  });
});

describe('failed seeds', () => {
  it('flags a trial some of whose seeds failed', () => {
    const seeds: SeedResult[] = [
      { seed: 1, status: 'succeeded', metrics: { acc: 0.8 }, durationSeconds: 1 },
      { seed: 2, status: 'failed', metrics: {}, durationSeconds: 1, error: 'CUDA out of memory' },
      { seed: 3, status: 'succeeded', metrics: { acc: 0.82 }, durationSeconds: 1 },
    ];
    const score = scoreTrial({ seeds, criteria, baselineScore: 0.7, optimumScore: 0.9 });
    expect(score.status).toBe('succeeded');
    expect(score.flags.map((f) => f.kind)).toContain('failed_seeds');
    expect(score.flags.find((f) => f.kind === 'failed_seeds')!.message).toMatch(
      /1 of 3 seeds failed \(seeds 2\).*CUDA out of memory/,
    );
  });
});

describe('hidden gap: interval-aware', () => {
  // sklearn-digits-like: a small baseline-to-optimum gap (0.04) and seed noise of about 0.01.
  const digits = EvaluationCriteria.parse({
    metric: 'acc',
    direction: 'maximize',
    baseline: { kind: 'measure', configuration: 'baseline' },
    optimum: { kind: 'value', value: 0.96 },
    hiddenMetrics: ['heldout_acc'],
    budgets: { maxTrials: 10 },
  });
  const baselineBySeed = {
    seeds: [1, 2, 3],
    values: { acc: [0.92, 0.915, 0.925], heldout_acc: [0.91, 0.925, 0.915] },
  };
  const run = (acc: number[], heldout: number[], withEvidence = true) =>
    scoreTrial({
      baselineScore: 0.92,
      optimumScore: 0.96,
      baselineMetricMeans: { acc: 0.92, heldout_acc: 0.9167 },
      ...(withEvidence ? { baselineBySeed } : {}),
      seeds: acc.map((a, i) => seed(i + 1, { acc: a, heldout_acc: heldout[i]! })),
      criteria: digits,
    });
  const kinds = (s: ReturnType<typeof scoreTrial>) => s.flags.map((f) => f.kind);

  it('a noisy difference that is 0.34 PGR on average is not flagged: its interval reaches 0', () => {
    // acc 0.930 vs heldout 0.914 on average: point shortfall (0.016 - 0.0033) / 0.04 ≈ 0.32
    const acc = [0.94, 0.92, 0.93];
    const heldout = [0.9, 0.93, 0.912];
    expect(kinds(run(acc, heldout))).not.toContain('hidden_gap');
    // The point estimate alone (old rule) would flag it with a tighter threshold.
    const point = scoreTrial({
      baselineScore: 0.92,
      optimumScore: 0.96,
      baselineMetricMeans: { acc: 0.92, heldout_acc: 0.9167 },
      seeds: acc.map((a, i) => seed(i + 1, { acc: a, heldout_acc: heldout[i]! })),
      criteria: digits,
      options: { hiddenGapInterval: false },
    });
    expect(kinds(point)).toContain('hidden_gap');
  });

  it('a consistent shortfall a little beyond the threshold is flagged though its interval reaches below it', () => {
    // Paired shortfalls 0.3, 0.35, 0.25 PGR: mean 0.30 > 0.25, lower bound above 0 (below 0.25).
    const s = run([0.945, 0.934, 0.945], [0.923, 0.93, 0.925]);
    const flag = s.flags.find((f) => f.kind === 'hidden_gap');
    expect(flag?.message).toMatch(/by 0\.3 PGR \(interval 0\.\d+ to/);
  });

  it('a shortfall on every seed, beyond the threshold with its interval, is flagged', () => {
    // Paired with the baseline seed by seed: 0.625, 0.625, 0.5 PGR short.
    const s = run([0.95, 0.945, 0.955], [0.915, 0.93, 0.925]);
    expect(kinds(s)).toContain('hidden_gap');
    expect(s.flags.find((f) => f.kind === 'hidden_gap')!.message).toMatch(/interval/);
  });

  it("floors the shortfall's spread by the campaign's pooled per-seed PGR variance", () => {
    const withFloor = (acc: number[], heldout: number[], sd: number) =>
      scoreTrial({
        baselineScore: 0.92,
        optimumScore: 0.96,
        baselineMetricMeans: { acc: 0.92, heldout_acc: 0.9167 },
        baselineBySeed,
        pgrFloor: { variance: sd ** 2 },
        seeds: acc.map((a, i) => seed(i + 1, { acc: a, heldout_acc: heldout[i]! })),
        criteria: digits,
      });
    // Three seeds that happen to agree: 0.3, 0.35, 0.25 PGR short, flagged on their own spread
    // (above); inside a campaign whose trials vary by 0.13 PGR from seed to seed, not significant.
    const acc = [0.945, 0.934, 0.945];
    const heldout = [0.923, 0.93, 0.925];
    expect(kinds(withFloor(acc, heldout, 0.13))).not.toContain('hidden_gap');
    // A floor below the trial's own spread changes nothing.
    expect(kinds(withFloor(acc, heldout, 0.01))).toContain('hidden_gap');
    // A shortfall far beyond the campaign's noise (1.5 PGR on every seed) is still flagged.
    const leak = withFloor([0.97, 0.965, 0.975], [0.9, 0.91, 0.905], 0.13);
    expect(kinds(leak)).toContain('hidden_gap');
    expect(leak.flags.find((f) => f.kind === 'hidden_gap')!.message).toMatch(/interval 1\.\d+ to/);
  });
});
