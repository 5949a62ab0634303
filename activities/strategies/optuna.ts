/**
 * The Optuna strategy: Optuna's samplers (TPE, GP, CMA-ES, random), fed the campaign's full
 * history through the long-lived Python service.
 *
 * Failures are told to the sampler (python/optuna_service.py), and once there are any, the service
 * is asked for a few suggestions per proposal and the one with the least failure pressure (the
 * kernel the random strategy rejects samples with, domain/failures.ts) is proposed: the sampler's
 * own first choice whenever no failure is within reach of any of them. Without failures (or with
 * `onFailure: 'ignore'`) the suggestions are exactly the sampler's.
 */
import { failurePressure, type FailureKernelOptions } from '../../domain/failures.js';
import type { Config } from '../../domain/schemas.js';
import type { StrategyResult, StrategyView, TrialView } from '../../domain/strategy.js';
import { strategyTraits } from '../../domain/strategy.js';
import { TriedSet, changesTitle, diffConfig, emptyResult } from './common.js';
import { defineStrategy } from './base.js';
import {
  OptunaService,
  OptunaServiceError,
  type OptunaHistoryEntry,
  type OptunaSampler,
} from '../../stack/optuna-service.js';

/**
 * The history as Optuna sees it; cancelled trials say nothing about their configuration, pruned
 * ones (a cascade stage stopped them) go as Optuna's `pruned`. Failed and timed-out trials go as
 * `fail`: the service decides per sampler how a failure is told
 * (python/optuna_service.py), so that the sampler avoids where they happened.
 */
export function toOptunaHistory(history: readonly TrialView[]): OptunaHistoryEntry[] {
  const out: OptunaHistoryEntry[] = [];
  for (const t of history) {
    if (t.status === 'cancelled') continue;
    if (t.status === 'pruned') {
      // Stopped by a cascade stage: Optuna's own pruned state, never a failure to avoid.
      out.push({ id: t.id, params: t.params, value: null, state: 'pruned', feasible: t.feasible });
      continue;
    }
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
   * Suggestions asked per proposal once the history holds failures (`onFailure: 'avoid'`); of
   * each group, the one with the least failure pressure is proposed, the earliest on a tie (so
   * the sampler's own first choice when no failure is within reach). 1 takes the sampler's
   * suggestions as they come. @default 4
   */
  candidates?: number;
  /** The failure kernel (its bandwidth); `false` takes the suggestions as they come. */
  failures?: FailureKernelOptions | false;
}

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
  // The sampler learns from failures where they happened (python/optuna_service.py); its
  // suggestions are also kept away from them here, with the kernel the random strategy uses.
  // Without failures (or with `ignore`) its suggestions are taken as they come.
  const kernel =
    onFailure === 'ignore' || options.failures === false ? null : (options.failures ?? {});
  const failures: Config[] = kernel
    ? view.history.filter((t) => t.status === 'failed').map((t) => t.params)
    : [];
  const perProposal = failures.length > 0 ? Math.max(1, Math.trunc(options.candidates ?? 4)) : 1;
  const rationale = `Suggested by Optuna's ${sampler.toUpperCase()} sampler from ${base.history.length} finished trials${
    failures.length > 0
      ? `; the one of ${perProposal} suggestions farthest from the ${failures.length} failed trial(s) (least failure pressure).`
      : '.'
  }`;
  const titles = new Set(view.history.map((t) => t.title));
  const take = (config: Config) => {
    const changes = diffConfig(space, baseline, config);
    const title = changesTitle(changes, titles);
    titles.add(title);
    tried.add(config, `proposal "${title}"`);
    result.proposals.push({
      title,
      rationale,
      parentTrialId: null,
      changes,
      expectedEffect: '',
    });
    result.authors.push(author);
  };
  const pressure = (config: Config) =>
    kernel && failures.length > 0 ? failurePressure(space, config, failures, kernel) : 0;
  const accept = (configs: readonly Config[]) => {
    const rejected: string[] = [];
    // New suggestions in groups of `perProposal`; the least pressed of each group is proposed.
    let group: { config: Config; pressure: number }[] = [];
    const propose = () => {
      const best = group.reduce<(typeof group)[number] | null>(
        (a, b) => (a === null || b.pressure < a.pressure ? b : a),
        null,
      );
      if (best) take(best.config);
      group = [];
    };
    for (const config of configs) {
      if (result.proposals.length >= view.count) break;
      const dup = tried.duplicateOf(config);
      if (dup) {
        rejected.push(dup);
        continue;
      }
      group.push({ config, pressure: pressure(config) });
      if (group.length >= perProposal) propose();
    }
    if (result.proposals.length < view.count) propose();
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
  const missing = view.count - result.proposals.length;
  for (let i = 0; i < missing; i++) {
    result.dropped.push({
      title: `${author} suggestion`,
      reason: rejected[i] ?? rejected[0] ?? 'no new configuration suggested',
    });
  }
  return result;
}

/**
 * The optuna strategy. Its Python service is the worker's (`deps.optuna`) or, when the worker
 * passes none, one started on the first call. A service that cannot work at all (no Python
 * environment) answers with `fatalError`; a crashed process is thrown, so the activity retries.
 */
export const optuna = defineStrategy({
  name: 'optuna',
  traits: strategyTraits,
  create(deps) {
    let service = deps.optuna;
    return {
      async propose(view) {
        try {
          return await proposeOptuna(view, (service ??= new OptunaService()));
        } catch (err) {
          if (err instanceof OptunaServiceError && err.permanent)
            return { ...emptyResult([]), fatalError: err.message };
          throw err;
        }
      },
    };
  },
});
