import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorBody } from '../api/schemas.js';
import { TokenTable } from './auth.js';
import { ServiceError } from './errors.js';
import { MUTATING_ROUTES, PERMISSIONS, ROLES, type Action } from '../api/permissions.js';
import {
  auth,
  buildTestApp,
  criteriaInput,
  FakeService,
  TOKENS,
} from '../test/support/fake-service.js';
import { quadSpec } from '../test/support/quadratic.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function setup(opts: Parameters<typeof buildTestApp>[0] = {}) {
  const built = await buildTestApp(opts);
  app = built.app;
  return built;
}

/** A valid request for each action, so that a permitted role gets past auth to the service. */
const SAMPLES: Record<
  Action,
  { params: Record<string, string>; body?: unknown; prepare?: (s: FakeService) => void }
> = {
  submitProblem: { params: {}, body: { ...quadSpec, id: 'fresh' } },
  setCriteria: { params: { problemId: 'quad' }, body: { criteria: criteriaInput, reason: 'v2' } },
  startCampaign: { params: {}, body: { problemId: 'quad', strategy: { name: 'random' } } },
  pause: { params: { campaignId: 'c1' }, body: { reason: 'lunch' } },
  resume: {
    params: { campaignId: 'c1' },
    prepare: (s) => void (s.campaigns.get('c1')!.status.paused = true),
  },
  stop: { params: { campaignId: 'c1' }, body: { reason: 'enough' } },
  changeBudgets: { params: { campaignId: 'c1' }, body: { budgets: { maxTrials: 20 } } },
  decide: { params: { campaignId: 'c1', hypothesisId: 'h0001' }, body: { decision: 'approve' } },
  inject: { params: { campaignId: 'c1' }, body: { title: 'mine', changes: { x: 1 } } },
  addNote: { params: { campaignId: 'c1' }, body: { text: 'looks good' } },
  clearFlag: {
    params: { campaignId: 'c1', trialId: 't0002', flag: 'high_variance' },
    body: { reason: 'checked the seeds' },
  },
  confirmFlag: {
    params: { campaignId: 'c1', trialId: 't0002', flag: 'high_variance' },
    body: { reason: 'the seeds disagree for real' },
  },
};

const fill = (url: string, params: Record<string, string>) =>
  url.replace(/:(\w+)/g, (_, k: string) => encodeURIComponent(params[k] ?? `missing-${k}`));

function request(
  route: (typeof MUTATING_ROUTES)[number],
  headers: Record<string, string>,
  body?: unknown,
): InjectOptions {
  const sample = SAMPLES[route.action];
  return {
    method: route.method,
    url: fill(route.url, sample.params),
    headers,
    ...(body !== undefined
      ? { payload: body as never }
      : sample.body !== undefined
        ? { payload: sample.body as never }
        : {}),
  };
}

describe('role matrix (every mutating route x every role)', () => {
  it('covers every action of the permission table with a route', () => {
    expect(new Set(MUTATING_ROUTES.map((r) => r.action))).toEqual(
      new Set(Object.keys(PERMISSIONS)),
    );
  });

  for (const route of MUTATING_ROUTES) {
    describe(`${route.method} ${route.url}`, () => {
      it('answers 401 without a token, or with an unknown one', async () => {
        const { service } = await setup();
        const none = await app!.inject(request(route, {}));
        expect(none.statusCode).toBe(401);
        expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
        const bad = await app!.inject(
          request(route, { authorization: 'Bearer not-a-real-token-at-all' }),
        );
        expect(bad.statusCode).toBe(401);
        expect(service.calls).toHaveLength(0);
      });

      for (const role of ROLES) {
        const allowed = (PERMISSIONS[route.action] as readonly string[]).includes(role);
        it(`${role}: ${allowed ? 'reaches the service as the named actor' : '403 before the service is called'}`, async () => {
          const { service } = await setup();
          SAMPLES[route.action].prepare?.(service);
          const res = await app!.inject(request(route, auth(role)));
          if (allowed) {
            expect(res.statusCode, res.body).toBeLessThan(300);
            expect(service.calls.at(-1)?.actor?.role).toBe(role);
            expect(service.calls.at(-1)?.actor?.name).toMatch(/^(Pat PI|Rae Researcher)$/);
          } else {
            expect(res.statusCode).toBe(403);
            expect(ErrorBody.parse(res.json()).error).toBe('Forbidden');
            expect(service.calls).toHaveLength(0);
          }
        });
      }

      it('checks the role before the body: a viewer gets 403 even for garbage', async () => {
        await setup();
        const res = await app!.inject(request(route, auth('viewer'), { nonsense: [1, 2, 3] }));
        expect(res.statusCode).toBe(403);
      });
    });
  }
});

describe('reads', () => {
  const reads = [
    '/api/me',
    '/api/config',
    '/api/experiments',
    '/api/problems',
    '/api/problems/quad',
    '/api/problems/quad/criteria',
    '/api/campaigns',
    '/api/campaigns?problemId=quad&strategy=random',
    '/api/campaigns/c1',
    '/api/campaigns/c1/approvals',
    '/api/campaigns/c1/notes',
    '/api/campaigns/c1/leaderboard?limit=2',
    '/api/campaigns/c1/audit',
    '/api/campaigns/c2/report',
    '/api/campaigns/c1/trials',
    '/api/campaigns/c1/trials/t0002',
    '/api/campaigns/c1/lineage',
  ];
  it.each(reads)('a viewer may read %s (200), nobody without a token (401)', async (url) => {
    await setup();
    expect((await app!.inject({ url, headers: auth('viewer') })).statusCode).toBe(200);
    expect((await app!.inject({ url })).statusCode).toBe(401);
  });

  it('health, readiness and the OpenAPI document need no token', async () => {
    await setup();
    expect((await app!.inject({ url: '/api/health' })).json()).toMatchObject({ status: 'ok' });
    expect((await app!.inject({ url: '/api/ready' })).statusCode).toBe(200);
    const doc = (await app!.inject({ url: '/api/openapi.json' })).json() as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toBe('3.1.0');
    for (const r of MUTATING_ROUTES)
      expect(Object.keys(doc.paths)).toContain(r.url.replace(/:(\w+)/g, '{$1}'));
    expect((await app!.inject({ url: '/api/docs' })).statusCode).toBe(200);
  });

  it('readiness is 503 and names what is down', async () => {
    await setup({ checks: { temporal: async () => false, mlflow: async () => true } });
    const res = await app!.inject({ url: '/api/ready' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ ready: false, temporal: false, mlflow: true });
  });

  it('/me tells the caller who they are and what they may do', async () => {
    await setup();
    const me = (await app!.inject({ url: '/api/me', headers: auth('researcher') })).json();
    expect(me).toMatchObject({ name: 'Rae Researcher', role: 'researcher', auth: 'tokens' });
    expect(me.can).toContain('inject');
    expect(me.can).not.toContain('stop');
  });

  it('serves the report as markdown on request', async () => {
    await setup();
    const res = await app!.inject({
      url: '/api/campaigns/c2/report?format=markdown',
      headers: auth('viewer'),
    });
    expect(res.headers['content-type']).toMatch(/^text\/markdown/);
    expect(res.body).toMatch(/^# Campaign c2/);
  });
});

describe('bad input: 4xx with a field path, never a 500', () => {
  it('refuses a repeated JSON key with 400 naming the key and its path, before the service', async () => {
    const { service } = await setup();
    const post = (url: string, payload: string, who: Parameters<typeof auth>[0] = 'pi') =>
      app!.inject({
        method: 'POST',
        url,
        headers: { ...auth(who), 'content-type': 'application/json; charset=utf-8' },
        payload,
      });
    const stop = await post(
      '/api/campaigns/c1/stop',
      '{"reason":"x","cancelRunning":true,"cancelRunning":false}',
    );
    expect(stop.statusCode).toBe(400);
    expect(ErrorBody.parse(stop.json())).toMatchObject({
      error: 'InvalidInput',
      message: 'body: duplicate key cancelRunning',
    });
    expect(service.calls.filter((c) => c.method === 'stop')).toHaveLength(0);
    // Nested, escaped spellings of one key, inside arrays: the path names where.
    const crit = await post(
      '/api/problems/quad/criteria',
      JSON.stringify({ criteria: criteriaInput, reason: 'v2' }).replace(
        '"budgets":{',
        '"budgets":{"maxTrials":3,"max\\u0054rials":30,',
      ),
    );
    expect(crit.statusCode).toBe(400);
    expect(crit.json().message).toBe('body.criteria.budgets: duplicate key maxTrials');
    const inArray = await post(
      '/api/campaigns/c1/hypotheses',
      '{"title":"t","changes":{"x":1},"edits":[{"kind":"diff","diff":"a"},{"kind":"diff","kind":"x","diff":"b"}]}',
      'researcher',
    );
    expect(inArray.json().message).toBe('body.edits.1: duplicate key kind');
    // The same key in sibling objects, and key-like text inside strings, are fine.
    const ok = await post(
      '/api/campaigns/c1/stop',
      '{"reason":"\\"cancelRunning\\": 1, {\\"a\\":[\\"reason\\"","cancelRunning":false}',
    );
    expect(ok.statusCode, ok.body).toBe(200);
    expect(service.calls.filter((c) => c.method === 'stop')).toHaveLength(1);
    // Prototype poisoning is still refused, and so is malformed JSON.
    expect((await post('/api/campaigns/c1/stop', '{"__proto__":{"x":1}}')).statusCode).toBe(400);
    expect((await post('/api/campaigns/c1/stop', '{"reason":')).statusCode).toBe(400);
  });

  it('refuses a repeated JSON key through the listening HTTP server', async () => {
    await setup();
    const url = await app!.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${url}/api/campaigns/c1/stop`, {
      method: 'POST',
      headers: { ...auth('pi'), 'content-type': 'application/json' },
      body: '{"cancelRunning":true,"cancelRunning":false}',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toBe(
      'body: duplicate key cancelRunning',
    );
  });

  const issuesOf = (body: string) => ErrorBody.parse(JSON.parse(body)).issues ?? [];

  it('names the field of a bad budget', async () => {
    await setup();
    const res = await app!.inject({
      method: 'PATCH',
      url: '/api/campaigns/c1/budgets',
      headers: auth('pi'),
      payload: { budgets: { maxTrials: -1 } },
    });
    expect(res.statusCode).toBe(400);
    expect(issuesOf(res.body)).toContainEqual(
      expect.objectContaining({ path: 'budgets.maxTrials', in: 'body' }),
    );
  });

  it('starts a campaign paused on request, and names `paused` when it is not a boolean', async () => {
    const { service } = await setup();
    const ok = await app!.inject({
      method: 'POST',
      url: '/api/campaigns',
      headers: auth('researcher'),
      payload: { problemId: 'quad', strategy: { name: 'random' }, paused: true },
    });
    expect(ok.statusCode, ok.body).toBe(201);
    expect(service.calls.at(-1)).toMatchObject({
      method: 'startCampaign',
      args: [expect.objectContaining({ paused: true })],
    });
    const bad = await app!.inject({
      method: 'POST',
      url: '/api/campaigns',
      headers: auth('researcher'),
      payload: { problemId: 'quad', strategy: { name: 'random' }, paused: 'yes' },
    });
    expect(bad.statusCode).toBe(400);
    expect(issuesOf(bad.body).map((i) => i.path)).toEqual(['paused']);
  });

  it('names the parameter of a baseline outside its space', async () => {
    await setup();
    const res = await app!.inject({
      method: 'POST',
      url: '/api/problems',
      headers: auth('researcher'),
      payload: { ...quadSpec, id: 'outside', baseline: { x: 99, y: 0 } },
    });
    expect(res.statusCode).toBe(400);
    expect(issuesOf(res.body).map((i) => i.path)).toEqual(['spec.baseline.x']);
  });

  it('names the metric of criteria the experiment does not report', async () => {
    await setup();
    const res = await app!.inject({
      method: 'POST',
      url: '/api/problems/quad/criteria',
      headers: auth('pi'),
      payload: { criteria: { ...criteriaInput, metric: 'accuracy' } },
    });
    expect(res.statusCode).toBe(400);
    expect(issuesOf(res.body).map((i) => i.path)).toEqual(['criteria.metric']);
  });

  it('names the fields of bad criteria (JSON and YAML)', async () => {
    await setup();
    const res = await app!.inject({
      method: 'POST',
      url: '/api/problems/quad/criteria',
      headers: auth('pi'),
      payload: { criteria: { ...criteriaInput, optimum: { kind: 'value', value: 'ten' } } },
    });
    expect(res.statusCode).toBe(400);
    expect(issuesOf(res.body).map((i) => i.path)).toContain('criteria.optimum.value');
    const yaml = await app!.inject({
      method: 'POST',
      url: '/api/problems/quad/criteria',
      headers: { ...auth('pi'), 'content-type': 'application/yaml' },
      payload: 'metric: score\ndirection: sideways\n',
    });
    expect(yaml.statusCode).toBe(400);
    expect(issuesOf(yaml.body).map((i) => i.path)).toContain('criteria.direction');
  });

  it('accepts YAML problem specs and criteria documents on their own', async () => {
    const { service } = await setup();
    const res = await app!.inject({
      method: 'POST',
      url: '/api/problems',
      headers: { ...auth('researcher'), 'content-type': 'application/yaml' },
      payload:
        'id: yamlprob\ntitle: T\nquestion: Q?\nexperiment: quadratic\nspace:\n  - {name: x, kind: float, low: 0, high: 1}\nbaseline: {x: 0.5}\n',
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().spec.id).toBe('yamlprob');
    const crit = await app!.inject({
      method: 'POST',
      url: '/api/problems/yamlprob/criteria',
      headers: { ...auth('pi'), 'content-type': 'application/x-yaml' },
      payload:
        'metric: score\ndirection: maximize\nbaseline: {kind: value, value: 0}\noptimum: {kind: value, value: 1}\nbudgets: {maxTrials: 3}\n',
    });
    expect(crit.statusCode, crit.body).toBe(201);
    expect(service.calls.at(-1)).toMatchObject({
      method: 'setCriteria',
      actor: { name: 'Pat PI' },
    });
  });

  it('rejects malformed YAML and JSON with 400 and unknown media types with 415', async () => {
    await setup();
    const yaml = await app!.inject({
      method: 'POST',
      url: '/api/problems',
      headers: { ...auth('pi'), 'content-type': 'application/yaml' },
      payload: 'a: [1, 2',
    });
    expect(yaml.statusCode).toBe(400);
    const json = await app!.inject({
      method: 'POST',
      url: '/api/problems',
      headers: { ...auth('pi'), 'content-type': 'application/json' },
      payload: '{"id": ',
    });
    expect(json.statusCode).toBe(400);
    expect(ErrorBody.parse(json.json()).error).toBe('InvalidInput');
    const text = await app!.inject({
      method: 'POST',
      url: '/api/problems',
      headers: { ...auth('pi'), 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(text.statusCode).toBe(415);
  });

  it('maps service InvalidInput messages to field issues', async () => {
    const fake = new FakeService();
    fake.inject = async () => {
      throw new ServiceError('InvalidInput', 'changes.x: above 5; expectedEffect: too long');
    };
    await setup({ fake });
    const res = await app!.inject({
      method: 'POST',
      url: '/api/campaigns/c1/hypotheses',
      headers: auth('pi'),
      payload: { title: 't', changes: { x: 9 } },
    });
    expect(res.statusCode).toBe(400);
    expect(issuesOf(res.body)).toEqual([
      { path: 'changes.x', message: 'above 5' },
      { path: 'expectedEffect', message: 'too long' },
    ]);
  });

  it('an idea built on an unknown trial: 404 naming the field', async () => {
    await setup();
    const res = await app!.inject({
      method: 'POST',
      url: '/api/campaigns/c1/hypotheses',
      headers: auth('pi'),
      payload: { title: 't', changes: { x: 1 }, parentTrialId: 'nope' },
    });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ message: 'parentTrialId: unknown trial nope' });
  });

  it('every generated body on every mutating route: a 4xx with field paths or a success, never a 5xx', async () => {
    await setup();
    for (const route of MUTATING_ROUTES) {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.jsonValue(),
            fc.record(
              {
                budgets: fc.jsonValue(),
                criteria: fc.jsonValue(),
                decision: fc.jsonValue(),
                text: fc.jsonValue(),
                reason: fc.jsonValue(),
              },
              { requiredKeys: [] },
            ),
            fc.record(
              {
                title: fc.jsonValue(),
                changes: fc.dictionary(fc.string(), fc.jsonValue()),
                parentTrialId: fc.jsonValue(),
              },
              { requiredKeys: [] },
            ),
          ),
          async (body) => {
            const res = await app!.inject({
              ...request(route, auth('pi')),
              payload: JSON.stringify(body),
              headers: { ...auth('pi'), 'content-type': 'application/json' },
            });
            expect(
              res.statusCode,
              `${route.method} ${route.url} ${JSON.stringify(body)} -> ${res.body}`,
            ).toBeLessThan(500);
            if (res.statusCode === 400) {
              const issues = issuesOf(res.body);
              expect(issues.length).toBeGreaterThan(0);
              for (const i of issues) expect(i.path).toMatch(/\S/);
            }
          },
        ),
        { numRuns: 40 },
      );
    }
  });

  it('generated ids in the path: 400 or 404, never a 5xx', async () => {
    await setup();
    const urls = [
      '/api/campaigns/:id',
      '/api/campaigns/:id/trials',
      '/api/campaigns/:id/lineage',
      '/api/campaigns/:id/trials/:id',
      '/api/problems/:id',
      '/api/problems/:id/compare',
    ];
    await fc.assert(
      // `.` and `..` are dot segments: the URL then names another route, legitimately.
      fc.asyncProperty(
        fc.constantFrom(...urls),
        fc.string({ minLength: 1, maxLength: 300 }).filter((s) => s !== '.' && s !== '..'),
        async (pattern, id) => {
          const res = await app!.inject({
            url: pattern.replace(/:id/g, encodeURIComponent(id)),
            headers: auth('viewer'),
          });
          expect(
            [400, 404],
            `${pattern} ${JSON.stringify(id)} -> ${res.statusCode} ${res.body}`,
          ).toContain(res.statusCode);
          if (res.statusCode === 400) expect(issuesOf(res.body)[0]?.in).toBe('params');
        },
      ),
      { numRuns: 150 },
    );
  });

  it('generated query strings on paged reads: 2xx or 400 naming the query field', async () => {
    await setup();
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 12 }),
        fc.string({ maxLength: 12 }),
        fc.string({ maxLength: 12 }),
        async (offset, limit, kind) => {
          const q = new URLSearchParams({ offset, limit, kind }).toString();
          const res = await app!.inject({
            url: `/api/campaigns/c1/trials?${q}`,
            headers: auth('viewer'),
          });
          expect(res.statusCode === 200 || res.statusCode === 400, res.body).toBe(true);
          if (res.statusCode === 400) expect(issuesOf(res.body)[0]?.in).toBe('querystring');
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('not found and conflicts', () => {
  it('404 for unknown problems, campaigns, trials, hypotheses and routes', async () => {
    await setup();
    const h = auth('pi');
    expect((await app!.inject({ url: '/api/problems/nope', headers: h })).statusCode).toBe(404);
    expect((await app!.inject({ url: '/api/campaigns/nope', headers: h })).statusCode).toBe(404);
    expect((await app!.inject({ url: '/api/campaigns/nope/trials', headers: h })).statusCode).toBe(
      404,
    );
    expect((await app!.inject({ url: '/api/campaigns/nope/lineage', headers: h })).statusCode).toBe(
      404,
    );
    expect(
      (await app!.inject({ url: '/api/campaigns/c1/trials/t9999', headers: h })).statusCode,
    ).toBe(404);
    expect((await app!.inject({ url: '/api/problems/nope/compare', headers: h })).statusCode).toBe(
      404,
    );
    const hyp = await app!.inject({
      method: 'POST',
      url: '/api/campaigns/c1/approvals/h9999',
      headers: h,
      payload: { decision: 'reject' },
    });
    expect(hyp.statusCode).toBe(404);
    const route = await app!.inject({ url: '/api/nothing/here', headers: h });
    expect(route.statusCode).toBe(404);
    expect(route.json()).toMatchObject({ error: 'NotFound' });
  });

  it('409 for deciding an already-decided hypothesis, pausing twice, acting on a finished campaign, an unfinished report', async () => {
    await setup();
    const h = auth('pi');
    const decided = await app!.inject({
      method: 'POST',
      url: '/api/campaigns/c1/approvals/h0000',
      headers: h,
      payload: { decision: 'approve' },
    });
    expect(decided.statusCode).toBe(409);
    expect(decided.json()).toMatchObject({
      error: 'Conflict',
      message: expect.stringMatching(/already decided/),
    });
    expect(
      (await app!.inject({ method: 'POST', url: '/api/campaigns/c1/pause', headers: h }))
        .statusCode,
    ).toBe(200);
    expect(
      (await app!.inject({ method: 'POST', url: '/api/campaigns/c1/pause', headers: h }))
        .statusCode,
    ).toBe(409);
    expect(
      (
        await app!.inject({
          method: 'POST',
          url: '/api/campaigns/c2/stop',
          headers: h,
          payload: {},
        })
      ).statusCode,
    ).toBe(409);
    expect((await app!.inject({ url: '/api/campaigns/c1/report', headers: h })).statusCode).toBe(
      409,
    );
  });

  it('hides 5xx details from the client but logs them', async () => {
    const lines: string[] = [];
    const fake = new FakeService();
    fake.audit = async () => {
      throw new Error('database password is hunter2');
    };
    const { buildApp } = await import('./app.js');
    const { FakeMlflow } = await import('../test/support/fake-mlflow.js');
    const { Writable } = await import('node:stream');
    app = await buildApp({
      service: fake,
      mlflow: new FakeMlflow(),
      tokens: new TokenTable([{ token: TOKENS.pi, name: 'Pat PI', role: 'pi' }]),
      config: { rateLimitPerMinute: 0, uiDir: '/nonexistent' },
      logger: {
        level: 'error',
        stream: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }),
      },
    });
    const res = await app.inject({ url: '/api/campaigns/c1/audit', headers: auth('pi') });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('hunter2');
    expect(res.json()).toEqual({
      error: 'Internal',
      message: expect.stringMatching(/server log has the details \(request \S+\)/),
    });
    expect(lines.join('')).toContain('hunter2');
  });

  it('a flag decided once answers 409 naming the decision; clearing it makes the trial eligible and the best', async () => {
    await setup();
    const h = auth('pi');
    const url = '/api/campaigns/c1/trials/t0002/flags/high_variance';
    const status = async () =>
      (await app!.inject({ url: '/api/campaigns/c1', headers: h })).json() as {
        best: { trialId: string } | null;
      };
    // Under review, t0002 (PGR 0.2) is never the best: t0001 (PGR 0.1) is.
    expect((await status()).best?.trialId).toBe('t0001');
    const clear = { method: 'POST' as const, url: `${url}/clear`, headers: h };
    expect((await app!.inject({ ...clear, payload: { reason: 'seeds checked' } })).statusCode).toBe(
      200,
    );
    expect((await status()).best?.trialId).toBe('t0002');
    const again = await app!.inject({ ...clear, payload: { reason: 'twice' } });
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ message: expect.stringMatching(/already cleared/) });
  });
});

describe('security', () => {
  it('sends security headers (CSP, nosniff, frame denial, referrer policy)', async () => {
    await setup();
    const res = await app!.inject({ url: '/api/health' });
    expect(res.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(res.headers['content-security-policy']).not.toMatch(/upgrade-insecure-requests/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBeDefined();
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('rate-limits per person: the n+1-th request in a minute gets 429, another person is unaffected', async () => {
    await setup({ config: { rateLimitPerMinute: 3 } });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++)
      codes.push((await app!.inject({ url: '/api/me', headers: auth('viewer') })).statusCode);
    expect(codes).toEqual([200, 200, 200, 429]);
    const limited = await app!.inject({ url: '/api/me', headers: auth('viewer') });
    expect(limited.json()).toMatchObject({ error: 'RateLimited' });
    expect(limited.headers['retry-after']).toBeDefined();
    expect((await app!.inject({ url: '/api/me', headers: auth('pi') })).statusCode).toBe(200);
  });

  it('needs a token on every /api route however its URL is spelled (percent-encoding, dot segments, slashes)', async () => {
    await setup();
    const doc = (await app!.inject({ url: '/api/openapi.json' })).json() as {
      paths: Record<string, Record<string, unknown>>;
    };
    const open = new Set(['/api/health', '/api/ready']);
    const paths = Object.keys(doc.paths)
      .filter((p) => !open.has(p))
      .map((p) =>
        p
          .replace('{campaignId}', 'c1')
          .replace('{problemId}', 'quad')
          .replace('{trialId}', 't0002')
          .replace('{hypothesisId}', 'h0001')
          .replace('{flag}', 'high_variance'),
      );
    const spell = (path: string, mask: number[]) =>
      path
        .split('')
        .map((ch, i) =>
          /[a-z]/.test(ch) && (mask[i % mask.length] ?? 0) > 0
            ? `%${ch.charCodeAt(0).toString(16)}`
            : ch,
        )
        .join('');
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }),
        fc.constantFrom('', '/', '/./', '/x/../'),
        async (path, mask, prefix) => {
          const url = `${prefix === '' ? '' : prefix.slice(0, -1)}${spell(path, mask)}`;
          for (const method of Object.keys(
            doc.paths[
              path.replace(
                /c1|quad|t0002|h0001|high_variance/g,
                (m) =>
                  ({
                    c1: '{campaignId}',
                    quad: '{problemId}',
                    t0002: '{trialId}',
                    h0001: '{hypothesisId}',
                    high_variance: '{flag}',
                  })[m]!,
              )
            ] ?? { get: 1 },
          )) {
            const res = await app!.inject({ method: method.toUpperCase() as 'GET', url });
            expect([401, 404], `${method} ${url} -> ${res.statusCode}`).toContain(res.statusCode);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('accepts ?token= only on the event stream', async () => {
    await setup();
    expect((await app!.inject({ url: `/api/me?token=${TOKENS.pi}` })).statusCode).toBe(401);
    // A finished campaign's stream sends status, end, and closes: inject can read it whole.
    const res = await app!.inject({ url: `/api/campaigns/c2/events?token=${TOKENS.viewer}` });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('event: end');
  });

  it('without tokens nothing but health, readiness and docs answers: no open mode', async () => {
    await setup({ tokens: new TokenTable([]) });
    expect((await app!.inject({ url: '/api/me' })).statusCode).toBe(401);
    expect((await app!.inject({ method: 'POST', url: '/api/campaigns/c1/pause' })).statusCode).toBe(
      401,
    );
    expect((await app!.inject({ url: '/api/health' })).statusCode).toBe(200);
  });
});

describe('the built UI', () => {
  it('serves files, falls back to index.html for client routes, and keeps /api answers JSON', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gaplab-ui-'));
    mkdirSync(path.join(dir, 'assets'));
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
    writeFileSync(path.join(dir, 'assets', 'app-abc123.js'), 'console.log(1)');
    await setup({ config: { uiDir: dir } });
    const root = await app!.inject({ url: '/' });
    expect(root.statusCode).toBe(200);
    expect(root.body).toContain('id="root"');
    const deep = await app!.inject({ url: '/campaigns/c1/trials/t0002' });
    expect(deep.statusCode).toBe(200);
    expect(deep.headers['content-type']).toMatch(/^text\/html/);
    expect(deep.headers['cache-control']).toBe('no-cache');
    const asset = await app!.inject({ url: '/assets/app-abc123.js' });
    expect(asset.body).toBe('console.log(1)');
    expect(asset.headers['cache-control']).toMatch(/immutable/);
    const api = await app!.inject({ url: '/api/nothing', headers: auth('viewer') });
    expect(api.statusCode).toBe(404);
    expect(api.headers['content-type']).toMatch(/json/);
    expect((await app!.inject({ method: 'POST', url: '/somewhere' })).statusCode).toBe(404);
  });
});
