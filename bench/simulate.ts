/**
 * A campaign loop without Temporal: ask the strategy activity for proposals, run them in this
 * process, feed the results back as a campaign would (baseline first in the history). Used where
 * the benchmark is about the strategy itself (sequential TPE, the agent's token use).
 */
import type { Config } from '../domain/schemas.js';
import { applyChanges } from '../domain/space.js';
import {
  StrategyConfig,
  type StrategyConfigInput,
  type StrategyResult,
  type StrategyView,
  type TrialView,
} from '../domain/strategy.js';
import type { createStrategyActivities } from '../activities/strategies/index.js';
import { benchRegistry, type QualityProblem } from './experiments.js';

export interface SimulateOptions {
  problem: QualityProblem;
  strategy: StrategyConfigInput;
  /** The campaign seed: every trial runs on it; the strategy's seed derives from it as in a campaign. */
  seed: number;
  /** Stop after this many trials. */
  budget: number;
  /** Proposals asked per call. @default 1 */
  count?: number;
  /** Stop after this many strategy calls. @default unlimited */
  iterations?: number;
  acts: ReturnType<typeof createStrategyActivities>;
  /** Sees every strategy result (usage, dollars). */
  onResult?: (result: StrategyResult) => void;
}

export interface SimulatedTrial {
  params: Config;
  /** The objective, undefined when the run did not report it. */
  value: number | undefined;
}

/** Runs the loop; returns the baseline's value and each trial in order. */
export async function simulateCampaign(
  opts: SimulateOptions,
): Promise<{ baselineValue: number; trials: SimulatedTrial[] }> {
  const { problem: p, seed, acts } = opts;
  const experiment = (await benchRegistry()).get(p.experiment);
  if (experiment.runner.kind !== 'function')
    throw new Error(`${p.experiment} is not a function experiment`);
  const runner = experiment.runner;
  const evaluate = async (params: Config): Promise<Record<string, number>> =>
    runner.run(params, {
      seed,
      outDir: '/tmp',
      signal: new AbortController().signal,
      progress: () => {},
    });
  const baseline = applyChanges(p.space, p.baseline as Config, {});
  const baselineMetrics = await evaluate(baseline);
  const baselineValue = baselineMetrics[p.metric];
  if (baselineValue === undefined) throw new Error(`${p.experiment} reports no ${p.metric}`);
  const strategy = StrategyConfig.parse(opts.strategy);
  const history: TrialView[] = [
    {
      id: 'baseline',
      parentTrialId: null,
      title: 'Baseline',
      author: 'gaplab',
      params: baseline,
      status: 'succeeded',
      metrics: baselineMetrics,
      objective: baselineValue,
      pgr: { mean: 0, ciLow: 0, ciHigh: 0 },
      feasible: true,
    },
  ];
  const pgr = (v: number) => (v - baselineValue) / (p.optimum - baselineValue);
  const trials: SimulatedTrial[] = [];
  for (
    let iteration = 1;
    trials.length < opts.budget && (opts.iterations === undefined || iteration <= opts.iterations);
    iteration++
  ) {
    const view: StrategyView = {
      campaignId: `bench-sim-${p.name}-${seed}`,
      iteration,
      count: Math.min(opts.count ?? 1, opts.budget - trials.length),
      // As a campaign derives it from its seed and the iteration.
      seed: (seed * 7919 + iteration) % (2 ** 31 - 1),
      problem: {
        id: p.name,
        title: p.name,
        question: `Optimise ${p.metric} of ${p.experiment}.`,
        context: '',
        experiment: p.experiment,
        experimentDescription: experiment.description,
        space: p.space,
        baseline,
      },
      objective: { metric: p.metric, direction: p.direction },
      visibleMetrics: experiment.metrics.map((m) => ({ name: m.name, description: m.description })),
      baselineScore: baselineValue,
      optimumScore: p.optimum,
      targetPgr: 1,
      constraints: [],
      history,
      notebook: [],
      budgetLeft: { trials: opts.budget - trials.length },
      strategy,
    };
    const result = await acts.proposeHypotheses(view, []);
    opts.onResult?.(result);
    if (result.fatalError) throw new Error(`strategy failed: ${result.fatalError}`);
    if (result.proposals.length === 0) break;
    for (const proposal of result.proposals) {
      const parent = proposal.parentTrialId
        ? (history.find((t) => t.id === proposal.parentTrialId)?.params ?? baseline)
        : baseline;
      const params = applyChanges(p.space, parent, proposal.changes, { baseline });
      const metrics = await evaluate(params);
      const value = metrics[p.metric];
      trials.push({ params, value });
      const score = value === undefined ? null : pgr(value);
      history.push({
        id: `t${String(trials.length).padStart(4, '0')}`,
        parentTrialId: proposal.parentTrialId ?? 'baseline',
        title: proposal.title,
        author: result.authors[0] ?? strategy.name,
        params,
        status: value === undefined ? 'failed' : 'succeeded',
        metrics,
        ...(value === undefined ? {} : { objective: value }),
        pgr: score === null ? null : { mean: score, ciLow: score, ciHigh: score },
        feasible: true,
      });
    }
  }
  return { baselineValue, trials };
}
