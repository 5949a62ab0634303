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

/** A parameter value as a title shows it: numbers at `digits` significant digits. */
function titleValue(v: Config[string], digits: number): string {
  if (typeof v !== 'number' || Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(digits)));
}

/**
 * A sampled proposal's title: the parameters it sets and their values, `lr 0.01, epochs 20`
 * (`baseline configuration` when it sets none). Numbers get three significant digits, more when
 * a title in `taken` (the campaign's trials and this call's proposals) reads the same, so two
 * trials never share a title. Long titles keep the first parameters and say how many follow.
 */
export function changesTitle(changes: Config, taken: ReadonlySet<string>, maxLength = 200): string {
  const entries = Object.entries(changes);
  if (entries.length === 0) return 'baseline configuration';
  let title = '';
  for (let digits = 3; digits <= 17; digits++) {
    const parts = entries.map(([k, v]) => `${k} ${titleValue(v, digits)}`);
    title = parts.join(', ');
    if (title.length > maxLength) {
      let kept = parts.length;
      const more = (n: number) => ` (+${parts.length - n} more)`;
      while (kept > 1 && parts.slice(0, kept).join(', ').length + more(kept).length > maxLength)
        kept -= 1;
      title = `${parts.slice(0, kept).join(', ')}${more(kept)}`.slice(0, maxLength);
    }
    if (!taken.has(title)) return title;
  }
  for (let n = 2; ; n++) {
    const numbered = `${title.slice(0, maxLength - 6)} (${n})`;
    if (!taken.has(numbered)) return numbered;
  }
}
