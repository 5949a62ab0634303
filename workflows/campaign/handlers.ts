/**
 * The campaign's message handlers: validators refuse bad input with a reason (roles from the
 * permission table in api/permissions.ts, the rest from the state's rules); handlers count the
 * update, change the state through its commands and audit it. Rejections are typed by name
 * (domain/failure-types.ts) through workflows/failures.ts.
 */
import { setHandler, workflowInfo } from '@temporalio/workflow';
import type { Actor } from '../../domain/schemas.js';
import type { CampaignState } from './state/campaign-state.js';
import { failureTypeOf } from '../../domain/failure-types.js';
import { reject, requirePermission } from '../failures.js';
import {
  addNoteUpdate,
  auditQuery,
  changeBudgetsUpdate,
  clearFlagUpdate,
  confirmFlagUpdate,
  decideUpdate,
  injectHypothesisUpdate,
  leaderboardQuery,
  notebookQuery,
  pauseUpdate,
  pendingQuery,
  proposalsQuery,
  reportQuery,
  resumeUpdate,
  statusQuery,
  stopUpdate,
  trialsQuery,
} from './messages.js';
import type { ResolveProposalSource } from './sources.js';

export function registerHandlers(
  state: CampaignState,
  resolveSource: ResolveProposalSource = () => Promise.resolve(undefined),
): void {
  const pauseOrResume = (pause: boolean) => ({
    validator: ({ actor }: { actor: Actor }) => {
      state.lifecycle.checkUpdateRoom();
      requirePermission(
        actor,
        pause ? 'pause' : 'resume',
        `${pause ? 'pause' : 'resume'} a campaign`,
      );
      state.lifecycle.checkPause(pause);
    },
  });
  setHandler(
    pauseUpdate,
    ({ actor, reason }) => {
      state.lifecycle.countUpdate();
      state.setPaused(actor, true, reason);
    },
    pauseOrResume(true),
  );
  setHandler(
    resumeUpdate,
    ({ actor, reason }) => {
      state.lifecycle.countUpdate();
      state.setPaused(actor, false, reason);
    },
    pauseOrResume(false),
  );
  setHandler(
    stopUpdate,
    ({ actor, reason, cancelRunning, verify }) => {
      state.lifecycle.countUpdate();
      state.piStop(actor, reason, cancelRunning ?? true, verify === true);
    },
    {
      // A PI can stop a campaign in every phase, verification included.
      validator: ({ actor }) => {
        state.lifecycle.checkUpdateRoom('stop');
        requirePermission(actor, 'stop', 'stop a campaign');
        state.lifecycle.checkStop();
      },
    },
  );
  setHandler(
    changeBudgetsUpdate,
    ({ actor, budgets, reason }) => {
      state.lifecycle.countUpdate();
      const before = JSON.stringify(state.lifecycle.budgets);
      state.changeBudgets(budgets);
      state.records.audit(
        actor,
        'change budgets',
        `${before} -> ${JSON.stringify(state.lifecycle.budgets)}${reason ? ` (${reason})` : ''}`,
      );
      return state.lifecycle.budgets;
    },
    {
      validator: ({ actor, budgets }) => {
        state.lifecycle.checkUpdateRoom();
        requirePermission(actor, 'changeBudgets', 'change budgets');
        state.lifecycle.checkOpen();
        state.lifecycle.validateBudgetChange(budgets);
      },
    },
  );
  setHandler(
    decideUpdate,
    ({ actor, hypothesisId, decision, reason }) => {
      state.lifecycle.countUpdate();
      state.queue.decide(hypothesisId, decision, actor, reason);
    },
    {
      validator: ({ actor, hypothesisId }) => {
        state.lifecycle.checkUpdateRoom();
        requirePermission(actor, 'decide', 'approve or reject hypotheses');
        state.lifecycle.checkOpen();
        state.queue.checkPending(hypothesisId);
      },
    },
  );
  setHandler(
    injectHypothesisUpdate,
    ({ actor, proposal }) => {
      state.lifecycle.countUpdate();
      if (!proposal.edits) return { hypothesisId: state.queue.injectHuman(actor, proposal).id };
      // Edits resolve to a stored snapshot first; edits that do not apply drop the idea with
      // the reason, and the person gets it back as InvalidInput.
      return (async () => {
        const source = await resolveSource(proposal);
        if (source && 'error' in source) {
          state.queue.dropHuman(actor, proposal.title ?? '(untitled)', source.error);
          throw reject('InvalidInput', source.error);
        }
        try {
          return { hypothesisId: state.queue.injectHuman(actor, proposal, source).id };
        } catch (err) {
          // The state changed while the edits resolved (e.g. the same source was queued).
          const message = err instanceof Error ? err.message : String(err);
          state.queue.dropHuman(actor, proposal.title ?? '(untitled)', message);
          throw reject(failureTypeOf(err) === 'NotFound' ? 'NotFound' : 'InvalidInput', message);
        }
      })();
    },
    {
      validator: ({ actor, proposal }) => {
        state.lifecycle.checkUpdateRoom();
        requirePermission(actor, 'inject', 'inject hypotheses');
        state.lifecycle.checkOpen();
        state.queue.validateHumanProposal(proposal);
      },
    },
  );
  setHandler(
    addNoteUpdate,
    ({ actor, text, trialId }) => {
      state.lifecycle.countUpdate();
      state.records.addNote({
        kind: 'human',
        author: actor.name,
        text,
        ...(trialId ? { trialId } : {}),
      });
      state.records.audit(actor, 'note', text.slice(0, 200));
    },
    {
      validator: ({ actor, text, trialId }) => {
        state.lifecycle.checkUpdateRoom();
        requirePermission(actor, 'addNote', 'add notes');
        if (typeof text !== 'string' || text.trim() === '' || text.length > 5000)
          throw reject('InvalidInput', 'text: a note needs 1 to 5000 characters');
        if (trialId !== undefined && !state.context.trialById(trialId))
          throw reject('NotFound', `trialId: unknown trial ${trialId}`);
      },
    },
  );
  const flagDecision = (decision: 'clear' | 'confirm') => ({
    validator: ({
      actor,
      trialId,
      flag,
      reason,
    }: {
      actor: Actor;
      trialId: string;
      flag: string;
      reason: string;
    }) => {
      state.lifecycle.checkUpdateRoom();
      requirePermission(
        actor,
        decision === 'clear' ? 'clearFlag' : 'confirmFlag',
        `${decision} review flags`,
      );
      const open = state.trials.openFlag(trialId, flag);
      if (!open.ok) throw reject(open.type, open.message);
      if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 2000)
        throw reject(
          'InvalidInput',
          `reason: say why the flag is ${decision === 'clear' ? 'cleared' : 'confirmed'} (at most 2000 characters)`,
        );
    },
  });
  setHandler(
    clearFlagUpdate,
    ({ actor, trialId, flag, reason }) => {
      state.lifecycle.countUpdate();
      state.trials.decideFlag(trialId, flag, 'clear', actor, reason);
    },
    flagDecision('clear'),
  );
  setHandler(
    confirmFlagUpdate,
    ({ actor, trialId, flag, reason }) => {
      state.lifecycle.countUpdate();
      state.trials.decideFlag(trialId, flag, 'confirm', actor, reason);
    },
    flagDecision('confirm'),
  );

  setHandler(statusQuery, () => state.status(Date.now()));
  setHandler(trialsQuery, (opts) => ({
    ...state.views.trialsPage(opts ?? {}),
    run: workflowInfo().runId,
  }));
  setHandler(leaderboardQuery, (opts) => state.views.leaderboard(opts?.limit ?? 10));
  setHandler(pendingQuery, () => [...state.queue.pending]);
  setHandler(auditQuery, () => [...state.context.data.audit]);
  setHandler(notebookQuery, () => [...state.context.data.notebook]);
  setHandler(reportQuery, () => state.report ?? null);
  setHandler(proposalsQuery, () => state.context.data.proposals);
}
