/** The webhook activity against a real local HTTP server: what it sends, and how it fails. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createNotifyActivities } from './notify.js';

const message = { text: 'Campaign c1 ended', blocks: [] };
const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A receiver answering with `status` (or never, for `hang`); records what it got. */
async function receiver(status: number | 'hang', headers: Record<string, string> = {}) {
  const got: { method: string; type: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push({ method: req.method!, type: req.headers['content-type'] ?? '', body });
      if (status !== 'hang') res.writeHead(status, headers).end('ok');
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/services/T0/B0/s3cret`, got, port };
}

describe('sendWebhook', () => {
  const { sendWebhook } = createNotifyActivities({ timeoutMs: 500 });

  it('POSTs the message as JSON and returns the status', async () => {
    const r = await receiver(200);
    await expect(sendWebhook({ url: r.url, message })).resolves.toEqual({ status: 200 });
    expect(r.got).toEqual([
      { method: 'POST', type: 'application/json; charset=utf-8', body: JSON.stringify(message) },
    ]);
  });

  it('fails retryably on a 500 and a 429, naming the origin but never the secret path', async () => {
    for (const status of [500, 429]) {
      const r = await receiver(status);
      const err = await sendWebhook({ url: r.url, message }).catch((e: unknown) => e);
      expect(err).toMatchObject({ type: 'Unavailable', nonRetryable: false });
      expect((err as Error).message).toMatch(
        new RegExp(`^the webhook at http://127.0.0.1:${r.port} answered ${status}`),
      );
      expect((err as Error).message).not.toContain('s3cret');
    }
  });

  it('does not retry a refusal or follow a redirect', async () => {
    const r = await receiver(404);
    await expect(sendWebhook({ url: r.url, message })).rejects.toMatchObject({
      type: 'WebhookRefused',
      nonRetryable: true,
    });
    const moved = await receiver(302, { location: 'http://169.254.169.254/' });
    await expect(sendWebhook({ url: moved.url, message })).rejects.toMatchObject({
      type: 'WebhookRefused',
      message: expect.stringContaining('a redirect, not followed') as unknown,
    });
  });

  it('fails retryably when nobody listens or the answer takes too long', async () => {
    const r = await receiver(200);
    const gone = servers.pop()!;
    await new Promise((done) => gone.close(done));
    const down = await sendWebhook({ url: r.url, message }).catch((e: unknown) => e);
    expect(down).toMatchObject({
      type: 'Unavailable',
      message: expect.stringMatching(/could not be reached: ECONNREFUSED$/) as unknown,
    });
    const slow = await receiver('hang');
    const t0 = Date.now();
    await expect(sendWebhook({ url: slow.url, message })).rejects.toMatchObject({
      type: 'Unavailable',
      message: expect.stringContaining('no answer within 0.5 s') as unknown,
    });
    expect(Date.now() - t0).toBeLessThan(3000);
  });
});
