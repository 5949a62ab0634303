import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Run } from '../mlflow-ts-client/index.js';
import type { Config, SeedResult, Trial } from '../domain/schemas.js';
import { trustState } from '../domain/trust.js';
import {
  decodeSnapshot,
  decodeTrial,
  decodeTrials,
  DIFF_TAG_CHARS,
  encodeSnapshot,
  CURVE_PREFIX,
  curveKey,
  encodeTrial,
  parseCurveKey,
  mergeHiddenRuns,
  WITHHELD,
  encodeTrialUpdate,
  decodeTrialState,
  withStateOf,
  type EncodedTrial,
  type TrialToEncode,
} from './trial-codec.js';
import { TAG } from './names.js';

/**
 * The run MLflow hands back for what recording.ts wrote: params and tags as strings, the latest
 * value (highest step) of each metric, the run's times and status.
 */
function asRun(e: EncodedTrial, runId = 'run-1'): Run {
  const metrics: Record<string, number> = {};
  const steps: Record<string, number> = {};
  for (const m of e.metrics) {
    const step = m.step ?? 0;
    if (!(m.key in steps) || step >= steps[m.key]!) {
      steps[m.key] = step;
      metrics[m.key] = m.value;
    }
  }
  return {
    info: {
      runId,
      experimentId: '7',
      runName: e.runName,
      userId: '',
      status: e.status,
      startTime: e.startTime,
      endTime: e.endTime,
      artifactUri: '',
      lifecycleStage: 'active',
    },
    data: { metrics, params: { ...e.params }, tags: { ...e.identityTags, ...e.tags } },
  };
}

/** The hidden run MLflow hands back for what recording.ts wrote to the hidden experiment. */
function asHiddenRun(e: EncodedTrial, runId = 'hidden-1'): Run {
  const run = asRun({ ...e, metrics: e.hidden?.metrics ?? [] }, runId);
  const tags = { ...e.hidden?.identityTags, ...e.hidden?.tags };
  return { ...run, data: { ...run.data, params: {}, tags } };
}

/** A trial read back as gaplab's readers do: its run, with its hidden run's values merged. */
const readBack = (e: EncodedTrial) =>
  mergeHiddenRuns([decodeTrial(asRun(e))], e.hidden ? [asHiddenRun(e)] : [])[0]!;

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

type FlagOf = Trial['flags'][number];
/** A flag of `kind` as a PI left it: open, cleared or confirmed (with who and why). */
function reviewed(kind: FlagOf['kind'], review: string): FlagOf {
  const decision = {
    actor: { name: 'pat', role: 'pi' as const },
    reason: `why ${kind}`,
    at: new Date(T0).toISOString(),
  };
  return {
    kind,
    message: `m ${kind}`,
    ...(review === 'cleared' ? { cleared: decision } : {}),
    ...(review === 'confirmed' ? { confirmed: decision } : {}),
  };
}

/** The run after `update` was logged over it: tags replaced, metrics appended (asRun keeps the latest). */
function updated(e: EncodedTrial, update: ReturnType<typeof encodeTrialUpdate>): EncodedTrial {
  return { ...e, tags: { ...e.tags, ...update.tags }, metrics: [...e.metrics, ...update.metrics] };
}

function trial(over: Partial<Trial> & { expectedEffect?: string } = {}): TrialToEncode {
  return {
    campaignId: 'c1',
    problemId: 'quad',
    hiddenMetrics: ['heldout'],
    seeds: [],
    trial: {
      id: 't0002',
      index: 2,
      hypothesisId: 'h2',
      kind: 'search',
      parentTrialId: 'baseline',
      title: 'wider',
      rationale: 'because',
      author: { kind: 'strategy', name: 'random' },
      params: { x: 0.5 },
      changes: { x: 0.5 },
      seeds: [1, 2],
      status: 'succeeded',
      metrics: { score: 1, heldout: 0.9 },
      objective: { mean: 1, stderr: 0.1, n: 2, ciLow: 0.8, ciHigh: 1.2 },
      pgr: { mean: 0.4, stderr: 0.05, n: 2, ciLow: 0.3, ciHigh: 0.5 },
      feasible: true,
      flags: [],
      trust: 'eligible',
      computeSeconds: 2,
      startedAt: new Date(T0).toISOString(),
      finishedAt: new Date(T0 + 5000).toISOString(),
      ...over,
    },
  };
}

/** Names that are not the codec's own metrics or params. */
const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/).filter((n) => !n.startsWith('pgr'));
const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).filter((v) => !Object.is(v, -0));
/** Categorical strings include ones that look like numbers and booleans: they must stay strings. */
const categoricalString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('1', '0.5', 'true', 'false', '1e3', ' 2', 'NaN'),
);
/** One value of each parameter kind; `undefined` is a conditional parameter that is off (absent). */
const paramValue = fc.oneof(
  finite, // float
  fc.integer({ min: -1_000_000, max: 1_000_000 }), // int
  categoricalString, // categorical over strings
  fc.constantFrom(1, 2, 4, 8, 0.25), // categorical over numbers
  fc.boolean(), // boolean
  fc.constant(undefined), // conditional, absent
);
const config = fc
  .dictionary(name, paramValue, { maxKeys: 12 })
  .map((d) => Object.fromEntries(Object.entries(d).filter(([, v]) => v !== undefined)) as Config);
const estimate = fc
  .tuple(finite, fc.double({ min: 0, max: 10, noNaN: true }))
  .map(([mean, half]) => ({
    mean,
    stderr: half / 2,
    n: 3,
    ciLow: mean - half,
    ciHigh: mean + half,
  }));
const text = fc.string({ maxLength: 300 });

const anyTrial = fc.record({
  id: fc.oneof(
    fc.constantFrom('baseline', 'optimum', 'optimum-ceiling', 't0042', 'v0107'),
    fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
  ),
  index: fc.nat({ max: 100_000 }),
  kind: fc.constantFrom('search', 'reference', 'verification') as fc.Arbitrary<Trial['kind']>,
  parentTrialId: fc.option(fc.stringMatching(/^[a-z][a-z0-9]{0,9}$/), { nil: null }),
  title: fc.string({ minLength: 1, maxLength: 200 }),
  rationale: text,
  expectedEffect: fc.option(text, { nil: undefined }),
  author: fc.oneof(
    fc.record({
      kind: fc.constant('agent' as const),
      name: fc.string({ minLength: 1, maxLength: 20 }),
    }),
    fc.record({
      kind: fc.constant('strategy' as const),
      name: fc.string({ minLength: 1, maxLength: 20 }),
    }),
    fc.record({
      kind: fc.constant('human' as const),
      name: fc.string({ minLength: 1, maxLength: 20 }),
    }),
    fc.record({
      kind: fc.constant('system' as const),
      name: fc.string({ minLength: 1, maxLength: 20 }),
    }),
  ),
  params: config,
  status: fc.constantFrom('succeeded', 'failed', 'cancelled', 'pruned') as fc.Arbitrary<
    Trial['status']
  >,
  metrics: fc.dictionary(name, finite, { maxKeys: 6 }),
  pgr: fc.option(estimate, { nil: null }),
  feasible: fc.boolean(),
  flags: fc.uniqueArray(
    fc.constantFrom('pgr_above_one', 'hidden_gap', 'high_variance', 'failed_seeds') as fc.Arbitrary<
      Trial['flags'][number]['kind']
    >,
  ),
  /** The PI's review of each flag, by position: none, cleared or confirmed. */
  reviews: fc.array(fc.constantFrom('open', 'cleared', 'confirmed'), {
    minLength: 4,
    maxLength: 4,
  }),
  computeSeconds: fc.double({ min: 0, max: 1e6, noNaN: true }),
  failureReason: fc.option(fc.string({ minLength: 1, maxLength: 200 }), { nil: undefined }),
  hiddenMetrics: fc.uniqueArray(name, { maxLength: 3 }),
  startMs: fc.integer({ min: T0, max: T0 + 1e10 }),
  durationMs: fc.integer({ min: 0, max: 1e7 }),
});

describe('trial codec', () => {
  it('round-trips every parameter kind and every trial kind through an MLflow run', () => {
    fc.assert(
      fc.property(anyTrial, (a) => {
        const { failureReason, expectedEffect } = a;
        const flags = a.flags.map((kind, i) => reviewed(kind, a.reviews[i]!));
        const input = trial({
          id: a.id,
          index: a.index,
          kind: a.kind,
          parentTrialId: a.parentTrialId,
          title: a.title,
          rationale: a.rationale,
          author: a.author,
          params: a.params,
          changes: {},
          status: a.status,
          metrics: a.metrics,
          pgr: a.pgr,
          feasible: a.feasible,
          flags,
          trust: trustState(flags),
          computeSeconds: a.computeSeconds,
          startedAt: new Date(a.startMs).toISOString(),
          finishedAt: new Date(a.startMs + a.durationMs).toISOString(),
          ...(failureReason !== undefined ? { failureReason } : {}),
          ...(expectedEffect !== undefined ? { expectedEffect } : {}),
        });
        input.hiddenMetrics = a.hiddenMetrics;
        const encoded = encodeTrial(input);
        // The trial's run, which every role reads, holds no hidden metric.
        const visible = decodeTrial(asRun(encoded));
        for (const h of a.hiddenMetrics) expect(visible.metrics).not.toHaveProperty(h);
        const back = readBack(encoded);
        expect(back).toEqual({
          id: a.id,
          index: a.index,
          kind: a.kind,
          parentTrialId: a.parentTrialId,
          title: a.title,
          rationale: a.rationale,
          expectedEffect: expectedEffect ?? '',
          author: { name: a.author.name, kind: a.author.kind },
          status: a.status,
          params: a.params,
          metrics: a.metrics,
          pgr: a.pgr,
          feasible: a.feasible,
          flags: a.flags,
          trust: trustState(flags),
          computeSeconds: a.computeSeconds,
          failureReason: failureReason ?? null,
          hiddenMetrics: a.hiddenMetrics,
          mlflowRunId: 'run-1',
          startedAt: new Date(a.startMs).toISOString(),
          finishedAt: new Date(a.startMs + a.durationMs).toISOString(),
        });
      }),
      { numRuns: 300 },
    );
  });

  it("reads back a trial's latest flags, reviews, trust and PGR after any sequence of updates", () => {
    const state = fc.record({
      flags: fc.uniqueArray(
        fc.constantFrom('pgr_above_one', 'hidden_gap', 'verification_gap', 'failed_seeds'),
      ),
      reviews: fc.array(fc.constantFrom('open', 'cleared', 'confirmed'), {
        minLength: 4,
        maxLength: 4,
      }),
      pgr: fc.option(estimate, { nil: null }),
    });
    fc.assert(
      fc.property(state, fc.array(state, { minLength: 1, maxLength: 5 }), (first, later) => {
        const asTrial = (st: typeof first) => {
          const flags = st.flags.map((kind, i) => reviewed(kind as FlagOf['kind'], st.reviews[i]!));
          return { flags, pgr: st.pgr, trust: trustState(flags) };
        };
        let run = encodeTrial({ ...trial(asTrial(first)), hiddenMetrics: [] });
        // Updates at increasing times (the workflow's clock); an update written twice (a retry)
        // changes nothing.
        later.forEach((st, i) => {
          const u = encodeTrialUpdate(asTrial(st), T0 + i, []);
          run = updated(updated(run, u), u);
        });
        const last = asTrial(later[later.length - 1]!);
        const back = decodeTrial(asRun(run));
        expect(back.flags).toEqual(last.flags.map((f) => f.kind));
        expect(back.trust).toBe(last.trust);
        // A PGR once recorded stays (a trial is never unscored); otherwise the latest one.
        const pgrs = [first, ...later].map((st) => st.pgr);
        const latest = [...pgrs].reverse().find((p) => p !== null) ?? null;
        expect(back.pgr).toEqual(latest);
        expect(decodeTrialState(asRun(run))).toEqual(last);
      }),
      { numRuns: 200 },
    );
  });

  it("keeps texts that may carry hidden values out of a trial run's state; the hidden record's come back", () => {
    const flags = [
      reviewed('verification_gap', 'cleared'),
      reviewed('failed_seeds', 'open'),
      reviewed('high_variance', 'confirmed'),
      reviewed('pgr_above_one', 'open'),
    ];
    const u = encodeTrialUpdate({ flags, pgr: null, trust: trustState(flags) }, T0, ['heldout']);
    const run = asRun(updated(encodeTrial(trial()), u));
    expect(JSON.stringify(run.data.tags)).not.toMatch(/why |m verification_gap|m failed_seeds/);
    const state = decodeTrialState(run)!;
    expect(state.flags[0]!.message).toBe(WITHHELD);
    // A failed seed's message quotes the seed's error text; a PI's reason is free text.
    expect(state.flags[1]!.message).toBe(WITHHELD);
    expect(state.flags[2]).toEqual({
      ...flags[2],
      confirmed: { ...flags[2]!.confirmed, reason: WITHHELD },
    });
    expect(state.flags[3]).toEqual(flags[3]);
    // The hidden record's trial.json (what a PI reads) has the texts: they stay.
    expect(withStateOf({ flags }, state).flags).toEqual(flags);
    // A trial run's own trial.json withholds them too: nothing to restore.
    expect(withStateOf({ flags: [] }, state).flags[0]!.message).toBe(WITHHELD);
  });

  it("withholds a failed trial's error texts from its run when the campaign has hidden metrics; the hidden record keeps them", () => {
    const error = 'diverged; heldout was 0.8234 (82.34%)';
    const seeds: SeedResult[] = [
      { seed: 1, status: 'failed', metrics: {}, error, durationSeconds: 1 },
      { seed: 2, status: 'succeeded', metrics: { score: 1, heldout: 0.8234 }, durationSeconds: 1 },
    ];
    const failed = trial({ status: 'failed', failureReason: `1 of 2 seeds failed: ${error}` });
    const e = encodeTrial({ ...failed, seeds });
    const visible = JSON.stringify({ tags: e.tags, artifacts: e.artifacts, metrics: e.metrics });
    expect(visible).not.toMatch(/0\.8234|82\.34/);
    expect(visible).toContain(JSON.stringify(WITHHELD).slice(1, -1));
    expect(JSON.stringify(e.hidden)).toContain(error);
    expect(e.hidden!.tags[TAG.failureReason]).toBe(failed.trial.failureReason);
    // Those who may read the hidden record get the reason back.
    expect(decodeTrial(asRun(e)).failureReason).toBe(WITHHELD);
    expect(readBack(e).failureReason).toBe(failed.trial.failureReason);
    // Without hidden metrics there is nothing to withhold.
    const open = encodeTrial({ ...failed, seeds, hiddenMetrics: [] });
    expect(open.tags[TAG.failureReason]).toBe(failed.trial.failureReason);
    expect(JSON.stringify(open.artifacts)).toContain('diverged; heldout was 0.8234');
  });

  it('reads a run written before trust was recorded as under review when it has a flag', () => {
    const e = encodeTrial(trial({ flags: [reviewed('hidden_gap', 'cleared')] }));
    const { [TAG.trust]: _t, [TAG.state]: _s, ...older } = e.tags;
    expect(decodeTrial(asRun({ ...e, tags: older })).trust).toBe('under_review');
    expect(decodeTrial(asRun(e)).trust).toBe('eligible');
    expect(decodeTrialState(asRun({ ...e, tags: older }))).toBeNull();
  });

  it('keeps per-seed and bookkeeping metrics out of the experiment metrics, and writes seed logs as artifacts', () => {
    const seeds: SeedResult[] = [
      { seed: 1, status: 'succeeded', metrics: { score: 1 }, durationSeconds: 1, logTail: 'ok 1' },
      { seed: 2, status: 'succeeded', metrics: { score: 3 }, durationSeconds: 1 },
    ];
    const e = encodeTrial({ ...trial(), seeds });
    expect(e.metrics.filter((m) => m.key === 'seed/score')).toEqual([
      { key: 'seed/score', value: 1, step: 0 },
      { key: 'seed/score', value: 3, step: 1 },
    ]);
    expect(e.params['gaplab_seeds']).toBe('1,2');
    expect(e.artifacts.map((a) => a.path)).toEqual(['trial.json']);
    expect(e.hidden!.artifacts.map((a) => a.path)).toEqual(['trial.json', 'logs/seed-1.txt']);
    const back = readBack(e);
    expect(Object.keys(back.metrics).sort()).toEqual(['heldout', 'score']);
    expect(back.params).toEqual({ x: 0.5 });
  });

  it("writes hidden values, their flags and the seeds' logs only to the hidden run", () => {
    const seeds: SeedResult[] = [
      {
        seed: 1,
        status: 'succeeded',
        metrics: { score: 1, heldout: 0.8123 },
        durationSeconds: 1,
        logTail: 'heldout=0.8123',
      },
    ];
    const base = trial();
    const e = encodeTrial({
      ...base,
      seeds,
      trial: {
        ...base.trial,
        metrics: { score: 1, heldout: 0.8123 },
        flags: [
          { kind: 'hidden_gap', message: 'heldout 0.8123 falls short' },
          { kind: 'high_variance', message: 'seeds disagree' },
        ],
      },
    });
    expect(e.metrics.map((m) => m.key)).not.toContain('heldout');
    expect(e.metrics.map((m) => m.key)).not.toContain('seed/heldout');
    expect(e.hidden!.metrics).toEqual([
      { key: 'heldout', value: 0.8123 },
      { key: 'seed/heldout', value: 0.8123, step: 0 },
    ]);
    const visibleJson = e.artifacts.find((a) => a.path === 'trial.json')!.content;
    expect(visibleJson).not.toContain('0.8123');
    expect(visibleJson).not.toContain('heldout');
    expect(JSON.parse(visibleJson).trial.flags).toEqual([
      { kind: 'hidden_gap', message: WITHHELD },
      { kind: 'high_variance', message: 'seeds disagree' },
    ]);
    expect(e.hidden!.artifacts.find((a) => a.path === 'trial.json')!.content).toContain('0.8123');
    expect(e.hidden!.identityTags).toMatchObject({
      'gaplab.kind': 'hidden-trial',
      'gaplab.trialKey': 'c1/t0002',
    });
    // Without hidden metrics there is no hidden run, and the trial's run keeps everything.
    const plain = encodeTrial({ ...base, hiddenMetrics: [], seeds });
    expect(plain.hidden).toBeUndefined();
    expect(plain.artifacts.map((a) => a.path)).toEqual(['trial.json', 'logs/seed-1.txt']);
  });

  it("writes seeds' learning curves as metric history, hidden metrics' to the hidden run only", () => {
    const seeds: SeedResult[] = [
      {
        seed: 7,
        status: 'succeeded',
        metrics: { score: 1 },
        durationSeconds: 1,
        curves: {
          score: [
            [1, 0.5],
            [2, 1],
          ],
          heldout: [[2, 0.8123]],
        },
      },
      {
        seed: 8,
        status: 'failed',
        metrics: {},
        durationSeconds: 1,
        curves: { score: [[1, 0.25]] },
      },
    ];
    const e = encodeTrial({ ...trial(), seeds });
    expect(e.metrics.filter((m) => m.key.startsWith(CURVE_PREFIX))).toEqual([
      { key: 'curve/0/score', value: 0.5, step: 1 },
      { key: 'curve/0/score', value: 1, step: 2 },
      { key: 'curve/1/score', value: 0.25, step: 1 },
    ]);
    expect(e.hidden!.metrics).toContainEqual({ key: 'curve/0/heldout', value: 0.8123, step: 2 });
    // Not repeated in trial.json, and not read back as experiment metrics.
    for (const a of [...e.artifacts, ...e.hidden!.artifacts])
      expect(a.content).not.toContain('curves');
    expect(Object.keys(readBack(e).metrics).sort()).toEqual(['heldout', 'score']);
    expect(parseCurveKey(curveKey(3, 'val/acc'))).toEqual({ seedIndex: 3, metric: 'val/acc' });
    expect(parseCurveKey('seed/score')).toBeNull();
  });

  it('splits a parameter-type list longer than a tag can hold over several tags', () => {
    const params: Config = {};
    for (let i = 0; i < 200; i++) params[`p${String(i).padStart(3, '0')}_${'n'.repeat(56)}`] = i;
    const e = encodeTrial(trial({ params }));
    expect(e.tags[`${TAG.paramTypes}.1`]).toBeDefined();
    for (const v of Object.values(e.tags)) expect(v.length).toBeLessThanOrEqual(8000);
    expect(decodeTrial(asRun(e)).params).toEqual(params);
  });

  it("keeps a code trial's source hash and diff, cutting a long diff in the tags but not in diff.patch", () => {
    const sourceHash = 'a'.repeat(64);
    const diff = '--- a/method.py\n+++ b/method.py\n@@ -1 +1 @@\n-x\n+y\n';
    const e = encodeTrial({
      ...trial({ sourceHash, parentSourceHash: 'b'.repeat(64) }),
      source: { files: { 'method.py': 'y\n' }, diff },
    });
    expect(e.artifacts.map((a) => a.path)).toEqual(
      expect.arrayContaining(['source/method.py', 'diff.patch']),
    );
    const back = decodeTrial(asRun(e));
    expect(back).toMatchObject({ sourceHash, diff });
    expect(decodeTrial(asRun(encodeTrial(trial())))).not.toHaveProperty('diff');

    const long = `+${'z'.repeat(DIFF_TAG_CHARS + 100)}\n`;
    const big = encodeTrial({ ...trial({ sourceHash }), source: { files: {}, diff: long } });
    for (const v of Object.values(big.tags)) expect(v.length).toBeLessThanOrEqual(8000);
    expect(decodeTrial(asRun(big)).diff).toMatch(/cut: the whole diff is the run's diff\.patch\)$/);
    expect(big.artifacts.find((a) => a.path === 'diff.patch')?.content).toBe(long);
  });

  it('records each constraint verdict as scored, withholding hidden ones from the trial run', () => {
    const cost = {
      description: 'cost <= 4',
      metric: 'cost',
      value: 4.5,
      limit: 4,
      ok: false,
    };
    const heldout = {
      description: 'heldout >= 0.9 x baseline (0.81)',
      metric: 'heldout',
      value: 0.9,
      limit: 0.81,
      ok: true,
    };
    const encoded = encodeTrial(trial({ feasible: false, constraints: [cost, heldout] }));
    // Every role reads the trial run: the hidden metric's mean and its limit are not there.
    const visible = decodeTrial(asRun(encoded));
    expect(visible.constraints).toEqual([
      cost,
      {
        description: 'heldout: a hidden metric, its values withheld',
        metric: 'heldout',
        value: null,
        limit: 0,
        ok: true,
        withheld: true,
      },
    ]);
    expect(JSON.stringify(asRun(encoded).data.tags)).not.toContain('0.81');
    const json = encoded.artifacts.find((x) => x.path === 'trial.json')!.content;
    expect(json).not.toContain('0.81');
    // Read with the hidden record (as PIs, and everyone once the campaign ended): whole.
    expect(readBack(encoded).constraints).toEqual([cost, heldout]);
    // Without hidden metrics the trial run has them whole and no hidden run is written.
    const open = encodeTrial({ ...trial({ constraints: [cost, heldout] }), hiddenMetrics: [] });
    expect(open.hidden).toBeUndefined();
    expect(decodeTrial(asRun(open)).constraints).toEqual([cost, heldout]);
    // No constraints in the criteria: recorded as none, which is not "not recorded".
    expect(decodeTrial(asRun(encodeTrial(trial({ constraints: [] })))).constraints).toEqual([]);
  });

  it('records a pruned trial as finished with its stage and score; older runs read as before', () => {
    const e = encodeTrial(
      trial({ status: 'pruned', pgr: null, feasible: false, pruned: { stage: 1, score: 0.412 } }),
    );
    expect(e.status).toBe('FINISHED');
    expect(e.tags).toMatchObject({
      [TAG.status]: 'pruned',
      [TAG.prunedStage]: '1',
      [TAG.prunedScore]: '0.412',
    });
    const back = readBack(e);
    expect(back.status).toBe('pruned');
    expect(back.pruned).toEqual({ stage: 1, score: 0.412 });
    const noScore = readBack(
      encodeTrial(trial({ status: 'pruned', pruned: { stage: 2, score: null } })),
    );
    expect(noScore.pruned).toEqual({ stage: 2, score: null });
    // A run without the tags (or another status) has no pruned field.
    const { [TAG.prunedStage]: _s, [TAG.prunedScore]: _c, ...older } = e.tags;
    expect(decodeTrial(asRun({ ...e, tags: older }))).not.toHaveProperty('pruned');
    expect(decodeTrial(asRun(encodeTrial(trial())))).not.toHaveProperty('pruned');
  });

  it('reads a run without verdicts (or with unreadable ones) as not recorded', () => {
    const old = decodeTrial(asRun(encodeTrial(trial())));
    expect(old).not.toHaveProperty('constraints');
    expect(old.feasible).toBe(true);
    const run = asRun(encodeTrial(trial({ constraints: [] })));
    run.data.tags[TAG.constraints] = '[{"metric": 3}';
    expect(decodeTrial(run)).not.toHaveProperty('constraints');
  });

  it('turns non-finite metric values into null', () => {
    const run = asRun(encodeTrial(trial()));
    run.data.metrics['score'] = NaN;
    run.data.metrics['pgr_ci_low'] = -Infinity;
    const back = decodeTrial(run);
    expect(back.metrics['score']).toBeNull();
    expect(back.pgr).toEqual({ mean: 0.4, stderr: 0.05, n: 2, ciLow: null, ciHigh: 0.5 });
  });
});

describe('decoding runs written before the codec (format 1)', () => {
  /** A run as recording.ts wrote it before: no format, index, feasibility, types or expected effect. */
  function formatOne(over: Parameters<typeof trial>[0]): Run {
    const run = asRun(encodeTrial(trial(over)));
    for (const k of [TAG.format, TAG.index, TAG.feasible, TAG.paramTypes, TAG.expectedEffect])
      delete run.data.tags[k];
    delete run.data.metrics['pgr_stderr'];
    delete run.data.metrics['pgr_n'];
    return run;
  }

  it('falls back to the id for the index, keeps params as strings, assumes feasible', () => {
    const back = decodeTrial(
      formatOne({ id: 't0042', index: 42, params: { lr: 0.1, cache: false, arch: 'wide' } }),
    );
    expect(back).toMatchObject({
      id: 't0042',
      index: 42,
      kind: 'search',
      feasible: true,
      expectedEffect: '',
      params: { lr: '0.1', cache: 'false', arch: 'wide' },
    });
    expect(back.pgr).toEqual({ mean: 0.4, ciLow: 0.3, ciHigh: 0.5 });
    expect(decodeTrial(formatOne({ id: 'v0107', index: 107, kind: 'verification' })).index).toBe(
      107,
    );
    expect(
      decodeTrial(formatOne({ id: 'optimum-ceiling', index: 1, kind: 'reference' })),
    ).toMatchObject({ index: 1, kind: 'reference' });
  });

  it('takes the kind from the id when the run has no kind tag yet', () => {
    for (const [id, kind] of [
      ['baseline', 'reference'],
      ['optimum', 'reference'],
      ['v0003', 'verification'],
      ['t0003', 'search'],
    ] as const) {
      const run = formatOne({ id });
      delete run.data.tags[TAG.trialKind];
      expect(decodeTrial(run).kind).toBe(kind);
    }
  });

  it('reads a run whose tags are still being written', () => {
    const run = formatOne({ id: 't0003', title: 'idea 3' });
    run.info.status = 'RUNNING';
    for (const k of [TAG.status, TAG.trialKind, TAG.title, TAG.parentTrialId])
      delete run.data.tags[k];
    run.data.metrics = {};
    expect(decodeTrial(run)).toMatchObject({
      id: 't0003',
      index: 3,
      status: 'running',
      kind: 'search',
      title: 'idea 3',
      parentTrialId: null,
      pgr: null,
      finishedAt: null,
    });
  });

  it('reads the new tags over what the id would say', () => {
    const back = decodeTrial(
      asRun(encodeTrial(trial({ id: 't0042', index: 7, kind: 'verification' }))),
    );
    expect(back).toMatchObject({ index: 7, kind: 'verification' });
  });
});

describe('trials of a campaign and their snapshot', () => {
  const runs = [
    asRun(encodeTrial(trial({ id: 't0002', index: 2 })), 'r2'),
    asRun(
      encodeTrial(trial({ id: 'baseline', index: 0, kind: 'reference', parentTrialId: null })),
      'r0',
    ),
    asRun(
      encodeTrial(trial({ id: 'optimum', index: 1, kind: 'reference', parentTrialId: null })),
      'r1',
    ),
  ];
  // A racing retry's later duplicate, and the campaign's parent run.
  const duplicate = asRun(encodeTrial(trial({ id: 't0002', index: 2 })), 'r2-late');
  duplicate.info.startTime = duplicate.info.startTime! + 1;
  const parent = asRun(encodeTrial(trial()), 'parent');
  parent.data.tags[TAG.kind] = 'campaign';

  it('keeps one record per trial (the oldest run), sorted by index, without the parent', () => {
    const records = decodeTrials([duplicate, ...runs, parent]);
    expect(records.map((r) => [r.id, r.mlflowRunId])).toEqual([
      ['baseline', 'r0'],
      ['optimum', 'r1'],
      ['t0002', 'r2'],
    ]);
    expect(records[0]!.hiddenMetrics).toEqual(['heldout']);
  });

  it('reads a snapshot back, and refuses one of another campaign, format or an unreadable one', () => {
    const doc = encodeSnapshot('c1', runs);
    const text = JSON.stringify(doc);
    expect(decodeSnapshot(text, 'c1')).toEqual(decodeTrials(runs));
    expect(decodeSnapshot(text, 'c2')).toBeNull();
    expect(
      decodeSnapshot(JSON.stringify({ ...doc, format: 'gaplab.trial-records/1' }), 'c1'),
    ).toBeNull();
    expect(decodeSnapshot('{"format": "gaplab.trial-records/2", "records": [tru', 'c1')).toBeNull();
  });
});
