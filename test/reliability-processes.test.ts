/**
 * Nothing outlives its worker: a worker killed with SIGKILL while it runs long command
 * experiments (each a shell with a grandchild) leaves no experiment process alive, and a worker
 * that starts reaps what a dead predecessor left behind when nothing else could.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { procState } from '../experiments/runner.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';
import { eventually } from './support/eventually.js';
import { ExperimentRegistry } from '../experiments/registry.js';
import { quadratic } from './support/quadratic.js';
import { sleeper, sleeperCriteria, sleeperSpec } from './support/sleeper.js';
import { spawnWorkerProcess } from './support/worker-process.js';

const registry = () => ExperimentRegistry.of(quadratic, sleeper);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gaplab-reliability-processes-'));
const children: ChildProcess[] = [];

/** Live (not zombie) processes whose environment says they run a seed under `workDir`. */
function experimentProcesses(workDir: string): number[] {
  const found: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let environ: string;
    try {
      environ = fs.readFileSync(`/proc/${e}/environ`, 'utf8');
    } catch {
      continue;
    }
    if (!environ.includes(`GAPLAB_OUTPUT_DIR=${workDir}${path.sep}`)) continue;
    const st = procState(Number(e));
    if (st && st.state !== 'Z' && st.state !== 'X') found.push(Number(e));
  }
  return found;
}

/** The worker's watchdog: its child running the inline watchdog script. */
function watchdogOf(workerPid: number): number | undefined {
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== workerPid) continue;
      if (fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').includes('const groups')) return Number(e);
    } catch {
      continue;
    }
  }
  return undefined;
}

const spawnWorker = (env: Record<string, string>) =>
  spawnWorkerProcess('command-worker', env, children);

/** A worker process of its own (work folder runs-<name>), and a campaign of `sleeper` seeds on it. */
async function startSleepers(env: TestEnv, name: string) {
  const workDir = path.join(tmp, `runs-${name}`);
  const worker = await spawnWorker({
    TEMPORAL_ADDRESS: env.temporalAddress,
    MLFLOW_TRACKING_URI: env.mlflowUri,
    TASK_QUEUE: env.taskQueue,
    WORK_DIR: workDir,
    PROCESS_REGISTRY: path.join(tmp, `registry-${name}`),
  });
  const problemId = uniqueId(name);
  await env.service.submitProblem(researcher, { ...sleeperSpec, id: problemId });
  await env.service.setCriteria(pi, problemId, sleeperCriteria);
  const { campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
  });
  return { worker, workDir, campaignId };
}

/** Resolves once two seeds run, each a shell and its sleeping grandchild: their processes. */
const sleepersInFlight = (workDir: string) =>
  eventually(async () => {
    const p = experimentProcesses(workDir);
    return p.length >= 4 ? p : undefined;
  }, 120_000);

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const pid of experimentProcesses(tmp)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

describe('experiment processes die with their worker', () => {
  it('kill -9 of a worker running long command experiments leaves none of them alive', async () => {
    const env = await createTestEnv({ registry: registry(), noWorker: true });
    let campaignId: string | undefined;
    try {
      const run = await startSleepers(env, 'a');
      campaignId = run.campaignId;
      const before = await sleepersInFlight(run.workDir);
      expect(before.length).toBeGreaterThanOrEqual(4);

      run.worker.kill('SIGKILL');
      let left = before;
      for (let i = 0; i < 50 && left.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 200));
        left = experimentProcesses(run.workDir);
      }
      expect(left).toEqual([]);
    } finally {
      if (campaignId) await env.client.workflow.getHandle(campaignId).terminate('test over');
      await env.close();
    }
  });

  it("a PI's stop that cancels running work ends the experiments' processes, grandchildren too", async () => {
    const env = await createTestEnv({ registry: registry(), noWorker: true });
    let campaignId: string | undefined;
    try {
      const run = await startSleepers(env, 'stop');
      campaignId = run.campaignId;
      const before = await sleepersInFlight(run.workDir);
      // Its one search trial runs (2 seeds of 600 s) beside the references: what it waits for.
      expect((await env.service.status(campaignId)).waitingFor).toMatch(/\b1 running trial$/);
      const stoppedAt = Date.now();
      await env.service.stop(pi, campaignId, { reason: 'enough', cancelRunning: true });
      await eventually(async () => experimentProcesses(run.workDir).length === 0, 60_000, 100);
      const seconds = (Date.now() - stoppedAt) / 1000;
      console.log(`stop -> ${before.length} experiment processes gone in ${seconds.toFixed(1)} s`);
      // The campaign ends with the stop, not when its 600 s seeds would have: phase finished (no
      // final verification unless asked for). The bound is loose for a loaded machine; the time is
      // printed (about 2-5 s on a quiet one).
      await eventually(
        async () =>
          (await env.service.status(campaignId!)).phase === 'finished' ? true : undefined,
        60_000,
        100,
      );
      const finished = (Date.now() - stoppedAt) / 1000;
      console.log(`stop -> phase finished in ${finished.toFixed(1)} s`);
      const report = await env.service.result(campaignId);
      expect(report.stopReason).toBe('stopped_by_pi');
      expect(report.trials.cancelled).toBe(1);
      run.worker.kill('SIGTERM');
    } finally {
      if (campaignId)
        await env.client.workflow
          .getHandle(campaignId)
          .terminate('test over')
          .catch(() => undefined);
      await env.close();
    }
  });

  it('a worker that starts reaps the groups of a predecessor whose watchdog died too', async () => {
    const env = await createTestEnv({ registry: registry(), noWorker: true });
    const workDir = path.join(tmp, 'runs-b');
    const groupRegistry = path.join(tmp, 'registry-b');
    const workerEnv = {
      TEMPORAL_ADDRESS: env.temporalAddress,
      MLFLOW_TRACKING_URI: env.mlflowUri,
      TASK_QUEUE: env.taskQueue,
      WORK_DIR: workDir,
      PROCESS_REGISTRY: groupRegistry,
    };
    let campaignId: string | undefined;
    try {
      const first = await spawnWorker(workerEnv);
      const problemId = uniqueId('reap');
      await env.service.submitProblem(researcher, { ...sleeperSpec, id: problemId });
      await env.service.setCriteria(pi, problemId, sleeperCriteria);
      ({ campaignId } = await env.service.startCampaign(researcher, {
        problemId,
        strategy: { name: 'random' },
      }));
      const before = await eventually(async () => {
        const p = experimentProcesses(workDir);
        return p.length >= 4 ? p : undefined;
      }, 120_000);
      const watchdog = watchdogOf(first.pid!);
      expect(watchdog).toBeDefined();
      process.kill(watchdog!, 'SIGKILL');
      first.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 1000));
      // Nothing acted for the dead worker: its experiments still run.
      expect(experimentProcesses(workDir).filter((p) => before.includes(p)).length).toBe(
        before.length,
      );

      // A new worker on the same machine (another work folder, so its own seeds are not counted).
      const second = await spawnWorker({ ...workerEnv, WORK_DIR: path.join(tmp, 'runs-b2') });
      const left = await eventually(
        async () => experimentProcesses(workDir).filter((p) => before.includes(p)).length === 0,
        10_000,
      );
      expect(left).toBe(true);
      second.kill('SIGTERM');
    } finally {
      if (campaignId) await env.client.workflow.getHandle(campaignId).terminate('test over');
      await env.close();
    }
  });
});
