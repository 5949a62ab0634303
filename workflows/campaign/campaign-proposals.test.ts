/** The campaign state's side of the agent's audit trail, outages and model warnings. */
import { describe, expect, it } from 'vitest';
import { campaignInput, quadCriteria } from '../../test/support/quadratic.js';
import type { StrategyResult } from '../../domain/strategy.js';
import { CampaignState } from './state/campaign-state.js';
import { searchingState } from '../../test/support/searching-state.js';
import type { CampaignInput } from '../types.js';

const criteria = quadCriteria({
  hiddenMetrics: ['heldout'],
  budgets: { maxTrials: 100, concurrency: 2 },
});
const input = (): CampaignInput =>
  campaignInput({
    criteria,
    strategy: { name: 'claude', settings: { agents: 2 } },
    timing: { strategyRetrySeconds: 10, strategyRetryRounds: 3 },
  });

const result = (r: Partial<StrategyResult>): StrategyResult => ({
  proposals: [],
  dropped: [],
  notes: [],
  dollars: 0,
  authors: [],
  ...r,
});
const proposal = (title: string, x: number, parentTrialId: string | null = null) => ({
  title,
  rationale: '',
  parentTrialId,
  changes: { x },
  expectedEffect: '',
});

describe('campaign state: proposals, outages and warnings', () => {
  it('accounts for every proposal, in the strategy and in the workflow', () => {
    const s = searchingState(input(), {});
    s.proposals.accept(
      result({
        proposals: [proposal('a', 1), proposal('dup of a', 1), proposal('ghost', 2, 't0999')],
        authors: ['claude/explore', 'claude/explore', 'claude/exploit'],
        dropped: [
          { title: 'b', reason: 'x: 9 above 5', fate: 'repaired', cause: 'invalid' },
          { title: 'c', reason: 'quota', cause: 'over_quota', author: 'claude/exploit' },
        ],
      }),
      0,
    );
    const c = s.context.data.proposals.counts;
    expect(c).toMatchObject({ sent: 5, queued: 1, duplicate: 1, repaired: 1, dropped: 2 });
    expect(c.byCause).toMatchObject({ duplicate: 1, unknown_parent: 1, over_quota: 1 });
    expect(s.queue.nextTrialRequest()).not.toBeNull();
    expect(s.context.data.proposals.counts).toMatchObject({ queued: 0, run: 1 });
    expect(s.views.status(0).proposals).toEqual(s.context.data.proposals.counts);
    const carried = new CampaignState({ ...input(), carried: s.trials.carry() }, 0);
    expect(carried.context.data.proposals.counts).toEqual(s.context.data.proposals.counts);
  });

  it('asks agents again after an outage with growing waits, then stops with the reason', () => {
    const s = searchingState(input(), {});
    const down = result({
      unavailable: { agents: ['claude/explore'], reason: 'Claude API still failing (529)' },
    });
    s.proposals.accept(down, 1_000);
    expect(s.proposals.waitingForStrategy(5_000)).toBe(true);
    expect(s.proposals.canPropose(5_000)).toBe(false);
    expect(s.proposals.canPropose(11_000)).toBe(true);
    expect(s.strategyView(1).retryAgents).toEqual(['claude/explore']);
    s.proposals.accept(down, 11_000);
    expect(s.lifecycle.msUntilNextDeadline(11_000)).toBe(20_000);
    expect(s.lifecycle.stopReason).toBeUndefined();
    s.proposals.accept(down, 31_000);
    expect(s.lifecycle.stopReason).toBe('strategy_unavailable');
    expect(s.context.data.notebook.at(-1)!.text).toMatch(
      /unavailable for 3 rounds in a row.*\$0\.0000 spent/,
    );
    // Outage rounds are not "empty" rounds.
    expect(s.context.data.emptyProposalRounds).toBe(0);
  });

  it('stops on a usage anomaly, and notes a model warning once per campaign', () => {
    const s = searchingState(input(), {});
    const w = 'the model claude-sonnet-4-5 is deprecated';
    s.proposals.accept(result({ warnings: [w], dollars: 0.01 }), 0);
    s.proposals.accept(result({ warnings: [w], dollars: 0.01 }), 0);
    expect(s.context.data.notebook.filter((n) => n.text.includes(w))).toHaveLength(1);
    s.proposals.accept(
      result({ usageAnomaly: 'usage anomaly: 2000000 input tokens', dollars: 2 }),
      0,
    );
    expect(s.lifecycle.stopReason).toBe('usage_anomaly');
    expect(s.context.data.ledger.dollars).toBeCloseTo(2.02, 9);
  });
});
