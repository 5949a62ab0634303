import { describe, expect, it } from 'vitest';
import { PROPOSAL_RECORDS, ProposalAudit, strategyRetryDelayMs } from './proposal-audit.js';

const total = (a: ProposalAudit) => {
  const c = a.state.counts;
  return c.queued + c.run + c.duplicate + c.repaired + c.dropped;
};

describe('ProposalAudit', () => {
  it('gives every proposal one fate: sent = queued + run + duplicate + repaired + dropped', () => {
    const a = new ProposalAudit();
    a.settled(
      { title: 'x', reason: 'lr above max', fate: 'repaired', cause: 'invalid' },
      'c/a',
      't',
    );
    a.settled({ title: 'y', reason: 'no such parent', cause: 'unknown_parent' }, 'c/a', 't');
    a.refused('c/b', 'z', 'duplicate', 'duplicate', 'duplicate of t0001', 't');
    a.queued('c/b', 'ok1', 'h1', 't');
    a.queued('c/b', 'ok2', 'h2', 't');
    a.queued('c/b', 'ok3', 'h3', 't');
    a.ran('h1');
    a.ran('human-h9'); // not a strategy proposal: ignored
    a.unqueued('h2', 'rejected', 'rejected by Pat');
    expect(a.state.counts).toMatchObject({
      sent: 6,
      queued: 1,
      run: 1,
      duplicate: 1,
      repaired: 1,
      dropped: 2,
    });
    expect(total(a)).toBe(a.state.counts.sent);
    a.settleOpen('the campaign stopped (max_trials)');
    expect(a.state.counts).toMatchObject({ queued: 0, dropped: 3 });
    expect(a.state.counts.byCause).toEqual({
      invalid: 1,
      unknown_parent: 1,
      duplicate: 1,
      rejected: 1,
      not_run: 1,
    });
    expect(a.state.recent.find((r) => r.hypothesisId === 'h1')!.fate).toBe('run');
    expect(a.state.recent.find((r) => r.hypothesisId === 'h3')).toMatchObject({
      fate: 'dropped',
      cause: 'not_run',
    });
    expect(total(a)).toBe(a.state.counts.sent);
  });

  it('keeps counts exact and the reasons bounded', () => {
    const a = new ProposalAudit();
    for (let i = 0; i < PROPOSAL_RECORDS * 3; i++)
      a.settled({ title: `t${i}`, reason: 'r'.repeat(5000), cause: 'invalid' }, 'c', 't');
    expect(a.state.counts.dropped).toBe(PROPOSAL_RECORDS * 3);
    expect(a.state.recent).toHaveLength(PROPOSAL_RECORDS);
    expect(a.state.recent[0]!.reason!.length).toBeLessThanOrEqual(1500);
  });

  it('backs off longer each round, up to ten minutes', () => {
    expect([1, 2, 3].map((r) => strategyRetryDelayMs(r, 30))).toEqual([30_000, 60_000, 120_000]);
    expect(strategyRetryDelayMs(20, 30)).toBe(600_000);
  });
});
