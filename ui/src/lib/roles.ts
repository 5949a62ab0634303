/**
 * What the signed-in person may do, from the server's own permission table (api/permissions.ts),
 * with the reason in words for the tooltip of a control they cannot use. The API still enforces
 * every rule; this only keeps the UI honest about it.
 */
import { PERMISSIONS, can, type Action } from '../../../api/permissions.js';

export type { Action };

const WHAT: Record<Action, string> = {
  submitProblem: 'submit problems',
  setCriteria: 'set evaluation criteria',
  startCampaign: 'start campaigns',
  pause: 'pause campaigns',
  resume: 'resume campaigns',
  stop: 'stop campaigns',
  changeBudgets: 'change budgets',
  decide: 'approve or reject hypotheses',
  inject: 'add ideas',
  addNote: 'add notes',
  clearFlag: 'clear review flags',
  confirmFlag: 'confirm review flags',
};

export interface Permission {
  ok: boolean;
  /** Why not, for a tooltip; empty when allowed. */
  reason: string;
}

export function permission(role: string | undefined, action: Action): Permission {
  if (role && can(role, action)) return { ok: true, reason: '' };
  const roles = PERMISSIONS[action] as readonly string[];
  const who = roles.length === 1 && roles[0] === 'pi' ? 'a PI' : 'researchers and PIs';
  return {
    ok: false,
    reason: `Only ${who} can ${WHAT[action]}; you are signed in as ${role ?? 'nobody'}.`,
  };
}
