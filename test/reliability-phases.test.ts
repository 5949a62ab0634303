/**
 * Every phase obeys a PI stop and the deadline: reference measurement, verification, and a spec
 * whose experiment sits on a task queue nobody polls (which fails with the reason instead of
 * waiting forever).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quadraticSpec, slowQuadraticSpec, testRegistry } from './support/quadratic.js';
import {
  createTestEnv,
  pi,
  researcher,
  uniqueId,
  submitQuadratic,
  type TestEnv,
} from './support/env.js';
import { eventually } from './support/eventually.js';

/** Seeds of the baseline sleep 25 s (the experiment's timeout is 30 s). */
const slowBaselineSpec = slowQuadraticSpec([0, 25_000], 25_000);

/** Every run (baseline, search, verification) sleeps 8 s. */
const slowSpec = slowQuadraticSpec([8000, 8001]);

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ registry: testRegistry() });
});
afterAll(async () => {
  await env?.close();
});

async function start(
  service: TestEnv['service'],
  criteria: Record<string, unknown>,
  spec: Record<string, unknown> = slowBaselineSpec,
) {
  const problemId = await submitQuadratic(service, { prefix: 'phases', spec, criteria });
  return service.startCampaign(researcher, { problemId, strategy: { name: 'random' }, seed: 3 });
}

/**
 * The report, failing after `boundMs` instead of hanging. What proves that a stop cut work short
 * is the record (a cancelled baseline, no verification), never a duration: durations flake on
 * busy machines.
 */
async function reportWithin(service: TestEnv['service'], campaignId: string, boundMs: number) {
  return Promise.race([
    service.result(campaignId),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`campaign still running after ${boundMs} ms`)), boundMs),
    ),
  ]);
}

describe('every phase obeys stop and deadline', () => {
  it('a PI stop during the reference measurement ends the campaign within seconds', async () => {
    const { campaignId } = await start(env.service, {
      baseline: { kind: 'measure', configuration: 'baseline', seeds: 2 },
    });
    // Random search runs beside the measurement (its trials are instant here): they wait for
    // the baseline to be scored.
    await eventually(async () => {
      const s = await env.service.status(campaignId);
      return s.phase === 'measuring' && s.trialsRunning > 0;
    });
    // The baseline's seeds are running (each sleeps 25 s) when the stop arrives.
    await new Promise((r) => setTimeout(r, 1000));
    await env.service.stop(pi, campaignId, { reason: 'wrong problem' });
    const report = await reportWithin(env.service, campaignId, 120_000);
    expect(report.stopReason).toBe('stopped_by_pi');
    expect(report.baselineScore).toBeNull();
    expect(report.best).toBeNull();
    expect(report.verification).toEqual([]);
    const { trials } = await env.service.trials(campaignId, { limit: 1000 });
    // Whatever ran beside the baseline has no PGR: there is no baseline to score it against.
    for (const t of trials.filter((x) => x.kind === 'search')) expect(t.pgr).toBeNull();
    expect(trials.find((t) => t.id === 'baseline')?.status ?? 'cancelled').toBe('cancelled');
  });

  it('the deadline ends the reference measurement', async () => {
    const { campaignId } = await start(env.service, {
      budgets: { maxWallSeconds: 3, concurrency: 2 },
    });
    const report = await reportWithin(env.service, campaignId, 120_000);
    expect(report.stopReason).toBe('deadline');
    // The baseline's seeds sleep 25 s: ended by the 3 s deadline, not run to the end.
    const { trials } = await env.service.trials(campaignId, { limit: 10 });
    expect(trials.find((t) => t.id === 'baseline')?.status ?? 'cancelled').not.toBe('succeeded');
  });

  it('a PI stop during verification ends it; the report says the best is not verified', async () => {
    const { campaignId } = await start(
      env.service,
      {
        seedsPerTrial: 1,
        budgets: { maxTrials: 1, concurrency: 2 },
        verification: { topK: 1, seeds: 2 },
      },
      slowSpec,
    );
    await eventually(
      async () => (await env.service.status(campaignId)).phase === 'verifying',
      60_000,
      100,
    );
    await env.service.stop(pi, campaignId, { reason: 'seen enough' });
    const report = await reportWithin(env.service, campaignId, 120_000);
    expect(report.stopReason).toBe('max_trials');
    expect(report.verification).toEqual([]);
    expect(report.verifiedPgr).toBeNull();
  });

  it('a seed that waits for busy workers waits again; only a queue nobody ever served fails', async () => {
    const busy = await createTestEnv({
      registry: testRegistry(),
      timing: { scheduleToStartSeconds: 2 },
      worker: { maxConcurrentActivities: 1 },
    });
    try {
      // One worker slot, two 3 s seeds at once: the second waits longer than 2 s for it.
      const { campaignId } = await start(
        busy.service,
        {
          baseline: { kind: 'measure', configuration: 'baseline', seeds: 1 },
          seedsPerTrial: 2,
          budgets: { maxTrials: 2, concurrency: 2 },
          verification: { topK: 0, seeds: 2 },
        },
        slowQuadraticSpec([3000, 3001]),
      );
      const report = await reportWithin(busy.service, campaignId, 90_000);
      expect(report.stopReason).toBe('max_trials');
      expect(report.trials.succeeded).toBe(2);
    } finally {
      await busy.close();
    }
  });

  it('a spec on a queue nobody polls fails with the reason', async () => {
    const queue = `nobody-${uniqueId('q')}`;
    const unpolled = await createTestEnv({
      registry: testRegistry(queue),
      timing: { scheduleToStartSeconds: 3 },
    });
    try {
      const { campaignId } = await start(
        unpolled.service,
        { budgets: { maxTrials: 2, concurrency: 2 } },
        { ...quadraticSpec, experiment: 'quadratic-pinned' },
      );
      const report = await reportWithin(unpolled.service, campaignId, 60_000);
      expect(report.stopReason).toBe('error');
      expect(report.notebook.map((n) => n.text).join('\n')).toContain(
        `no worker polls queue ${queue} for 3 s`,
      );
    } finally {
      await unpolled.close();
    }
  });
});
