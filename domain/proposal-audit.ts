/**
 * The shapes of the proposal audit trail (what became of every strategy proposal) and of a
 * strategy outage, as the campaign carries them and the API reports them. The logic that keeps
 * them is in workflows/campaign/state/proposal-audit.ts. Pure: zod only.
 */
import { z } from 'zod';
import { ProposalFate } from './strategy.js';

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

/** Strategy calls that failed on an outage, in a row. */
export const StrategyOutage = z.object({
  /** Consecutive rounds with unavailable agents and nothing proposed. */
  rounds: z.number().int(),
  since: z.string(),
  /** Workflow time (ms) before which the strategy is not asked again. */
  retryAtMs: z.number(),
  agents: z.array(z.string()),
  reason: z.string(),
});
export type StrategyOutage = z.infer<typeof StrategyOutage>;
