/**
 * The random strategy: uniform samples of the search space, the control every other strategy is
 * compared with. Deterministic: the same view (seed, history) gives the same proposals.
 *
 * Failures are information even for the control: a sample near earlier failed or timed-out
 * trials is rejected with a probability that grows with the failures around it
 * (domain/failures.ts: a Gaussian kernel in normalised space), so the neighbourhood of repeated
 * failures gets less weight. Without failures the draws are exactly the uniform ones.
 */
import { failureRejection, type FailureKernelOptions } from '../../domain/failures.js';
import type { Config } from '../../domain/schemas.js';
import { sampleConfig, seededRng } from '../../domain/space.js';
import type { StrategyResult, StrategyView } from '../../domain/strategy.js';
import { strategyTraits } from '../../domain/strategy.js';
import { defineStrategy } from './base.js';
import { TriedSet, changesTitle, diffConfig } from './common.js';

export interface RandomOptions {
  /** Fresh draws per proposal before a duplicate is given up on. @default 20 */
  maxAttempts?: number;
  /** How samples near failures are down-weighted; `false` samples uniformly whatever failed. */
  failures?: FailureKernelOptions | false;
}

export function proposeRandom(view: StrategyView, options: RandomOptions = {}): StrategyResult {
  const maxAttempts = options.maxAttempts ?? 20;
  const { space, baseline } = view.problem;
  const rng = seededRng(view.seed);
  const tried = new TriedSet(space, view);
  const result: StrategyResult = { proposals: [], dropped: [], notes: [], dollars: 0, authors: [] };
  const kernel = options.failures === false ? null : (options.failures ?? {});
  const failures: Config[] = kernel
    ? view.history.filter((t) => t.status === 'failed').map((t) => t.params)
    : [];
  const titles = new Set(view.history.map((t) => t.title));
  const accept = (config: Config) => {
    const changes = diffConfig(space, baseline, config);
    const title = changesTitle(changes, titles);
    titles.add(title);
    tried.add(config, `proposal "${title}"`);
    result.proposals.push({
      title,
      rationale:
        failures.length > 0
          ? `Random sample of the search space (control strategy), drawn with less weight near the ${failures.length} failed trial(s).`
          : 'Uniform random sample of the search space (control strategy).',
      parentTrialId: null,
      changes,
      expectedEffect: '',
    });
    result.authors.push('random');
  };
  for (let i = 0; i < view.count; i++) {
    let accepted = false;
    let lastReason = '';
    // The least rejected new sample, taken when every draw was turned down.
    let fallback: { config: Config; rejection: number } | null = null;
    for (let attempt = 0; attempt < maxAttempts && !accepted; attempt++) {
      const config = sampleConfig(space, rng);
      const dup = tried.duplicateOf(config);
      if (dup) {
        lastReason = dup;
        continue;
      }
      const rejection =
        failures.length > 0 && kernel ? failureRejection(space, config, failures, kernel) : 0;
      // No extra draw without failures nearby: the uniform sequence stays as it was.
      if (rejection > 0 && rng() < rejection) {
        if (!fallback || rejection < fallback.rejection) fallback = { config, rejection };
        lastReason = `near earlier failures (rejected with probability ${rejection.toFixed(2)})`;
        continue;
      }
      accept(config);
      accepted = true;
    }
    if (!accepted && fallback) {
      accept(fallback.config);
      accepted = true;
    }
    if (!accepted)
      result.dropped.push({
        title: 'random sample',
        reason: `no new configuration in ${maxAttempts} draws (last: ${lastReason})`,
      });
  }
  return result;
}

/** The random strategy: needs no clients, costs nothing. */
export const random = defineStrategy({
  name: 'random',
  traits: strategyTraits,
  create: () => ({ propose: async (view) => proposeRandom(view) }),
});
