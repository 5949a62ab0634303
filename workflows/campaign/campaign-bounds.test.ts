/**
 * The campaign state stays bounded by construction: driven through 100,000 trials with every
 * text at its maximum length, long notes, a full queue and hostile agent output, the payload it
 * continues as new with stays under a quarter of Temporal's 2 MiB limit.
 */
import { describe, expect, it } from 'vitest';
import { campaignInput, quadCriteria } from '../../test/support/quadratic.js';
import {
  CARRY_BUDGET,
  CampaignState,
  KEPT_CHARS,
  QUEUE_LIMIT,
  UPDATE_LIMITS,
} from './state/campaign-state.js';
import { thinSeries } from './state/trials.js';
import { carriedOf, searchingState } from '../../test/support/searching-state.js';
import type { CampaignInput, CarriedState } from '../types.js';

const criteria = quadCriteria({
  seedsPerTrial: 5,
  hiddenMetrics: ['heldout'],
  budgets: { maxTrials: 1_000_000, concurrency: 8 },
});
const input = (): CampaignInput => campaignInput({ criteria, metrics: ['score', 'heldout'] });

const pi = { name: 'pat', role: 'pi' } as const;
const long = (n: number, c = 'x') => c.repeat(n);
const score = (x: number, y: number) => 10 - (x - 1) ** 2 - (y + 2) ** 2;

/** The whole continue-as-new payload: the workflow input with the carried state. */
function payloadBytes(state: CampaignState): { carried: number; total: number } {
  const rest = input();
  const inputBytes = JSON.stringify(rest).length;
  const carried = JSON.stringify(state.trials.carry(inputBytes)).length;
  return { carried, total: carried + inputBytes };
}

/** What the workflow sends to MLflow, by path prefix (the outbox is drained as the workflow does). */
const archived = new Map<string, { path: string; text: string }>();
function drain(state: CampaignState): void {
  const texts = [...state.records.outbox];
  state.records.archived(texts.length);
  for (const o of texts) {
    const kind = o.path.replace(/-\d+-\d+\.jsonl?$/, '').replace(/^hypotheses\/.*/, 'hypotheses');
    archived.set(kind, o);
  }
}

/** Runs trials `from`..`to` through the state, with maximal texts and human input along the way. */
function drive(state: CampaignState, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    drain(state);
    const x = -5 + ((i * 0.6180339887) % 1) * 10;
    const y = -5 + ((i * 0.41421356237) % 1) * 10;
    const failed = i % 10 === 3;
    // Most trials skip the strategy path (its duplicate checks cost what they cost at any
    // scale); every tenth goes through it with maximal texts and hostile extras.
    if (i % 10 !== 0) {
      carriedOf(state).queue.push({
        id: `hx${i}`,
        title: `${i} ${long(190)}`,
        rationale: long(KEPT_CHARS.rationale, 'r'),
        parentTrialId: null,
        changes: { x, y },
        params: { x, y },
        expectedEffect: long(KEPT_CHARS.expectedEffect, 'e'),
        author: { kind: 'strategy', name: 'random' },
        createdAt: '2026-01-01T00:00:00Z',
      });
    } else
      state.proposals.accept(
        {
          proposals: [
            {
              title: `${i} ${long(190)}`,
              rationale: long(5000, 'r'),
              parentTrialId: null,
              changes: { x, y },
              expectedEffect: long(2000, 'e'),
            },
            // Hostile agent output: a 100,000-character title is dropped, never carried whole.
            ...(i % 50 === 0
              ? [
                  {
                    title: long(100_000, 'T'),
                    rationale: '',
                    parentTrialId: null,
                    changes: { x: 0 },
                    expectedEffect: '',
                  },
                ]
              : []),
          ],
          dropped: i % 50 === 1 ? [{ title: long(100_000, 'D'), reason: long(100_000, 'R') }] : [],
          notes:
            i % 20 === 0 ? [{ kind: 'insight', author: 'agent-1', text: long(5000, 'n') }] : [],
          dollars: 0,
          authors: ['random'],
        },
        0,
      );
    if (i % 25 === 0)
      state.records.addNote({ kind: 'human', author: 'researcher', text: long(5000, 'h') });
    if (i % 40 === 0) state.records.audit(pi, 'change budgets', long(5000, 'a'));
    const req = state.queue.nextTrialRequest();
    if (!req) continue;
    const s = score(Number(req.hypothesis.params.x), Number(req.hypothesis.params.y));
    state.trials.finish(
      req,
      req.seeds.map((seed, k) =>
        failed
          ? {
              seed,
              status: 'failed' as const,
              metrics: {},
              durationSeconds: 1,
              error: long(5000, 'E'),
            }
          : {
              seed,
              status: 'succeeded' as const,
              metrics: { score: s + k * 0.01, heldout: s - 0.1 },
              durationSeconds: 0.01,
            },
      ),
      '2026-01-01T00:00:00Z',
      '2026-01-01T00:00:01Z',
    );
  }
}

describe('campaign state bounds', () => {
  it(
    'the continue-as-new payload stays under 512 KiB through 100,000 trials (sizes printed at 10k and 100k)',
    { timeout: 600_000 },
    () => {
      const state = searchingState(input());
      const sizes: { carried: number; total: number }[] = [];
      let done = 0;
      for (const at of [10_000, 100_000]) {
        drive(state, done, at);
        done = at;
        // A full queue of human ideas (maximal texts) waits when the run continues as new.
        for (let q = 0; state.queue.queueFull() === null; q++)
          state.queue.injectHuman(pi, {
            title: `idea ${at}-${q} ${long(180)}`,
            rationale: long(5000, 'q'),
            changes: { x: 4.5 - q * 0.001, y: at === 10_000 ? -4.5 : -4.2 },
            expectedEffect: long(2000, 'f'),
          });
        const size = payloadBytes(state);
        sizes.push(size);
        expect(size.total).toBeLessThan(CARRY_BUDGET.total);
        // Continue as new from the carried state, and go on from there.
        const carried = JSON.parse(JSON.stringify(state.trials.carry())) as CarriedState;
        const next = new CampaignState({ ...input(), carried }, 0);
        expect(next.context.data.counts).toEqual(state.context.data.counts);
        expect(next.views.leaderboard(1)[0]?.id).toBe(state.views.leaderboard(1)[0]?.id);
        // Run the queue down so the search goes on.
        while (state.queue.queued.length > 0) {
          const req = state.queue.nextTrialRequest()!;
          state.trials.finish(
            req,
            req.seeds.map((seed) => ({
              seed,
              status: 'succeeded' as const,
              metrics: { score: -30, heldout: -30 },
              durationSeconds: 0.01,
            })),
            '2026-01-01T00:00:00Z',
            '2026-01-01T00:00:01Z',
          );
        }
      }
      console.log(
        `carried payload: 10k trials ${sizes[0]!.carried} B (with input ${sizes[0]!.total} B); ` +
          `100k trials ${sizes[1]!.carried} B (with input ${sizes[1]!.total} B); budget ${CARRY_BUDGET.total} B`,
      );
      expect(state.context.data.counts.total).toBeGreaterThanOrEqual(100_000);

      // Every kept text is cut; the full ones wait in the outbox for MLflow.
      for (const n of state.context.data.notebook)
        expect(n.text.length).toBeLessThanOrEqual(KEPT_CHARS.note);
      for (const d of state.context.data.dropped)
        expect(d.title.length).toBeLessThanOrEqual(KEPT_CHARS.title);
      drain(state);
      expect([...archived.keys()].sort()).toEqual([
        'audit/evicted',
        'dropped/evicted',
        'hypotheses',
        'notebook/evicted',
        'notebook/note',
      ]);
      const full = archived.get('hypotheses')!;
      expect((JSON.parse(full.text) as { rationale: string }).rationale).toHaveLength(5000);
      const note = JSON.parse(archived.get('notebook/note')!.text) as { text: string };
      expect(note.text.length).toBeGreaterThan(KEPT_CHARS.note);

      // The report (the workflow's result) is bounded too.
      const report = JSON.stringify(state.buildReport('2026-01-02T00:00:00Z'));
      expect(report.length).toBeLessThan(CARRY_BUDGET.total);
    },
  );

  it('a full queue refuses more ideas with a reason, and strategies are asked for none', () => {
    const state = searchingState(input());
    for (let q = 0; q < QUEUE_LIMIT; q++)
      state.queue.injectHuman(pi, { title: `idea ${q}`, changes: { x: -4 + q * 0.01 } });
    expect(state.queue.queueFull()).toMatch(/at most 100/);
    expect(() =>
      state.queue.validateHumanProposal({ title: 'one more', changes: { x: 4.9 } }),
    ).toThrow(
      expect.objectContaining({ type: 'RateLimited', message: expect.stringMatching(/^queue: /) }),
    );
    expect(state.queue.proposalsWanted(0)).toBe(0);
  });

  it('refuses updates before Temporal limit, keeping room for a stop, and asks to continue as new first', () => {
    const state = new CampaignState(input(), 0);
    for (let i = 0; i < UPDATE_LIMITS.continueAt; i++) state.lifecycle.countUpdate();
    expect(state.lifecycle.updatesNearLimit).toBe(true);
    for (let i = UPDATE_LIMITS.continueAt; i < UPDATE_LIMITS.refuseAt; i++)
      state.lifecycle.countUpdate();
    expect(() => state.lifecycle.checkUpdateRoom()).toThrow(
      expect.objectContaining({
        type: 'RateLimited',
        message: expect.stringMatching(/retry shortly/),
      }),
    );
    expect(() => state.lifecycle.checkUpdateRoom('stop')).not.toThrow();
    expect(UPDATE_LIMITS.stopUntil).toBeLessThan(UPDATE_LIMITS.temporal);
    // A new run starts counting again.
    const next = new CampaignState({ ...input(), carried: state.trials.carry() }, 0);
    expect(() => next.lifecycle.checkUpdateRoom()).not.toThrow();
  });

  it('thins the PGR series to its bound, keeping every improvement of the best lower bound', () => {
    const series: [number, number | null, number | null][] = Array.from(
      { length: 5000 },
      (_, i) => [i, i % 7, i % 500 === 0 ? i / 100 : null],
    );
    const thin = thinSeries(series, 750);
    expect(thin.length).toBeLessThanOrEqual(750);
    const steps = series.filter(([, , low]) => low !== null).map(([i]) => i);
    for (const i of steps) expect(thin.some(([j]) => j === i)).toBe(true);
    expect(thin.at(-1)![0]).toBe(4999);
  });
});
