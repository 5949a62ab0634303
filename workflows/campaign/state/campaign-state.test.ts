import { describe, expect, it } from 'vitest';
import { campaignInput, quadCriteria } from '../../../test/support/quadratic.js';
import { CampaignState } from './campaign-state.js';
import { searchingState } from '../../../test/support/searching-state.js';
import type { CampaignInput } from '../../types.js';

const criteria = quadCriteria({
  seedsPerTrial: 2,
  hiddenMetrics: ['heldout'],
  budgets: { maxTrials: 100_000, concurrency: 8 },
});
const input = (): CampaignInput => campaignInput({ criteria, metrics: ['score', 'heldout'] });

const score = (x: number, y: number) => 10 - (x - 1) ** 2 - (y + 2) ** 2;

/** Runs `n` trials through the state: propose one config, start it, finish it with two seeds. */
function runTrials(
  state: CampaignState,
  n: number,
  configFor: (i: number) => { x: number; y: number; parent?: string | null },
) {
  for (let i = 0; i < n; i++) {
    const c = configFor(i);
    state.proposals.accept(
      {
        proposals: [
          {
            title: `t${i}`,
            rationale: '',
            parentTrialId: c.parent ?? null,
            changes: { x: c.x, y: c.y },
            expectedEffect: '',
          },
        ],
        dropped: [],
        notes: [],
        dollars: 0,
        authors: ['random'],
      },
      0,
    );
    const req = state.queue.nextTrialRequest();
    if (!req) continue;
    const s = score(Number(req.hypothesis.params.x), Number(req.hypothesis.params.y));
    state.trials.finish(
      req,
      req.seeds.map((seed, k) => ({
        seed,
        status: 'succeeded',
        metrics: { score: s + k * 0.01, heldout: s - 0.1 },
        durationSeconds: 0.01,
      })),
      '2026-01-01T00:00:00Z',
      '2026-01-01T00:00:01Z',
    );
  }
}

describe('CampaignState at scale', () => {
  it('keeps memory and the continue-as-new payload bounded while counts, series, leaders and lineage stay whole', () => {
    const state = searchingState(input());
    // A chain of improving children of one early trial, then many random-ish trials.
    runTrials(state, 3000, (i) => ({
      x: -5 + ((i * 0.6180339887) % 1) * 10,
      y: -5 + ((i * 0.41421356237) % 1) * 10,
    }));
    expect(state.context.data.counts.total).toBe(3000);
    // Thinned to a bound, keeping every improvement of the best lower bound.
    expect(state.context.data.pgrSeries.length).toBeLessThanOrEqual(1000);
    expect(state.trials.all.length).toBeLessThanOrEqual(1201 + 1);
    const carried = JSON.stringify(state.trials.carry());
    expect(carried.length).toBeLessThan(1_500_000);

    const best = state.views.leaderboard(1)[0]!;
    const report = state.buildReport('2026-01-01T01:00:00Z');
    expect(report.trials.total).toBe(3000);
    expect(report.pgrOverTrials.length).toBeLessThanOrEqual(1000);
    expect(report.pgrOverTrials.at(-1)!.bestCiLow).toBe(best.pgr!.ciLow);
    expect(report.best!.id).toBe(best.id);
    expect(report.best!.lineage.at(-1)!.id).toBe(best.id);

    // A configuration compacted out of memory is still recognised as a duplicate.
    const first = { x: -5, y: -5 + ((0 * 0.41421356237) % 1) * 10 };
    state.proposals.accept(
      {
        proposals: [
          {
            title: 'again',
            rationale: '',
            parentTrialId: null,
            changes: first,
            expectedEffect: '',
          },
        ],
        dropped: [],
        notes: [],
        dollars: 0,
        authors: ['random'],
      },
      0,
    );
    // (dropped is bounded: the newest entry is this one)
    expect(state.context.data.dropped.at(-1)!.title).toBe('again');
    expect(state.context.data.dropped.at(-1)!.reason).toMatch(/duplicate/);

    // What a strategy sees stays bounded and never carries the hidden metric.
    const view = state.strategyView(4);
    expect(view.history.length).toBeLessThanOrEqual(1202);
    expect(JSON.stringify(view)).not.toContain('heldout');
  });

  it('survives continue-as-new: a state rebuilt from carry() answers the same', () => {
    const state = searchingState(input());
    runTrials(state, 50, (i) => ({ x: -4 + i * 0.1, y: 3 - i * 0.1 }));
    const next = new CampaignState(
      { ...input(), carried: JSON.parse(JSON.stringify(state.trials.carry())) },
      1000,
    );
    expect(next.context.data.runs).toBe(1);
    expect(next.context.data.counts).toEqual(state.context.data.counts);
    expect(next.views.leaderboard(3).map((t) => t.id)).toEqual(
      state.views.leaderboard(3).map((t) => t.id),
    );
    runTrials(next, 1, () => ({ x: 0.55, y: -1.55 }));
    // Hypothesis and trial ids keep counting up across runs.
    const ids = next.trials.all.map((t) => t.hypothesisId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(next.trials.all.at(-1)!.id).toBe('t0050');
  });
});

describe('experiment slots', () => {
  it('never hands out more slots than the concurrency budget, even when many wait at once', async () => {
    const state = new CampaignState(input(), 0);
    let holding = 0;
    let peak = 0;
    const run = async () => {
      await state.slots.acquire();
      holding++;
      peak = Math.max(peak, holding);
      await new Promise((r) => setTimeout(r, 1));
      holding--;
      state.slots.release();
    };
    // 8 slots (criteria concurrency), 40 seeds queued together.
    await Promise.all(Array.from({ length: 40 }, run));
    expect(peak).toBe(8);
    expect(state.slots.busy).toBe(0);
  });

  it('a raised concurrency budget hands out the new slots to waiters at once', async () => {
    const state = new CampaignState(input(), 0);
    for (let i = 0; i < 8; i++) await state.slots.acquire();
    let got = 0;
    const waiting = Array.from({ length: 4 }, () => state.slots.acquire().then(() => got++));
    await Promise.resolve();
    expect(got).toBe(0);
    state.changeBudgets({ concurrency: 10 });
    await Promise.all(waiting.slice(0, 2));
    expect(got).toBe(2);
    expect(state.slots.busy).toBe(10);
  });
});
