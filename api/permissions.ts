/**
 * Who may do what: the single source of truth for roles. The service layer checks an action's
 * roles before it calls Temporal, the HTTP API checks them before a route's handler runs (403),
 * and the UI may import this module to hide controls a role cannot use. Pure: no IO.
 */

/** The roles a person can hold (the `system` actor is internal and never authenticates). */
export const ROLES = ['researcher', 'pi', 'viewer'] as const;
export type PersonRole = (typeof ROLES)[number];

/** Every state-changing action and the roles allowed to take it. Reads are open to every role. */
export const PERMISSIONS = {
  submitProblem: ['researcher', 'pi'],
  setCriteria: ['pi'],
  startCampaign: ['researcher', 'pi'],
  pause: ['researcher', 'pi'],
  resume: ['researcher', 'pi'],
  stop: ['pi'],
  changeBudgets: ['pi'],
  decide: ['pi'],
  inject: ['researcher', 'pi'],
  addNote: ['researcher', 'pi'],
  clearFlag: ['pi'],
  confirmFlag: ['pi'],
} as const satisfies Record<string, readonly PersonRole[]>;

export type Action = keyof typeof PERMISSIONS;

/** What each action does, in the words a refusal uses ("only a PI can stop a campaign"). */
export const ACTION_WORDS: Record<Action, string> = {
  submitProblem: 'submit a problem',
  setCriteria: 'set evaluation criteria',
  startCampaign: 'start a campaign',
  pause: 'pause a campaign',
  resume: 'resume a campaign',
  stop: 'stop a campaign',
  changeBudgets: "change a campaign's budgets",
  decide: 'approve or reject a hypothesis',
  inject: 'propose a hypothesis',
  addNote: 'add a note',
  clearFlag: 'clear a review flag',
  confirmFlag: 'confirm a review flag',
};

const ROLE_NAMES: Record<string, string> = {
  pi: 'a PI',
  researcher: 'a researcher',
  viewer: 'a viewer',
};

/**
 * The refusal a person reads when their role may not do something: who may, and who they are.
 * `only a PI can stop a campaign (you are signed in as Rae, a researcher)`.
 */
export function refusalText(
  allowed: readonly string[],
  what: string,
  actor: { name: string; role: string },
): string {
  const who = allowed.map((r) => ROLE_NAMES[r] ?? r);
  const whoText =
    who.length <= 1 ? (who[0] ?? 'nobody') : `${who.slice(0, -1).join(', ')} or ${who.at(-1)}`;
  return `only ${whoText} can ${what} (you are signed in as ${actor.name}, ${ROLE_NAMES[actor.role] ?? actor.role})`;
}

/**
 * The tools outside gaplab a role is linked to (the API's `/config` and a trial's `links`, and so
 * the UI's buttons). Temporal's UI has no authentication and a campaign's history holds every
 * hidden value: PIs only. MLflow's UI needs an MLflow user (`gaplab stack credentials`) and is
 * for the people who run campaigns: PIs and researchers. A viewer reads gaplab's own pages.
 */
export const LINKED_TOOLS = {
  temporal: ['pi'],
  mlflow: ['pi', 'researcher'],
} as const satisfies Record<string, readonly PersonRole[]>;

export type LinkedTool = keyof typeof LINKED_TOOLS;

/** Whether `role` (undefined: not signed in) is linked to `tool`. */
export function linkedTo(role: string | undefined, tool: LinkedTool): boolean {
  return role !== undefined && (LINKED_TOOLS[tool] as readonly string[]).includes(role);
}

export const ACTIONS = Object.keys(PERMISSIONS) as Action[];

/** Whether `role` may take `action`. */
export function can(role: string, action: Action): boolean {
  return (PERMISSIONS[action] as readonly string[]).includes(role);
}

/** The actions a role may take (for `GET /api/me`). */
export function actionsOf(role: string): Action[] {
  return ACTIONS.filter((a) => can(role, a));
}

export interface RoutePermission {
  method: 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** Fastify route pattern, e.g. `/api/campaigns/:campaignId/stop`. */
  url: string;
  action: Action;
}

/**
 * Every mutating route of the HTTP API and the action it takes. The app refuses to start when a
 * mutating route is missing here or names another action (see app.ts), so this table is complete.
 */
export const MUTATING_ROUTES: readonly RoutePermission[] = [
  { method: 'POST', url: '/api/problems', action: 'submitProblem' },
  { method: 'POST', url: '/api/problems/:problemId/criteria', action: 'setCriteria' },
  { method: 'POST', url: '/api/campaigns', action: 'startCampaign' },
  { method: 'POST', url: '/api/campaigns/:campaignId/pause', action: 'pause' },
  { method: 'POST', url: '/api/campaigns/:campaignId/resume', action: 'resume' },
  { method: 'POST', url: '/api/campaigns/:campaignId/stop', action: 'stop' },
  { method: 'PATCH', url: '/api/campaigns/:campaignId/budgets', action: 'changeBudgets' },
  { method: 'POST', url: '/api/campaigns/:campaignId/approvals/:hypothesisId', action: 'decide' },
  { method: 'POST', url: '/api/campaigns/:campaignId/hypotheses', action: 'inject' },
  { method: 'POST', url: '/api/campaigns/:campaignId/notes', action: 'addNote' },
  {
    method: 'POST',
    url: '/api/campaigns/:campaignId/trials/:trialId/flags/:flag/clear',
    action: 'clearFlag',
  },
  {
    method: 'POST',
    url: '/api/campaigns/:campaignId/trials/:trialId/flags/:flag/confirm',
    action: 'confirmFlag',
  },
];
