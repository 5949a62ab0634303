/**
 * Every strategy a campaign can choose, by name: the one place that knows them all. The
 * activities look a strategy up here and never test its name.
 */
import { StrategyName } from '../../domain/strategy.js';
import type { Strategy, StrategyDefinition, StrategyDeps } from './base.js';
import { claude } from './claude/strategy.js';
import { optuna } from './optuna.js';
import { random } from './random.js';

/** One definition per name; the type refuses a name that is missing or registered twice. */
const DEFINITIONS: { readonly [N in StrategyName]: StrategyDefinition<N> } = {
  claude,
  optuna,
  random,
};

/** Thrown when a view names a strategy this worker does not have (a newer client's, say). */
export class UnknownStrategyError extends Error {
  constructor(readonly strategy: string) {
    super(
      `strategy.name: "${strategy}" is not a strategy this worker has (it has ${StrategyName.options.join(', ')})`,
    );
    this.name = 'UnknownStrategyError';
  }
}

/** A strategy's definition by name. @throws UnknownStrategyError */
export function strategyDefinition(name: string): StrategyDefinition {
  if (!Object.hasOwn(DEFINITIONS, name)) throw new UnknownStrategyError(name);
  return DEFINITIONS[name as StrategyName] as StrategyDefinition;
}

/** The worker's strategies by name: each created from `deps` once, on first use. */
export function createStrategies(deps: StrategyDeps): (name: string) => Strategy {
  const created = new Map<string, Strategy>();
  return (name) => {
    let strategy = created.get(name);
    if (!strategy) {
      strategy = strategyDefinition(name).create(deps);
      created.set(name, strategy);
    }
    return strategy;
  };
}
