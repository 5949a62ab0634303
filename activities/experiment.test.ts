import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExperimentRegistry } from '../experiments/registry.js';
import type { ExperimentDefinition } from '../experiments/types.js';
import {
  createExperimentActivities,
  type ExperimentSeedResult,
  type SeedBatchResult,
  type SeedHeartbeat,
} from './experiment.js';
import { procState } from '../experiments/runner.js';

let tmp: string;
let registry: ExperimentRegistry;

const command = (name: string, file: string): ExperimentDefinition => ({
  name,
  description: name,
  metrics: [{ name: 'acc', description: 'accuracy' }],
  defaultTimeoutSeconds: 30,
  runner: { kind: 'command', argv: [process.execPath, file] },
});

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-activity-'));
  // Silent for a while (periodic heartbeats only), then progress, then metrics.
  await writeFile(
    path.join(tmp, 'slow.mjs'),
    `setTimeout(() => {
       console.log(JSON.stringify({ progress: 0.5, message: 'half' }));
       console.log(JSON.stringify({ metrics: { acc: 0.8 } }));
     }, 700);`,
  );
  // Starts a grandchild, reports its pid, then hangs.
  await writeFile(
    path.join(tmp, 'hang.mjs'),
    `import { spawn } from 'node:child_process';
     const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
     console.log(JSON.stringify({ progress: 0.1, message: 'grandchild ' + g.pid }));
     setInterval(() => {}, 1000);`,
  );
  await writeFile(path.join(tmp, 'crash.mjs'), `console.error('kaput'); process.exit(2);`);
  registry = ExperimentRegistry.of(
    command('slow', path.join(tmp, 'slow.mjs')),
    command('hang', path.join(tmp, 'hang.mjs')),
    command('crash', path.join(tmp, 'crash.mjs')),
  );
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Alive and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  const st = procState(pid);
  return st !== undefined && st.state !== 'Z' && st.state !== 'X';
}

describe('runExperimentSeed', () => {
  it('heartbeats periodically and on progress, and returns the seed result', async () => {
    const { runExperimentSeed } = createExperimentActivities({
      registry,
      workDir: tmp,
      heartbeatIntervalMs: 100,
      progressThrottleMs: 0,
    });
    const env = new MockActivityEnvironment();
    const beats: SeedHeartbeat[] = [];
    env.on('heartbeat', (d: SeedHeartbeat) => beats.push(d));
    const r = (await env.run(runExperimentSeed, {
      experiment: 'slow',
      params: { lr: 0.1 },
      seed: 3,
      objective: 'acc',
      campaignId: 'c/../1',
      trialId: 't1',
    })) as ExperimentSeedResult;
    expect(r).toMatchObject({ seed: 3, status: 'succeeded', metrics: { acc: 0.8 } });
    // The trial's folder is opaque (an HMAC of its id): an experiment cannot read its kind from it.
    expect(path.relative(tmp, r.stdoutPath!)).toMatch(
      new RegExp(
        `^c_\\.\\._1\\${path.sep}run-[0-9a-f]{20}\\${path.sep}seed-3\\${path.sep}stdout\\.log$`,
      ),
    );
    expect(r.stdoutPath).not.toContain(`${path.sep}t1${path.sep}`);
    // Several silent-period beats before the first progress line, then progress details.
    const firstProgress = beats.findIndex((b) => b.fraction === 0.5);
    expect(firstProgress).toBeGreaterThanOrEqual(3);
    expect(beats[firstProgress]).toMatchObject({ fraction: 0.5, message: 'half' });
  });

  it('an experiment failure is a failed result, not an activity failure', async () => {
    const { runExperimentSeed } = createExperimentActivities({ registry, workDir: tmp });
    const r = (await new MockActivityEnvironment().run(runExperimentSeed, {
      experiment: 'crash',
      params: {},
      seed: 1,
      objective: 'acc',
    })) as ExperimentSeedResult;
    expect(r.status).toBe('failed');
    expect(r.error).toBe('exited with code 2');
    expect(r.logTail).toContain('kaput');
  });

  it('cancellation kills the process group and rethrows the CancelledFailure', async () => {
    const { runExperimentSeed } = createExperimentActivities({
      registry,
      workDir: tmp,
      heartbeatIntervalMs: 100,
      progressThrottleMs: 0,
    });
    const env = new MockActivityEnvironment();
    let grandchild = 0;
    env.on('heartbeat', (d: SeedHeartbeat) => {
      const m = /grandchild (\d+)/.exec(d.message ?? '');
      if (m && !grandchild) {
        grandchild = Number(m[1]);
        env.cancel();
      }
    });
    const run = env.run(runExperimentSeed, {
      experiment: 'hang',
      params: {},
      seed: 1,
      objective: 'acc',
    });
    await expect(run).rejects.toBeInstanceOf(CancelledFailure);
    expect(grandchild).toBeGreaterThan(0);
    const end = Date.now() + 5000;
    while (alive(grandchild) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(alive(grandchild)).toBe(false);
  });

  it('an unknown experiment is a non-retryable UnknownExperiment failure', async () => {
    const { runExperimentSeed } = createExperimentActivities({ registry, workDir: tmp });
    const err = await new MockActivityEnvironment()
      .run(runExperimentSeed, { experiment: 'rm-rf', params: {}, seed: 1, objective: 'acc' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('UnknownExperiment');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toContain('registered experiments: crash, hang, slow');
  });

  it('invalid params are a non-retryable InvalidParams failure', async () => {
    const { runExperimentSeed } = createExperimentActivities({ registry, workDir: tmp });
    const err = await new MockActivityEnvironment()
      .run(runExperimentSeed, {
        experiment: 'slow',
        params: { lr: { nested: true } } as never,
        seed: 1,
        objective: 'acc',
      })
      .catch((e: unknown) => e);
    expect((err as ApplicationFailure).type).toBe('InvalidParams');
  });
});

describe('runExperimentSeeds (a batch of seeds in one slot)', () => {
  const job = (
    experiment: string,
    seed: number,
    params: Record<string, string | number | boolean> = {},
  ) => ({
    experiment,
    params,
    seed,
    objective: 'acc',
    campaignId: 'c1',
    trialId: `t${seed}`,
  });

  it('runs the seeds one after another and returns each result with its timing', async () => {
    const { runExperimentSeeds } = createExperimentActivities({ registry, workDir: tmp });
    const out = (await new MockActivityEnvironment().run(runExperimentSeeds, {
      jobs: [job('slow', 1), job('crash', 2), job('slow', 3)],
    })) as SeedBatchResult;
    expect(out.results.map((r) => [r.seed, r.status])).toEqual([
      [1, 'succeeded'],
      [2, 'failed'],
      [3, 'succeeded'],
    ]);
    // One at a time: each seed starts after the one before it ended.
    for (let i = 1; i < out.timings.length; i++)
      expect(out.timings[i]!.startedMs).toBeGreaterThanOrEqual(out.timings[i - 1]!.endedMs);
    expect(out.timings[0]!.endedMs - out.timings[0]!.startedMs).toBeGreaterThanOrEqual(600);
  });

  it("a seed's own bad input fails that seed alone", async () => {
    const { runExperimentSeeds } = createExperimentActivities({ registry, workDir: tmp });
    const out = (await new MockActivityEnvironment().run(runExperimentSeeds, {
      jobs: [job('nope', 1), job('crash', 2, { lr: { bad: true } } as never), job('crash', 3)],
    })) as SeedBatchResult;
    expect(out.results[0]).toMatchObject({ seed: 1, status: 'failed' });
    expect(out.results[0]!.error).toContain('nope');
    expect(out.results[1]).toMatchObject({ seed: 2, status: 'failed' });
    expect(out.results[1]!.error).toContain('invalid params');
    expect(out.results[2]).toMatchObject({
      seed: 3,
      status: 'failed',
      error: 'exited with code 2',
    });
  });

  it('does not start seeds once the campaign deadline has passed', async () => {
    const { runExperimentSeeds } = createExperimentActivities({ registry, workDir: tmp });
    const out = (await new MockActivityEnvironment().run(runExperimentSeeds, {
      jobs: [job('slow', 1), job('slow', 2)],
      notAfterMs: Date.now() - 1,
    })) as SeedBatchResult;
    expect(out.results.map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
    expect(out.results[0]!.error).toContain('deadline');
    expect(out.timings).toEqual([
      { startedMs: 0, endedMs: 0 },
      { startedMs: 0, endedMs: 0 },
    ]);
  });

  it('a retry runs only the seeds its heartbeats do not list as done', async () => {
    const { runExperimentSeeds } = createExperimentActivities({ registry, workDir: tmp });
    const done: ExperimentSeedResult = {
      seed: 1,
      status: 'succeeded',
      metrics: { acc: 0.5 },
      durationSeconds: 0.7,
    };
    const env = new MockActivityEnvironment({
      attempt: 2,
      heartbeatDetails: { done: [done], timings: [{ startedMs: 5, endedMs: 6 }] },
    });
    const beats: { done: unknown[] }[] = [];
    env.on('heartbeat', (d: { done: unknown[] }) => beats.push(d));
    const out = (await env.run(runExperimentSeeds, {
      jobs: [job('crash', 1), job('slow', 2)],
    })) as SeedBatchResult;
    // Seed 1 (a crash if it ran again) keeps its recorded result; seed 2 runs.
    expect(out.results[0]).toEqual(done);
    expect(out.timings[0]).toEqual({ startedMs: 5, endedMs: 6 });
    expect(out.results[1]).toMatchObject({ seed: 2, status: 'succeeded', metrics: { acc: 0.8 } });
    // The last beat lists both as done, for a further retry.
    expect(beats.at(-1)!.done).toHaveLength(2);
  });

  it('cancellation mid-batch stops the running seed and fails the activity as cancelled', async () => {
    const { runExperimentSeeds } = createExperimentActivities({
      registry,
      workDir: tmp,
      heartbeatIntervalMs: 50,
    });
    const env = new MockActivityEnvironment();
    const run = env.run(runExperimentSeeds, { jobs: [job('hang', 1), job('slow', 2)] });
    setTimeout(() => env.cancel(), 500);
    await expect(run).rejects.toBeInstanceOf(CancelledFailure);
  });

  it('a cancelled batch reports the seeds it finished in its CancelledFailure, not the rest', async () => {
    const { runExperimentSeeds } = createExperimentActivities({
      registry,
      workDir: tmp,
      heartbeatIntervalMs: 50,
    });
    const env = new MockActivityEnvironment();
    // Cancelled once two seeds are done and the third (which hangs) runs.
    env.on('heartbeat', (d: { done?: unknown[]; current?: unknown }) => {
      if (d?.done?.length === 2 && d.current) env.cancel();
    });
    const err = await env
      .run(runExperimentSeeds, {
        jobs: [job('slow', 1), job('slow', 2), job('hang', 3), job('slow', 4)],
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledFailure);
    const [partial] = (err as CancelledFailure).details as [SeedBatchResult];
    expect(partial.results.map((r) => [r.seed, r.status])).toEqual([
      [1, 'succeeded'],
      [2, 'succeeded'],
    ]);
    expect(partial.results[0]!.metrics.acc).toBeTypeOf('number');
    expect(partial.timings).toHaveLength(2);
    expect(partial.timings.every((t) => t.endedMs >= t.startedMs && t.startedMs > 0)).toBe(true);
  });
});
