import { describe, expect, it } from 'vitest';
import { applyChanges, findDuplicate, validateConfig } from '../../domain/space.js';
import { proposeRandom } from './random.js';
import { TEST_BASELINE, TEST_SPACE, testView } from './testing.js';

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
      expect(r.proposals[i]!.title).toBe(`random sample #${view.history.length + 1 + i}`);
      // momentum exists exactly when optimizer is sgd; aux_weight exactly when aux_loss
      expect('momentum' in config).toBe(config.optimizer === 'sgd');
      expect('aux_weight' in config).toBe(config.aux_loss === true);
    }
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
});
