/**
 * The audit trail of what strategies proposed: every proposal a strategy returns or drops gets a
 * fate (run, duplicate, sent back for repair, dropped with its reason), so a PI can account for
 * everything an agent tried. Counts are exact for the whole campaign; the reasons of the most
 * recent proposals are kept (bounded, carried over continue-as-new).
 *
 * Also the backoff of strategy calls that failed on an outage (overload, rate limits).
 * Deterministic and pure: times come in as arguments.
 */
import { z } from 'zod';
import { ProposalFate, type DroppedProposal } from '../domain/strategy.js';

/** Proposal records kept with their reasons; counts cover every proposal. */
export const PROPOSAL_RECORDS = 300;

/** One proposal and its fate. `queued` until it runs or is dropped. */
export const ProposalRecord = z.object({
  at: z.string(),
  author: z.string(),
  title: z.string(),
  fate: z.union([ProposalFate, z.literal('queued')]),
  /** A short code for counting: invalid, unknown_parent, over_quota, duplicate, rejected, not_run... */
  cause: z.string().optional(),
  reason: z.string().optional(),
  hypothesisId: z.string().optional(),
});
export type ProposalRecord = z.infer<typeof ProposalRecord>;

/** sent = queued + run + duplicate + repaired + dropped, at every moment. */
export const ProposalCounts = z.object({
  sent: z.number().int(),
  /** Accepted and waiting to run (or for a PI's approval). */
  queued: z.number().int(),
  run: z.number().int(),
  duplicate: z.number().int(),
  repaired: z.number().int(),
  dropped: z.number().int(),
  /** Proposals per cause, over duplicate, repaired and dropped ones. */
  byCause: z.record(z.string(), z.number().int()),
});
export type ProposalCounts = z.infer<typeof ProposalCounts>;

export const ProposalAuditState = z.object({
  counts: ProposalCounts,
  /** The most recent proposals, oldest first, at most PROPOSAL_RECORDS. */
  recent: z.array(ProposalRecord),
  /** Hypothesis ids of queued strategy proposals (bounded by the queue). */
  open: z.array(z.string()),
});
export type ProposalAuditState = z.infer<typeof ProposalAuditState>;

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

/** Strategy calls that failed on an outage, in a row. */
export interface StrategyOutage {
  /** Consecutive rounds with unavailable agents and nothing proposed. */
  rounds: number;
  since: string;
  /** Workflow time (ms) before which the strategy is not asked again. */
  retryAtMs: number;
  agents: string[];
  reason: string;
}
