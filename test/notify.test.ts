/**
 * Campaign webhooks against real local receivers (node http on 127.0.0.1): a real campaign tells
 * one it is paused and that it ended, in Slack's format, with nothing hidden in the body; a
 * receiver that answers 500 and then goes down costs the campaign a warning, never its end.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SlackMessage } from '../domain/notify.js';
import type { ServiceError } from '../server/errors.js';
import type { CampaignReport } from '../workflows/types.js';
import {
  createTestEnv,
  researcher,
  submitQuadratic,
  type pi,
  type TestEnv,
} from './support/env.js';
import { eventually } from './support/eventually.js';
import { startTestServer, type TestServer } from './support/http.js';
import { testRegistry } from './support/quadratic.js';

let env: TestEnv;
let api: TestServer;
beforeAll(async () => {
  env = await createTestEnv({ registry: testRegistry() });
  api = await startTestServer(env, { sseIntervalMs: 200, lineageTtlMs: 0 });
});
afterAll(async () => {
  await api?.close();
  await env?.close();
});

interface Receiver {
  url: string;
  origin: string;
  /** The bodies received, parsed, in order (failed answers included). */
  got: SlackMessage[];
  close(): Promise<void>;
}

/** A webhook receiver answering `answer(n)` to its n-th request (0-based); 'close' shuts it down. */
async function receiver(answer: (n: number) => number | 'close' = () => 200): Promise<Receiver> {
  const got: SlackMessage[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push(JSON.parse(body) as SlackMessage);
      const a = answer(got.length - 1);
      if (a === 'close') {
        res.destroy();
        server.close();
        return;
      }
      res.writeHead(a, { 'content-type': 'text/plain' }).end(a === 200 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}/services/T0/B0/the-secret-path`,
    origin,
    got,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const result = (campaignId: string) =>
  env.client.workflow.getHandle(campaignId).result() as Promise<CampaignReport>;

/**
 * Every number of the campaign a viewer may not see while it runs (3 decimals): the trials'
 * hidden metric (heldout_score), the hidden PGRs and the fresh-seed PGRs, but those equal to a
 * visible PGR (a deterministic experiment repeats its visible PGR on fresh seeds).
 */
async function hiddenNumbers(campaignId: string, report: CampaignReport): Promise<string[]> {
  const { trials } = await env.service.trials(campaignId, { limit: 1000 });
  const visible = new Set(report.best?.pgr ? [report.best.pgr.mean.toFixed(3)] : []);
  const out: string[] = [];
  for (const t of trials) {
    const h = t.metrics?.heldout_score;
    if (h !== undefined) out.push(h.toFixed(3));
  }
  for (const v of report.verification) {
    if (v.visiblePgr) visible.add(v.visiblePgr.mean.toFixed(3));
    if (v.freshPgr) out.push(v.freshPgr.mean.toFixed(3));
    for (const e of Object.values(v.hiddenPgr)) if (e) out.push(e.mean.toFixed(3));
  }
  return out.filter((n) => !visible.has(n));
}

describe('campaign webhooks', () => {
  it('a paused campaign asks for a person, and its end arrives with the verdict and the link', async () => {
    const hook = await receiver();
    try {
      const problemId = await submitQuadratic(env.service, {
        prefix: 'notify',
        criteria: { seedsPerTrial: 1, budgets: { maxTrials: 3, concurrency: 2 } },
      });
      const start = await api.call('researcher', 'POST', '/api/campaigns', {
        problemId,
        strategy: { name: 'random' },
        seed: 5,
        paused: true,
        notify: { url: hook.url },
      });
      expect(start.status).toBe(201);
      const campaignId = start.json.campaignId as string;
      const link = `${api.url}/campaigns/${campaignId}`;

      const asked = await eventually(async () => hook.got[0] ?? null, 60_000);
      expect(asked.text).toBe(
        `Campaign ${campaignId} needs a person: paused, waiting for a resume <${link}|Open the campaign>`,
      );
      expect(JSON.stringify(asked.blocks)).toContain(
        'the campaign is paused by Rae Researcher and waits for a resume',
      );
      await env.service.resume(researcher, campaignId);
      const report = await result(campaignId);
      expect(report.stopReason).toBe('max_trials');

      const ended = await eventually(
        async () => hook.got.find((m) => m.text.includes(' ended: ')) ?? null,
        30_000,
      );
      expect(hook.got).toHaveLength(2);
      const label = report.verdict!.label!;
      const best = report.best!;
      expect(ended.text).toMatch(
        new RegExp(
          `^Campaign ${campaignId} ended: trial budget used up\\. Verdict: ${label}\\. Best ${best.id}, PGR \\d\\.\\d{3} \\[`,
        ),
      );
      expect(ended.text.endsWith(`<${link}|Open the campaign>`)).toBe(true);
      expect(ended.blocks.map((b) => b.type)).toEqual(['header', 'section', 'context']);
      // A viewer's view: no hidden metric, no fresh-seed or hidden PGR, no secret.
      const body = JSON.stringify(hook.got);
      expect(body).not.toContain('heldout');
      expect(body).not.toContain('the-secret-path');
      const hidden = await hiddenNumbers(campaignId, report);
      expect(hidden.length).toBeGreaterThan(0);
      for (const n of hidden) expect(body).not.toContain(n);
      expect(report.notebook.filter((n) => n.text.includes('webhook'))).toEqual([]);
      // The audit trail names the webhook by its origin, never its path.
      const audit = await env.service.audit(campaignId);
      expect(audit[0]?.detail).toContain(`notifies ${hook.origin}`);
      expect(JSON.stringify(audit)).not.toContain('the-secret-path');
    } finally {
      await hook.close();
    }
  });

  it('a receiver that answers 500 and then goes down leaves a warning, and the campaign ends as usual', async () => {
    const hook = await receiver((n) => (n < 2 ? 500 : 'close'));
    try {
      const problemId = await submitQuadratic(env.service, {
        prefix: 'notify-down',
        criteria: { seedsPerTrial: 1, budgets: { maxTrials: 3, concurrency: 2 } },
      });
      const { campaignId } = await env.service.startCampaign(researcher, {
        problemId,
        strategy: { name: 'random' },
        seed: 6,
        notify: { url: hook.url, events: ['ended'] },
      });
      const t0 = Date.now();
      const report = await result(campaignId);
      expect(report.stopReason).toBe('max_trials');
      expect(report.trials.total).toBe(3);
      // Two 500s, then nobody listens: the retries stay within the preset's minute.
      expect(hook.got.length).toBe(3);
      expect(Date.now() - t0).toBeLessThan(90_000);
      const warnings = report.notebook.filter((n) => n.text.includes('webhook'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.text).toMatch(
        new RegExp(
          `^warning: the campaign's webhook \\(${hook.origin.replace(/\./g, '\\.')}\\) did not take the "campaign ended" message: .*(ECONNREFUSED|answered 500)`,
        ),
      );
      expect(warnings[0]!.text).not.toContain('the-secret-path');
      const status = await env.service.status(campaignId);
      expect(status.phase).toBe('finished');
    } finally {
      await hook.close();
    }
  });

  it('refuses a webhook a person may not set, naming the field', async () => {
    const problemId = await submitQuadratic(env.service, { prefix: 'notify-refused' });
    const start = (actor: typeof pi, notify: Record<string, unknown>) =>
      env.service
        .startCampaign(actor, { problemId, strategy: { name: 'random' }, notify: notify as never })
        .then(
          () => null,
          (e: unknown) => e as ServiceError,
        );
    const plain = await start(researcher, { url: 'http://chat.example.org/hook' });
    expect(plain).toMatchObject({ status: 400 });
    expect(plain?.message).toBe(
      'notify.url: http is allowed only to localhost or 127.0.0.1 (got chat.example.org): use https, or start the server with GAPLAB_WEBHOOK_ALLOW_HTTP=1',
    );
    const piOnly = await start(researcher, { url: 'https://hooks.example.org/x', piOnly: true });
    expect(piOnly).toMatchObject({ status: 403 });
    expect(piOnly?.message).toBe(
      'notify.piOnly: only a PI can send what only PIs see to a webhook (you are signed in as Rae Researcher, a researcher)',
    );
    // Over HTTP, the body's schema names the field in the caller's words.
    const reply = await api.call('pi', 'POST', '/api/campaigns', {
      problemId,
      strategy: { name: 'random' },
      notify: { url: 'hooks.slack.com/services/x' },
    });
    expect(reply.status).toBe(400);
    expect(reply.json.message).toMatch(/^body\.notify\.url: /);
  });
});
