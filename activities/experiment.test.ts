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
    expect(r.stdoutPath).toBe(path.join(tmp, 'c_.._1', 't1', 'seed-3', 'stdout.log'));
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
