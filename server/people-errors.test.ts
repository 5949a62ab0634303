/**
 * Refusals through the real app and the CLI's client, in the words a person reads: one message
 * per mistake, the key a typo meant, the valid choices, the role that may do it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorBody } from '../api/schemas.js';
import { ApiClient } from '../cli/api.js';
import { auth, buildTestApp } from '../test/support/fake-service.js';
import { quadSpec } from '../test/support/quadratic.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('the API in people words', () => {
  it('a typo in a key is one issue that names the key meant', async () => {
    app = (await buildTestApp()).app;
    const { question, ...rest } = quadSpec;
    const res = await app.inject({
      method: 'POST',
      url: '/api/problems',
      headers: auth('researcher'),
      payload: { ...rest, id: 'typo', quesiton: question },
    });
    expect(res.statusCode).toBe(400);
    const body = ErrorBody.parse(JSON.parse(res.body));
    expect(body.issues).toHaveLength(1);
    expect(body.issues![0]!.message).toBe('unknown key "quesiton": did you mean "question"?');
    expect(body.message).not.toMatch(/Invalid input|received undefined|Unrecognized/);
  });

  it('a role that may not act is told which role may', async () => {
    app = (await buildTestApp()).app;
    const res = await app.inject({
      method: 'POST',
      url: '/api/campaigns/c1/stop',
      headers: auth('researcher'),
      payload: {},
    });
    expect(res.statusCode).toBe(403);
    expect(ErrorBody.parse(JSON.parse(res.body)).message).toMatch(
      /^only a PI can stop a campaign \(you are signed in as .+, a researcher\)$/,
    );
  });
});

describe("the CLI's client", () => {
  it('prints each issue once, one per line', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: 'InvalidInput',
          message: 'body.(root): unknown key "quesiton": did you mean "question"?',
          issues: [
            {
              path: '(root)',
              in: 'body',
              message: 'unknown key "quesiton": did you mean "question"?',
            },
          ],
        }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      const client = new ApiClient({ url: `http://127.0.0.1:${port}`, token: 't' });
      const err = await client.post('/problems', {}).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toBe(
        'one problem with the request (400):\n  (root): unknown key "quesiton": did you mean "question"?',
      );
    } finally {
      server.close();
    }
  });
});
