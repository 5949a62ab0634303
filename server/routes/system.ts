/** Liveness, readiness, who am I, links and the experiment registry. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiConfig, ErrorBody, ExperimentSummary, Health, Me, Ready } from '../../api/schemas.js';
import { actorOf, linksFor } from '../context.js';
import { actionsOf } from '../../api/permissions.js';

/** Resolves to false when `check` fails or takes longer than `ms`. */
async function within(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      check().catch(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const systemRoutes: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.gaplab;

  app.get(
    '/health',
    {
      config: { public: true },
      schema: {
        tags: ['system'],
        summary: 'The process is up',
        security: [],
        response: { 200: Health },
      },
    },
    async () => ({
      status: 'ok' as const,
      uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
    }),
  );

  app.get(
    '/ready',
    {
      config: { public: true },
      schema: {
        tags: ['system'],
        summary: 'Temporal and MLflow are reachable',
        security: [],
        response: { 200: Ready, 503: Ready },
      },
    },
    async (_req, reply) => {
      const [temporal, mlflow] = await Promise.all([
        within(ctx.checks.temporal, 3000),
        within(ctx.checks.mlflow, 3000),
      ]);
      const ready = temporal && mlflow;
      return reply.code(ready ? 200 : 503).send({ ready, temporal, mlflow });
    },
  );

  app.get(
    '/me',
    {
      schema: {
        tags: ['system'],
        summary: 'The caller and what they may do',
        response: { 200: Me, 401: ErrorBody },
      },
    },
    async (req) => {
      const p = actorOf(req);
      return { name: p.name, role: p.role, can: actionsOf(p.role), auth: ctx.authMode };
    },
  );

  app.get(
    '/config',
    {
      schema: {
        tags: ['system'],
        summary: 'Links to the Temporal and MLflow UIs',
        response: { 200: ApiConfig },
      },
    },
    async (req) => ({
      ...linksFor(ctx, req.principal?.role),
      namespace: ctx.config.namespace,
      auth: ctx.authMode,
      version: ctx.version,
    }),
  );

  app.get(
    '/experiments',
    {
      schema: {
        tags: ['system'],
        summary: 'Experiments registered on this server',
        response: { 200: z.array(ExperimentSummary) },
      },
    },
    async () =>
      ctx.service.registry.list().map((e) => ({
        name: e.name,
        description: e.description,
        metrics: e.metrics.map((m) => ({
          name: m.name,
          description: m.description,
          ...(m.direction ? { direction: m.direction } : {}),
        })),
      })),
  );

  app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () =>
    app.swagger(),
  );
};
