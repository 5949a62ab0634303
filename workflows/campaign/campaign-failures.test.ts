/**
 * The campaign state's side of failure-aware search: adaptive seed timeouts, what failures cost
 * in the report, and failures kept in the strategy's view of a long campaign.
 */
import { describe, expect, it } from 'vitest';
import { campaignInput, quadCriteria } from '../../test/support/quadratic.js';
import type { SeedResult } from '../../domain/schemas.js';
import { CampaignState } from './state/campaign-state.js';
import { searchingState } from '../../test/support/searching-state.js';
import { renderFailures, renderReportMarkdown } from '../../domain/report.js';
import type { CampaignTiming } from '../types.js';

const criteria = quadCriteria({
  seedsPerTrial: 1,
  budgets: { maxTrials: 100_000, concurrency: 8 },
});

const LIMIT = 10;

function state(timing?: CampaignTiming): CampaignState {
  const input = campaignInput({
    criteria,
    timeoutSeconds: LIMIT,
    ...(timing ? { timing } : {}),
  });
  const s = searchingState(input);
  return s;
}

let counter = 0;
/** Proposes one configuration, starts it and finishes it as `outcome` says; returns the trial. */
function run(
  s: CampaignState,
  outcome: { ok: true; seconds: number } | { ok: false; seconds: number; error: string },
  at?: { x: number; y: number },
) {
  const i = ++counter;
  const config = at ?? {
    x: -5 + ((i * 0.6180339887) % 1) * 10,
    y: -5 + ((i * 0.4142135) % 1) * 10,
  };
  s.proposals.accept(
    {
      proposals: [
        { title: `p${i}`, rationale: '', parentTrialId: null, changes: config, expectedEffect: '' },
      ],
      dropped: [],
      notes: [],
      dollars: 0,
      authors: ['random'],
    },
    0,
  );
  const req = s.queue.nextTrialRequest()!;
  const seeds: SeedResult[] = req.seeds.map((seed) =>
    outcome.ok
      ? { seed, status: 'succeeded', metrics: { score: 1 }, durationSeconds: outcome.seconds }
      : {
          seed,
          status: 'failed',
          metrics: {},
          durationSeconds: outcome.seconds,
          error: outcome.error,
        },
  );
  return {
    req,
    trial: s.trials.finish(req, seeds, '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z'),
  };
}

describe('adaptive seed timeouts', () => {
  it("use the experiment's limit until five seeds succeeded, then a multiple of their durations", () => {
    const s = state();
    const limits: number[] = [];
    for (let i = 0; i < 5; i++) limits.push(run(s, { ok: true, seconds: 0.5 }).req.timeoutSeconds!);
    expect(limits).toEqual([LIMIT, LIMIT, LIMIT, LIMIT, LIMIT]);
    // max(3 x p95 = 1.5 s, 2 x longest = 1 s, floor max(1 s, 25% of 10 s)) = 2.5 s
    const { req, trial } = run(s, { ok: false, seconds: 2.5, error: 'timed out after 2.5 s' });
    expect(req.timeoutSeconds).toBe(2.5);
    expect(trial.timeoutSeconds).toBe(2.5);
    // Failures do not count as durations; slower successes raise the limit again.
    for (let i = 0; i < 5; i++) run(s, { ok: true, seconds: 3 });
    expect(s.trials.seedTimeoutSeconds()).toBe(9);
  });

  it('stay at the limit when the campaign turns them off', () => {
    const s = state({ adaptiveTimeouts: false });
    for (let i = 0; i < 10; i++) run(s, { ok: true, seconds: 0.1 });
    expect(run(s, { ok: true, seconds: 0.1 }).req.timeoutSeconds).toBe(LIMIT);
  });

  it('survive continue-as-new', () => {
    const s = state();
    for (let i = 0; i < 6; i++) run(s, { ok: true, seconds: 2 });
    const next = new CampaignState({ ...s.context.input, carried: s.trials.carry() }, 0);
    expect(next.trials.seedTimeoutSeconds()).toBe(s.trials.seedTimeoutSeconds());
    expect(next.trials.seedTimeoutSeconds()).toBe(6);
  });
});

describe('failures in the report', () => {
  it('counts compute spent on failed trials and names the regions where they repeat', () => {
    const s = state();
    for (let i = 0; i < 4; i++) run(s, { ok: true, seconds: 1 });
    run(s, { ok: false, seconds: 10, error: 'timed out after 10 s' }, { x: -4.9, y: -4.9 });
    run(s, { ok: false, seconds: 10, error: 'timed out after 10 s' }, { x: -4.5, y: -4.6 });
    run(s, { ok: false, seconds: 0.2, error: 'exited with code 1' }, { x: 4.9, y: 4.9 });
    const report = s.buildReport('2026-01-01T01:00:00Z');
    expect(report.failures).toMatchObject({
      trials: 7,
      failedTrials: 3,
      timedOutTrials: 2,
      computeSeconds: 20.2,
      totalComputeSeconds: 24.2,
    });
    expect(report.failures!.regions).toHaveLength(1);
    expect(report.failures!.regions[0]).toMatchObject({
      kind: 'timeout',
      trials: 2,
      ranges: { x: { low: -4.9, high: -4.5 }, y: { low: -4.9, high: -4.6 } },
    });
  });

  it('renders them as a short markdown section, reasons kept to one table cell', () => {
    const s = state();
    run(s, { ok: true, seconds: 1 });
    const reason = 'exited | with code 1\n# not a heading';
    run(s, { ok: false, seconds: 0.5, error: reason }, { x: 4.9, y: 4.9 });
    run(s, { ok: false, seconds: 0.5, error: reason }, { x: 4.8, y: 4.7 });
    const report = s.buildReport('2026-01-01T01:00:00Z');
    const md = renderReportMarkdown(report);
    expect(md).toContain('## Failures');
    expect(md).toContain(
      '2 of 3 search trials failed (0 timed out); 1.0 of 2.0 compute-seconds (50.0%)',
    );
    const row = md.split('\n').find((l) => l.startsWith('| crash |'))!;
    expect(row).toContain('x in [4.80, 4.90]; y in [4.70, 4.90]');
    expect(row).toContain('exited \\| with code 1 \\# not a heading');
    expect(row.split(' | ')).toHaveLength(5);
    // nothing failed, nothing to say
    expect(renderFailures({ ...report.failures!, failedTrials: 0, regions: [] })).toEqual([]);
  });
});

describe("the strategy's view of a long campaign", () => {
  it('keeps the most recent failures in view even when they are older than the recent window', () => {
    const s = state();
    const early = [0, 1, 2].map(
      (k) =>
        run(s, { ok: false, seconds: 0.1, error: 'exited with code 1' }, { x: 4 + k / 10, y: 4 })
          .trial.id,
    );
    for (let i = 0; i < 600; i++) run(s, { ok: true, seconds: 0.1 });
    const view = s.strategyView(1);
    expect(view.history.length).toBeLessThanOrEqual(600);
    const ids = new Set(view.history.map((t) => t.id));
    for (const id of early) expect(ids.has(id)).toBe(true);
    expect(view.history.filter((t) => t.status === 'failed')).toHaveLength(3);
  });
});
