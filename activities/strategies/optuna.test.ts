import { describe, expect, it } from 'vitest';
import type { Config } from '../../domain/schemas.js';
import { applyChanges } from '../../domain/space.js';
import type { TrialView } from '../../domain/strategy.js';
import { proposeOptuna } from './optuna.js';
import type { OptunaReply, OptunaRequest, OptunaService } from '../../stack/optuna-service.js';
import { testView } from '../../test/support/strategy-views.js';

const space = [
  { name: 'x1', kind: 'float' as const, low: 0, high: 1, log: false },
  { name: 'x2', kind: 'float' as const, low: 0, high: 1, log: false },
];
const baseline = { x1: 0.5, x2: 0.5 };

/** A stand-in for the Python service: hands out `suggestions` in order, records each request. */
function fakeService(suggestions: (i: number) => Config) {
  const requests: OptunaRequest[] = [];
  let next = 0;
  const service = {
    suggest: (request: OptunaRequest): Promise<OptunaReply> => {
      requests.push(request);
      const configs = Array.from({ length: request.n }, () => suggestions(next++));
      return Promise.resolve({
        configs,
        stats: { trials: request.history.length, reusedTrials: 0, studyMs: 0, sampleMs: 0 },
      });
    },
  } as unknown as OptunaService;
  return { service, requests };
}

const base = testView({ name: 'optuna', settings: { sampler: 'tpe' } });
const { objective: _objective, ...template } = base.history[0]!;
const trialAt = (id: string, x1: number, x2: number, failed: boolean): TrialView => ({
  ...template,
  id,
  params: { x1, x2 },
  status: failed ? 'failed' : 'succeeded',
  ...(failed ? { failureReason: 'timed out after 2 s' } : { objective: x1 + x2 }),
});
// Repeated failures along the strip x1 < 0.1; successes elsewhere.
const failures = Array.from({ length: 8 }, (_, i) =>
  trialAt(`F${i}`, 0.02 + 0.01 * (i % 4), 0.1 + 0.1 * i, true),
);
const successes = [trialAt('S1', 0.6, 0.6, false), trialAt('S2', 0.8, 0.3, false)];
const view = (history: TrialView[], overrides: { onFailure?: 'avoid' | 'ignore' } = {}) => ({
  ...base,
  count: 4,
  seed: 77,
  problem: { ...base.problem, space, baseline },
  objective: { metric: 'dev_acc', direction: 'minimize' as const },
  history,
  strategy: {
    name: 'optuna' as const,
    settings: { sampler: 'tpe' as const, ...overrides },
  },
});
const configsOf = (r: Awaited<ReturnType<typeof proposeOptuna>>) =>
  r.proposals.map((p) => applyChanges(space, baseline, p.changes));
// Every other suggestion lands in the failing strip, the others well away from it.
const alternating = (i: number): Config =>
  i % 2 === 0 ? { x1: 0.03 + 0.0001 * i, x2: 0.3 + 0.001 * i } : { x1: 0.5 + 0.001 * i, x2: 0.7 };
const inStrip = (c: Config) => (c.x1 as number) < 0.1;

describe('optuna strategy near failures', () => {
  it('takes the sampler suggestions as they come when nothing failed', async () => {
    const { service, requests } = fakeService(alternating);
    const r = await proposeOptuna(view(successes), service);
    expect(requests.map((q) => q.n)).toEqual([4]);
    expect(configsOf(r)).toEqual([0, 1, 2, 3].map(alternating));
    expect(r.proposals[0]!.rationale).not.toMatch(/failed/);
  });

  it('asks for more suggestions once failures are known and prefers those away from them', async () => {
    const { service, requests } = fakeService(alternating);
    const r = await proposeOptuna(view([...successes, ...failures]), service);
    expect(requests.map((q) => q.n)).toEqual([16]);
    expect(requests[0]!.failures).toBe('avoid');
    expect(r.proposals).toHaveLength(4);
    // Half of the suggestions sit among 8 failures: each proposal is the least pressed of four.
    expect(configsOf(r)).toEqual([1, 5, 9, 13].map(alternating));
    expect(configsOf(r).filter(inStrip)).toEqual([]);
    expect(r.proposals[0]!.rationale).toMatch(/farthest from the 8 failed trial\(s\)/);
    // Deterministic for a view.
    const again = await proposeOptuna(
      view([...successes, ...failures]),
      fakeService(alternating).service,
    );
    expect(again).toEqual(r);
  });

  it('keeps the old behaviour with onFailure: ignore', async () => {
    const { service, requests } = fakeService(alternating);
    const r = await proposeOptuna(
      view([...successes, ...failures], { onFailure: 'ignore' }),
      service,
    );
    expect(requests.map((q) => q.n)).toEqual([4]);
    expect(requests[0]!.failures).toBe('ignore');
    expect(configsOf(r)).toEqual([0, 1, 2, 3].map(alternating));
  });

  it('keeps the sampler order when no failure is within reach of a group', async () => {
    const far = (i: number): Config => ({ x1: 0.6 + 0.01 * i, x2: 0.5 });
    const { service } = fakeService(far);
    const r = await proposeOptuna(view([...successes, ...failures]), service);
    // The first of each group of four: the sampler's own choice.
    expect(configsOf(r)).toEqual([0, 4, 8, 12].map(far));
  });

  it('still proposes when every suggestion lands near failures: the least pressed of each group', async () => {
    // Within each group of four, the suggestions move up the strip of failures (x2 from 0.1 to
    // 0.8); the last of each group, at its end, has the fewest failures around it.
    const near = (i: number): Config => ({ x1: 0.04, x2: 0.5 + 0.1 * (i % 4) + 0.001 * i });
    const { service } = fakeService(near);
    const r = await proposeOptuna(view([...successes, ...failures]), service);
    expect(r.proposals).toHaveLength(4);
    expect(r.dropped).toEqual([]);
    expect(configsOf(r)).toEqual([3, 7, 11, 15].map(near));
  });

  it('takes suggestions as they come with one candidate per proposal', async () => {
    const { service, requests } = fakeService(alternating);
    const r = await proposeOptuna(view([...successes, ...failures]), service, { candidates: 1 });
    expect(requests.map((q) => q.n)).toEqual([4]);
    expect(r.proposals).toHaveLength(4);
  });
});

describe('optuna strategy and pruned trials', () => {
  it('tells a pruned trial as pruned, never as a failure to steer away from', async () => {
    const pruned = (id: string, x1: number): TrialView => ({
      ...trialAt(id, x1, 0.5, false),
      status: 'pruned',
      pgr: null,
      feasible: false,
      pruned: { stage: 1, score: 0.2 },
    });
    const { service, requests } = fakeService((i) => ({ x1: 0.05 + i * 0.001, x2: 0.5 }));
    const r = await proposeOptuna(
      view([pruned('P1', 0.05), pruned('P2', 0.06), pruned('P3', 0.07), ...successes]),
      service,
    );
    const told = requests[0]!.history.filter((h) => h.id?.startsWith('P'));
    expect(told.map((h) => [h.state, h.value])).toEqual([
      ['pruned', null],
      ['pruned', null],
      ['pruned', null],
    ]);
    // No failure is known: one suggestion per proposal, taken as it comes.
    expect(requests[0]!.n).toBe(4);
    expect(r.proposals).toHaveLength(4);
  });
});
