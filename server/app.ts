/**
 * buildApp: the gaplab HTTP API as a fastify instance, composed from plugins (security headers,
 * rate limit, OpenAPI, auth, routes, the built UI). It does not listen: server.ts does, and the
 * tests use `app.inject`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { formatPath, ValidationError } from '../domain/errors.js';
import { loadDocument } from '../domain/parse.js';
import { PROJECT_ROOT } from '../stack/paths.js';
import * as api from '../api/schemas.js';
import { bearerToken, type Principal, type TokenTable } from './auth.js';
import { ServerConfig, uiLinks, type ServerConfigInput } from './config.js';
import type { ApiService, AppContext } from './context.js';
import { errorHandler } from './error-handler.js';
import { ServiceError } from './errors.js';
import { eventRoutes } from './events.js';
import { duplicateJsonKey, duplicateKeyMessage } from './json-body.js';
import { LineageReader, type LineageMlflow } from './lineage.js';
import { LiveTrials } from './live-trials.js';
import {
  ACTION_WORDS,
  can,
  MUTATING_ROUTES,
  PERMISSIONS,
  refusalText,
  type Action,
} from '../api/permissions.js';
import { campaignRoutes } from './routes/campaigns.js';
import { problemRoutes } from './routes/problems.js';
import { systemRoutes } from './routes/system.js';
import { sourceRoutes } from './routes/sources.js';
import { trialRoutes } from './routes/trials.js';
import { viewRoutes, type ViewRoutesOptions } from './routes/views.js';

export interface BuildAppOptions {
  service: ApiService;
  /** The MLflow client (MlflowClient) trials and lineage are read from. */
  mlflow: LineageMlflow & { health?(): Promise<boolean> };
  /** Bearer tokens; every /api route but health, readiness and docs needs one. */
  tokens: TokenTable;
  /** Server settings (defaults apply; the environment is NOT read here: see loadConfig). */
  config?: ServerConfigInput;
  /** `false` (default) for silence, `true` or pino options for fastify's logger, or a logger instance. */
  logger?:
    boolean | FastifyBaseLogger | Exclude<FastifyServerOptions['logger'], boolean | undefined>;
  /** Overrides the MLflow reader (tests). */
  lineage?: LineageReader;
  /** Options of the analysis views (the Optuna service parameter importance is asked of). */
  views?: ViewRoutesOptions;
  /** Overrides the readiness checks (tests). */
  checks?: Partial<AppContext['checks']>;
}

const VERSION: string = (
  createRequire(import.meta.url)(path.join(PROJECT_ROOT, 'package.json')) as { version: string }
).version;
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml'];

/** Schemas shown as named components in the OpenAPI document. */
const registry = z.registry<{ id?: string }>();
for (const [id, schema] of Object.entries({
  ErrorBody: api.ErrorBody,
  ProblemState: api.ProblemState,
  CriteriaVersion: api.CriteriaVersion,
  CampaignStatus: api.CampaignStatus,
  CampaignListItem: api.CampaignListItem,
  TrialSummary: api.TrialSummary,
  TrialRecord: api.TrialRecord,
  LineageNode: api.LineageNode,
  PendingApproval: api.PendingApproval,
  CampaignReport: api.CampaignReport,
  AuditEntry: api.AuditEntry,
})) {
  registry.add(schema, { id });
}

function isLogger(v: unknown): v is FastifyBaseLogger {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as FastifyBaseLogger).child === 'function' &&
    typeof (v as FastifyBaseLogger).info === 'function'
  );
}

/** Removes `token=` from a URL before it is logged. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}

export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const config = ServerConfig.parse(opts.config ?? {});
  const logger = opts.logger ?? false;
  const app = Fastify({
    ...(isLogger(logger) ? { loggerInstance: logger } : { logger }),
    // Request lines are logged in onResponse below, with the token redacted and the actor named.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: config.trustProxy,
    bodyLimit: 1024 * 1024,
    routerOptions: { ignoreTrailingSlash: true },
    requestIdHeader: false,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);

  const ctx: AppContext = {
    service: opts.service,
    lineage:
      opts.lineage ??
      new LineageReader({
        mlflow: opts.mlflow,
        ttlMs: config.lineageTtlMs,
        cacheCampaigns: config.lineageCacheCampaigns,
        snapshots: config.lineageSnapshots,
      }),
    live: new LiveTrials({
      service: opts.service,
      ttlMs: Math.min(config.lineageTtlMs, 1000),
      maxCampaigns: config.lineageCacheCampaigns,
    }),
    config,
    links: uiLinks(config),
    tokens: opts.tokens,
    authMode: 'tokens',
    version: VERSION,
    startedAt: Date.now(),
    checks: {
      temporal: opts.checks?.temporal ?? (() => opts.service.healthy?.() ?? Promise.resolve(true)),
      mlflow: opts.checks?.mlflow ?? (() => opts.mlflow.health?.() ?? Promise.resolve(true)),
    },
    streams: new Set(),
  };
  app.decorate('gaplab', ctx);
  app.decorateRequest('principal', null);
  if (opts.tokens.size === 0)
    app.log.warn('no tokens configured: every /api route except health and docs answers 401');

  // Every mutating route must name its action, and the action must match the permission table.
  const mutating = new Set<string>();
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (!route.url.startsWith('/api/') || ['GET', 'HEAD', 'OPTIONS'].includes(method)) continue;
      const entry = MUTATING_ROUTES.find((r) => r.method === method && r.url === route.url);
      const action = (route.config as { action?: string } | undefined)?.action;
      if (!entry || entry.action !== action) {
        throw new Error(
          `${method} ${route.url}: mutating routes must be listed in MUTATING_ROUTES with the action they declare (config.action=${action})`,
        );
      }
      mutating.add(`${method} ${route.url}`);
    }
  });

  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        // React style props and Swagger UI set inline styles.
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        fontSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        // Served over plain HTTP on loopback: upgrading would break every request.
        upgradeInsecureRequests: null,
      },
    },
  });

  if (config.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      max: config.rateLimitPerMinute,
      timeWindow: 60_000,
      // Per person when a token is sent (many people may share one proxy address), else per address.
      keyGenerator: (req) => {
        const token = bearerToken(req.headers.authorization);
        const p = token ? ctx.tokens.lookup(token) : null;
        return p ? `who:${p.name}:${p.role}` : `ip:${req.ip}`;
      },
      errorResponseBuilder: (_req, c) => ({
        statusCode: 429,
        error: 'RateLimited',
        message: `rate limit exceeded: retry in ${c.after}`,
      }),
    });
  }

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'gaplab API',
        version: VERSION,
        description:
          'Research campaigns that report the performance gap recovered (PGR). Every route except health, readiness and these docs needs `Authorization: Bearer <token>`; mutating routes check the role (see api/permissions.ts).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'system' },
        { name: 'problems' },
        { name: 'campaigns' },
        {
          name: 'control',
          description:
            'Human control of running campaigns; every change is audited with the actor.',
        },
        { name: 'trials', description: 'Read from MLflow, the permanent record.' },
      ],
    },
    transform: createJsonSchemaTransform({ schemaRegistry: registry, skipList: [] }),
    transformObject: createJsonSchemaTransformObject({ schemaRegistry: registry }),
  });
  await app.register(swaggerUi, {
    routePrefix: '/api/docs',
    staticCSP: true,
    uiConfig: { docExpansion: 'list', deepLinking: true },
  });

  // Bodies are JSON or YAML only: text/plain is a "simple" type browsers send cross-site without a preflight.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, loadDocument(body as string, 'body'));
    } catch (err) {
      const issue = err instanceof ValidationError ? err.issues[0] : undefined;
      done(
        new ServiceError(
          'InvalidInput',
          issue && issue.message.startsWith('duplicate key')
            ? `body${issue.path.length ? `.${formatPath(issue.path)}` : ''}: ${issue.message}`
            : `body: not valid YAML: ${(err as Error).message.replace(/^body: (not valid YAML or JSON: )?/, '').split('\n')[0]}`,
        ),
        undefined,
      );
    }
  });

  // JSON as fastify parses it (prototype poisoning refused), and a repeated key refused too.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    void parseJson(req, body as string, (err, value) => {
      if (err) return done(err, undefined);
      const dup = duplicateJsonKey(body as string);
      if (dup) return done(new ServiceError('InvalidInput', duplicateKeyMessage(dup)), undefined);
      done(null, value);
    });
  });

  // ---- authentication and roles ------------------------------------------------------------
  app.addHook('onRequest', async (req) => {
    // Decide by the route that matched, not the raw URL: the router decodes `/%61pi/...` to `/api/...`.
    const pattern = req.routeOptions.url;
    const path = pattern ?? req.url;
    if (!(path === '/api' || path.startsWith('/api/'))) return;
    const cfg = req.routeOptions.config as
      { public?: boolean; queryToken?: boolean; action?: Action } | undefined;
    if (cfg?.public || (pattern !== undefined && pattern.startsWith('/api/docs'))) return;
    req.principal = authenticate(req, ctx, cfg?.queryToken === true);
    if (cfg?.action && !can(req.principal.role, cfg.action)) {
      throw new ServiceError(
        'Forbidden',
        refusalText(PERMISSIONS[cfg.action], ACTION_WORDS[cfg.action], req.principal),
      );
    }
  });

  app.addHook('onResponse', async (req, reply) => {
    const quiet = req.url === '/api/health' || req.url === '/api/ready';
    const entry = {
      method: req.method,
      url: redactUrl(req.url),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
      actor: req.principal?.name,
    };
    if (quiet) req.log.debug(entry, 'request');
    else req.log.info(entry, 'request');
  });

  app.addHook('preClose', async () => {
    for (const close of [...ctx.streams]) close();
  });

  // ---- routes --------------------------------------------------------------------------------
  await app.register(
    async (api) => {
      await api.register(systemRoutes);
      await api.register(problemRoutes);
      await api.register(campaignRoutes);
      await api.register(trialRoutes);
      await api.register(viewRoutes, opts.views ?? {});
      await api.register(sourceRoutes);
      await api.register(eventRoutes);
    },
    { prefix: '/api' },
  );

  const uiDir = path.resolve(config.uiDir);
  const hasUi = existsSync(path.join(uiDir, 'index.html'));
  if (hasUi) {
    await app.register(fastifyStatic, {
      root: uiDir,
      prefix: '/',
      wildcard: true,
      index: 'index.html',
      // Vite fingerprints assets/: cache them for good; index.html must always be revalidated.
      setHeaders: (res, file) => {
        void res.header(
          'cache-control',
          file.includes(`${path.sep}assets${path.sep}`)
            ? 'public, max-age=31536000, immutable'
            : 'no-cache',
        );
      },
    });
  }

  app.setNotFoundHandler(async (req, reply) => {
    const isApi = req.url === '/api' || req.url.startsWith('/api/');
    if (!isApi && hasUi && (req.method === 'GET' || req.method === 'HEAD')) {
      // Client-side routes of the single-page UI.
      return reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-cache')
        .sendFile('index.html');
    }
    const route = `${req.method} ${redactUrl(req.url).split('?')[0]}`;
    return reply
      .code(404)
      .send({ error: 'NotFound', message: `no route ${route}` } satisfies api.ErrorBody);
  });

  await app.ready();
  for (const r of MUTATING_ROUTES) {
    if (!mutating.has(`${r.method} ${r.url}`))
      throw new Error(`MUTATING_ROUTES lists ${r.method} ${r.url}, which no route serves`);
  }
  return app;
}

/** The principal of a request, or a 401/403 ServiceError. */
function authenticate(req: FastifyRequest, ctx: AppContext, allowQueryToken: boolean): Principal {
  let token = bearerToken(req.headers.authorization);
  if (!token && allowQueryToken) {
    const q = (req.query as { token?: unknown } | undefined)?.token;
    if (typeof q === 'string' && q !== '') token = q;
  }
  if (!token)
    throw new ServiceError(
      'Unauthorized',
      'missing bearer token: send Authorization: Bearer <token>',
    );
  const p = ctx.tokens.lookup(token);
  if (!p) throw new ServiceError('Unauthorized', 'unknown or revoked token');
  return p;
}
