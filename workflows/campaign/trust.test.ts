/** Trust states inside the campaign: flagged trials wait for a PI; clearing and confirming are real. */
import { describe, expect, it } from 'vitest';
import { EvaluationCriteria, ProblemSpec } from '../../domain/schemas.js';
import { StrategyConfig } from '../../domain/strategy.js';
import type { CampaignState } from './state/campaign-state.js';
import { searchingState } from '../../test/support/searching-state.js';
import { renderReportMarkdown } from '../../domain/report.js';
import type { CampaignInput } from '../types.js';

const pi = { name: 'Pat', role: 'pi' as const };

function newState(): CampaignState {
  const input: CampaignInput = {
    campaignId: 'c1',
    problem: ProblemSpec.parse({
      id: 'p',
      title: 'P',
      question: 'Q?',
      experiment: 'e',
      space: [{ name: 'x', kind: 'float', low: 0, high: 100 }],
      baseline: { x: 0 },
    }),
    criteria: {
      version: 1,
      criteria: EvaluationCriteria.parse({
        metric: 'score',
        direction: 'maximize',
        baseline: { kind: 'value', value: 0 },
        optimum: { kind: 'value', value: 10 },
        seedsPerTrial: 3,
        hiddenMetrics: ['heldout'],
        targetPgr: 5,
        budgets: { maxTrials: 100 },
      }),
      actor: pi,
      reason: '',
      createdAt: '2026-01-01T00:00:00Z',
    },
    strategy: StrategyConfig.parse({ name: 'random' }),
    experiment: { name: 'e', description: '', metrics: [], taskQueue: 'q', timeoutSeconds: 10 },
    seed: 1,
    startedBy: pi,
  };
  return searchingState(input, {
    baseline: { score: { mean: 0 }, metrics: { score: 0, heldout: 0 } },
    optimum: { score: { mean: 10 }, metrics: {} },
  });
}

/** Runs a trial with x as its param whose seeds score `score` (+ a little noise) and `heldout`. */
function run(state: CampaignState, x: number, score: number, heldout: number, by = 0.01) {
  state.proposals.accept(
    {
      proposals: [
        { title: `x=${x}`, rationale: '', parentTrialId: null, changes: { x }, expectedEffect: '' },
      ],
      dropped: [],
      notes: [],
      dollars: 0,
      authors: ['random'],
    },
    0,
  );
  const req = state.queue.nextTrialRequest()!;
  return state.trials.finish(
    req,
    req.seeds.map((seed, k) => ({
      seed,
      status: 'succeeded' as const,
      metrics: { score: score + k * by, heldout: heldout + k * by },
      durationSeconds: 0.01,
    })),
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:01Z',
  );
}

describe('trust states in a campaign', () => {
  it('a flagged trial is listed under review, never best, never offered to strategies; clearing makes it eligible', () => {
    const state = newState();
    const gamed = run(state, 1, 12, 2); // PGR 1.2, far from its hidden score
    const honest = run(state, 2, 8, 8);
    expect(gamed.trust).toBe('under_review');
    expect(gamed.flags.map((f) => f.kind).sort()).toEqual(['hidden_gap', 'pgr_above_one']);
    expect(state.views.status(0).best?.trialId).toBe(honest.id);
    expect(state.views.leaderboard(10).map((t) => t.id)).toEqual([honest.id]);
    expect(state.views.status(0).underReview?.map((u) => u.trialId)).toEqual([gamed.id]);
    const view = state.strategyView(1).history.find((t) => t.id === gamed.id)!;
    expect(view.pgr).toBeNull();
    expect(view.feasible).toBe(false);
    expect(state.context.data.counts.flagged).toBe(1);

    state.trials.decideFlag(gamed.id, 'pgr_above_one', 'clear', pi, 'the optimum was set too low');
    expect(gamed.trust).toBe('under_review'); // hidden_gap is still open
    state.trials.decideFlag(
      gamed.id,
      'hidden_gap',
      'clear',
      pi,
      'held-out split mislabelled, checked',
    );
    expect(gamed.trust).toBe('eligible');
    expect(state.views.status(0).best?.trialId).toBe(gamed.id);
    expect(state.context.data.counts.flagged).toBe(0);
    expect(
      state.context.data.audit.filter((a) => a.action === 'clear flag').map((a) => a.detail),
    ).toEqual([
      `${gamed.id} pgr_above_one: the optimum was set too low (trial now under review)`,
      `${gamed.id} hidden_gap: held-out split mislabelled, checked (trial now eligible)`,
    ]);
    expect(state.trials.openFlag(gamed.id, 'hidden_gap')).toMatchObject({
      ok: false,
      type: 'Conflict',
    });
  });

  it('confirming a flag excludes the trial for good, and the report lists it with the reason', () => {
    const state = newState();
    const gamed = run(state, 1, 12, 2);
    run(state, 2, 8, 8);
    state.trials.decideFlag(gamed.id, 'hidden_gap', 'confirm', pi, 'it trains on the labels');
    expect(gamed.trust).toBe('excluded');
    state.trials.decideFlag(gamed.id, 'pgr_above_one', 'clear', pi, 'irrelevant');
    expect(gamed.trust).toBe('excluded');
    expect(state.views.status(0).best?.trialId).not.toBe(gamed.id);
    expect(gamed.flags.find((f) => f.kind === 'hidden_gap')?.confirmed?.reason).toBe(
      'it trains on the labels',
    );
    const report = state.buildReport('2026-01-01T00:01:00Z');
    expect(report.underReview).toEqual([
      expect.objectContaining({ trialId: gamed.id, trust: 'excluded' }),
    ]);
    expect(report.verdict?.verdict).toBe('not_verified');
    expect(report.verifiedPgr).toBeNull();
    expect(renderReportMarkdown(report)).toContain(`- ${gamed.id} (excluded)`);
  });

  it('zero-variance seeds get the campaign pooled floor on their standard error', () => {
    const state = newState();
    for (let i = 0; i < 5; i++) run(state, 10 + i, 5 + i * 0.1, 5 + i * 0.1);
    // A frozen trial: the same score on every seed.
    state.proposals.accept(
      {
        proposals: [
          {
            title: 'frozen',
            rationale: '',
            parentTrialId: null,
            changes: { x: 50 },
            expectedEffect: '',
          },
        ],
        dropped: [],
        notes: [],
        dollars: 0,
        authors: ['random'],
      },
      0,
    );
    const req = state.queue.nextTrialRequest()!;
    const frozen = state.trials.finish(
      req,
      req.seeds.map((seed) => ({
        seed,
        status: 'succeeded' as const,
        metrics: { score: 6, heldout: 6 },
        durationSeconds: 0.01,
      })),
      '2026-01-01T00:00:00Z',
      '2026-01-01T00:00:01Z',
    );
    // Honest trials vary by 0.01 per seed (PGR variance 1e-6, 2 df each); the frozen one shows
    // no spread and adds no degrees of freedom: pooled = 5 * 2 * 1e-6 / 10.
    expect(frozen.pgr!.stderr).toBeCloseTo(Math.sqrt(10e-6 / 10 / 3), 9);
    expect(frozen.pgr!.ciLow).toBeLessThan(frozen.pgr!.mean);
  });
});

describe('the pooled standard-error floor counts eligible trials only', () => {
  /** A trial whose seeds all score `score`, with the held-out metric at `heldout`. */
  function constant(state: CampaignState, x: number, score: number, heldout: number) {
    state.proposals.accept(
      {
        proposals: [
          {
            title: `c${x}`,
            rationale: '',
            parentTrialId: null,
            changes: { x },
            expectedEffect: '',
          },
        ],
        dropped: [],
        notes: [],
        dollars: 0,
        authors: ['random'],
      },
      0,
    );
    const req = state.queue.nextTrialRequest()!;
    return state.trials.finish(
      req,
      req.seeds.map((seed) => ({
        seed,
        status: 'succeeded' as const,
        metrics: { score, heldout },
        durationSeconds: 0.01,
      })),
      '2026-01-01T00:00:00Z',
      '2026-01-01T00:00:01Z',
    );
  }
  /** A trial whose seeds spread by `spread` around `score` (held-out alike). */
  function spread(state: CampaignState, x: number, score: number, by: number) {
    state.proposals.accept(
      {
        proposals: [
          {
            title: `s${x}`,
            rationale: '',
            parentTrialId: null,
            changes: { x },
            expectedEffect: '',
          },
        ],
        dropped: [],
        notes: [],
        dollars: 0,
        authors: ['random'],
      },
      0,
    );
    const req = state.queue.nextTrialRequest()!;
    return state.trials.finish(
      req,
      req.seeds.map((seed, k) => ({
        seed,
        status: 'succeeded' as const,
        metrics: { score: score + (k - 1) * by, heldout: score + (k - 1) * by },
        durationSeconds: 0.01,
      })),
      '2026-01-01T00:00:00Z',
      '2026-01-01T00:00:01Z',
    );
  }
  const stderrOf = (state: CampaignState, id: string) =>
    state.trials.all.find((t) => t.id === id)!.pgr!.stderr;

  it('40 flagged constant trials do not shrink the floor of an honest trial', () => {
    const state = newState();
    const honest = spread(state, 1, 5, 0.5);
    for (let i = 0; i < 3; i++) spread(state, 2 + i, 5, 0.5);
    const quiet = constant(state, 10, 6, 6);
    const before = stderrOf(state, quiet.id);
    expect(before).toBeGreaterThan(0);
    // 40 frozen trials whose held-out metric falls far short: each is flagged hidden_gap.
    for (let i = 0; i < 40; i++) {
      const t = constant(state, 20 + i, 6, 0);
      expect(t.flags.map((f) => f.kind)).toContain('hidden_gap');
    }
    spread(state, 90, 5, 0.5); // a new eligible trial refreshes the floor
    expect(stderrOf(state, quiet.id)).toBeGreaterThan(before * 0.9);
    expect(stderrOf(state, honest.id)).toBeGreaterThan(0);
  });

  it("a flagged outlier does not widen other trials' intervals", () => {
    const state = newState();
    for (let i = 0; i < 4; i++) spread(state, 1 + i, 5, 0.1);
    const quiet = constant(state, 10, 6, 6);
    const before = stderrOf(state, quiet.id);
    // An outlier that swings by 60 score units (6 PGR) per seed: flagged high_variance.
    const outlier = spread(state, 50, -20, 60);
    expect(outlier.flags.map((f) => f.kind)).toContain('high_variance');
    spread(state, 91, 5, 0.1);
    // Another eligible trial of the same noise moves it a little; the outlier alone would
    // multiply it by about 100.
    expect(stderrOf(state, quiet.id)).toBeLessThan(before * 1.5);
  });
});

describe("the strategy's view depends on visible data only", () => {
  /**
   * One campaign's trials with the given hidden values: `mid` is the trial whose hidden score
   * is set per run, and a failed trial's error quotes a hidden value.
   */
  function campaign(midHeldout: number, failQuote: number) {
    const state = newState();
    run(state, 1, 8, 7.9);
    const mid = run(state, 2, 5, midHeldout);
    run(state, 3, 7, 6.95);
    state.proposals.accept(
      {
        proposals: [
          {
            title: 'x=4',
            rationale: '',
            parentTrialId: null,
            changes: { x: 4 },
            expectedEffect: '',
          },
        ],
        dropped: [],
        notes: [{ kind: 'human', author: 'Pat', text: 'keep going' }],
        dollars: 0,
        authors: ['random'],
      },
      0,
    );
    const req = state.queue.nextTrialRequest()!;
    state.trials.finish(
      req,
      req.seeds.map((seed) => ({
        seed,
        status: 'failed' as const,
        metrics: {},
        error: `diverged (heldout=${failQuote}, Heldout ${failQuote.toFixed(3)})`,
        durationSeconds: 0.01,
      })),
      '2026-01-01T00:00:00Z',
      '2026-01-01T00:00:01Z',
    );
    return { state, mid };
  }

  it('is byte-identical when only hidden values differ, a hidden-gap flag included', () => {
    const a = campaign(5.02, 0.8127);
    const b = campaign(0.5, 0.3311); // mid's hidden score falls short: flagged in b only
    expect(a.mid.flags.map((f) => f.kind)).toEqual([]);
    expect(b.mid.flags.map((f) => f.kind)).toEqual(['hidden_gap']);
    expect(b.mid.trust).toBe('under_review');
    const va = a.state.strategyView(2);
    const vb = b.state.strategyView(2);
    expect(JSON.stringify(vb)).toBe(JSON.stringify(va));
    // The held trial looks like any other: its PGR, feasible, no mark.
    const shown = vb.history.find((t) => t.id === b.mid.id)!;
    expect(shown.pgr?.mean).toBeCloseTo(0.5, 1);
    expect(shown.feasible).toBe(true);
    expect(shown.underReview).toBeUndefined();
    expect(vb.leader).toBe(b.state.views.status(0).best?.trialId);
    const text = JSON.stringify(vb);
    expect(text).not.toMatch(/heldout|0\.8127|0\.3311|hidden_gap/i);
    expect(text).toContain('diverged (');
  });

  it('keeps the pooled floor, and so every interval shown, the same when a hidden flag holds a trial', () => {
    // The held trial's visible seeds spread 30 times wider than the others': taking it out of
    // the pool would narrow every other trial's interval, telling the strategy of the flag.
    const views = [5.3, 0].map((midHeldout) => {
      const state = newState();
      run(state, 1, 8, 7.9);
      const mid = run(state, 2, 5, midHeldout, 0.3);
      const last = run(state, 3, 7, 6.95);
      return { state, mid, last, view: state.strategyView(2) };
    });
    const [a, b] = views as [(typeof views)[0], (typeof views)[0]];
    expect(a.mid.flags.map((f) => f.kind)).toEqual([]);
    expect(b.mid.flags.map((f) => f.kind)).toEqual(['hidden_gap']);
    expect(b.last.pgr!.stderr).toBe(a.last.pgr!.stderr);
    expect(JSON.stringify(b.view)).toBe(JSON.stringify(a.view));
  });

  it('never offers a trial held for a hidden reason as the leader, and marks visible reviews', () => {
    const state = newState();
    const gamed = run(state, 1, 9, 1); // the visible best, far short on the hidden split
    const honest = run(state, 2, 6, 6);
    const above = run(state, 3, 12, 12); // PGR above 1: a visible reason for review
    const view = state.strategyView(1);
    expect(view.leader).toBe(honest.id);
    const g = view.history.find((t) => t.id === gamed.id)!;
    expect(g).toMatchObject({ feasible: true, pgr: { mean: expect.closeTo(0.9, 1) } });
    expect(g.underReview).toBeUndefined();
    const a = view.history.find((t) => t.id === above.id)!;
    expect(a).toMatchObject({ feasible: false, pgr: null, underReview: true });
    // A PI clearing the hidden flag makes it the leader; the rest of the view is unchanged.
    const before = JSON.stringify({ ...view, leader: undefined });
    state.trials.decideFlag(gamed.id, 'hidden_gap', 'clear', pi, 'checked');
    const after = state.strategyView(1);
    expect(after.leader).toBe(gamed.id);
    expect(
      JSON.stringify({ ...after, leader: undefined, iteration: view.iteration, seed: view.seed }),
    ).toBe(before);
  });
});
