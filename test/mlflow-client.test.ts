/**
 * mlflow-ts-client against a real MLflow tracking server with artifact proxying
 * (provided by test/global-setup.ts as `mlflowUri`).
 */
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { MlflowClient, MlflowError, isNotFound, type Run } from '../mlflow-ts-client/index.js';

const trackingUri = inject('mlflowUri');
const client = new MlflowClient({
  trackingUri,
  retries: { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 },
});
/** Unique per test run, so reruns against a long-lived server never collide. */
const prefix = `mlflow-client-test-${randomUUID().slice(0, 8)}`;

let experimentId: string;

beforeAll(async () => {
  expect(await client.health()).toBe(true);
  experimentId = await client.getOrCreateExperiment(`${prefix}-main`);
});

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('server', () => {
  it('reports health and version', async () => {
    expect(await client.health()).toBe(true);
    expect(await client.serverVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('fails with NETWORK_ERROR after its retries when nothing listens, and health() says false', async () => {
    const down = new MlflowClient({
      trackingUri: `http://127.0.0.1:${await closedPort()}`,
      retries: { attempts: 2, baseDelayMs: 10, maxDelayMs: 20 },
    });
    expect(await down.health()).toBe(false);
    const err = await down.getRun('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowError);
    expect(err).toMatchObject({ errorCode: 'NETWORK_ERROR', attempts: 2, retryable: true });
  });
});

describe('experiments', () => {
  it('returns null for an absent name', async () => {
    expect(await client.getExperimentByName(`${prefix}-absent`)).toBeNull();
  });

  it('getOrCreateExperiment gives every concurrent caller the same id', async () => {
    const name = `${prefix}-race`;
    const callers = 6;
    // Hold every first lookup until all callers have made one, so all of them see "absent" and
    // race to create: one wins, the others must fall back to reading the winner.
    let lookups = 0;
    let release!: () => void;
    const allLooked = new Promise<void>((resolve) => (release = resolve));
    const createStatuses: number[] = [];
    const racingFetch: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const path = new URL(String(input)).pathname;
      if (path.endsWith('/experiments/get-by-name') && lookups < callers) {
        if (++lookups === callers) release();
        await allLooked;
      }
      if (path.endsWith('/experiments/create')) createStatuses.push(res.status);
      return res;
    };
    const racer = new MlflowClient({ trackingUri, fetch: racingFetch });
    const ids = await Promise.all(
      Array.from({ length: callers }, () => racer.getOrCreateExperiment(name)),
    );
    expect(new Set(ids).size).toBe(1);
    expect(createStatuses.sort()).toEqual([200, 400, 400, 400, 400, 400]);
    const experiment = await client.getExperimentByName(name);
    expect(experiment?.experimentId).toBe(ids[0]);
    expect(experiment?.lifecycleStage).toBe('active');
    expect(experiment?.artifactLocation).toBe(`mlflow-artifacts:/${ids[0]}`);
    expect(await client.getOrCreateExperiment(name)).toBe(ids[0]);
  });

  it('createExperiment stores tags and refuses a taken name; setExperimentTag adds one', async () => {
    const name = `${prefix}-tagged`;
    const id = await client.createExperiment(name, { tags: { owner: 'pi' } });
    const err = await client.createExperiment(name).catch((e: unknown) => e);
    expect(err).toMatchObject({ errorCode: 'RESOURCE_ALREADY_EXISTS', status: 400 });
    await client.setExperimentTag(id, 'gaplab.problem', 'w2s');
    const experiment = await client.getExperiment(id);
    expect(experiment.name).toBe(name);
    expect(experiment.tags).toMatchObject({ owner: 'pi', 'gaplab.problem': 'w2s' });
  });
});

describe('runs', () => {
  it('creates nested runs findable by tags.mlflow.parentRunId', async () => {
    const parent = await client.createRun({
      experimentId,
      runName: 'campaign',
      tags: { kind: 'campaign' },
    });
    expect(parent.info).toMatchObject({
      experimentId,
      runName: 'campaign',
      status: 'RUNNING',
      lifecycleStage: 'active',
    });
    expect(parent.data.tags).toMatchObject({ kind: 'campaign', 'mlflow.runName': 'campaign' });
    const children: Run[] = [];
    for (let i = 0; i < 3; i++) {
      children.push(
        await client.createRun({
          experimentId,
          runName: `trial-${i}`,
          parentRunId: parent.info.runId,
        }),
      );
    }
    const found = await client.searchAllRuns({
      experimentIds: [experimentId],
      filter: `tags.mlflow.parentRunId = '${parent.info.runId}'`,
    });
    expect(found.map((r) => r.info.runId).sort()).toEqual(children.map((r) => r.info.runId).sort());
    for (const run of found) {
      expect(run.data.tags['mlflow.parentRunId']).toBe(parent.info.runId);
      expect(run.data.tags['mlflow.runName']).toBe(run.info.runName);
    }
  });

  it('logBatch splits > 1000 metrics and > 100 params and every entity arrives', async () => {
    const run = await client.createRun({ experimentId, runName: 'batch' });
    const runId = run.info.runId;
    const steps = 600;
    const metrics = ['loss', 'acc', 'pgr'].flatMap((key, k) =>
      Array.from({ length: steps }, (_, step) => ({
        key,
        value: k * 1000 + step,
        step,
        timestamp: 1_700_000_000_000 + step,
      })),
    );
    metrics.push({ key: 'nan_metric', value: Number.NaN, step: 0, timestamp: 1_700_000_000_000 });
    const params = Object.fromEntries(
      Array.from({ length: 150 }, (_, i) => [`param_${i}`, `value_${i}`]),
    );
    params['long_param'] = 'v'.repeat(7000);
    const tags = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`tag_${i}`, `t${i}`]));

    const requests = await client.logBatch(runId, { metrics, params, tags });
    expect(requests).toBeGreaterThanOrEqual(3);

    const stored = await client.getRun(runId);
    expect(Object.keys(stored.data.params)).toHaveLength(151);
    expect(stored.data.params['param_149']).toBe('value_149');
    expect(stored.data.params['long_param']).toHaveLength(6000);
    expect(Object.keys(stored.data.tags).filter((k) => k.startsWith('tag_'))).toHaveLength(120);
    expect(stored.data.metrics).toMatchObject({
      loss: steps - 1,
      acc: 1000 + steps - 1,
      pgr: 2000 + steps - 1,
    });
    expect(Number.isNaN(stored.data.metrics['nan_metric'])).toBe(true);

    const history = await client.getMetricHistory(runId, 'acc');
    expect(history).toHaveLength(steps);
    expect(history.map((m) => m.step).sort((a, b) => a - b)).toEqual(
      Array.from({ length: steps }, (_, i) => i),
    );
    expect(history.find((m) => m.step === 7)).toEqual({
      key: 'acc',
      value: 1007,
      step: 7,
      timestamp: 1_700_000_000_007,
    });
    expect(await client.getMetricHistory(runId, 'never_logged')).toEqual([]);
  });

  it('logs single params, metrics and tags, updates status, and deletes', async () => {
    const run = await client.createRun({
      experimentId,
      runName: 'single',
      startTime: 1_700_000_000_000,
    });
    const runId = run.info.runId;
    await client.logParam(runId, 'lr', 0.01);
    await client.logMetric(runId, 'loss', 0.5, { step: 0 });
    await client.logMetric(runId, 'loss', 0.25, { step: 1 });
    await client.setTag(runId, 'gaplab.trial', 't-1');

    const paramErr = await client.logParam(runId, 'lr', 0.02).catch((e: unknown) => e);
    expect(paramErr).toMatchObject({
      errorCode: 'INVALID_PARAMETER_VALUE',
      status: 400,
      retryable: false,
    });

    const info = await client.updateRun(runId, {
      status: 'FINISHED',
      endTime: 1_700_000_005_000,
      runName: 'single-done',
    });
    expect(info).toMatchObject({
      status: 'FINISHED',
      endTime: 1_700_000_005_000,
      runName: 'single-done',
    });

    const failed = await client.createRun({ experimentId });
    const before = Date.now();
    const failedInfo = await client.updateRun(failed.info.runId, { status: 'FAILED' });
    expect(failedInfo.endTime).toBeGreaterThanOrEqual(before);

    const stored = await client.getRun(runId);
    expect(stored.info).toMatchObject({
      status: 'FINISHED',
      startTime: 1_700_000_000_000,
      runName: 'single-done',
    });
    expect(stored.data).toMatchObject({
      params: { lr: '0.01' },
      metrics: { loss: 0.25 },
      tags: { 'gaplab.trial': 't-1' },
    });
    expect((await client.getMetricHistory(runId, 'loss')).map((m) => m.value)).toEqual([0.5, 0.25]);

    await client.deleteRun(runId);
    expect((await client.getRun(runId)).info.lifecycleStage).toBe('deleted');
    const active = await client.searchAllRuns({
      experimentIds: [experimentId],
      filter: "tags.`gaplab.trial` = 't-1'",
    });
    expect(active).toEqual([]);
    const all = await client.searchAllRuns({
      experimentIds: [experimentId],
      filter: "tags.`gaplab.trial` = 't-1'",
      runViewType: 'ALL',
    });
    expect(all.map((r) => r.info.runId)).toEqual([runId]);
  });

  it('a missing run is MlflowError RESOURCE_DOES_NOT_EXIST and isNotFound', async () => {
    const err = await client.getRun('0123456789abcdef0123456789abcdef').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MlflowError);
    expect(err).toMatchObject({ errorCode: 'RESOURCE_DOES_NOT_EXIST', status: 404, attempts: 1 });
    expect(isNotFound(err)).toBe(true);
    expect(
      isNotFound(
        await client
          .updateRun('0123456789abcdef0123456789abcdef', { status: 'KILLED' })
          .catch((e: unknown) => e),
      ),
    ).toBe(true);
  });
});

describe('search paging', () => {
  it('pages through 25 runs 10 at a time in the requested order', async () => {
    const id = await client.getOrCreateExperiment(`${prefix}-paging`);
    const created: string[] = [];
    for (let i = 0; i < 25; i++) {
      const run = await client.createRun({
        experimentId: id,
        runName: `r${i}`,
        startTime: 1_700_000_000_000 + i * 1000,
      });
      created.push(run.info.runId);
    }
    const options = { experimentIds: [id], maxResults: 10, orderBy: ['attributes.start_time ASC'] };

    const sizes: number[] = [];
    let pageToken: string | undefined;
    do {
      const page = await client.searchRuns(
        pageToken === undefined ? options : { ...options, pageToken },
      );
      sizes.push(page.runs.length);
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
    expect(sizes).toEqual([10, 10, 5]);

    const all = await client.searchAllRuns(options);
    expect(all.map((r) => r.info.runId)).toEqual(created);

    const firstSeven: string[] = [];
    for await (const run of client.iterateRuns(options)) {
      firstSeven.push(run.info.runName);
      if (firstSeven.length === 7) break;
    }
    expect(firstSeven).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
  });
});

describe('artifacts', () => {
  it('uploads, lists and downloads through the artifact proxy', async () => {
    const run = await client.createRun({ experimentId, runName: 'artifacts' });
    const runId = run.info.runId;
    expect(run.info.artifactUri).toBe(`mlflow-artifacts:/${experimentId}/${runId}/artifacts`);

    const bytes = new Uint8Array(256).map((_, i) => i);
    await client.uploadArtifact(runId, 'logs/seed 1.txt', 'line one\nline two ✓\n');
    await client.uploadArtifact(runId, 'data/blob.bin', bytes);
    await client.uploadArtifact(
      runId,
      'summary.json',
      JSON.stringify({ pgr: 0.5 }),
      'application/json',
    );

    const root = await client.listArtifacts(runId);
    expect(root.map((f) => [f.path, f.isDir]).sort()).toEqual([
      ['data', true],
      ['logs', true],
      ['summary.json', false],
    ]);
    const logs = await client.listArtifacts(runId, 'logs');
    expect(logs).toEqual([
      {
        path: 'logs/seed 1.txt',
        isDir: false,
        fileSize: Buffer.byteLength('line one\nline two ✓\n'),
      },
    ]);

    expect(await client.downloadArtifactText(runId, 'logs/seed 1.txt')).toBe(
      'line one\nline two ✓\n',
    );
    expect(await client.downloadArtifact(runId, 'data/blob.bin')).toEqual(bytes);
    expect(JSON.parse(await client.downloadArtifactText(runId, 'summary.json'))).toEqual({
      pgr: 0.5,
    });

    // A fresh client has no cached artifact root and must resolve it from the run.
    const fresh = new MlflowClient({ trackingUri });
    expect(await fresh.downloadArtifact(runId, 'data/blob.bin')).toEqual(bytes);

    const missing = await client
      .downloadArtifact(runId, 'logs/missing.txt')
      .catch((e: unknown) => e);
    expect(isNotFound(missing)).toBe(true);
    expect(await client.listArtifacts(runId, 'nothing-here')).toEqual([]);
  });
});
