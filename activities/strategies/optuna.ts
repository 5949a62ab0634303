/**
 * The Optuna strategy: Optuna's samplers (TPE, GP, CMA-ES, random), fed the campaign's full
 * history through the long-lived Python service.
 *
 * Failures are told to the sampler (python/optuna_service.py), and once there are any, its
 * suggestions near them are turned down as the random strategy's samples are (domain/failures.ts):
 * the service is asked for a few suggestions per proposal, and each is kept unless it lands among
 * failures, with the probability the kernel gives. Without failures (or with `onFailure: 'ignore'`)
 * the suggestions are exactly the sampler's.
 */
import { failureRejection, type FailureKernelOptions } from '../../domain/failures.js';
import type { Config } from '../../domain/schemas.js';
import { seededRng } from '../../domain/space.js';
import type { StrategyResult, StrategyView, TrialView } from '../../domain/strategy.js';
import { TriedSet, diffConfig } from './common.js';
import type { OptunaHistoryEntry, OptunaSampler, OptunaService } from './optuna-service.js';

/**
 * The history as Optuna sees it; cancelled trials say nothing about their configuration. Failed
 * and timed-out trials go as `fail`: the service decides per sampler how a failure is told
 * (python/optuna_service.py), so that the sampler avoids where they happened.
 */
export function toOptunaHistory(history: readonly TrialView[]): OptunaHistoryEntry[] {
  const out: OptunaHistoryEntry[] = [];
  for (const t of history) {
    if (t.status === 'cancelled') continue;
    const ok =
      t.status === 'succeeded' && typeof t.objective === 'number' && Number.isFinite(t.objective);
    out.push({
      id: t.id,
      params: t.params,
      value: ok ? t.objective! : null,
      state: ok ? 'complete' : 'fail',
      feasible: t.feasible,
    });
  }
  return out;
}

export interface OptunaOptions {
  /**
   * Suggestions asked per proposal once the history holds failures (`onFailure: 'avoid'`): the
   * sampler's first suggestion is kept unless it lands near earlier failures, where it is turned
   * down with the random strategy's probability (domain/failures.ts) and the next one is tried;
   * when every one is turned down, the least rejected is kept. 1 takes the sampler's suggestions
   * as they come. @default 4
   */
  candidates?: number;
  /** How suggestions near failures are turned down; `false` takes them as they come. */
  failures?: FailureKernelOptions | false;
}

/** The seed of the draws that turn suggestions near failures down, apart from the sampler's. */
const REJECTION_SEED = 0x2545f491;

export async function proposeOptuna(
  view: StrategyView,
  service: OptunaService,
  options: OptunaOptions = {},
): Promise<StrategyResult> {
  if (view.strategy.name !== 'optuna')
    throw new Error(`proposeOptuna got strategy "${view.strategy.name}"`);
  const sampler: OptunaSampler = view.strategy.settings.sampler;
  const onFailure = view.strategy.settings.onFailure ?? 'avoid';
  const author = `optuna:${sampler}`;
  const { space, baseline } = view.problem;
  const base = {
    space,
    direction: view.objective.direction,
    history: toOptunaHistory(view.history),
    sampler,
    key: `${view.campaignId}:${sampler}`,
    failures: onFailure,
  };
  const result: StrategyResult = { proposals: [], dropped: [], notes: [], dollars: 0, authors: [] };
  const tried = new TriedSet(space, view);
  const first = view.history.length + 1;
  // The sampler learns from failures where they happened (python/optuna_service.py); its
  // suggestions near repeated failures are also turned down here, as the random strategy's
  // samples are. Without failures (or with `ignore`) its suggestions are taken as they come.
  const kernel =
    onFailure === 'ignore' || options.failures === false ? null : (options.failures ?? {});
  const failures: Config[] = kernel
    ? view.history.filter((t) => t.status === 'failed').map((t) => t.params)
    : [];
  const perProposal = failures.length > 0 ? Math.max(1, Math.trunc(options.candidates ?? 4)) : 1;
  const rng = seededRng((Math.trunc(view.seed) ^ REJECTION_SEED) >>> 0);
  /** Suggestions turned down near failures, kept in case nothing better comes. */
  const setAside: { config: Config; rejection: number }[] = [];
  const rationale = `Suggested by Optuna's ${sampler.toUpperCase()} sampler from ${base.history.length} finished trials${
    failures.length > 0
      ? `; of ${perProposal} suggestions, those near the ${failures.length} failed trial(s) were given less weight.`
      : '.'
  }`;
  const take = (config: Config) => {
    const title = `${author} suggestion #${first + result.proposals.length}`;
    tried.add(config, `proposal "${title}"`);
    result.proposals.push({
      title,
      rationale,
      parentTrialId: null,
      changes: diffConfig(space, baseline, config),
      expectedEffect: '',
    });
    result.authors.push(author);
  };
  const accept = (configs: readonly Config[]) => {
    const rejected: string[] = [];
    for (const config of configs) {
      if (result.proposals.length >= view.count) break;
      const dup = tried.duplicateOf(config);
      if (dup) {
        rejected.push(dup);
        continue;
      }
      const rejection = kernel ? failureRejection(space, config, failures, kernel) : 0;
      // No draw without failures nearby: the sampler's suggestions stay as they were.
      if (rejection > 0 && rng() < rejection) {
        setAside.push({ config, rejection });
        continue;
      }
      take(config);
    }
    return rejected;
  };

  const firstReply = await service.suggest({
    ...base,
    seed: Math.trunc(view.seed),
    n: Math.min(1000, view.count * perProposal),
  });
  let rejected = accept(firstReply.configs);
  // Samplers repeat themselves on small discrete spaces: one top-up round with a derived seed.
  if (result.proposals.length < view.count && rejected.length > 0) {
    const missing = view.count - result.proposals.length;
    const again = await service.suggest({
      ...base,
      seed: (Math.trunc(view.seed) + 0x9e3779b1) % 2 ** 31,
      n: Math.min(1000, missing * 2 * perProposal),
    });
    rejected = [...rejected, ...accept(again.configs)];
  }
  // Every suggestion near failures: the least rejected ones, rather than none.
  setAside.sort((a, b) => a.rejection - b.rejection);
  for (const { config } of setAside) {
    if (result.proposals.length >= view.count) break;
    if (!tried.duplicateOf(config)) take(config);
  }
  const missing = view.count - result.proposals.length;
  for (let i = 0; i < missing; i++) {
    result.dropped.push({
      title: `${author} suggestion`,
      reason: rejected[i] ?? rejected[0] ?? 'no new configuration suggested',
    });
  }
  return result;
}
