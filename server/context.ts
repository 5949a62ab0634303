/**
 * What every route plugin shares: the service, the MLflow reader, configuration and links, and
 * the fastify type augmentations (request principal, route `config.action`).
 */
import type { FastifyRequest } from 'fastify';
import { ServiceError } from './errors.js';
import type { GaplabService } from './service.js';
import type { ExperimentRegistry } from '../experiments/registry.js';
import type { Principal, TokenTable } from './auth.js';
import type { ServerConfig } from './config.js';
import type { LineageReader } from './lineage.js';
import type { LiveTrials } from './live-trials.js';
import type { Action } from '../api/permissions.js';

/** The operations the API calls on the service layer (GaplabService; tests pass a fake). */
export type ApiService = Pick<
  GaplabService,
  | 'submitProblem'
  | 'listProblems'
  | 'getProblem'
  | 'setCriteria'
  | 'startCampaign'
  | 'listCampaigns'
  | 'status'
  | 'trials'
  | 'leaderboard'
  | 'pending'
  | 'audit'
  | 'notebook'
  | 'report'
  | 'pause'
  | 'resume'
  | 'stop'
  | 'changeBudgets'
  | 'decide'
  | 'inject'
  | 'addNote'
  | 'clearFlag'
  | 'confirmFlag'
> & {
  registry: Pick<ExperimentRegistry, 'list'>;
  /** Whether Temporal answers (for /api/ready). */
  healthy?(): Promise<boolean>;
  /** Whether the campaign's workflow is still running (cheap: no query, no replay). */
  isRunning?(campaignId: string): Promise<boolean>;
};

export interface AppContext {
  service: ApiService;
  lineage: LineageReader;
  live: LiveTrials;
  config: ServerConfig;
  links: { temporalUi: string | null; mlflowUi: string };
  tokens: TokenTable;
  /** How requests authenticate: bearer tokens, always. */
  authMode: 'tokens';
  version: string;
  startedAt: number;
  checks: { temporal: () => Promise<boolean>; mlflow: () => Promise<boolean> };
  /** Closers of open event streams, called before the server closes. */
  streams: Set<() => void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    gaplab: AppContext;
  }
  interface FastifyRequest {
    /** Who the request acts for; null on public routes. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** The action a mutating route takes (checked against the caller's role before anything else). */
    action?: Action;
    /** Open without a token (health, readiness, API docs). */
    public?: boolean;
    /** Also accept the token as `?token=` (EventSource cannot set headers). */
    queryToken?: boolean;
  }
}

/** The caller of an authenticated route; throws 401 if authentication somehow did not run. */
export function actorOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new ServiceError('Unauthorized', 'missing bearer token');
  return req.principal;
}

/**
 * The UI links a role may follow. Temporal's UI has no authentication and a campaign's history
 * holds every hidden value, so only PIs get it. MLflow runs with authentication (a user per
 * role, stack/mlflow-auth.ts) and keeps hidden values in experiments only PIs may read until the
 * campaign ends (activities/mlflow-access.ts), so every role gets its links.
 */
export function linksFor(
  ctx: Pick<AppContext, 'links'>,
  role: Principal['role'] | undefined,
): AppContext['links'] {
  return { temporalUi: role === 'pi' ? ctx.links.temporalUi : null, mlflowUi: ctx.links.mlflowUi };
}

/** Links into the Temporal and MLflow UIs. */
export function workflowLink(
  ctx: AppContext,
  workflowId: string,
  role: Principal['role'] | undefined,
): string | null {
  return linksFor(ctx, role).temporalUi
    ? `${ctx.links.temporalUi}/namespaces/${encodeURIComponent(ctx.config.namespace)}/workflows/${encodeURIComponent(workflowId)}`
    : null;
}
export function runLink(ctx: AppContext, experimentId: string, runId: string): string {
  return `${ctx.links.mlflowUi}/#/experiments/${encodeURIComponent(experimentId)}/runs/${encodeURIComponent(runId)}`;
}
