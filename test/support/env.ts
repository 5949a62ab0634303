/** Builds the app's pieces against the real Temporal and MLflow servers from global-setup. */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { Client, Connection } from '@temporalio/client';
import { inject } from 'vitest';
import type { ExperimentRegistry } from '../../experiments/registry.js';
import { MlflowClient } from '../../mlflow-ts-client/index.js';
import { GaplabService } from '../../server/service.js';
import type { CampaignTiming } from '../../workflows/types.js';
import { startWorker, type RunningWorker, type WorkerOptions } from '../../worker/index.js';
import { dataConverter } from '../../temporal/data-converter.js';
import type { Actor } from '../../domain/schemas.js';
import { startFakeAnthropic, type FakeAnthropic } from './fake-anthropic.js';
import { quadraticCriteria, quadraticSpec } from './quadratic.js';

export const pi: Actor = { name: 'Pat PI', role: 'pi' };
export const researcher: Actor = { name: 'Rae Researcher', role: 'researcher' };
export const viewer: Actor = { name: 'Vic Viewer', role: 'viewer' };

export interface TestEnv {
  client: Client;
  connection: Connection;
  mlflow: MlflowClient;
  service: GaplabService;
  taskQueue: string;
  worker: RunningWorker;
  temporalAddress: string;
  mlflowUri: string;
  close(): Promise<void>;
}

export async function createTestEnv(opts: {
  registry: ExperimentRegistry;
  timing?: CampaignTiming;
  worker?: Partial<WorkerOptions>;
  /** Start no worker (the test runs its own). */
  noWorker?: boolean;
  temporalAddress?: string;
  mlflowUri?: string;
}): Promise<TestEnv> {
  const temporalAddress = opts.temporalAddress ?? inject('temporalAddress');
  const mlflowUri = opts.mlflowUri ?? inject('mlflowUri');
  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection, namespace: 'default', dataConverter });
  const taskQueue = `test-${randomUUID().slice(0, 8)}`;
  const worker = opts.noWorker
    ? (undefined as unknown as RunningWorker)
    : await startWorker({
        temporalAddress,
        mlflowUri,
        taskQueue,
        registry: opts.registry,
        workDir: path.join(os.tmpdir(), 'gaplab-test-runs', taskQueue),
        shutdownGraceSeconds: 1,
        ...opts.worker,
      });
  const service = new GaplabService({
    client,
    registry: opts.registry,
    taskQueue,
    timing: { heartbeatTimeoutSeconds: 5, ...opts.timing },
  });
  return {
    client,
    connection,
    mlflow: new MlflowClient({ trackingUri: mlflowUri }),
    service,
    taskQueue,
    worker,
    temporalAddress,
    mlflowUri,
    async close() {
      await worker?.shutdown();
      await connection.close();
    },
  };
}

/** A problem id unique to this test run (problems are long-lived entities). */
export const uniqueId = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

/**
 * Submits a quadratic problem under a fresh id (`prefix`-...) and sets its criteria
 * (quadraticCriteria with `criteria` on top); returns the problem id.
 */
export async function submitQuadratic(
  service: GaplabService,
  opts: { prefix: string; spec?: Record<string, unknown>; criteria?: Record<string, unknown> },
): Promise<string> {
  const problemId = uniqueId(opts.prefix);
  await service.submitProblem(researcher, { ...(opts.spec ?? quadraticSpec), id: problemId });
  await service.setCriteria(pi, problemId, { ...quadraticCriteria, ...opts.criteria });
  return problemId;
}

/** A test env whose Claude strategy talks to the local fake Messages API through the real SDK. */
export interface ClaudeTestEnv extends TestEnv {
  fake: FakeAnthropic;
}

/**
 * Starts the fake Messages API, points the service at it (claude campaigns are refused without a
 * key or base URL) and builds the env with workers whose SDK retries `sdkRetries` times.
 */
export async function createClaudeTestEnv(
  opts: Parameters<typeof createTestEnv>[0] & { sdkRetries: number },
): Promise<ClaudeTestEnv> {
  const fake = await startFakeAnthropic();
  process.env.ANTHROPIC_BASE_URL = fake.url;
  const { sdkRetries, ...rest } = opts;
  const closeFake = async () => {
    await fake.close();
    delete process.env.ANTHROPIC_BASE_URL;
  };
  const env = await createTestEnv({
    ...rest,
    worker: {
      anthropic: () =>
        new Anthropic({ apiKey: 'test-key', baseURL: fake.url, maxRetries: sdkRetries }),
      ...rest.worker,
    },
  }).catch(async (err: unknown) => {
    await closeFake();
    throw err;
  });
  return {
    ...env,
    fake,
    async close() {
      await env.close();
      await closeFake();
    },
  };
}
