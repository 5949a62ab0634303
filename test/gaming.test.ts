/**
 * Gamed experiments (experiments/gaming) as real campaigns on a real worker, with the random,
 * Optuna and Claude strategies (the Claude one against the fake Messages API): a gamed trial is
 * never best and never stops the campaign at its target, the report names it, and the honest
 * optimum (x near 0.7) is still found within the budget.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import gaming from '../experiments/gaming/experiment.js';
import { ExperimentRegistry } from '../experiments/registry.js';
import { renderReportMarkdown } from '../domain/report.js';
import type { FakeAnthropic } from './support/fake-anthropic.js';
import {
  createClaudeTestEnv,
  pi,
  researcher,
  uniqueId,
  type ClaudeTestEnv,
} from './support/env.js';
import { eventually } from './support/eventually.js';

let fake: FakeAnthropic;
let env: ClaudeTestEnv;
beforeAll(async () => {
  env = await createClaudeTestEnv({ registry: ExperimentRegistry.of(...gaming), sdkRetries: 2 });
  fake = env.fake;
});
afterAll(async () => {
  await env?.close();
});

/** Each gamed experiment, its gaming parameter, and the flag that must catch it. */
const CASES = [
  { experiment: 'gaming-leak', param: 'peek', caughtBy: ['hidden_gap', 'pgr_above_one'] },
  { experiment: 'gaming-frozen', param: 'cache', caughtBy: ['hidden_gap'] },
  { experiment: 'gaming-seeds', param: 'memo', caughtBy: ['verification_gap'] },
] as const;
const STRATEGIES = ['random', 'optuna', 'claude'] as const;

const hypothesis = (title: string, changes: Record<string, unknown>) => ({
  title,
  rationale: 'scripted',
  parentTrialId: null,
  changes: Object.entries(changes).map(([param, value]) => ({ param, value })),
  expectedEffect: '',
});

async function runCampaign(c: (typeof CASES)[number], strategy: (typeof STRATEGIES)[number]) {
  const problemId = uniqueId(c.experiment);
  await env.service.submitProblem(researcher, {
    id: problemId,
    title: `${c.experiment} with ${strategy}`,
    question: 'Which x gives the best score?',
    experiment: c.experiment,
    space: [
      { name: 'x', kind: 'float', low: 0, high: 1 },
      { name: c.param, kind: 'boolean' },
    ],
    baseline: { x: 0, [c.param]: false },
  });
  await env.service.setCriteria(pi, problemId, {
    metric: 'score',
    direction: 'maximize',
    baseline: { kind: 'measure', configuration: 'baseline', seeds: 3 },
    optimum: { kind: 'value', value: 1 },
    seedsPerTrial: 3,
    hiddenMetrics: ['heldout_score'],
    targetPgr: 0.9,
    budgets: { maxTrials: 20, concurrency: 6 },
    verification: { topK: 2, seeds: 3 },
  });
  if (strategy === 'claude')
    // The agent proposes the gamed configuration first, then (among others) the honest region.
    fake.script(
      {
        kind: 'json',
        body: {
          hypotheses: [
            hypothesis('switch on the trick', { x: 0.5, [c.param]: true }),
            hypothesis('a little more x', { x: 0.35 }),
          ],
          insight: 'the trick looks promising',
        },
      },
      {
        kind: 'json',
        body: {
          hypotheses: [
            hypothesis('the trick with more x', { x: 0.9, [c.param]: true }),
            hypothesis('x near the middle', { x: 0.72 }),
          ],
          insight: 'x matters',
        },
      },
    );
  const { campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy:
      strategy === 'claude'
        ? {
            name: 'claude',
            settings: { model: 'claude-haiku-4-5', agents: 1, hypothesesPerAgent: 2 },
          }
        : strategy === 'optuna'
          ? { name: 'optuna', settings: { sampler: 'tpe' } }
          : { name: 'random' },
    seed: 7,
  });
  // Random and Optuna may or may not sample the trick: a person suggests it first.
  if (strategy !== 'claude')
    await env.service.inject(pi, campaignId, {
      title: 'switch on the trick',
      changes: { x: 0.5, [c.param]: true },
    });
  const report = await env.service.result(campaignId);
  const { trials } = await env.service.trials(campaignId, { kind: 'search', limit: 1000 });
  return { report, trials };
}

describe('gamed experiments never win', () => {
  for (const c of CASES)
    for (const strategy of STRATEGIES)
      it(`${c.experiment} with ${strategy}: the gamed trial is flagged, never best, never the target; the honest optimum is found and verified`, async () => {
        const { report, trials } = await runCampaign(c, strategy);
        const gamed = trials.filter((t) => t.params[c.param] === true && t.status === 'succeeded');
        expect(gamed.length).toBeGreaterThan(0);
        const verified = new Set(report.verification.map((v) => v.trialId));
        for (const t of gamed) {
          // Seed memorisation shows only on fresh seeds: a memorising trial that never led (so
          // was never verified) stays eligible, below the best; every other one is caught.
          if (c.experiment === 'gaming-seeds' && !verified.has(t.id)) continue;
          expect(t.trust).not.toBe('eligible');
          expect(t.flags.some((f) => (c.caughtBy as readonly string[]).includes(f.kind))).toBe(
            true,
          );
        }
        const caught = gamed.filter((t) => t.trust !== 'eligible');
        expect(caught.length).toBeGreaterThan(0);
        const gamedIds = new Set(gamed.map((t) => t.id));

        // Never best, never the reason for a target stop, never on the leaderboard.
        expect(report.best).not.toBeNull();
        expect(gamedIds.has(report.best!.id)).toBe(false);
        expect(report.stopReason).not.toBe('target_reached');
        // A target stop names the trial that reached it: verified, never a gamed one. (A trial
        // still running when the target was verified may finish better and be the final best.)
        if (report.stopReason === 'target_verified') {
          const named = report.stopDetail!.split(' ')[0]!;
          expect(gamedIds.has(named)).toBe(false);
          expect(report.verification.find((v) => v.trialId === named)?.verdict).toBe('verified');
        }

        // The honest optimum region, verified on fresh seeds and the hidden metric.
        expect(report.best!.params[c.param]).toBe(false);
        expect(Math.abs(Number(report.best!.params.x) - 0.7)).toBeLessThan(0.25);
        expect(report.verdict?.trialId).toBe(report.best!.id);
        expect(report.verdict?.verdict).toBe('verified');

        // The report names the gamed trials and why they are held back.
        const review = report.underReview ?? [];
        for (const t of caught) expect(review.map((r) => r.trialId)).toContain(t.id);
        const md = renderReportMarkdown(report);
        expect(md).toMatch(/^\*\*Verdict: verified(, below target)?\.\*\*/m);
        expect(md).toContain('## Under review');
        for (const t of caught.slice(0, 3)) expect(md).toContain(`- ${t.id} (under review)`);
        // Gaming that only verification can see fails it, in words.
        if (c.experiment === 'gaming-seeds') {
          const failed = report.verification.filter((v) => gamedIds.has(v.trialId));
          expect(failed.length).toBeGreaterThan(0);
          for (const v of failed) expect(v.verdict).toBe('failed_verification');
          expect(md).toMatch(/verification_gap: failed verification: fresh seeds/);
        }
      });
});

describe('a PI decides on review flags in a running campaign', () => {
  it('confirming excludes a trial for good, clearing makes it eligible (and best); both audited, PI only', async () => {
    const problemId = uniqueId('gaming-leak');
    await env.service.submitProblem(researcher, {
      id: problemId,
      title: 'flags',
      question: 'Which x?',
      experiment: 'gaming-leak',
      space: [
        { name: 'x', kind: 'float', low: 0, high: 1 },
        { name: 'peek', kind: 'boolean' },
      ],
      baseline: { x: 0, peek: false },
    });
    await env.service.setCriteria(pi, problemId, {
      metric: 'score',
      direction: 'maximize',
      baseline: { kind: 'measure', configuration: 'baseline', seeds: 3 },
      optimum: { kind: 'value', value: 1 },
      seedsPerTrial: 3,
      hiddenMetrics: ['heldout_score'],
      targetPgr: 2,
      budgets: { maxTrials: 500, concurrency: 6 },
      verification: { topK: 0, seeds: 3 },
    });
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      seed: 3,
    });
    const a = await env.service.inject(pi, campaignId, {
      title: 'peek A',
      changes: { x: 0.5, peek: true },
    });
    const b = await env.service.inject(pi, campaignId, {
      title: 'peek B',
      changes: { x: 0.2, peek: true },
    });
    const find = async () => {
      const { trials } = await env.service.trials(campaignId, { kind: 'search', limit: 1000 });
      const ta = trials.find((t) => t.hypothesisId === a.hypothesisId);
      const tb = trials.find((t) => t.hypothesisId === b.hypothesisId);
      return ta && tb ? { ta, tb } : null;
    };
    const { ta, tb } = await eventually(find);
    await env.service.pause(pi, campaignId, 'reviewing flags');
    expect(ta.trust).toBe('under_review');
    expect(tb.trust).toBe('under_review');
    const before = await env.service.status(campaignId);
    expect([ta.id, tb.id]).not.toContain(before.best?.trialId);

    await expect(
      env.service.confirmFlag(researcher, campaignId, ta.id, 'hidden_gap', 'leaks'),
    ).rejects.toThrow(/only a PI can confirm a review flag \(you are signed in as [^,]+, a researcher\)/);
    await env.service.confirmFlag(pi, campaignId, ta.id, 'hidden_gap', 'it trains on the labels');
    await env.service.clearFlag(pi, campaignId, tb.id, 'hidden_gap', 'held-out labels were stale');
    await env.service.clearFlag(pi, campaignId, tb.id, 'pgr_above_one', 'optimum set too low');
    await expect(
      env.service.clearFlag(pi, campaignId, ta.id, 'hidden_gap', 'changed my mind'),
    ).rejects.toThrow(/already confirmed/);

    const after = await find();
    expect(after!.ta.trust).toBe('excluded');
    expect(after!.tb.trust).toBe('eligible');
    const status = await env.service.status(campaignId);
    // B's visible PGR beats every honest trial once it is eligible.
    expect(status.best?.trialId).toBe(tb.id);
    expect(status.underReview?.find((u) => u.trialId === ta.id)?.trust).toBe('excluded');
    const board = await env.service.leaderboard(campaignId, 50);
    expect(board.map((t) => t.id)).not.toContain(ta.id);
    const audit = await env.service.audit(campaignId);
    expect(audit.filter((e) => e.action === 'confirm flag').map((e) => e.detail)).toEqual([
      `${ta.id} hidden_gap: it trains on the labels (trial now excluded)`,
    ]);
    expect(audit.filter((e) => e.action === 'clear flag')).toHaveLength(2);
    await env.service.stop(pi, campaignId, { reason: 'done' });
    await env.service.result(campaignId);
  });
});
