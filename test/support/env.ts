/** Builds the app's pieces against the real Temporal and MLflow servers from global-setup. */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { inject } from 'vitest';
import type { ExperimentRegistry } from '../experiments/registry.js';
import { MlflowClient } from '../mlflow-ts-client/index.js';
import { GaplabService } from '../server/service.js';
import type { CampaignTiming } from '../workflows/types.js';
import { startWorker, type RunningWorker, type WorkerOptions } from '../worker/index.js';
import type { Actor } from '../domain/schemas.js';

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
  const client = new Client({ connection, namespace: 'default' });
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

/** Polls until `check` returns a value, or fails with the last error after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`condition not met in ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}
