import { describe, expect, it } from 'vitest';
import { UnsafeBindError } from './auth.js';
import { sseMessage } from './events.js';
import { startServer } from './server.js';
import { FakeMlflow } from '../test/support/fake-mlflow.js';
import { FakeService, TOKENS } from '../test/support/fake-service.js';

/** Reads an event stream until `until` matches the text so far (or the stream ends). */
async function readEvents(
  res: Response,
  until: (text: string) => boolean,
  timeoutMs = 5000,
): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + timeoutMs;
  // One read in flight at a time: a read abandoned on timeout would swallow its chunk.
  let pending = reader.read();
  while (Date.now() < deadline && !until(text)) {
    const chunk = await Promise.race([
      pending,
      new Promise<null>((r) => setTimeout(() => r(null), 200)),
    ]);
    if (chunk === null) continue;
    if (chunk.done) break;
    text += decoder.decode(chunk.value);
    pending = reader.read();
  }
  await reader.cancel().catch(() => {});
  return text;
}

describe('startServer', () => {
  it('refuses to listen on a non-loopback address without tokens, before connecting anything', async () => {
    const fake = new FakeService();
    await expect(
      startServer({
        service: fake,
        mlflow: new FakeMlflow(),
        config: { host: '0.0.0.0', port: 0 },
        env: {},
        print: () => {},
      }),
    ).rejects.toThrow(UnsafeBindError);
  });

  it('listens on loopback, prints generated demo tokens, serves them, and closes gracefully with open event streams', async () => {
    const fake = new FakeService();
    const printed: string[] = [];
    const server = await startServer({
      service: fake,
      mlflow: new FakeMlflow(),
      config: { port: 0, devTokens: true, sseIntervalMs: 50, sseHeartbeatMs: 100 },
      env: {},
      logger: false,
      print: (s) => printed.push(s),
      closeGraceMs: 1000,
    });
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(server.devTokens).toHaveLength(3);
      const pi = server.devTokens.find((t) => t.role === 'pi')!;
      expect(printed.join('\n')).toContain(pi.token);
      const me = await fetch(`${server.url}/api/me`, {
        headers: { authorization: `Bearer ${pi.token}` },
      });
      expect(await me.json()).toMatchObject({ name: 'Demo PI', role: 'pi' });
      expect(
        (await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${TOKENS.pi}` } }))
          .status,
      ).toBe(401);

      // A running campaign's stream: status now, a trial event when one finishes, heartbeats.
      const viewer = server.devTokens.find((t) => t.role === 'viewer')!;
      const res = await fetch(`${server.url}/api/campaigns/c1/events?token=${viewer.token}`);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      setTimeout(() => {
        const c = fake.campaigns.get('c1')!;
        c.trials.push({ ...c.trials[1]!, id: 't0003', index: 3, title: 'late idea' });
        c.status.trialsDone = 3;
      }, 150);
      const text = await readEvents(res, (t) => t.includes('late idea') && t.includes(': ping'));
      expect(text).toMatch(/^retry: 3000/);
      expect(text).toContain('event: status\ndata: {"campaignId":"c1"');
      expect(text).toContain('id: 4\nevent: trial\ndata: {"id":"t0003"');
      expect((text.match(/event: status/g) ?? []).length).toBe(2);
      expect(text).toContain(': ping');

      // Close while a stream is open: the server must not hang on it.
      const open = await fetch(`${server.url}/api/campaigns/c1/events`, {
        headers: { authorization: `Bearer ${viewer.token}` },
      });
      expect(open.status).toBe(200);
      // Must not hang on the open stream (the test's own timeout catches a hang).
      await server.close();
      await expect(fetch(`${server.url}/api/health`)).rejects.toThrow();
    } finally {
      await server.close();
    }
  });

  it('replays trials after Last-Event-ID and ends the stream when the campaign has finished', async () => {
    const server = await startServer({
      service: new FakeService(),
      mlflow: new FakeMlflow(),
      config: { port: 0, tokens: `${TOKENS.viewer}:Vic:viewer` },
      env: {},
      logger: false,
      print: () => {},
    });
    try {
      const res = await fetch(`${server.url}/api/campaigns/c2/events`, {
        headers: { authorization: `Bearer ${TOKENS.viewer}`, 'last-event-id': '1' },
      });
      const text = await readEvents(res, (t) => t.includes('event: end'));
      expect(text.match(/event: trial/g)).toHaveLength(2);
      expect(text).toContain('id: 2\nevent: trial');
      expect(text).toContain('event: end\ndata: {"stopReason":"max_trials"}');
      expect(
        (
          await fetch(`${server.url}/api/campaigns/nope/events`, {
            headers: { authorization: `Bearer ${TOKENS.viewer}` },
          })
        ).status,
      ).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('answers a read that follows a trial event with that trial, however recent the last read', async () => {
    const fake = new FakeService();
    const server = await startServer({
      service: fake,
      mlflow: new FakeMlflow(),
      // The default TTL of the live trial lists (1 s) is far longer than this test's steps.
      config: { port: 0, tokens: `${TOKENS.viewer}:Vic:viewer`, sseIntervalMs: 50 },
      env: {},
      logger: false,
      print: () => {},
    });
    const headers = { authorization: `Bearer ${TOKENS.viewer}` };
    const lineage = async () => {
      const res = await fetch(`${server.url}/api/campaigns/c1/lineage`, { headers });
      return ((await res.json()) as { nodes: { id: string }[] }).nodes.map((n) => n.id);
    };
    try {
      // A page reads the lineage, then follows the campaign's events.
      expect(await lineage()).not.toContain('t0003');
      const res = await fetch(`${server.url}/api/campaigns/c1/events`, { headers });
      const c = fake.campaigns.get('c1')!;
      c.trials.push({ ...c.trials[1]!, id: 't0003', index: 3, title: 'late idea' });
      c.status.trialsDone = 3;
      const text = await readEvents(res, (t) => t.includes('late idea'));
      expect(text).toContain('event: trial\ndata: {"id":"t0003"');
      // The event makes the page read again: the trial it announced is there.
      expect(await lineage()).toContain('t0003');
    } finally {
      await server.close();
    }
  });

  it('formats SSE messages on one data line', () => {
    expect(sseMessage('trial', { a: 'x\ny' }, 3)).toBe(
      'id: 3\nevent: trial\ndata: {"a":"x\\ny"}\n\n',
    );
  });
});
