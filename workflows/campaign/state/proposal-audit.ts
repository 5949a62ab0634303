/**
 * The audit trail of what strategies proposed: every proposal a strategy returns or drops gets a
 * fate (run, duplicate, sent back for repair, dropped with its reason), so a PI can account for
 * everything an agent tried. Counts are exact for the whole campaign; the reasons of the most
 * recent proposals are kept (bounded, carried over continue-as-new).
 *
 * Also the backoff of strategy calls that failed on an outage (overload, rate limits).
 * Deterministic and pure: times come in as arguments.
 */
import type { ProposalFate, DroppedProposal } from '../../../domain/strategy.js';
import {
  PROPOSAL_RECORDS,
  type ProposalAuditState,
  type ProposalRecord,
} from '../../../domain/proposal-audit.js';

export {
  PROPOSAL_RECORDS,
  ProposalAuditState,
  ProposalCounts,
  ProposalRecord,
  StrategyOutage,
} from '../../../domain/proposal-audit.js';

export const emptyProposalAudit = (): ProposalAuditState => ({
  counts: { sent: 0, queued: 0, run: 0, duplicate: 0, repaired: 0, dropped: 0, byCause: {} },
  recent: [],
  open: [],
});

export class ProposalAudit {
  readonly state: ProposalAuditState;

  constructor(state?: ProposalAuditState) {
    this.state = state ?? emptyProposalAudit();
  }

  private push(r: ProposalRecord): void {
    const recent = this.state.recent;
    recent.push(r);
    if (recent.length > PROPOSAL_RECORDS) recent.splice(0, recent.length - PROPOSAL_RECORDS);
  }

  private count(fate: Exclude<ProposalFate, 'run'>, cause: string | undefined): void {
    const c = this.state.counts;
    c[fate]++;
    const k = cause ?? fate;
    c.byCause[k] = (c.byCause[k] ?? 0) + 1;
  }

  /** A proposal the strategy did not return (duplicate, sent back for repair, dropped). */
  settled(d: DroppedProposal, author: string, at: string): void {
    const fate = d.fate ?? 'dropped';
    this.state.counts.sent++;
    this.count(fate, d.cause);
    this.push({
      at,
      author: d.author ?? author,
      title: d.title.slice(0, 200),
      fate,
      ...(d.cause ? { cause: d.cause } : {}),
      reason: d.reason.slice(0, 1500),
    });
  }

  /** A returned proposal the workflow accepted into its queue (or approval list). */
  queued(author: string, title: string, hypothesisId: string, at: string): void {
    this.state.counts.sent++;
    this.state.counts.queued++;
    this.state.open.push(hypothesisId);
    this.push({ at, author, title: title.slice(0, 200), fate: 'queued', hypothesisId });
  }

  /** A returned proposal the workflow refused (duplicate of a queued or tried one, unknown parent...). */
  refused(
    author: string,
    title: string,
    fate: 'duplicate' | 'dropped',
    cause: string,
    reason: string,
    at: string,
  ): void {
    this.settled({ title, reason, fate, cause, author }, author, at);
  }

  private close(hypothesisId: string): ProposalRecord | null | undefined {
    const i = this.state.open.indexOf(hypothesisId);
    if (i < 0) return null;
    this.state.open.splice(i, 1);
    this.state.counts.queued--;
    return this.state.recent.find((r) => r.hypothesisId === hypothesisId);
  }

  /** A queued strategy proposal started as a trial (human ones are not tracked here). */
  ran(hypothesisId: string): void {
    const r = this.close(hypothesisId);
    if (r === null) return;
    this.state.counts.run++;
    if (r) r.fate = 'run';
  }

  /** A queued strategy proposal that will not run (rejected by a PI, campaign stopped). */
  unqueued(hypothesisId: string, cause: string, reason: string): void {
    const r = this.close(hypothesisId);
    if (r === null) return;
    this.count('dropped', cause);
    if (r) Object.assign(r, { fate: 'dropped', cause, reason: reason.slice(0, 1500) });
  }

  /** At the end: whatever is still queued did not run. */
  settleOpen(reason: string): void {
    for (const id of [...this.state.open]) this.unqueued(id, 'not_run', reason);
  }
}

/** Overload backoff: the first retry after `initialSeconds`, doubling per failed round, at most 10 min. */
export function strategyRetryDelayMs(failedRounds: number, initialSeconds: number): number {
  return Math.min(600_000, initialSeconds * 1000 * 2 ** Math.max(0, failedRounds - 1));
}
