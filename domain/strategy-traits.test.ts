import { describe, expect, it } from 'vitest';
import { StrategyConfig, strategyTraits } from './strategy.js';

const traits = (config: unknown) => strategyTraits(StrategyConfig.parse(config));

describe('strategyTraits', () => {
  it('lets the strategies that do not learn from results search beside the references, ask ahead and batch seeds', () => {
    for (const config of [{ name: 'random' }, { name: 'optuna', settings: { sampler: 'random' } }])
      expect(traits(config)).toEqual({
        learnsFromResults: false,
        searchesBesideReferences: true,
        asksAhead: true,
        batchesSeeds: true,
        paysPerCall: false,
        author: 'strategy',
      });
  });

  it('keeps every Optuna sampler that learns, and the agent, to one result at a time', () => {
    for (const sampler of ['tpe', 'gp', 'cmaes'])
      expect(traits({ name: 'optuna', settings: { sampler } })).toMatchObject({
        learnsFromResults: true,
        searchesBesideReferences: false,
        asksAhead: false,
        batchesSeeds: false,
        paysPerCall: false,
      });
    expect(traits({ name: 'optuna' }).learnsFromResults).toBe(true);
    expect(traits({ name: 'claude' })).toEqual({
      learnsFromResults: true,
      searchesBesideReferences: false,
      asksAhead: false,
      batchesSeeds: false,
      paysPerCall: true,
      author: 'agent',
    });
  });
});
