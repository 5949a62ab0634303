/**
 * When the campaign still takes work and how it stops, on the state alone with a test clock:
 * PI stops, the wall-clock deadline, drains after a budget runs out, approval timeouts and the
 * messages refused once the campaign has stopped.
 */
import { describe, expect, it } from 'vitest';
import { campaignInput, quadCriteria } from '../../test/support/quadratic.js';
import type { StrategyResult } from '../../domain/strategy.js';
import type { CampaignState } from './state/campaign-state.js';
import { searchingState } from '../../test/support/searching-state.js';
import { admit } from './seed-results.js';

const pi = { name: 'Pat', role: 'pi' } as const;
const researcher = { name: 'Rae', role: 'researcher' } as const;

/** A clock the test moves by hand. */
function clock(start = 0) {
  let t = start;
  const now = () => t;
  return Object.assign(now, { set: (ms: number) => void (t = ms) });
}

function state(criteria: Record<string, unknown>, now: ReturnType<typeof clock>) {
  return searchingState(campaignInput({ criteria: quadCriteria(criteria) }), undefined, now);
}

const proposals = (...xs: number[]): StrategyResult => ({
  proposals: xs.map((x) => ({
    title: `x=${x}`,
    rationale: '',
    parentTrialId: null,
    changes: { x },
    expectedEffect: '',
  })),
  dropped: [],
  notes: [],
  dollars: 0,
  authors: ['random'],
});

/** Finishes a search trial with two good seeds. */
/** Why `req` would not start as its first seed takes a slot now (campaign/seed-results.ts), or null. */
function admitted(s: CampaignState, req: Parameters<typeof admit>[1]): string | null {
  return admit(s.lifecycle, req, {}, 0);
}

function finish(
  s: CampaignState,
  req: NonNullable<ReturnType<CampaignState['queue']['nextTrialRequest']>>,
) {
  return s.trials.finish(
    req,
    req.seeds.map((seed) => ({
      seed,
      status: 'succeeded' as const,
      metrics: { score: -30 },
      durationSeconds: 1,
    })),
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:01Z',
  );
}

describe('campaign state: accepting work and stopping', () => {
  it('a PI stop refuses new work at once and names who stopped; running trials may keep running', () => {
    const now = clock();
    const s = state({ budgets: { maxTrials: 10 } }, now);
    s.proposals.accept(proposals(1, 2), 0);
    expect(s.queue.canStartTrial(0, 0)).toBe(true);
    const req = s.queue.nextTrialRequest()!;

    s.lifecycle.checkStop();
    s.piStop(pi, 'enough', false);
    expect(() => s.lifecycle.checkStop()).toThrow(expect.objectContaining({ type: 'Conflict' }));
    expect(s.queue.canStartTrial(0, 1)).toBe(false);
    expect(s.queue.proposalsWanted(1)).toBe(0);
    expect(admitted(s, req)).toBe('the campaign was stopped');
    // Reference and verification trials are never refused for a slot.
    expect(admitted(s, { ...req, kind: 'reference' })).toBeNull();

    expect(s.stopNow(0)).toBe('stopped_by_pi');
    expect(s.lifecycle.shouldCancelRunning()).toBe(false);
    expect(s.buildReport('2026-01-02T00:00:00Z')).toMatchObject({
      stopReason: 'stopped_by_pi',
      stopDetail: 'stopped by Pat: enough',
    });
    expect(s.context.data.audit.at(-1)).toMatchObject({ action: 'stop', detail: 'enough' });
  });

  it("a finished campaign's status is dated at its end, with or without a wall budget", () => {
    const now = clock(Date.parse('2026-01-01T00:00:00Z'));
    const s = state({ budgets: { maxTrials: 10 } }, now);
    expect(s.status(now()).endedAtMs).toBeUndefined();
    s.piStop(pi, 'enough', false);
    expect(s.stopNow(now())).toBe('stopped_by_pi');
    s.finish(s.buildReport('2026-01-01T00:05:00Z'));
    // Queried an hour later, it still says when it ended.
    const later = s.status(Date.parse('2026-01-01T01:05:00Z'));
    expect(later.phase).toBe('finished');
    expect(later.endedAtMs).toBe(Date.parse('2026-01-01T00:05:00Z'));
    expect((later.endedAtMs! - later.ledger.startedAtMs) / 1000).toBe(300);
  });

  it('the wall-clock deadline is a hard stop, timed by the clock it is given', () => {
    const now = clock(1_000);
    const s = state({ budgets: { maxWallSeconds: 60 } }, now);
    expect(s.lifecycle.msUntilNextDeadline(1_000)).toBe(60_000);
    expect(s.lifecycle.hardStop(60_999)).toBeNull();
    expect(s.stopNow(60_999)).toBeNull();
    expect(s.lifecycle.hardStop(61_000)?.reason).toBe('deadline');
    expect(s.stopNow(61_000)).toBe('deadline');
    expect(s.lifecycle.shouldCancelRunning()).toBe(true);
    // Once stopped, people's messages are refused.
    expect(() => s.lifecycle.checkOpen()).toThrow(
      expect.objectContaining({ type: 'Conflict', message: 'the campaign has stopped' }),
    );
  });

  it('a spent budget drains: nothing new starts, the running trial finishes, then the campaign stops', () => {
    const now = clock();
    const s = state({ budgets: { maxTrials: 1, concurrency: 4 } }, now);
    s.proposals.accept(proposals(1, 2), 0);
    const req = s.queue.nextTrialRequest()!;
    expect(s.queue.canStartTrial(0, 1)).toBe(false);
    // The trial budget is used, but the started trial is still running: no stop yet.
    expect(s.stopNow(0)).toBeNull();
    expect(s.queue.proposalsWanted(1)).toBe(0);
    finish(s, req);
    expect(s.stopNow(0)).toBe('max_trials');
    expect(s.lifecycle.shouldCancelRunning()).toBe(false);
    // The idea that never ran is dropped with the reason.
    expect(s.queue.queued.length).toBe(0);
    expect(s.context.data.dropped.at(-1)?.reason).toBe(
      'not run: the campaign stopped (max_trials)',
    );
    expect(s.context.data.proposals.counts.byCause).toMatchObject({ not_run: 1 });
  });

  it('seeds that finished in a running trial count against the compute budget before their trial is charged', () => {
    const s = state({ budgets: { maxComputeSeconds: 10, concurrency: 2 } }, clock());
    s.proposals.accept(proposals(1, 2), 0);
    const first = s.queue.nextTrialRequest()!;
    const waiting = s.queue.nextTrialRequest()!;
    expect(admitted(s, waiting)).toBeNull();
    // One seed of the first trial ran 12 s and freed its slot; the trial is not scored yet.
    s.context.addSeedCompute(first.id, 12);
    expect(admitted(s, waiting)).toBe('budget used (max_compute) before it got a slot');
    // Once the trial is charged, its seeds are counted once, in the ledger.
    finish(s, first);
    expect(s.context.data.ledger.computeSeconds).toBe(first.seeds.length);
    expect(admitted(s, waiting)).toBeNull();
  });

  it('a raised budget lifts a drain that has not stopped the campaign yet', () => {
    const now = clock();
    const s = state({ budgets: { maxTrials: 1, concurrency: 4 } }, now);
    s.proposals.accept(proposals(1, 2), 0);
    const req = s.queue.nextTrialRequest()!;
    expect(s.stopNow(0)).toBeNull();
    s.lifecycle.validateBudgetChange({ maxTrials: 5 });
    expect(() => s.lifecycle.validateBudgetChange({ maxTrials: -1 })).toThrow(
      expect.objectContaining({
        type: 'InvalidInput',
        message: expect.stringMatching(/^budgets\.maxTrials/),
      }),
    );
    s.changeBudgets({ maxTrials: 5 });
    finish(s, req);
    expect(s.stopNow(0)).toBeNull();
    expect(s.queue.canStartTrial(0, 0)).toBe(true);
  });

  it('a pending approval times out at its deadline by the clock, and is decided by onTimeout', () => {
    const now = clock(5_000);
    const s = state(
      {
        budgets: { maxTrials: 10 },
        approval: { enabled: true, timeoutSeconds: 10, onTimeout: 'reject' },
      },
      now,
    );
    s.proposals.accept(proposals(1), 5_000);
    expect(s.queue.pending).toHaveLength(1);
    expect(s.queue.queued.length).toBe(0);
    expect(s.lifecycle.msUntilNextDeadline(5_000)).toBe(10_000);
    s.queue.applyApprovalTimeouts(14_999);
    expect(s.queue.pending).toHaveLength(1);
    now.set(15_000);
    s.queue.applyApprovalTimeouts(15_000);
    expect(s.queue.pending).toHaveLength(0);
    expect(s.queue.queued.length).toBe(0);
    expect(s.context.data.dropped.at(-1)?.reason).toBe('rejected by gaplab: approval timed out');
    // The audit entry's time is the clock's, not the machine's.
    expect(s.context.data.audit.at(-1)).toMatchObject({
      action: 'reject',
      at: new Date(15_000).toISOString(),
      actor: { name: 'gaplab', role: 'system' },
    });
  });

  it("a researcher's idea waits for approval; a PI's runs first; decided ideas are told apart from unknown ones", () => {
    const now = clock();
    const s = state(
      { budgets: { maxTrials: 10 }, approval: { enabled: true, timeoutSeconds: 60 } },
      now,
    );
    const waiting = s.queue.injectHuman(researcher, { title: 'r', changes: { x: 3 } });
    expect(s.queue.pending.map((p) => p.hypothesis.id)).toEqual([waiting.id]);
    s.proposals.accept(proposals(1), 0);
    const first = s.queue.injectHuman(pi, { title: 'p', changes: { x: 4 } });
    expect(s.queue.queued.length).toBe(1);
    expect(s.queue.nextTrialRequest()?.hypothesis.id).toBe(first.id);

    s.queue.checkPending(waiting.id);
    s.queue.decide(waiting.id, 'approve', pi);
    expect(() => s.queue.checkPending(waiting.id)).toThrow(
      expect.objectContaining({
        type: 'Conflict',
        message: expect.stringMatching(/already decided/),
      }),
    );
    expect(() => s.queue.checkPending('h9999')).toThrow(
      expect.objectContaining({ type: 'NotFound' }),
    );
    expect(s.queue.queued.length).toBe(1);
  });

  it('pause and resume are refused when they change nothing, and every message once stopped', () => {
    const s = state({ budgets: { maxTrials: 10 } }, clock());
    expect(() => s.lifecycle.checkPause(false)).toThrow(/not paused/);
    s.lifecycle.checkPause(true);
    s.setPaused(researcher, true, 'lunch');
    expect(s.lifecycle.paused).toBe(true);
    expect(s.queue.canStartTrial(0, 0)).toBe(false);
    expect(() => s.lifecycle.checkPause(true)).toThrow(/already paused/);
    s.setPaused(researcher, false);
    s.lifecycle.requestStop('error', 'broken');
    expect(() => s.lifecycle.checkPause(true)).toThrow(/has stopped/);
    expect(() => s.lifecycle.checkOpen()).toThrow(/has stopped/);
    // A PI's stop is still taken while the campaign stops for another reason.
    expect(() => s.lifecycle.checkStop()).not.toThrow();
  });

  it('a stop during verification ends the verification; the search stop reason stands', () => {
    const s = state({ budgets: { maxTrials: 1 } }, clock());
    s.proposals.accept(proposals(1), 0);
    finish(s, s.queue.nextTrialRequest()!);
    expect(s.stopNow(0)).toBe('max_trials');
    s.lifecycle.setPhase('verifying');
    expect(s.lifecycle.verificationStopped).toBe(false);
    s.piStop(pi, 'no time', true);
    expect(s.lifecycle.verificationStopped).toBe(true);
    expect(() => s.lifecycle.checkStop()).toThrow(/already stopping/);
    expect(s.lifecycle.stopHard(0)).toBe(true);
    expect(s.lifecycle.stopReason).toBe('max_trials');
    expect(s.context.data.audit.at(-1)?.action).toBe('stop verification');
  });
});

describe('measured references that make PGR meaningless', () => {
  it('end the campaign with references_invalid and a reason a person can act on, not error', () => {
    const now = clock();
    // The quadratic bowl is maximized: an optimum below the baseline is on the wrong side.
    const s = searchingState(
      campaignInput({ criteria: quadCriteria({ budgets: { maxTrials: 10, concurrency: 2 } }) }),
      {
        baseline: { score: { mean: 5, stderr: 0.1, n: 5 }, metrics: {} },
        optimum: { score: { mean: 2, stderr: 0.1, n: 5 }, metrics: {} },
      },
      now,
    );
    const problem = s.references.referenceProblem();
    expect(problem).toEqual({
      reason: 'references_invalid',
      detail:
        "the optimum (2) is not better than the baseline (5) for score, a metric to maximize: check the criteria's references",
    });
    s.lifecycle.requestStop(problem!.reason, problem!.detail);
    expect(s.stopNow(0)).toBe('references_invalid');
    // Work started beside the references is cancelled, and nothing is verified.
    expect(s.lifecycle.shouldCancelRunning()).toBe(true);
    expect(s.buildReport('2026-01-02T00:00:00Z')).toMatchObject({
      stopReason: 'references_invalid',
      stopDetail: problem!.detail,
    });

    const equal = searchingState(
      campaignInput({ criteria: quadCriteria({ budgets: { maxTrials: 10, concurrency: 2 } }) }),
      {
        baseline: { score: { mean: 5 }, metrics: {} },
        optimum: { score: { mean: 5 }, metrics: {} },
      },
    );
    expect(equal.references.referenceProblem()).toEqual({
      reason: 'references_invalid',
      detail: 'the optimum equals the baseline (5): PGR is undefined',
    });
  });
});
