/**
 * The random strategy: uniform samples of the search space, the control every other strategy is
 * compared with. Deterministic: the same view (seed, history) gives the same proposals.
 */
import { sampleConfig, seededRng } from '../../domain/space.js';
import type { StrategyResult, StrategyView } from '../../domain/strategy.js';
import { TriedSet, diffConfig } from './common.js';

export interface RandomOptions {
  /** Fresh draws per proposal before a duplicate is given up on. @default 20 */
  maxAttempts?: number;
}

export function proposeRandom(view: StrategyView, options: RandomOptions = {}): StrategyResult {
  const maxAttempts = options.maxAttempts ?? 20;
  const { space, baseline } = view.problem;
  const rng = seededRng(view.seed);
  const tried = new TriedSet(space, view);
  const result: StrategyResult = { proposals: [], dropped: [], notes: [], dollars: 0, authors: [] };
  const first = view.history.length + 1;
  for (let i = 0; i < view.count; i++) {
    const title = `random sample #${first + i}`;
    let accepted = false;
    let lastReason = '';
    for (let attempt = 0; attempt < maxAttempts && !accepted; attempt++) {
      const config = sampleConfig(space, rng);
      const dup = tried.duplicateOf(config);
      if (dup) {
        lastReason = dup;
        continue;
      }
      tried.add(config, `proposal "${title}"`);
      result.proposals.push({
        title,
        rationale: 'Uniform random sample of the search space (control strategy).',
        parentTrialId: null,
        changes: diffConfig(space, baseline, config),
        expectedEffect: '',
      });
      result.authors.push('random');
      accepted = true;
    }
    if (!accepted)
      result.dropped.push({
        title,
        reason: `no new configuration in ${maxAttempts} draws (last: ${lastReason})`,
      });
  }
  return result;
}
