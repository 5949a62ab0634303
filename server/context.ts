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
import { linkedTo, type Action } from '../api/permissions.js';

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

/** The UI links a role may follow (api/permissions.ts `LINKED_TOOLS` says who gets which). */
export function linksFor(
  ctx: Pick<AppContext, 'links'>,
  role: Principal['role'] | undefined,
): { temporalUi: string | null; mlflowUi: string | null } {
  return {
    temporalUi: linkedTo(role, 'temporal') ? ctx.links.temporalUi : null,
    mlflowUi: linkedTo(role, 'mlflow') ? ctx.links.mlflowUi : null,
  };
}

/** Links into the Temporal and MLflow UIs, for a role that may follow them (else null). */
export function workflowLink(
  ctx: AppContext,
  workflowId: string,
  role: Principal['role'] | undefined,
): string | null {
  const base = linksFor(ctx, role).temporalUi;
  return base
    ? `${base}/namespaces/${encodeURIComponent(ctx.config.namespace)}/workflows/${encodeURIComponent(workflowId)}`
    : null;
}
export function runLink(
  ctx: AppContext,
  experimentId: string,
  runId: string,
  role: Principal['role'] | undefined,
): string | null {
  const base = linksFor(ctx, role).mlflowUi;
  return base
    ? `${base}/#/experiments/${encodeURIComponent(experimentId)}/runs/${encodeURIComponent(runId)}`
    : null;
}
