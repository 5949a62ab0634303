/**
 * The Optuna strategy: Optuna's samplers (TPE, GP, CMA-ES, random), fed the campaign's full
 * history through the long-lived Python service.
 */
import type { Config } from '../../domain/schemas.js';
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

export async function proposeOptuna(
  view: StrategyView,
  service: OptunaService,
): Promise<StrategyResult> {
  if (view.strategy.name !== 'optuna')
    throw new Error(`proposeOptuna got strategy "${view.strategy.name}"`);
  const sampler: OptunaSampler = view.strategy.settings.sampler;
  const author = `optuna:${sampler}`;
  const { space, baseline } = view.problem;
  const base = {
    space,
    direction: view.objective.direction,
    history: toOptunaHistory(view.history),
    sampler,
    key: `${view.campaignId}:${sampler}`,
    failures: view.strategy.settings.onFailure ?? 'avoid',
  };
  const result: StrategyResult = { proposals: [], dropped: [], notes: [], dollars: 0, authors: [] };
  const tried = new TriedSet(space, view);
  const first = view.history.length + 1;
  const accept = (configs: readonly Config[]) => {
    const rejected: string[] = [];
    for (const config of configs) {
      if (result.proposals.length >= view.count) break;
      const title = `${author} suggestion #${first + result.proposals.length}`;
      const dup = tried.duplicateOf(config);
      if (dup) {
        rejected.push(dup);
        continue;
      }
      tried.add(config, `proposal "${title}"`);
      result.proposals.push({
        title,
        rationale: `Suggested by Optuna's ${sampler.toUpperCase()} sampler from ${base.history.length} finished trials.`,
        parentTrialId: null,
        changes: diffConfig(space, baseline, config),
        expectedEffect: '',
      });
      result.authors.push(author);
    }
    return rejected;
  };

  const firstReply = await service.suggest({ ...base, seed: Math.trunc(view.seed), n: view.count });
  let rejected = accept(firstReply.configs);
  // Samplers repeat themselves on small discrete spaces: one top-up round with a derived seed.
  if (result.proposals.length < view.count && rejected.length > 0) {
    const missing = view.count - result.proposals.length;
    const again = await service.suggest({
      ...base,
      seed: (Math.trunc(view.seed) + 0x9e3779b1) % 2 ** 31,
      n: missing * 2,
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
