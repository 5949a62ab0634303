/**
 * Search quality of the strategies on Hartmann6 (6 dimensions, known minimum -3.32237): the
 * best value and PGR after a fixed budget, and trials to PGR 0.9, for gaplab's random and Optuna
 * strategies (through the same activity the campaign calls, batch by batch) and for Optuna used
 * directly (a sequential `study.optimize` in Python).
 *
 *   npx tsx bench/strategy-quality.ts [--budget 100] [--batch 4] [--seeds 5] [--samplers tpe,random]
 *
 * Also exports the pieces the strategy tests use (`hartmann6`, `simulateSearch`).
 */
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Config, Param } from '../domain/schemas.js';
import { applyChanges } from '../domain/space.js';
import {
  StrategyConfig,
  type StrategyConfigInput,
  type StrategyView,
  type TrialView,
} from '../domain/strategy.js';
import { createStrategyActivities } from '../activities/strategies/index.js';
import { OptunaService } from '../stack/optuna-service.js';
import { paths } from '../stack/paths.js';
import { HARTMANN6_MIN, hartmann6 } from '../experiments/benchmarks/functions.js';

// ---------------------------------------------------------------------------------------------
// Hartmann6
// ---------------------------------------------------------------------------------------------

export { hartmann6, HARTMANN6_MIN };

export interface BenchProblem {
  space: Param[];
  baseline: Config;
  direction: 'maximize' | 'minimize';
  evaluate: (config: Config) => number;
  baselineScore: number;
  optimumScore: number;
}

export function hartmann6Problem(): BenchProblem {
  const space: Param[] = Array.from({ length: 6 }, (_, i) => ({
    name: `x${i + 1}`,
    kind: 'float' as const,
    low: 0,
    high: 1,
    log: false,
  }));
  // The same baseline as experiments/benchmarks/hartmann6.problem.yaml.
  const baseline: Config = Object.fromEntries(space.map((p) => [p.name, 0.9]));
  const evaluate = (c: Config) => hartmann6(space.map((p) => c[p.name] as number));
  return {
    space,
    baseline,
    direction: 'minimize',
    evaluate,
    baselineScore: evaluate(baseline),
    optimumScore: HARTMANN6_MIN,
  };
}

export const pgrOf = (p: BenchProblem, score: number): number =>
  (score - p.baselineScore) / (p.optimumScore - p.baselineScore);

// ---------------------------------------------------------------------------------------------
// A campaign loop without Temporal: propose a batch, evaluate it, repeat
// ---------------------------------------------------------------------------------------------

export interface SearchOptions {
  strategy: StrategyConfigInput;
  seed: number;
  budget: number;
  batch: number;
}

/** Runs a strategy on a problem; returns each trial's value in evaluation order. */
export async function simulateSearch(
  acts: ReturnType<typeof createStrategyActivities>,
  problem: BenchProblem,
  options: SearchOptions,
): Promise<number[]> {
  const history: TrialView[] = [];
  const strategy = StrategyConfig.parse(options.strategy);
  for (let iteration = 0; history.length < options.budget; iteration++) {
    const view: StrategyView = {
      campaignId: `bench-${strategy.name}-${options.seed}`,
      iteration,
      count: Math.min(options.batch, options.budget - history.length),
      seed: options.seed * 1000 + iteration,
      problem: {
        id: 'bench',
        title: 'benchmark',
        question: 'Minimise the function.',
        context: '',
        experiment: 'bench',
        experimentDescription: '',
        space: problem.space,
        baseline: problem.baseline,
      },
      objective: { metric: 'value', direction: problem.direction },
      visibleMetrics: [{ name: 'value', description: 'function value' }],
      baselineScore: problem.baselineScore,
      optimumScore: problem.optimumScore,
      targetPgr: 1,
      constraints: [],
      history,
      notebook: [],
      budgetLeft: { trials: options.budget - history.length },
      strategy,
    };
    const result = await acts.proposeHypotheses(view, []);
    if (result.fatalError) throw new Error(result.fatalError);
    if (result.proposals.length === 0) break;
    for (const p of result.proposals) {
      const parent = p.parentTrialId
        ? history.find((t) => t.id === p.parentTrialId)!.params
        : problem.baseline;
      const params = applyChanges(problem.space, parent, p.changes);
      const value = problem.evaluate(params);
      const pgr = pgrOf(problem, value);
      history.push({
        id: `t${history.length + 1}`,
        parentTrialId: p.parentTrialId,
        title: p.title,
        author: strategy.name,
        params,
        status: 'succeeded',
        metrics: { value },
        objective: value,
        pgr: { mean: pgr, ciLow: pgr, ciHigh: pgr },
        feasible: true,
      });
    }
  }
  return history.map((t) => t.objective!);
}

/** Best-so-far after each trial (minimisation or maximisation). */
export function bestSoFar(values: readonly number[], direction: 'maximize' | 'minimize'): number[] {
  const out: number[] = [];
  let best = direction === 'minimize' ? Infinity : -Infinity;
  for (const v of values) {
    best = direction === 'minimize' ? Math.min(best, v) : Math.max(best, v);
    out.push(best);
  }
  return out;
}

/** 1-based index of the first trial reaching the PGR, or null. */
export function trialsToPgr(
  problem: BenchProblem,
  values: readonly number[],
  target: number,
): number | null {
  const i = values.findIndex((v) => pgrOf(problem, v) >= target);
  return i < 0 ? null : i + 1;
}

// ---------------------------------------------------------------------------------------------
// Optuna used directly
// ---------------------------------------------------------------------------------------------

const DIRECT = `
import json, math, sys, optuna
optuna.logging.set_verbosity(optuna.logging.ERROR)
A=[[10,3,17,3.5,1.7,8],[0.05,10,17,0.1,8,14],[3,3.5,1.7,10,17,8],[17,8,0.05,10,0.1,14]]
P=[[1312,1696,5569,124,8283,5886],[2329,4135,8307,3736,1004,9991],[2348,1451,3522,2883,3047,6650],[4047,8828,8732,5743,1091,381]]
AL=[1,1.2,3,3.2]
def h6(x): return -sum(AL[i]*math.exp(-sum(A[i][j]*(x[j]-P[i][j]*1e-4)**2 for j in range(6))) for i in range(4))
budget, seeds = int(sys.argv[1]), [int(s) for s in sys.argv[2].split(',')]
out = {}
for seed in seeds:
    study = optuna.create_study(direction='minimize', sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True))
    study.optimize(lambda t: h6([t.suggest_float(f'x{i+1}', 0, 1) for i in range(6)]), n_trials=budget)
    out[seed] = [t.value for t in study.trials]
print(json.dumps(out))
`;

function optunaDirect(budget: number, seeds: number[]): Record<number, number[]> {
  const r = spawnSync(paths.venvPython, ['-c', DIRECT, String(budget), seeds.join(',')], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`optuna direct run failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<number, number[]>;
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      budget: { type: 'string', default: '100' },
      batch: { type: 'string', default: '4' },
      seeds: { type: 'string', default: '5' },
      samplers: { type: 'string', default: 'tpe,random' },
    },
  });
  const budget = Number(values.budget);
  const batch = Number(values.batch);
  const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => i + 1);
  const problem = hartmann6Problem();
  const optuna = new OptunaService();
  const acts = createStrategyActivities({ optuna });
  const rows: { name: string; runs: number[][]; seconds: number }[] = [];
  try {
    const runs: [string, StrategyConfigInput][] = [
      ['gaplab random', { name: 'random' }],
      ...values
        .samplers!.split(',')
        .map(
          (s) =>
            [`gaplab optuna:${s}`, { name: 'optuna', settings: { sampler: s } }] as [
              string,
              StrategyConfigInput,
            ],
        ),
    ];
    for (const [name, strategy] of runs) {
      const t0 = performance.now();
      const out: number[][] = [];
      for (const seed of seeds)
        out.push(await simulateSearch(acts, problem, { strategy, seed, budget, batch }));
      rows.push({ name, runs: out, seconds: (performance.now() - t0) / 1000 });
    }
    const t0 = performance.now();
    const direct = optunaDirect(budget, seeds);
    rows.push({
      name: 'optuna TPE directly (sequential)',
      runs: seeds.map((s) => direct[s]!),
      seconds: (performance.now() - t0) / 1000,
    });
  } finally {
    await optuna.close();
  }

  console.log(
    `Hartmann6 (minimum ${HARTMANN6_MIN}; baseline x=0.9 scores ${problem.baselineScore.toFixed(4)}), budget ${budget} trials, batch ${batch}, ${seeds.length} seeds`,
  );
  console.log(
    'strategy | mean best value | mean best PGR | median trials to PGR 0.9 (reached/seeds) | seconds',
  );
  for (const row of rows) {
    const bests = row.runs.map((r) => bestSoFar(r, 'minimize').at(-1)!);
    const reach = row.runs
      .map((r) => trialsToPgr(problem, r, 0.9))
      .filter((x): x is number => x !== null);
    console.log(
      `${row.name} | ${mean(bests).toFixed(4)} | ${mean(bests.map((b) => pgrOf(problem, b))).toFixed(3)} | ${reach.length > 0 ? median(reach) : '-'} (${reach.length}/${row.runs.length}) | ${row.seconds.toFixed(1)}`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
