import { describe, expect, it } from 'vitest';
import {
  StrategyName,
  stripHidden,
  strategyTraits,
  type StrategyConfig,
} from '../../domain/strategy.js';
import type { StrategyDefinition } from './base.js';
import { HIDDEN, testView } from '../../test/support/strategy-views.js';
import type { CodeDeps } from './claude/code.js';
import { createStrategyActivities } from './index.js';
import { proposeRandom } from './random.js';
import { UnknownStrategyError, createStrategies, strategyDefinition } from './registry.js';

/** Code deps that fail the test if a strategy reads them. */
const untouchableCode = (): CodeDeps => {
  const fail = () => {
    throw new Error('code context read by a strategy that has no use for it');
  };
  return {
    registry: { has: fail, get: fail },
    store: { get: fail },
  } as unknown as CodeDeps;
};

describe('strategy registry', () => {
  it('has a definition under every strategy name, carrying that name', () => {
    for (const name of StrategyName.options) expect(strategyDefinition(name).name).toBe(name);
  });

  it('refuses a name it does not have, naming the field and what it has', () => {
    expect(() => strategyDefinition('hyperband')).toThrow(UnknownStrategyError);
    expect(() => strategyDefinition('hyperband')).toThrow(
      'strategy.name: "hyperband" is not a strategy this worker has (it has claude, optuna, random)',
    );
    // Names from Object.prototype are not strategies either.
    expect(() => strategyDefinition('toString')).toThrow(UnknownStrategyError);
  });

  it('creates each strategy once per worker', () => {
    const strategy = createStrategies({});
    expect(strategy('random')).toBe(strategy('random'));
    expect(strategy('random')).not.toBe(strategy('optuna'));
    expect(createStrategies({})('random')).not.toBe(strategy('random'));
  });

  it('only the claude strategy declares a cost', () => {
    const strategy = createStrategies({});
    expect(strategy('claude').estimate).toBeTypeOf('function');
    expect(strategy('optuna').estimate).toBeUndefined();
    expect(strategy('random').estimate).toBeUndefined();
  });
});

describe('strategy activities', () => {
  it('ask the strategy the view names, with hidden metrics stripped', async () => {
    const acts = createStrategyActivities({ code: untouchableCode() });
    const view = testView({ name: 'random' });
    const result = await acts.proposeHypotheses(view, [...HIDDEN]);
    expect(result.proposals.length).toBe(view.count);
    expect(result).toEqual(proposeRandom(stripHidden(view, [...HIDDEN])));
  });

  it('estimate nothing for a strategy without a cost, without loading code context', async () => {
    const acts = createStrategyActivities({ code: untouchableCode() });
    // A view on a code experiment: the claude strategy would read its sources.
    const code = { code: { runId: 'r-1' } };
    for (const strategy of [{ name: 'random' }, { name: 'optuna' }] as const)
      expect(await acts.estimateStrategyCost(testView(strategy, code), [...HIDDEN])).toEqual({
        calls: 0,
        expectedDollars: 0,
        maxDollars: 0,
      });
  });

  it("estimate the claude strategy's cost, and give an unknown model's price as an error", async () => {
    const acts = createStrategyActivities({});
    const known = await acts.estimateStrategyCost(
      testView({ name: 'claude', settings: { model: 'claude-sonnet-4-5' } }),
    );
    expect(known.calls).toBe(2);
    expect(known.maxDollars).toBeGreaterThan(known.expectedDollars);
    expect(known.expectedDollars).toBeGreaterThan(0);
    const unknown = await acts.estimateStrategyCost(
      testView({ name: 'claude', settings: { model: 'claude-imaginary-9' } }),
    );
    expect(unknown).toMatchObject({ calls: 0, maxDollars: 0 });
    expect(unknown.error).toContain('claude-imaginary-9');
  });

  it('answer a claude campaign on a worker without a key with a fatal error that says how', async () => {
    const acts = createStrategyActivities({});
    const result = await acts.proposeHypotheses(testView({ name: 'claude' }), []);
    expect(result.proposals).toEqual([]);
    expect(result.fatalError).toContain('ANTHROPIC_API_KEY');
  });
});

describe('declared traits', () => {
  it('each definition points at the declaration the workflow reads', () => {
    const configs: StrategyConfig[] = [
      { name: 'random', settings: {} } as StrategyConfig,
      { name: 'optuna', settings: { sampler: 'tpe' } } as StrategyConfig,
      { name: 'optuna', settings: { sampler: 'random' } } as StrategyConfig,
      { name: 'claude', settings: {} } as StrategyConfig,
    ];
    for (const config of configs) {
      const definition = strategyDefinition(config.name) as StrategyDefinition;
      expect(definition.traits(config as never), config.name).toEqual(strategyTraits(config));
    }
    // A sampler that does not learn is declared so; the workflow reads this, not the name.
    expect(strategyTraits(configs[2]!).learnsFromResults).toBe(false);
    expect(strategyTraits(configs[3]!).paysPerCall).toBe(true);
  });
});
