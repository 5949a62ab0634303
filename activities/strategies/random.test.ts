import { describe, expect, it } from 'vitest';
import { applyChanges, findDuplicate, validateConfig } from '../../domain/space.js';
import { changesTitle } from './common.js';
import { proposeRandom } from './random.js';
import { TEST_BASELINE, TEST_SPACE, testView } from '../../test/support/strategy-views.js';

const configsOf = (view: ReturnType<typeof testView>, r: ReturnType<typeof proposeRandom>) =>
  r.proposals.map((p) => applyChanges(view.problem.space, TEST_BASELINE, p.changes));

describe('random strategy', () => {
  it('proposes count valid configurations relative to the baseline, conditions respected', () => {
    const view = testView({ name: 'random' }, { count: 40 });
    const r = proposeRandom(view);
    expect(r.proposals).toHaveLength(40);
    expect(r.authors).toEqual(Array(40).fill('random'));
    expect(r.dollars).toBe(0);
    for (const [i, config] of configsOf(view, r).entries()) {
      expect(validateConfig(TEST_SPACE, config)).toEqual([]);
      expect(r.proposals[i]!.parentTrialId).toBeNull();
      // Titled by what it sets, as the changes say it.
      expect(r.proposals[i]!.title).toBe(changesTitle(r.proposals[i]!.changes, new Set()));
      // momentum exists exactly when optimizer is sgd; aux_weight exactly when aux_loss
      expect('momentum' in config).toBe(config.optimizer === 'sgd');
      expect('aux_weight' in config).toBe(config.aux_loss === true);
    }
    const titles = [...view.history.map((t) => t.title), ...r.proposals.map((p) => p.title)];
    expect(new Set(titles).size).toBe(titles.length);
    const configs = configsOf(view, r);
    expect(new Set(configs.map((c) => c.optimizer))).toEqual(new Set(['sgd', 'adam']));
  });

  it('is reproducible for a seed and differs across seeds', () => {
    const a = proposeRandom(testView({ name: 'random' }, { seed: 7 }));
    const b = proposeRandom(testView({ name: 'random' }, { seed: 7 }));
    const c = proposeRandom(testView({ name: 'random' }, { seed: 8 }));
    expect(a).toEqual(b);
    expect(c.proposals).not.toEqual(a.proposals);
  });

  it('avoids configurations already in the history and drops what it cannot make new', () => {
    const space = [{ name: 'opt', kind: 'categorical' as const, choices: ['a', 'b', 'c'] }];
    const base = testView({ name: 'random' });
    const view = {
      ...base,
      count: 3,
      problem: { ...base.problem, space, baseline: { opt: 'a' } },
      history: [{ ...base.history[0]!, id: 'X', params: { opt: 'b' } }],
    };
    const r = proposeRandom(view);
    // 'a' is the baseline and 'b' was tried: only 'c' is new.
    expect(r.proposals.map((p) => applyChanges(space, { opt: 'a' }, p.changes).opt)).toEqual(['c']);
    expect(r.dropped).toHaveLength(2);
    expect(r.dropped[0]!.reason).toMatch(/no new configuration in 20 draws/);
    const tried = [{ opt: 'a' }, { opt: 'b' }];
    for (const p of r.proposals)
      expect(findDuplicate(space, applyChanges(space, { opt: 'a' }, p.changes), tried)).toBeNull();
  });

  describe('near failures', () => {
    const space = [
      { name: 'x1', kind: 'float' as const, low: 0, high: 1, log: false },
      { name: 'x2', kind: 'float' as const, low: 0, high: 1, log: false },
    ];
    const base = testView({ name: 'random' });
    const trialAt = (id: string, x1: number, x2: number, status: 'succeeded' | 'failed') => ({
      ...base.history[0]!,
      id,
      params: { x1, x2 },
      status,
      ...(status === 'failed' ? { failureReason: 'timed out after 2 s' } : {}),
    });
    // Repeated failures all over the strip x1 < 0.2 (20% of the space), one success elsewhere.
    const failures = Array.from({ length: 12 }, (_, i) =>
      trialAt(`F${i}`, 0.03 + (0.14 * ((i * 7) % 12)) / 11, 0.04 + (0.92 * i) / 11, 'failed'),
    );
    const view = (history: ReturnType<typeof trialAt>[]) => ({
      ...base,
      count: 300,
      seed: 42,
      problem: { ...base.problem, space, baseline: { x1: 0.5, x2: 0.5 } },
      history,
    });
    const inStrip = (v: ReturnType<typeof view>, r: ReturnType<typeof proposeRandom>) =>
      r.proposals.filter(
        (p) => (applyChanges(space, v.problem.baseline, p.changes).x1 as number) < 0.2,
      ).length;

    it('gives the neighbourhood of repeated failures less weight', () => {
      const v = view([...failures, trialAt('S', 0.7, 0.7, 'succeeded')]);
      const weighted = proposeRandom(v);
      const uniform = proposeRandom(v, { failures: false });
      expect(weighted.proposals).toHaveLength(300);
      expect(uniform.proposals).toHaveLength(300);
      // Uniform sampling puts about 20% (60) there; the kernel turns most of those draws away.
      expect(inStrip(v, uniform)).toBeGreaterThan(40);
      expect(inStrip(v, weighted)).toBeLessThan(inStrip(v, uniform) / 2);
      expect(weighted.proposals[0]!.rationale).toMatch(/less weight near the 12 failed trial/);
      // deterministic for a seed
      expect(proposeRandom(v)).toEqual(weighted);
    });

    it('samples exactly as before when nothing failed', () => {
      const v = view([trialAt('S', 0.7, 0.7, 'succeeded')]);
      expect(proposeRandom(v)).toEqual(proposeRandom(v, { failures: false }));
    });

    it('still proposes when every draw lands near failures', () => {
      const v = { ...view(failures), count: 3 };
      const r = proposeRandom(v, { maxAttempts: 2, failures: { maxRejection: 1, bandwidth: 10 } });
      expect(r.proposals).toHaveLength(3);
      expect(r.dropped).toEqual([]);
    });
  });
});
