/** Helpers shared by the strategies. */
import type { Config, HypothesisProposal, Param } from '../../domain/schemas.js';
import { applyChanges, findDuplicate } from '../../domain/space.js';
import type { StrategyResult, StrategyView } from '../../domain/strategy.js';

/** Whether two parameter values are the same (numbers compared exactly). */
const same = (a: unknown, b: unknown): boolean => a === b;

/**
 * The changes that turn `base` into `config`: every parameter whose value differs or that `base`
 * lacks. Parameters of `base` that `config` drops become inactive on their own (applyChanges
 * resolves conditions), so no removal is needed. Falls back to the whole configuration when the
 * diff does not reproduce it exactly (e.g. a default would fill a newly active parameter).
 */
export function diffConfig(space: readonly Param[], base: Config, config: Config): Config {
  const changes: Config = {};
  for (const [k, v] of Object.entries(config)) if (!same(base[k], v)) changes[k] = v;
  try {
    const rebuilt = applyChanges(space, base, changes, { baseline: base });
    const keys = new Set([...Object.keys(rebuilt), ...Object.keys(config)]);
    if ([...keys].every((k) => same(rebuilt[k], config[k]))) return changes;
  } catch {
    // the full configuration below is always valid for a valid config
  }
  return { ...config };
}

/**
 * What a new proposal must not repeat: every finished trial (a failure would fail again), the
 * baseline configuration, and the proposals accepted so far in this call.
 */
export class TriedSet {
  private readonly configs: Config[] = [];
  private readonly labels: string[] = [];

  constructor(
    private readonly space: readonly Param[],
    view: StrategyView,
  ) {
    for (const t of view.history) this.add(t.params, `trial ${t.id} ("${t.title}")`);
    this.add(view.problem.baseline, 'the baseline configuration');
  }

  add(config: Config, label: string): void {
    this.configs.push(config);
    this.labels.push(label);
  }

  /** Why `config` is a duplicate, or null when it is new. */
  duplicateOf(config: Config): string | null {
    const dup = findDuplicate(this.space, config, this.configs);
    return dup ? `duplicate of ${this.labels[dup.index] ?? 'an earlier configuration'}` : null;
  }
}

export function emptyResult(authors: string[]): StrategyResult {
  return { proposals: [], dropped: [], notes: [], dollars: 0, authors };
}

export type { HypothesisProposal };
