/**
 * A model-free strategy's search runs beside the reference measurement (workflows/campaign.ts
 * SEARCH_BESIDE_REFERENCES_PATCH): its proposals do not depend on results, so the slots the
 * baseline leaves free run search trials at once. Those trials are scored only once the
 * references are known, against them; a failed baseline still stops the campaign; a stop cuts
 * both short; and a continue-as-new waits for the references rather than carry a search without
 * them. (stops.test.ts and phase-stops.test.ts have the references measured first.)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createTimeSkippingEnv,
  searchSeed,
  type SeedCall,
  type TimeSkippingEnv,
} from '../support/time-skipping.js';
import type { CampaignTiming } from '../../workflows/types.js';

let ts: TimeSkippingEnv;
beforeAll(async () => {
  ts = await createTimeSkippingEnv();
});
afterAll(async () => {
  await ts?.close();
});

const baselineSeed = (c: SeedCall) => c.trialId === 'baseline';
/** A random search of one-seed trials at concurrency 4, its baseline measured on two seeds. */
const startBeside = (maxTrials: number, timing?: CampaignTiming) =>
  ts.start({
    criteria: {
      seedsPerTrial: 1,
      baseline: { kind: 'measure', configuration: 'baseline', seeds: 2 },
      budgets: { maxTrials, concurrency: 4 },
    },
    ...(timing ? { timing } : {}),
  });

describe('search beside the reference measurement', () => {
  test('search trials run while the baseline does; each is scored once it is known, against it', async () => {
    const campaign = await startBeside(12);
    ts.lab.hold = baselineSeed;
    // Two slots hold the baseline's seeds; the other two run search trials meanwhile.
    await ts.until(
      () => ts.lab.calls.filter(searchSeed).length >= 3,
      'search seeds beside the baseline',
    );
    expect(ts.lab.held().map((c) => c.trialId)).toEqual(['baseline', 'baseline']);
    const status = await campaign.status();
    // Still measuring its references, with the search running beside them.
    expect(status.phase).toBe('measuring');
    expect(status.trialsRunning).toBeGreaterThan(0);
    // Run, but not scored: no search trial is reported before the baseline is known.
    expect(await campaign.trials('search')).toEqual([]);
    expect(status.best).toBeNull();
    expect(status.baselineScore).toBeNull();

    ts.lab.release();
    const report = await campaign.result();
    expect(report.stopReason).toBe('max_trials');
    const baseline = report.baselineScore!;
    expect(baseline).toBeLessThan(-30);
    const search = await campaign.trials('search');
    expect(search).toHaveLength(12);
    for (const t of search) {
      expect(t.status).toBe('succeeded');
      // PGR against the measured baseline and the optimum 10 (seeds paired: up to the noise).
      const expected = (t.objective!.mean - baseline) / (10 - baseline);
      expect(t.pgr).not.toBeNull();
      expect(Math.abs(t.pgr!.mean - expected)).toBeLessThan(0.01);
    }
    // The baseline was measured once, on its own two seeds.
    expect(ts.lab.calls.filter(baselineSeed)).toHaveLength(2);
  });

  test('a baseline that cannot be measured stops the campaign; the trials beside it get no PGR', async () => {
    const campaign = await startBeside(40);
    ts.lab.hold = baselineSeed;
    await ts.until(
      () => ts.lab.calls.filter(searchSeed).length >= 3,
      'search seeds beside the baseline',
    );
    // The baseline's seeds report no objective.
    const score = ts.lab.score;
    ts.lab.score = (p, seed) => (p.x === -4 && p.y === 3 ? {} : score(p, seed));
    ts.lab.release();
    const report = await campaign.result();

    expect(report.stopReason).toBe('error');
    expect(report.stopDetail).toContain('could not measure the baseline');
    expect(report.baselineScore).toBeNull();
    expect(report.verification).toEqual([]);
    const search = await campaign.trials('search');
    expect(search.length).toBeGreaterThan(0);
    expect(search.length).toBeLessThan(40);
    for (const t of search) expect(t.pgr).toBeNull();
  });

  test('a PI stop while the references are measured cancels them and the search beside them', async () => {
    const campaign = await startBeside(40);
    ts.lab.hold = () => true;
    await ts.until(() => ts.lab.held().length === 4, 'the baseline and two search seeds running');
    expect(ts.lab.held().filter(searchSeed)).toHaveLength(2);
    await campaign.stop({ reason: 'wrong baseline' });
    const report = await campaign.result();

    expect(report.stopReason).toBe('stopped_by_pi');
    expect(report.baselineScore).toBeNull();
    expect(report.verification).toEqual([]);
    const trials = await campaign.trials();
    expect(trials.find((t) => t.id === 'baseline')?.status).toBe('cancelled');
    for (const t of trials.filter((x) => x.kind === 'search')) {
      expect(t.status).toBe('cancelled');
      expect(t.pgr).toBeNull();
    }
    await ts.until(
      () => ts.lab.calls.every((c) => c.state === 'cancelled'),
      'every running seed cancelled',
    );
  });
});

describe('continue-as-new', () => {
  test('waits for the references measured beside the search, and the new run does not measure them again', async () => {
    // A new run is due from the first turn of the loop.
    const campaign = await startBeside(8, { historyEventLimit: 10 });
    ts.lab.hold = baselineSeed;
    await ts.until(() => ts.lab.held().length === 2, 'the baseline seeds running');
    const first = (await campaign.handle.describe()).runId;
    await sleep(1000);
    // Still the first run: it does not carry on without its references.
    expect((await campaign.handle.describe()).runId).toBe(first);
    ts.lab.release();
    const report = await campaign.result();

    expect((await campaign.handle.describe()).runId).not.toBe(first);
    expect(ts.lab.calls.filter(baselineSeed)).toHaveLength(2);
    expect(report.baselineScore).not.toBeNull();
    const search = await campaign.trials('search');
    expect(search).toHaveLength(8);
    for (const t of search) expect(t.pgr).not.toBeNull();
  });
});
