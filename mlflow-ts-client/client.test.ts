import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MLFLOW_LIMITS,
  MlflowClient,
  authorizationHeader,
  MlflowError,
  MlflowValidationError,
  backoffDelay,
  checkArtifactPath,
  isNotFound,
  planBatch,
  proxiedArtifactRoot,
  type MlflowClientOptions,
  type RetryEvent,
} from './index.js';

interface Call {
  url: URL;
  method: string;
  body: string | undefined;
  headers: Record<string, string>;
}

type Handler = (call: Call, index: number) => Response | Promise<Response>;

/** A fetch that records calls and answers from `handler`. */
function fakeFetch(handler: Handler): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fetchImpl = async (
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> => {
    const body = init?.body;
    const call: Call = {
      url: new URL(String(input)),
      method: init?.method ?? 'GET',
      body:
        typeof body === 'string'
          ? body
          : body instanceof Uint8Array
            ? new TextDecoder().decode(body)
            : undefined,
      headers: { ...(init?.headers as Record<string, string> | undefined) },
    };
    calls.push(call);
    return handler(call, calls.length - 1);
  };
  return { fetch: fetchImpl as typeof fetch, calls };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });

const runInfo = {
  run_id: 'r1',
  run_uuid: 'r1',
  experiment_id: '7',
  run_name: 'trial-1',
  user_id: '',
  status: 'RUNNING',
  start_time: 1700000000000,
  artifact_uri: 'mlflow-artifacts:/7/r1/artifacts',
  lifecycle_stage: 'active',
};
const runBody = {
  run: {
    info: runInfo,
    data: {
      metrics: [{ key: 'loss', value: 'NaN', timestamp: 1, step: 0 }],
      params: [{ key: 'lr', value: '0.1' }],
      tags: [{ key: 'mlflow.runName', value: 'trial-1' }],
    },
  },
};

function client(fetchImpl: typeof fetch, options: Partial<MlflowClientOptions> = {}): MlflowClient {
  return new MlflowClient({
    trackingUri: 'http://mlflow.test:5000/',
    fetch: fetchImpl,
    retries: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
}

describe('retries', () => {
  it('retries a 503 twice and then returns the parsed run', async () => {
    const { fetch, calls } = fakeFetch((_call, i) =>
      i < 2
        ? json(503, { error_code: 'TEMPORARILY_UNAVAILABLE', message: 'busy' })
        : json(200, runBody),
    );
    const events: RetryEvent[] = [];
    const run = await client(fetch, { onRetry: (e) => events.push(e) }).getRun('r1');
    expect(calls).toHaveLength(3);
    expect(calls[0]!.url.pathname).toBe('/api/2.0/mlflow/runs/get');
    expect(calls[0]!.url.searchParams.get('run_id')).toBe('r1');
    expect(events.map((e) => [e.attempt, e.error.status])).toEqual([
      [1, 503],
      [2, 503],
    ]);
    expect(run.info).toMatchObject({
      runId: 'r1',
      experimentId: '7',
      status: 'RUNNING',
      runName: 'trial-1',
    });
    expect(run.data.params).toEqual({ lr: '0.1' });
    expect(Number.isNaN(run.data.metrics['loss'])).toBe(true);
  });

  it('never retries a 400 and exposes the MLflow error code', async () => {
    const { fetch, calls } = fakeFetch(() =>
      json(400, {
        error_code: 'INVALID_PARAMETER_VALUE',
        message: 'Changing param values is not allowed',
      }),
    );
    const err = await client(fetch)
      .logParam('r1', 'lr', '0.2')
      .catch((e: unknown) => e);
    expect(calls).toHaveLength(1);
    expect(err).toBeInstanceOf(MlflowError);
    expect(err).toMatchObject({
      errorCode: 'INVALID_PARAMETER_VALUE',
      status: 400,
      retryable: false,
      attempts: 1,
    });
    expect((err as Error).message).toContain('Changing param values is not allowed');
    expect(isNotFound(err)).toBe(false);
  });

  it('maps a 404 RESOURCE_DOES_NOT_EXIST to isNotFound without retrying', async () => {
    const { fetch, calls } = fakeFetch(() =>
      json(404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'Run with id=x not found' }),
    );
    const err = await client(fetch)
      .getRun('x')
      .catch((e: unknown) => e);
    expect(calls).toHaveLength(1);
    expect(isNotFound(err)).toBe(true);
  });

  it('retries connection errors and reports NETWORK_ERROR once attempts are used up', async () => {
    const { fetch, calls } = fakeFetch(() => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      });
    });
    const err = await client(fetch)
      .getRun('r1')
      .catch((e: unknown) => e);
    expect(calls).toHaveLength(3);
    expect(err).toMatchObject({
      errorCode: 'NETWORK_ERROR',
      status: undefined,
      retryable: true,
      attempts: 3,
    });
    expect((err as Error).message).toContain('ECONNREFUSED');
  });

  it('retries a non-JSON 502 from a proxy with a status-derived code', async () => {
    const { fetch, calls } = fakeFetch(
      () => new Response('<html>Bad Gateway</html>', { status: 502 }),
    );
    const err = await client(fetch, { retries: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 } })
      .getRun('r1')
      .catch((e: unknown) => e);
    expect(calls).toHaveLength(2);
    expect(err).toMatchObject({ errorCode: 'INTERNAL_ERROR', status: 502 });
  });

  it('with attempts: Infinity waits out a long outage with delays capped at maxDelayMs', async () => {
    const { fetch, calls } = fakeFetch((_c, i) => (i < 12 ? json(503, {}) : json(200, runBody)));
    const delays: number[] = [];
    const run = await client(fetch, {
      retries: { attempts: Infinity, baseDelayMs: 1, maxDelayMs: 4 },
      onRetry: (e) => delays.push(e.delayMs),
    }).getRun('r1');
    expect(run.info.runId).toBe('r1');
    expect(calls).toHaveLength(13);
    expect(Math.max(...delays)).toBeLessThanOrEqual(4);
  });

  it('stops retrying forever when the signal aborts, rethrowing its reason', async () => {
    const controller = new AbortController();
    const { fetch } = fakeFetch((_c, i) => {
      if (i === 3) controller.abort(new Error('activity cancelled'));
      return json(503, {});
    });
    const err = await client(fetch, {
      retries: { attempts: Infinity, baseDelayMs: 1, maxDelayMs: 2 },
      signal: controller.signal,
    })
      .getRun('r1')
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe('activity cancelled');
  });

  it('honours Retry-After on 429, capped at maxDelayMs', async () => {
    const { fetch } = fakeFetch((_c, i) =>
      i === 0
        ? json(429, { error_code: 'REQUEST_LIMIT_EXCEEDED' }, { 'retry-after': '3600' })
        : json(200, runBody),
    );
    const delays: number[] = [];
    await client(fetch, {
      retries: { attempts: 2, baseDelayMs: 1, maxDelayMs: 25 },
      onRetry: (e) => delays.push(e.delayMs),
    }).getRun('r1');
    expect(delays).toEqual([25]);
  });

  it('times out a hung attempt and retries it', async () => {
    const { fetch, calls } = fakeFetch((_c, i) =>
      i === 0
        ? new Promise<Response>(() => undefined) // never answers; only the timeout ends it
        : json(200, runBody),
    );
    // The fake ignores the signal, so race it the way undici does: reject on abort.
    const racing: typeof globalThis.fetch = (input, init) =>
      new Promise((resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
        fetch(input, init).then(resolve, reject);
      });
    const events: RetryEvent[] = [];
    const run = await client(racing, { timeoutMs: 30, onRetry: (e) => events.push(e) }).getRun(
      'r1',
    );
    expect(run.info.runId).toBe('r1');
    expect(calls).toHaveLength(2);
    expect(events[0]!.error.errorCode).toBe('TIMEOUT');
  });

  it('backoff delays stay within [ceiling/2, ceiling] and never exceed maxDelayMs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        (retry, r) => {
          const opts = { attempts: Infinity, baseDelayMs: 100, maxDelayMs: 5000 };
          const ceiling = Math.min(5000, 100 * 2 ** (retry - 1));
          const d = backoffDelay(retry, opts, () => r);
          return d >= Math.floor(ceiling / 2) && d <= ceiling;
        },
      ),
    );
  });
});

describe('responses and requests', () => {
  it('rejects a 2xx body of the wrong shape with INVALID_RESPONSE', async () => {
    const { fetch } = fakeFetch(() => json(200, { run: { info: { status: 'RUNNING' } } }));
    const err = await client(fetch)
      .getRun('r1')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ errorCode: 'INVALID_RESPONSE', retryable: false });
    expect((err as Error).message).toContain('experiment_id');
  });

  it('sends non-finite metric values as MLflow strings', async () => {
    const { fetch, calls } = fakeFetch(() => json(200, {}));
    await client(fetch).logMetric('r1', 'loss', Number.NaN, { step: 3, timestamp: 10 });
    await client(fetch).logBatch('r1', { metrics: [{ key: 'x', value: -Infinity, timestamp: 1 }] });
    expect(JSON.parse(calls[0]!.body!)).toEqual({
      run_id: 'r1',
      key: 'loss',
      value: 'NaN',
      timestamp: 10,
      step: 3,
    });
    expect(JSON.parse(calls[1]!.body!).metrics[0].value).toBe('-Infinity');
  });

  it('getOrCreateExperiment reads the winner after losing the create race', async () => {
    const { fetch, calls } = fakeFetch((call, i) => {
      if (i === 0) return json(404, { error_code: 'RESOURCE_DOES_NOT_EXIST' });
      if (call.url.pathname.endsWith('/experiments/create'))
        return json(400, { error_code: 'RESOURCE_ALREADY_EXISTS' });
      return json(200, {
        experiment: { experiment_id: '42', name: 'p', lifecycle_stage: 'active' },
      });
    });
    expect(await client(fetch).getOrCreateExperiment('p')).toBe('42');
    expect(calls.map((c) => c.url.pathname.split('/').pop())).toEqual([
      'get-by-name',
      'create',
      'get-by-name',
    ]);
  });

  it('getOrCreateExperiment refuses a deleted experiment with a clear error', async () => {
    const { fetch } = fakeFetch(() =>
      json(200, { experiment: { experiment_id: '9', name: 'p', lifecycle_stage: 'deleted' } }),
    );
    await expect(client(fetch).getOrCreateExperiment('p')).rejects.toMatchObject({
      errorCode: 'INVALID_STATE',
    });
  });

  it('uploads artifacts under the run artifact root, percent-encoding each segment', async () => {
    const { fetch, calls } = fakeFetch((call) =>
      call.method === 'PUT' ? new Response(null, { status: 200 }) : json(200, runBody),
    );
    const c = client(fetch);
    await c.uploadArtifact('r1', 'logs/seed 1.txt', 'hello');
    expect(calls.map((call) => call.method)).toEqual(['GET', 'PUT']);
    expect(calls[1]!.url.pathname).toBe(
      '/api/2.0/mlflow-artifacts/artifacts/7/r1/artifacts/logs/seed%201.txt',
    );
    expect(calls[1]!.body).toBe('hello');
    expect(calls[1]!.headers['content-type']).toBe('text/plain; charset=utf-8');
    // The artifact root is cached: a second upload needs no getRun.
    await c.uploadArtifact('r1', 'b.bin', new Uint8Array([1, 2]));
    expect(calls.map((call) => call.method)).toEqual(['GET', 'PUT', 'PUT']);
    expect(calls[2]!.headers['content-type']).toBe('application/octet-stream');
  });

  it('passes extra headers on every request', async () => {
    const { fetch, calls } = fakeFetch(() => json(200, runBody));
    await client(fetch, { headers: { authorization: 'Bearer t' } }).getRun('r1');
    expect(calls[0]!.headers['authorization']).toBe('Bearer t');
  });
});

describe('artifact paths', () => {
  it('derives the proxy path from mlflow-artifacts and http artifact URIs', () => {
    expect(proxiedArtifactRoot('mlflow-artifacts:/1/abc/artifacts')).toBe('1/abc/artifacts');
    expect(proxiedArtifactRoot('mlflow-artifacts://host:5000/1/abc/artifacts/')).toBe(
      '1/abc/artifacts',
    );
    expect(
      proxiedArtifactRoot('http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts'),
    ).toBe('1/abc/artifacts');
    expect(() => proxiedArtifactRoot('/tmp/mlruns/1/abc/artifacts')).toThrow(/--serve-artifacts/);
  });

  it('rejects paths that could escape the run root', () => {
    for (const bad of ['', '/etc/passwd', 'a/../../b', './a', 'a//b', 'dir/']) {
      expect(() => checkArtifactPath(bad, 'test'), bad).toThrow(MlflowValidationError);
    }
    expect(checkArtifactPath('a/b.json', 'test')).toBe('a/b.json');
  });
});

describe('planBatch', () => {
  it('splits a large batch into requests within every MLflow limit, losing nothing', () => {
    const metrics = Array.from({ length: 2500 }, (_, i) => ({
      key: `m${i % 7}`,
      value: i,
      step: i,
      timestamp: 1,
    }));
    const params = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`p${i}`, i]));
    const tags = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`t${i}`, 'x']));
    const chunks = planBatch({ metrics, params, tags }, 'truncate', 'test');
    for (const c of chunks) {
      expect(c.metrics.length).toBeLessThanOrEqual(MLFLOW_LIMITS.metricsPerBatch);
      expect(c.params.length).toBeLessThanOrEqual(MLFLOW_LIMITS.paramsPerBatch);
      expect(c.tags.length).toBeLessThanOrEqual(MLFLOW_LIMITS.tagsPerBatch);
      expect(c.metrics.length + c.params.length + c.tags.length).toBeLessThanOrEqual(
        MLFLOW_LIMITS.entitiesPerBatch,
      );
    }
    expect(chunks.flatMap((c) => c.metrics).map((m) => m.step)).toEqual(metrics.map((m) => m.step));
    expect(chunks.flatMap((c) => c.params)).toHaveLength(250);
    expect(chunks.flatMap((c) => c.tags)).toHaveLength(150);
    // Params and tags come first: no chunk holding params follows one holding metrics.
    const firstMetric = chunks.findIndex((c) => c.metrics.length > 0);
    const lastParam = chunks.map((c) => c.params.length > 0).lastIndexOf(true);
    expect(lastParam).toBeLessThanOrEqual(firstMetric);
  });

  it('keeps each request under the byte limit when values are long', () => {
    const params = Object.fromEntries(
      Array.from({ length: 100 }, (_, i) => [`p${i}`, 'é'.repeat(6000)]),
    );
    const chunks = planBatch({ params }, 'truncate', 'test');
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(Buffer.byteLength(JSON.stringify(c))).toBeLessThan(1_000_000);
  });

  it('truncates long values or rejects them, by policy, and always rejects long keys', () => {
    const [chunk] = planBatch(
      { params: { lr: 'x'.repeat(7000) }, tags: { note: 'y'.repeat(9000) } },
      'truncate',
      'test',
    );
    expect(chunk!.params[0]!.value).toHaveLength(6000);
    expect(chunk!.tags[0]!.value).toHaveLength(8000);
    expect(() => planBatch({ params: { lr: 'x'.repeat(6001) } }, 'error', 'logBatch')).toThrow(
      /params\["lr"\]\.value: value is 6001 characters/,
    );
    const longKey = 'k'.repeat(251);
    expect(() =>
      planBatch({ metrics: [{ key: longKey, value: 1 }] }, 'truncate', 'logBatch'),
    ).toThrow(/metrics\[0\]\.key: key is 251 characters/);
  });

  it('returns no request for an empty batch', () => {
    expect(planBatch({}, 'truncate', 'test')).toEqual([]);
  });
});

describe('authentication', () => {
  const basicOf = (user: string, password: string) =>
    `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it('sends the given credentials as basic auth on every request', async () => {
    const { fetch, calls } = fakeFetch(() => json(200, runBody));
    const c = client(fetch, { credentials: { username: 'gaplab', password: 'p:ss wörd' } });
    await c.getRun('r1');
    await c.withOptions({ timeoutMs: 1000 }).getRun('r1');
    expect(calls.map((x) => x.headers.authorization)).toEqual([
      basicOf('gaplab', 'p:ss wörd'),
      basicOf('gaplab', 'p:ss wörd'),
    ]);
  });

  it('reads MLFLOW_TRACKING_USERNAME / _PASSWORD, then MLFLOW_TRACKING_TOKEN, unless told null', () => {
    const env = { MLFLOW_TRACKING_USERNAME: 'pi', MLFLOW_TRACKING_PASSWORD: 'secret-1' };
    expect(authorizationHeader(undefined, env)).toBe(basicOf('pi', 'secret-1'));
    expect(authorizationHeader(undefined, { MLFLOW_TRACKING_USERNAME: 'pi' })).toBeUndefined();
    expect(authorizationHeader(undefined, { MLFLOW_TRACKING_TOKEN: 'tok' })).toBe('Bearer tok');
    expect(authorizationHeader(null, env)).toBeUndefined();
    expect(authorizationHeader({ username: 'v', password: 'w' }, env)).toBe(basicOf('v', 'w'));
  });

  it('sends no authorization header without credentials', async () => {
    const saved = { ...process.env };
    for (const k of [
      'MLFLOW_TRACKING_USERNAME',
      'MLFLOW_TRACKING_PASSWORD',
      'MLFLOW_TRACKING_TOKEN',
    ])
      delete process.env[k];
    try {
      const { fetch, calls } = fakeFetch(() => json(200, runBody));
      await client(fetch).getRun('r1');
      expect(calls[0]!.headers).not.toHaveProperty('authorization');
    } finally {
      Object.assign(process.env, saved);
    }
  });
});
