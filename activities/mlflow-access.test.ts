import { describe, expect, it } from 'vitest';
import { MlflowClient } from '../mlflow-ts-client/index.js';
import { createMlflowAccess } from './mlflow-access.js';

/** An MLflow whose permissions API answers `grant` (status, error code) and records the grants. */
function fakeMlflow(grant: (body: { username: string }) => [number, string?]) {
  const grants: { username: string; resource_id: string; permission: string }[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const json = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { 'content-type': 'application/json' },
      });
    if (url.pathname.endsWith('/users/permissions/grant')) {
      const body = JSON.parse(String(init?.body)) as (typeof grants)[number];
      const [status, code] = grant(body);
      if (status === 200) grants.push(body);
      return json(status, code ? { error_code: code, message: code } : {});
    }
    return json(404, { error_code: 'ENDPOINT_NOT_FOUND', message: url.pathname });
  }) as typeof globalThis.fetch;
  const client = (credentials: { username: string; password: string } | null) =>
    new MlflowClient({
      trackingUri: 'http://mlflow.test',
      fetch,
      credentials,
      retries: { attempts: 1 },
    });
  return { client, grants };
}

describe('MLflow access grants', () => {
  it('grants every role READ on a problem experiment', async () => {
    const m = fakeMlflow(() => [200]);
    await createMlflowAccess(
      m.client({ username: 'gaplab', password: 'x' }),
    ).shareProblemExperiment('7');
    expect(m.grants.map((g) => [g.username, g.resource_id, g.permission])).toEqual([
      ['pi', '7', 'READ'],
      ['researcher', '7', 'READ'],
      ['viewer', '7', 'READ'],
    ]);
  });

  it('takes a grant made before (another campaign, worker or retry) and a missing user as done', async () => {
    let calls = 0;
    const m = fakeMlflow((b) => {
      calls++;
      return b.username === 'viewer'
        ? [404, 'RESOURCE_DOES_NOT_EXIST']
        : [400, 'RESOURCE_ALREADY_EXISTS'];
    });
    await createMlflowAccess(
      m.client({ username: 'gaplab', password: 'x' }),
    ).shareProblemExperiment('7');
    expect(calls).toBe(3);
  });

  it('grants nothing without credentials or on a server without the permissions API', async () => {
    const none = fakeMlflow(() => [200]);
    await createMlflowAccess(none.client(null)).shareProblemExperiment('7');
    expect(none.grants).toEqual([]);
    let calls = 0;
    const noAuth = fakeMlflow(() => {
      calls++;
      return [404];
    });
    await createMlflowAccess(
      noAuth.client({ username: 'u', password: 'p' }),
    ).shareProblemExperiment('7');
    expect(calls).toBe(1);
  });

  it('fails on anything else (a grant refused to the service account)', async () => {
    const m = fakeMlflow(() => [403, 'PERMISSION_DENIED']);
    await expect(
      createMlflowAccess(m.client({ username: 'gaplab', password: 'x' })).shareProblemExperiment(
        '7',
      ),
    ).rejects.toThrow(/PERMISSION_DENIED/);
  });
});
