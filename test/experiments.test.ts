/**
 * Experiments on a real Worker against the real Temporal server from global-setup: a tiny
 * workflow runs seeds of the built-ins through runExperimentSeed; a workflow cancellation
 * reaches a running command experiment and kills its process group.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import {
  bundleWorkflowCode,
  NativeConnection,
  Worker,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createExperimentActivities } from '../activities/experiment.js';
import { ExperimentRegistry, loadRegistry } from '../experiments/registry.js';
import { procState } from '../experiments/runner.js';
import { paths } from '../stack/paths.js';
import type { runSeedsWorkflow } from './fixtures/experiment-seeds.js';

let tmp: string;
let client: Client;
let connection: Connection;
let nativeConnection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
const taskQueue = `experiments-${randomUUID().slice(0, 8)}`;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-exp-it-'));
  const hang = path.join(tmp, 'hang.mjs');
  await writeFile(
    hang,
    `import { spawn } from 'node:child_process';
     const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
     console.log(JSON.stringify({ progress: 0.1, message: 'grandchild ' + g.pid }));
     setInterval(() => {}, 1000);`,
  );
  const builtins = await loadRegistry();
  const registry = new ExperimentRegistry([
    ...builtins.list(),
    {
      name: 'hang',
      description: 'hangs with a grandchild',
      metrics: [{ name: 'acc', description: '' }],
      defaultTimeoutSeconds: 120,
      runner: { kind: 'command', argv: [process.execPath, hang] },
      dir: tmp,
      source: '(test)',
    },
  ]);
  const address = inject('temporalAddress');
  connection = await Connection.connect({ address });
  client = new Client({ connection, namespace: inject('namespace') });
  nativeConnection = await NativeConnection.connect({ address });
  bundle = await bundleWorkflowCode({
    workflowsPath: path.join(import.meta.dirname, 'fixtures/experiment-seeds.ts'),
  });
  worker = await Worker.create({
    connection: nativeConnection,
    namespace: inject('namespace'),
    taskQueue,
    workflowBundle: bundle,
    activities: createExperimentActivities({
      registry,
      workDir: path.join(tmp, 'runs'),
      heartbeatIntervalMs: 500,
    }),
    shutdownGraceTime: '2s',
  });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await nativeConnection?.close();
  await connection?.close();
  await rm(tmp, { recursive: true, force: true });
});

function start(input: Parameters<typeof runSeedsWorkflow>[0]) {
  return client.workflow.start<typeof runSeedsWorkflow>('runSeedsWorkflow', {
    taskQueue,
    workflowId: `exp-${randomUUID()}`,
    args: [input],
  });
}

describe('runExperimentSeed on a real worker', () => {
  it('weak-to-strong: seeds run and report the objective and the hidden metric', async () => {
    const handle = await start({
      experiment: 'weak-to-strong',
      params: { method: 'bootstrap', lr: 0.1, epochs: 1 },
      seeds: [1, 2, 3],
      objective: 'student_dev_acc',
      campaignId: 'c1',
      trialId: 't1',
    });
    const results = await handle.result();
    expect(results.map((r) => [r.seed, r.status])).toEqual([
      [1, 'succeeded'],
      [2, 'succeeded'],
      [3, 'succeeded'],
    ]);
    for (const r of results) {
      expect(r.metrics.student_dev_acc).toBeGreaterThan(r.metrics.weak_dev_acc as number);
      expect(r.metrics.student_heldout_acc).toBeGreaterThan(0.5);
    }
  });

  it('a benchmark: Branin at a known minimiser', async () => {
    const [r] = await (
      await start({
        experiment: 'branin',
        params: { x1: Math.PI, x2: 2.275 },
        seeds: [1],
        objective: 'value',
      })
    ).result();
    expect(r?.status).toBe('succeeded');
    expect(r?.metrics.value).toBeCloseTo(0.397887, 5);
  });

  it.runIf(existsSync(paths.venvPython))(
    'sklearn-digits: the Python command experiment (skipped when the project venv is not installed)',
    async () => {
      const results = await (
        await start({
          experiment: 'sklearn-digits',
          params: { model: 'svc', C: 10, gamma: 0.01 },
          seeds: [1, 2],
          objective: 'val_accuracy',
        })
      ).result();
      expect(results.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
      for (const r of results) expect(r.metrics.val_accuracy).toBeGreaterThan(0.95);
    },
  );

  it('a failing seed is a failed result in the workflow, not a workflow failure', async () => {
    const [r] = await (
      await start({
        experiment: 'weak-to-strong',
        params: { method: 'magic' },
        seeds: [1],
        objective: 'student_dev_acc',
      })
    ).result();
    expect(r?.status).toBe('failed');
    expect(r?.error).toMatch(/method/);
  });

  it('an unknown experiment fails the activity without retries, as UnknownExperiment', async () => {
    const handle = await start({ experiment: 'rm-rf', params: {}, seeds: [1], objective: 'x' });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ActivityFailure);
    expect((cause as ActivityFailure).cause).toBeInstanceOf(ApplicationFailure);
    expect(((cause as ActivityFailure).cause as ApplicationFailure).type).toBe('UnknownExperiment');
  });

  it('cancelling the workflow cancels the running seed and kills its process group', async () => {
    const handle = await start({ experiment: 'hang', params: {}, seeds: [1], objective: 'acc' });
    // Wait for the activity's first progress heartbeat, which names the grandchild.
    let grandchild = 0;
    const deadline = Date.now() + 30_000;
    while (!grandchild && Date.now() < deadline) {
      const desc = await handle.describe();
      const details = desc.raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0]?.data;
      if (details)
        grandchild = Number(/grandchild (\d+)/.exec(Buffer.from(details).toString())?.[1] ?? 0);
      if (!grandchild) await new Promise((r) => setTimeout(r, 200));
    }
    expect(grandchild).toBeGreaterThan(0);
    const started = Date.now();
    await handle.cancel();
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    while (
      procState(grandchild) &&
      procState(grandchild)?.state !== 'Z' &&
      Date.now() - started < 15_000
    )
      await new Promise((r) => setTimeout(r, 100));
    const st = procState(grandchild);
    expect(st === undefined || st.state === 'Z').toBe(true);
  });
});
