/**
 * Failures the design promises to survive, each against real processes: kill -9 of a worker,
 * a restart of the Temporal server, an MLflow outage, two workers sharing work, task-queue
 * routing, continue-as-new, and replay of recorded histories.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker, bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { TAG, experimentName } from '../records/names.js';
import type { MlflowClient } from '../mlflow-ts-client/index.js';
import { Stack, mlflowHealthy } from '../stack/index.js';
import { STATE_DIR } from '../stack/paths.js';
import { resolveTemporalBinary } from '../stack/install.js';
import { freePort } from '../stack/process.js';
import { dataConverter } from '../temporal/data-converter.js';
import { WORKFLOWS_PATH } from '../worker/index.js';
import {
  holdSeeds,
  quadraticCriteria,
  quadraticSpec,
  slowQuadraticSpec,
  testRegistry,
} from './support/quadratic.js';
import {
  createTestEnv,
  pi,
  researcher,
  uniqueId,
  submitQuadratic,
  type TestEnv,
} from './support/env.js';
import { eventually, STRESS_TIMEOUT_MS } from './support/eventually.js';
import { spawnWorkerProcess } from './support/worker-process.js';

const slowSpec = slowQuadraticSpec([400, 700]);

let bundlePath: string;
const children: ChildProcess[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gaplab-reliability-'));
// Stacks of their own live under the state folder, where CI's clean-up finds any pid left behind.
const stackDir = (name: string) =>
  path.join(STATE_DIR, `reliability-${path.basename(tmp)}-${name}`);

beforeAll(async () => {
  const bundle = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error },
  });
  bundlePath = path.join(tmp, 'workflows.js');
  fs.writeFileSync(bundlePath, bundle.code);
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Starts a worker process on the pre-built bundle and resolves once it polls. */
const spawnWorker = (env: Record<string, string>) =>
  spawnWorkerProcess('worker-process', { WORKFLOW_BUNDLE: bundlePath, ...env }, children);

async function trialRuns(mlflow: MlflowClient, problemId: string) {
  const experimentId = (await mlflow.getExperimentByName(experimentName(problemId)))!.experimentId;
  const runs = await mlflow.searchAllRuns({ experimentIds: [experimentId] });
  return runs.filter((r) => r.data.tags[TAG.kind] === 'trial');
}

/** Every trial of the campaign has exactly one finished run in MLflow. */
async function expectExactlyOnce(mlflow: MlflowClient, problemId: string, trialIds: string[]) {
  const runs = await trialRuns(mlflow, problemId);
  const keys = runs.map((r) => r.data.tags[TAG.trialId]);
  expect(keys.sort()).toEqual([...trialIds].sort());
  for (const r of runs) expect(['FINISHED', 'FAILED', 'KILLED']).toContain(r.info.status);
}

async function setUp(
  env: TestEnv,
  criteria: Record<string, unknown>,
  spec: Record<string, unknown> = slowSpec,
) {
  return submitQuadratic(env.service, {
    prefix: 'rel',
    spec,
    criteria: { verification: { topK: 1, seeds: 2 }, ...criteria },
  });
}

/** temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED. */
const PENDING_ACTIVITY_STATE_STARTED = 2;

describe('reliability', () => {
  it(
    'kill -9 of a worker mid-campaign: the other worker takes over, no trial lost or recorded twice',
    async () => {
      const env = await createTestEnv({
        registry: testRegistry(),
        noWorker: true,
        timing: { heartbeatTimeoutSeconds: 3 },
      });
      try {
        const workerEnv = {
          TEMPORAL_ADDRESS: env.temporalAddress,
          MLFLOW_TRACKING_URI: env.mlflowUri,
          TASK_QUEUE: env.taskQueue,
        };
        // Each worker runs three seeds, then holds the next ones at their start until the file
        // goes: one is then provably in flight when its worker dies, and the campaign cannot have
        // ended before, whatever the pace.
        const holdFile = path.join(tmp, `hold-${uniqueId('kill')}`);
        fs.writeFileSync(holdFile, '');
        const held = { ...workerEnv, HOLD_FILE: holdFile, HOLD_AFTER: '3' };
        const workers = [await spawnWorker(held), await spawnWorker(held)];
        const problemId = await setUp(env, { budgets: { maxTrials: 10, concurrency: 4 } });
        const { campaignId } = await env.service.startCampaign(researcher, {
          problemId,
          strategy: { name: 'random' },
          seed: 5,
        });
        // Killed while it provably runs a seed: Temporal lists a started seed of this worker's.
        const handle = env.client.workflow.getHandle(campaignId);
        const victimPid = await eventually(
          async () => {
            const pending = (await handle.describe()).raw.pendingActivities ?? [];
            const started = pending.find(
              (p) =>
                ['runExperimentSeed', 'runExperimentSeeds'].includes(p.activityType?.name ?? '') &&
                Number(p.state) === PENDING_ACTIVITY_STATE_STARTED &&
                workers.some((w) => (p.lastWorkerIdentity ?? '').endsWith(`:${w.pid}`)),
            );
            return started ? Number(started.lastWorkerIdentity!.split(':').at(-1)) : undefined;
          },
          120_000,
          20,
        );
        const victim = workers.find((w) => w.pid === victimPid)!;
        const survivor = workers.find((w) => w !== victim)!;
        expect((await env.service.status(campaignId)).trialsDone).toBeLessThan(10);
        victim.kill('SIGKILL');
        fs.rmSync(holdFile);
        const report = await env.service.result(campaignId);
        expect(report.stopReason).toBe('max_trials');
        expect(report.trials.total).toBe(10);
        const { trials } = await env.service.trials(campaignId, { limit: 1000 });
        // The survivor ran seeds; the killed worker's in-flight seeds were retried on it.
        const pids = new Set(
          trials.flatMap((t) => (t.metrics.worker_pid ? [t.metrics.worker_pid] : [])),
        );
        expect(report.trials.succeeded).toBe(10);
        expect(pids.has(survivor.pid!)).toBe(true);
        await eventually(
          async () => (await trialRuns(env.mlflow, problemId)).length === trials.length,
          60_000,
        );
        await expectExactlyOnce(
          env.mlflow,
          problemId,
          trials.map((t) => t.id),
        );
        survivor.kill('SIGTERM');
      } finally {
        await env.close();
      }
    },
    STRESS_TIMEOUT_MS,
  );

  it('an experiment that names its own task queue runs only on workers polling it', async () => {
    const env = await createTestEnv({ registry: testRegistry('unused'), noWorker: true });
    try {
      const pinnedQueue = `${env.taskQueue}-gpu`;
      const base = {
        TEMPORAL_ADDRESS: env.temporalAddress,
        MLFLOW_TRACKING_URI: env.mlflowUri,
        TASK_QUEUE: env.taskQueue,
      };
      const mainOnly = await spawnWorker(base);
      const gpu = await spawnWorker({ ...base, POLL_MAIN: '0', PINNED_QUEUE: pinnedQueue });
      const problemId = uniqueId('pinned');
      const registry = testRegistry(pinnedQueue);
      const { GaplabService } = await import('../server/service.js');
      const service = new GaplabService({ client: env.client, registry, taskQueue: env.taskQueue });
      await service.submitProblem(researcher, {
        ...quadraticSpec,
        id: problemId,
        experiment: 'quadratic-pinned',
      });
      await service.setCriteria(pi, problemId, {
        ...quadraticCriteria,
        budgets: { maxTrials: 4, concurrency: 2 },
      });
      const { campaignId } = await service.startCampaign(researcher, {
        problemId,
        strategy: { name: 'random' },
      });
      await service.result(campaignId);
      const { trials } = await service.trials(campaignId, { limit: 100 });
      const pids = new Set(trials.map((t) => t.metrics.worker_pid));
      expect([...pids]).toEqual([gpu.pid]);
      expect(pids.has(mainOnly.pid)).toBe(false);
      mainOnly.kill('SIGTERM');
      gpu.kill('SIGTERM');
    } finally {
      await env.close();
    }
  });

  it(
    'survives a kill -9 and restart of the Temporal dev server on its SQLite file',
    async () => {
      const binary = await resolveTemporalBinary();
      const stack = new Stack({
        dir: stackDir('temporal'),
        temporalPort: await freePort(),
        temporalUiPort: await freePort(),
        mlflowPort: 1,
      });
      await stack.upTemporal(binary.path);
      const address = stack.temporalAddress;
      const env = await createTestEnv({
        registry: testRegistry(),
        temporalAddress: address,
        timing: { heartbeatTimeoutSeconds: 3 },
      });
      try {
        const problemId = await setUp(env, { budgets: { maxTrials: 10, concurrency: 2 } });
        const { campaignId } = await env.service.startCampaign(researcher, {
          problemId,
          strategy: { name: 'random' },
          seed: 9,
        });
        await eventually(
          async () => (await env.service.status(campaignId)).trialsDone >= 2,
          120_000,
        );
        await stack.kill('temporal', { hard: true }); // kill -9, not a clean shutdown
        await new Promise((r) => setTimeout(r, 2000));
        await stack.upTemporal(binary.path);
        const report = await eventually(() => env.service.result(campaignId), 170_000, 1000);
        expect(report.stopReason).toBe('max_trials');
        expect(report.trials.total).toBe(10);
        const { trials } = await env.service.trials(campaignId, { limit: 100 });
        await eventually(
          async () => (await trialRuns(env.mlflow, problemId)).length === trials.length,
          60_000,
        );
        await expectExactlyOnce(
          env.mlflow,
          problemId,
          trials.map((t) => t.id),
        );
      } finally {
        await env.close().catch(() => {});
        await stack.down();
        fs.rmSync(stack.dir, { recursive: true, force: true });
      }
    },
    STRESS_TIMEOUT_MS,
  );

  it(
    'an MLflow outage delays recording without failing the campaign; recording catches up exactly once',
    async () => {
      const stack = new Stack({
        dir: stackDir('mlflow'),
        temporalPort: 1,
        mlflowPort: await freePort(),
      });
      await stack.upMlflow();
      // This stack's MLflow has users of its own: its service account records the campaign, not
      // the suite's (which the global setup put in the environment).
      const saved = {
        user: process.env.MLFLOW_TRACKING_USERNAME,
        password: process.env.MLFLOW_TRACKING_PASSWORD,
      };
      const service = stack.mlflowCredentials();
      if (service) {
        process.env.MLFLOW_TRACKING_USERNAME = service.username;
        process.env.MLFLOW_TRACKING_PASSWORD = service.password;
      }
      const restoreCredentials = () => {
        for (const [name, value] of [
          ['MLFLOW_TRACKING_USERNAME', saved.user],
          ['MLFLOW_TRACKING_PASSWORD', saved.password],
        ] as const)
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
      };
      const env = await createTestEnv({ registry: testRegistry(), mlflowUri: stack.mlflowUri });
      // The baseline's two seeds and four more run; every later seed waits at its start until
      // MLflow is down, so at most three of the ten trials end before the outage, whatever the pace.
      const hold = holdSeeds(6);
      try {
        const problemId = await setUp(env, { budgets: { maxTrials: 10, concurrency: 2 } });
        const { campaignId } = await env.service.startCampaign(researcher, {
          problemId,
          strategy: { name: 'random' },
          seed: 13,
        });
        await eventually(async () => hold.held >= 1, 120_000);
        await stack.down('mlflow');
        const before = (await env.service.status(campaignId)).trialsDone;
        expect(before).toBeLessThanOrEqual(3);
        hold.release();
        // Every trial ends while MLflow is down; the campaign waits for its records to close.
        await eventually(
          async () => (await env.service.status(campaignId)).trialsDone >= 10,
          120_000,
        );
        expect(await mlflowHealthy(stack.mlflowUri)).toBe(false);
        expect((await env.service.status(campaignId)).phase).not.toBe('finished');
        await stack.upMlflow();
        const report = await env.service.result(campaignId);
        expect(report.stopReason).toBe('max_trials');
        const { trials } = await env.service.trials(campaignId, { limit: 100 });
        await expectExactlyOnce(
          env.mlflow,
          problemId,
          trials.map((t) => t.id),
        );
      } finally {
        hold.release();
        await env.close().catch(() => {});
        await stack.down();
        fs.rmSync(stack.dir, { recursive: true, force: true });
        restoreCredentials();
      }
    },
    STRESS_TIMEOUT_MS,
  );

  it('continues as new several times and keeps the full lineage and ledger; histories replay deterministically', async () => {
    const env = await createTestEnv({
      registry: testRegistry(),
      timing: { historyEventLimit: 80 },
    });
    try {
      const problemId = await setUp(
        env,
        {
          seedsPerTrial: 1,
          budgets: { maxTrials: 40, concurrency: 4 },
          verification: { topK: 0, seeds: 1 },
        },
        quadraticSpec,
      );
      const { campaignId } = await env.service.startCampaign(researcher, {
        problemId,
        strategy: { name: 'random' },
        seed: 21,
      });
      const report = await env.service.result(campaignId);
      const status = await env.service.status(campaignId);
      expect(status.runs).toBeGreaterThanOrEqual(2);
      expect(report.trials.total).toBe(40);
      expect(report.ledger.trialsStarted).toBe(40);
      expect(report.pgrOverTrials).toHaveLength(40);
      const { trials } = await env.service.trials(campaignId, { kind: 'search', limit: 100 });
      expect(new Set(trials.map((t) => t.id)).size).toBe(40);

      // Every run of the chain replays against the current workflow code.
      const histories = [];
      for await (const wf of env.client.workflow.list({ query: `WorkflowId = '${campaignId}'` })) {
        histories.push({
          workflowId: wf.workflowId,
          history: await env.client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory(),
        });
      }
      expect(histories.length).toBeGreaterThanOrEqual(2);
      for (const h of histories) {
        await Worker.runReplayHistory(
          { workflowBundle: { codePath: bundlePath }, dataConverter },
          h.history,
          h.workflowId,
        );
      }
      void inject;
    } finally {
      await env.close();
    }
  });
});
