/**
 * The campaign workflow's messages: updates carry the actor (validators refuse bad input with a
 * reason), queries read the state. Declared apart from the handlers so the server imports them
 * without the workflow's code.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Actor, Budgets, HypothesisProposalInput } from '../../domain/schemas.js';
import type { Note } from '../../domain/strategy.js';
import type { ProposalAuditState } from './state/proposal-audit.js';
import type {
  AuditEntry,
  CampaignReport,
  CampaignStatus,
  PendingApproval,
  TrialSummary,
} from '../types.js';

export const pauseUpdate = defineUpdate<void, [{ actor: Actor; reason?: string }]>('pause');
export const resumeUpdate = defineUpdate<void, [{ actor: Actor; reason?: string }]>('resume');
export const stopUpdate = defineUpdate<
  void,
  [{ actor: Actor; reason?: string; cancelRunning?: boolean; verify?: boolean }]
>('stop');
export const changeBudgetsUpdate = defineUpdate<
  Budgets,
  [{ actor: Actor; budgets: Partial<Budgets>; reason?: string }]
>('changeBudgets');
export const decideUpdate = defineUpdate<
  void,
  [{ actor: Actor; hypothesisId: string; decision: 'approve' | 'reject'; reason?: string }]
>('decide');
export const injectHypothesisUpdate = defineUpdate<
  { hypothesisId: string },
  [{ actor: Actor; proposal: HypothesisProposalInput }]
>('injectHypothesis');
export const addNoteUpdate = defineUpdate<void, [{ actor: Actor; text: string; trialId?: string }]>(
  'addNote',
);
export const clearFlagUpdate = defineUpdate<
  void,
  [{ actor: Actor; trialId: string; flag: string; reason: string }]
>('clearFlag');
/** A PI confirms a review flag: the trial is excluded for good (never best, never the target). */
export const confirmFlagUpdate = defineUpdate<
  void,
  [{ actor: Actor; trialId: string; flag: string; reason: string }]
>('confirmFlag');

export const statusQuery = defineQuery<CampaignStatus>('status');
/**
 * A page of the trials in finishing order. With `changedSince` (a `revision` this run answered
 * before), also the listed trials changed after it (`changed`: MLflow run id, review flags, PGR),
 * at most a page of them (`changedOverflow` when there were more: read them all again).
 * `revision` and `run` (the workflow run that answered) come with every page.
 */
export interface TrialsPage {
  total: number;
  trials: TrialSummary[];
  revision?: number;
  run?: string;
  changed?: TrialSummary[];
  changedOverflow?: boolean;
}
export interface TrialsPageOptions {
  offset?: number;
  limit?: number;
  kind?: TrialSummary['kind'];
  changedSince?: number;
}
export const trialsQuery = defineQuery<TrialsPage, [TrialsPageOptions?]>('trials');
export const leaderboardQuery = defineQuery<TrialSummary[], [{ limit?: number }?]>('leaderboard');
export const pendingQuery = defineQuery<PendingApproval[]>('pendingApprovals');
export const auditQuery = defineQuery<AuditEntry[]>('audit');
export const notebookQuery = defineQuery<Note[]>('notebook');
export const reportQuery = defineQuery<CampaignReport | null>('report');
/** Every strategy proposal's fate: exact counts and the most recent with their reasons. */
export const proposalsQuery = defineQuery<ProposalAuditState>('proposals');
