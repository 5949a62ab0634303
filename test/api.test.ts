/**
 * The HTTP API end to end: the real app listening on 127.0.0.1, a real worker, Temporal and
 * MLflow. A campaign is driven only through HTTP by three people with different roles.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CampaignReport,
  ErrorBody,
  Lineage,
  PendingApproval,
  TrialDetail,
  TrialsPage,
  type CampaignStatus,
} from '../api/schemas.js';
import { quadraticCriteria, quadraticSpec, testRegistry } from './support/quadratic.js';
import { createTestEnv, uniqueId, type TestEnv } from './support/env.js';
import { eventually } from './support/eventually.js';
import {
  HTTP_TOKENS,
  sseEvents,
  startTestServer,
  type SseEvent,
  type TestServer,
} from './support/http.js';

let env: TestEnv;
let http: TestServer;
const call = (...args: Parameters<TestServer['call']>) => http.call(...args);

beforeAll(async () => {
  env = await createTestEnv({ registry: testRegistry() });
  http = await startTestServer(env, { sseIntervalMs: 200, lineageTtlMs: 500 });
});
afterAll(async () => {
  await http?.close();
  await env?.close();
});

/** Collects server-sent events in the background until stopped. */
function listen(url: string) {
  const events: SseEvent[] = [];
  const controller = new AbortController();
  const done = (async () => {
    const res = await fetch(url, { signal: controller.signal });
    if (res.status !== 200) throw new Error(`event stream answered ${res.status}`);
    for await (const e of sseEvents(res.body)) events.push(e);
  })().catch((err: unknown) => {
    if ((err as Error).name !== 'AbortError') throw err;
  });
  return { events, stop: () => controller.abort(), done };
}

describe('the HTTP API against real Temporal, MLflow and a worker', () => {
  it('is up, ready, documented and refuses anonymous callers', async () => {
    expect((await call(null, 'GET', '/api/health')).status).toBe(200);
    expect((await call(null, 'GET', '/api/ready')).json).toEqual({
      ready: true,
      temporal: true,
      mlflow: true,
    });
    expect((await call(null, 'GET', '/api/openapi.json')).json.openapi).toBe('3.1.0');
    expect((await call(null, 'GET', '/api/problems')).status).toBe(401);
    expect((await call('researcher', 'GET', '/api/config')).json.mlflowUi).toBe(env.mlflowUri);
    // A viewer is not linked to MLflow (api/permissions.ts LINKED_TOOLS).
    expect((await call('viewer', 'GET', '/api/config')).json.mlflowUi).toBeNull();
    expect(
      (await call('viewer', 'GET', '/api/experiments')).json.map((e: { name: string }) => e.name),
    ).toContain('quadratic');
  });

  it('drives a campaign through HTTP: submit, criteria, start, approvals, inject, pause, resume, budgets, stop, report, audit, trials, lineage, events', async () => {
    const problemId = uniqueId('api');

    // Submit (researcher) and set criteria (PI, as YAML) with approval mode on.
    expect(
      (await call('viewer', 'POST', '/api/problems', { ...quadraticSpec, id: problemId })).status,
    ).toBe(403);
    const submitted = await call('researcher', 'POST', '/api/problems', {
      ...quadraticSpec,
      id: problemId,
    });
    expect(submitted.status, submitted.text).toBe(201);
    expect(submitted.json.createdBy).toEqual({ name: 'Rae Researcher', role: 'researcher' });
    expect(
      (await call('researcher', 'POST', '/api/problems', { ...quadraticSpec, id: problemId }))
        .status,
    ).toBe(409);
    const badSpec = await call('researcher', 'POST', '/api/problems', {
      ...quadraticSpec,
      id: uniqueId('bad'),
      experiment: 'no-such-experiment',
    });
    expect(badSpec.status).toBe(400);
    expect(ErrorBody.parse(badSpec.json).issues?.[0]?.path).toBe('spec.experiment');

    const criteria = {
      ...quadraticCriteria,
      approval: { enabled: true, timeoutSeconds: 600, onTimeout: 'reject' },
      budgets: { maxTrials: 50, concurrency: 2 },
    };
    expect(
      (await call('researcher', 'POST', `/api/problems/${problemId}/criteria`, { criteria }))
        .status,
    ).toBe(403);
    const badCriteria = await call('pi', 'POST', `/api/problems/${problemId}/criteria`, {
      criteria: { ...criteria, metric: 'nope' },
    });
    expect(badCriteria.status).toBe(400);
    expect(badCriteria.json.issues.map((i: { path: string }) => i.path)).toContain(
      'criteria.metric',
    );
    const { stringify } = await import('yaml');
    const set = await call(
      'pi',
      'POST',
      `/api/problems/${problemId}/criteria`,
      stringify({ criteria, reason: 'first version' }),
      'application/yaml',
    );
    expect(set.status, set.text).toBe(201);
    expect(set.json).toMatchObject({
      version: 1,
      actor: { name: 'Pat PI' },
      reason: 'first version',
    });
    expect((await call('viewer', 'GET', `/api/problems/${problemId}/criteria`)).json).toHaveLength(
      1,
    );

    // Start (researcher).
    expect(
      (await call('viewer', 'POST', '/api/campaigns', { problemId, strategy: { name: 'random' } }))
        .status,
    ).toBe(403);
    const started = await call('researcher', 'POST', '/api/campaigns', {
      problemId,
      strategy: { name: 'random' },
      seed: 3,
      label: 'via http',
    });
    expect(started.status, started.text).toBe(201);
    const campaignId = started.json.campaignId as string;
    const events = listen(
      `${http.url}/api/campaigns/${encodeURIComponent(campaignId)}/events?since=0&token=${HTTP_TOKENS.viewer}`,
    );

    const listed = await call('viewer', 'GET', `/api/campaigns?problemId=${problemId}`);
    expect(listed.json.map((c: { campaignId: string }) => c.campaignId)).toEqual([campaignId]);

    // Approvals: the PI approves one and rejects one; the researcher may not.
    const pending = await eventually(async () => {
      const p = PendingApproval.array().parse(
        (await call('viewer', 'GET', `/api/campaigns/${campaignId}/approvals`)).json,
      );
      return p.length >= 2 ? p : null;
    });
    const [first, second] = pending;
    expect(
      (
        await call(
          'researcher',
          'POST',
          `/api/campaigns/${campaignId}/approvals/${first!.hypothesis.id}`,
          { decision: 'approve' },
        )
      ).status,
    ).toBe(403);
    expect(
      (
        await call('pi', 'POST', `/api/campaigns/${campaignId}/approvals/${first!.hypothesis.id}`, {
          decision: 'approve',
          reason: 'plausible',
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await call(
          'pi',
          'POST',
          `/api/campaigns/${campaignId}/approvals/${second!.hypothesis.id}`,
          {
            decision: 'reject',
            reason: 'too far out',
          },
        )
      ).status,
    ).toBe(200);
    const again = await call(
      'pi',
      'POST',
      `/api/campaigns/${campaignId}/approvals/${first!.hypothesis.id}`,
      { decision: 'approve' },
    );
    expect(again.status).toBe(409);
    expect(again.json.message).toMatch(/already decided/);
    expect(
      (
        await call('pi', 'POST', `/api/campaigns/${campaignId}/approvals/h-nope`, {
          decision: 'approve',
        })
      ).status,
    ).toBe(404);
    expect(
      (
        await call('pi', 'POST', `/api/campaigns/${campaignId}/approvals/${first!.hypothesis.id}`, {
          decision: 'maybe',
        })
      ).status,
    ).toBe(400);

    // Inject (PI): runs without approval.
    const injected = await call('pi', 'POST', `/api/campaigns/${campaignId}/hypotheses`, {
      title: 'Go to the centre',
      rationale: 'bowl centre',
      changes: { x: 1, y: -2 },
    });
    expect(injected.status, injected.text).toBe(201);
    const outside = await call('researcher', 'POST', `/api/campaigns/${campaignId}/hypotheses`, {
      title: 'too far',
      changes: { x: 99 },
    });
    expect(outside.status).toBe(400);
    expect(outside.json.issues.length).toBeGreaterThan(0);

    // Pause, note, budgets, resume.
    expect(
      (await call('researcher', 'POST', `/api/campaigns/${campaignId}/pause`, { reason: 'lunch' }))
        .status,
    ).toBe(200);
    expect(
      ((await call('viewer', 'GET', `/api/campaigns/${campaignId}`)).json as CampaignStatus).paused,
    ).toBe(true);
    expect((await call('researcher', 'POST', `/api/campaigns/${campaignId}/pause`)).status).toBe(
      409,
    );
    expect(
      (
        await call('researcher', 'POST', `/api/campaigns/${campaignId}/notes`, {
          text: 'x near 1 looks promising',
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await call('researcher', 'PATCH', `/api/campaigns/${campaignId}/budgets`, {
          budgets: { maxTrials: 6 },
        })
      ).status,
    ).toBe(403);
    const budgets = await call('pi', 'PATCH', `/api/campaigns/${campaignId}/budgets`, {
      budgets: { maxTrials: 6 },
      reason: 'keep it short',
    });
    expect(budgets.status, budgets.text).toBe(200);
    // Only the given budget changes: concurrency stays as the criteria set it.
    expect(budgets.json).toMatchObject({ maxTrials: 6, concurrency: 2 });
    expect((await call('researcher', 'POST', `/api/campaigns/${campaignId}/resume`)).status).toBe(
      200,
    );
    expect(
      (await call('viewer', 'GET', `/api/campaigns/${campaignId}/notes`)).json.some(
        (n: { author: string }) => n.author === 'Rae Researcher',
      ),
    ).toBe(true);

    // The injected trial runs.
    const human = await eventually(async () => {
      const page = TrialsPage.parse(
        (await call('viewer', 'GET', `/api/campaigns/${campaignId}/trials?kind=search&limit=100`))
          .json,
      );
      return page.trials.find((t) => t.author.kind === 'human' && t.status !== 'running');
    }, 90_000);
    expect(human.author.name).toBe('Pat PI');
    expect(human.pgr?.mean).toBeGreaterThan(0.99);

    // Stop (PI only) and the report.
    expect(
      (await call('researcher', 'POST', `/api/campaigns/${campaignId}/stop`, { reason: 'no' }))
        .status,
    ).toBe(403);
    expect(
      (await call('pi', 'POST', `/api/campaigns/${campaignId}/stop`, { reason: 'enough' })).status,
    ).toBe(200);
    const report = await eventually(async () => {
      const r = await call('viewer', 'GET', `/api/campaigns/${campaignId}/report`);
      return r.status === 200 ? CampaignReport.parse(r.json) : null;
    }, 90_000);
    expect(report.stopReason).toBe('stopped_by_pi');
    expect(report.dropped.some((d) => d.reason.includes('rejected by Pat PI'))).toBe(true);
    // The proposal accounting reaches API readers whole: every proposal has a fate, the PI's
    // rejection among the reasons.
    const p = report.proposals!;
    const c = p.counts;
    expect(c.sent).toBeGreaterThan(0);
    expect(c.sent).toBe(c.queued + c.run + c.duplicate + c.repaired + c.dropped);
    expect(p.recent.some((r) => r.fate === 'dropped' && /rejected/.test(r.reason ?? ''))).toBe(
      true,
    );
    expect(report.failures).toBeDefined();
    const md = await call('viewer', 'GET', `/api/campaigns/${campaignId}/report?format=markdown`);
    expect(md.headers.get('content-type')).toMatch(/^text\/markdown/);
    expect(md.text).toContain(`# Campaign ${campaignId}`);
    expect((await call('pi', 'POST', `/api/campaigns/${campaignId}/pause`)).status).toBe(409);

    // The audit trail names the people.
    const audit = (await call('viewer', 'GET', `/api/campaigns/${campaignId}/audit`)).json as {
      action: string;
      actor: { name: string };
      detail?: string;
    }[];
    const by = (action: string) => audit.find((a) => a.action === action);
    expect(by('start')?.actor.name).toBe('Rae Researcher');
    expect(by('approve')?.actor.name).toBe('Pat PI');
    expect(by('reject')?.actor.name).toBe('Pat PI');
    expect(by('inject hypothesis')?.actor.name).toBe('Pat PI');
    expect(by('pause')?.actor.name).toBe('Rae Researcher');
    expect(by('resume')?.actor.name).toBe('Rae Researcher');
    expect(by('change budgets')?.detail).toContain('keep it short');
    expect(by('stop')?.actor.name).toBe('Pat PI');

    // Lineage from the finished workflow first; that read warms the MLflow record, which answers next.
    // The server keeps a running campaign's reads for a second: the first read after the end may
    // still be that copy, so wait for the workflow's own answer that it finished.
    const live = await eventually(async () => {
      const l = Lineage.parse(
        (await call('viewer', 'GET', `/api/campaigns/${campaignId}/lineage`)).json,
      );
      return l.finished ? l : null;
    });
    expect(live.finished).toBe(true);
    const lineage = await eventually(async () => {
      const l = Lineage.parse(
        (await call('viewer', 'GET', `/api/campaigns/${campaignId}/lineage`)).json,
      );
      return l.source === 'mlflow' ? l : null;
    });
    expect(lineage.finished).toBe(true);
    expect(new Set(lineage.nodes.map((n) => n.id))).toEqual(new Set(live.nodes.map((n) => n.id)));
    expect(lineage.problemId).toBe(problemId);
    const page = TrialsPage.parse(
      (await call('viewer', 'GET', `/api/campaigns/${campaignId}/trials?limit=1000`)).json,
    );
    expect(page.source).toBe('mlflow');
    expect(lineage.total).toBe(page.total);
    expect(new Set(lineage.nodes.map((n) => n.id))).toEqual(new Set(page.trials.map((t) => t.id)));
    expect(lineage.nodes.find((n) => n.id === 'baseline')).toMatchObject({
      parentTrialId: null,
      kind: 'reference',
    });
    expect(lineage.nodes.find((n) => n.id === human.id)).toMatchObject({
      author: 'Pat PI',
      authorKind: 'human',
      parentTrialId: 'baseline',
    });

    const detail = TrialDetail.parse(
      (await call('viewer', 'GET', `/api/campaigns/${campaignId}/trials/${human.id}`)).json,
    );
    expect(detail.lineage.map((n) => n.id)).toEqual(['baseline', human.id]);
    expect(detail.seeds).toHaveLength(2);
    expect(detail.summary?.params).toMatchObject({ x: 1, y: -2 });
    // A viewer may use neither MLflow nor Temporal: no links to them.
    expect(detail.links.mlflowRun).toBeNull();
    expect(detail.links.temporalWorkflow).toBeNull();
    const asPi = TrialDetail.parse(
      (await call('pi', 'GET', `/api/campaigns/${campaignId}/trials/${human.id}`)).json,
    );
    expect(asPi.links.mlflowRun).toContain(`${env.mlflowUri}/#/experiments/`);
    expect(asPi.links.temporalWorkflow).toContain(encodeURIComponent(campaignId));
    expect((await call('viewer', 'GET', `/api/campaigns/${campaignId}/trials/t9999`)).status).toBe(
      404,
    );

    const compare = await call('viewer', 'GET', `/api/problems/${problemId}/compare`);
    expect(compare.json.campaigns).toHaveLength(1);
    expect(compare.json.campaigns[0]).toMatchObject({
      campaignId,
      strategy: 'random',
      label: 'via http',
      status: 'FINISHED',
      stopReason: 'stopped_by_pi',
    });
    expect(compare.json.campaigns[0].best.mean).toBeGreaterThan(0.99);

    // The event stream delivered status and trial events, and the end.
    await eventually(async () => events.events.some((e) => e.event === 'end'), 30_000);
    events.stop();
    await events.done;
    const kinds = new Set(events.events.map((e) => e.event));
    expect(kinds).toContain('status');
    expect(kinds).toContain('trial');
    const trialEvents = events.events.filter((e) => e.event === 'trial');
    expect(trialEvents.map((e) => Number(e.id))).toEqual(trialEvents.map((_, i) => i + 1));
    expect(
      (events.events.find((e) => e.event === 'end')?.data as { stopReason: string }).stopReason,
    ).toBe('stopped_by_pi');
  });
});
