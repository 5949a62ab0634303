/**
 * 3. Search quality: PGR reached by each strategy on problems with known optima (Branin,
 * Hartmann6, the mixed categorical/conditional function, weak-to-strong), over several seeds —
 * gaplab campaigns with the random and the Optuna TPE strategies, and Optuna TPE used directly
 * (bench/peers/optuna_quality.py). A fourth runner, gaplab's TPE strategy activity called one
 * trial at a time without the workflow, separates the sampler from the campaign's pipelining
 * when the two TPE runs differ.
 *
 * PGR of a trial = (value - baseline) / (optimum - baseline), with the baseline configuration's
 * value on the same seed, for every runner alike.
 */
import { welch } from '../domain/stats.js';
import type { StrategyConfigInput } from '../domain/strategy.js';
import { createStrategyActivities } from '../activities/strategies/index.js';
import { OptunaService } from '../stack/optuna-service.js';
import type { BenchContext } from './context.js';
import { qualityCampaignProblem, qualityProblems, type QualityProblem } from './experiments.js';
import { runPeer } from './peers.js';
import { simulateCampaign } from './simulate.js';
import { fmt, table, type BenchResult, type Size } from './results.js';
import { bestSoFar, mean, median, round, stderr, trialsToReach } from './stats.js';
import type { Benchmark } from './suite.js';

const ALL_PROBLEMS = ['branin', 'hartmann6', 'mixed', 'weak-to-strong'];

const PRESETS: Record<
  Size,
  { seeds: number; budget: number; parallel: number; sequential: boolean }
> = {
  tiny: { seeds: 2, budget: 6, parallel: 4, sequential: true },
  quick: { seeds: 3, budget: 50, parallel: 4, sequential: true },
  full: { seeds: 10, budget: 100, parallel: 4, sequential: true },
};

export const TARGETS = [0.9, 0.99] as const;
const FIXED_BUDGETS = [25, 50, 100];

export type QualityRunner =
  'gaplab random' | 'gaplab optuna:tpe' | 'optuna tpe direct' | 'gaplab tpe activity, sequential';

export interface QualityRun {
  problem: string;
  runner: QualityRunner;
  seed: number;
  trials: number;
  /** 1-based trial index of the first trial at or above each target PGR; null = not within the budget. */
  trialsTo: Record<string, number | null>;
  /** Best PGR after each reported budget. */
  bestAt: Record<string, number>;
  seconds: number;
}

export interface QualitySummary {
  problem: string;
  runner: QualityRunner;
  seeds: number;
  /** Median trials to each target over all seeds (runs that never reach it count as above the budget); null when most did not. */
  medianTrialsTo: Record<string, number | null>;
  reached: Record<string, number>;
  bestAt: Record<string, { mean: number; stderr: number }>;
}

export interface TpeComparison {
  problem: string;
  /** The gaplab TPE runner compared with Optuna used directly. */
  runner: QualityRunner;
  budget: number;
  /** Its mean best PGR minus Optuna direct's. */
  diff: number;
  /** Two-sided Welch p-value of the difference. */
  p: number;
}

export interface QualityData {
  runs: QualityRun[];
  summary: QualitySummary[];
  tpe: TpeComparison[];
}

const budgetsFor = (budget: number) => {
  const fixed = FIXED_BUDGETS.filter((b) => b <= budget);
  return fixed.length > 0 ? fixed : [budget];
};

const pgrOf = (value: number | null | undefined, baseline: number, optimum: number): number =>
  value === null || value === undefined || !Number.isFinite(value)
    ? -Infinity
    : (value - baseline) / (optimum - baseline);

function summarizeRun(
  problem: string,
  runner: QualityRunner,
  seed: number,
  pgrs: number[],
  budget: number,
  seconds: number,
): QualityRun {
  const best = bestSoFar(pgrs);
  return {
    problem,
    runner,
    seed,
    trials: pgrs.length,
    trialsTo: Object.fromEntries(TARGETS.map((t) => [String(t), trialsToReach(pgrs, t)])),
    bestAt: Object.fromEntries(
      budgetsFor(budget).map((b) => [
        String(b),
        round(best[Math.min(b, best.length) - 1] ?? -Infinity, 4),
      ]),
    ),
    seconds: round(seconds, 2),
  };
}

export function summarize(
  runs: readonly QualityRun[],
  budget: number,
): { summary: QualitySummary[]; tpe: TpeComparison[] } {
  const groups = new Map<string, QualityRun[]>();
  for (const r of runs)
    groups.set(`${r.problem}\u0000${r.runner}`, [
      ...(groups.get(`${r.problem}\u0000${r.runner}`) ?? []),
      r,
    ]);
  const summary: QualitySummary[] = [];
  for (const rs of groups.values()) {
    const { problem, runner } = rs[0]!;
    summary.push({
      problem,
      runner,
      seeds: rs.length,
      medianTrialsTo: Object.fromEntries(
        TARGETS.map((t) => {
          const k = String(t);
          const xs = rs.map((r) => r.trialsTo[k] ?? Infinity);
          const m = median(xs);
          return [k, Number.isFinite(m) ? m : null];
        }),
      ),
      reached: Object.fromEntries(
        TARGETS.map((t) => [String(t), rs.filter((r) => r.trialsTo[String(t)] !== null).length]),
      ),
      bestAt: Object.fromEntries(
        budgetsFor(budget).map((b) => {
          const xs = rs.map((r) => r.bestAt[String(b)] ?? -Infinity).filter(Number.isFinite);
          return [String(b), { mean: round(mean(xs), 4), stderr: round(stderr(xs), 4) }];
        }),
      ),
    });
  }
  const tpe: TpeComparison[] = [];
  for (const problem of new Set(runs.map((r) => r.problem))) {
    const b = runs.filter((r) => r.problem === problem && r.runner === 'optuna tpe direct');
    for (const runner of ['gaplab optuna:tpe', 'gaplab tpe activity, sequential'] as const) {
      const a = runs.filter((r) => r.problem === problem && r.runner === runner);
      if (a.length < 2 || b.length < 2) continue;
      for (const budgetAt of budgetsFor(budget)) {
        const xa = a.map((r) => r.bestAt[String(budgetAt)]!).filter(Number.isFinite);
        const xb = b.map((r) => r.bestAt[String(budgetAt)]!).filter(Number.isFinite);
        if (xa.length < 2 || xb.length < 2) continue;
        const w = welch(xa, xb);
        tpe.push({
          problem,
          runner,
          budget: budgetAt,
          diff: round(w.meanDiff, 4),
          p: round(w.p, 4),
        });
      }
    }
  }
  return { summary, tpe };
}

/** Runs `tasks` with at most `limit` at once. */
async function pool<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

async function gaplabRun(
  ctx: BenchContext,
  p: QualityProblem,
  runner: QualityRunner,
  strategy: StrategyConfigInput,
  seed: number,
  budget: number,
): Promise<QualityRun> {
  const t0 = performance.now();
  const run = await ctx.runCampaign(
    qualityCampaignProblem('', p, budget),
    `q-${p.name}`,
    strategy,
    { seed, mlflow: false },
  );
  const baseline = run.report.baselineScore;
  if (baseline === null)
    throw new Error(`${run.campaignId}: the baseline was not measured (${run.report.stopReason})`);
  const pgrs = run.trials
    .filter((t) => t.kind === 'search')
    .sort((a, b) => a.index - b.index)
    .map((t) => pgrOf(t.objective?.mean, baseline, p.optimum));
  return summarizeRun(p.name, runner, seed, pgrs, budget, (performance.now() - t0) / 1000);
}

/** gaplab's TPE strategy activity called for one trial at a time, without the workflow. */
async function sequentialRun(
  p: QualityProblem,
  seed: number,
  budget: number,
  acts: ReturnType<typeof createStrategyActivities>,
): Promise<QualityRun> {
  const t0 = performance.now();
  const { baselineValue, trials } = await simulateCampaign({
    problem: p,
    strategy: { name: 'optuna', settings: { sampler: 'tpe' } },
    seed,
    budget,
    acts,
  });
  const pgrs = trials.map((t) => pgrOf(t.value, baselineValue, p.optimum));
  return summarizeRun(
    p.name,
    'gaplab tpe activity, sequential',
    seed,
    pgrs,
    budget,
    (performance.now() - t0) / 1000,
  );
}

interface DirectOutput {
  runs: {
    problem: string;
    seed: number;
    baselineValue: number;
    values: number[];
    seconds: number;
  }[];
}

export const quality: Benchmark<QualityData> = {
  name: 'quality',
  title: '3. Search quality (PGR on problems with known optima)',
  needsStack: true,
  initial: () => ({ runs: [], summary: [], tpe: [] }),

  async run({ size, ctx, out, log, peers }) {
    const preset = PRESETS[size];
    const seeds = Array.from({ length: preset.seeds }, (_, i) => i + 1);
    const problems = await qualityProblems(ALL_PROBLEMS);
    out.params = {
      problems: ALL_PROBLEMS,
      seeds: preset.seeds,
      budget: preset.budget,
      targets: TARGETS,
      budgets: budgetsFor(preset.budget),
      concurrency: 1,
      seedsPerTrial: 1,
    };
    const record = (r: QualityRun) => {
      out.data.runs.push(r);
      Object.assign(out.data, summarize(out.data.runs, preset.budget));
    };

    // Optuna used directly runs beside the campaigns (its own process).
    const direct = peers
      ? runPeer<DirectOutput>('optuna_quality.py', [], {
          input: JSON.stringify({
            problems: problems.map((p) => ({ ...p })),
            seeds,
            budget: preset.budget,
            sampler: 'tpe',
          }),
          env: { GAPLAB_NODE: process.execPath },
        }).then((r) => {
          for (const run of r.runs) {
            const p = problems.find((x) => x.name === run.problem)!;
            record(
              summarizeRun(
                run.problem,
                'optuna tpe direct',
                run.seed,
                run.values.map((v) => pgrOf(v, run.baselineValue, p.optimum)),
                preset.budget,
                run.seconds,
              ),
            );
          }
          log(`[quality] Optuna used directly: ${r.runs.length} runs done`);
        })
      : Promise.resolve();

    const tasks: (() => Promise<void>)[] = [];
    for (const p of problems) {
      for (const [runner, strategy] of [
        ['gaplab random', { name: 'random' }],
        ['gaplab optuna:tpe', { name: 'optuna', settings: { sampler: 'tpe' } }],
      ] as [QualityRunner, StrategyConfigInput][]) {
        for (const seed of seeds) {
          tasks.push(async () => {
            record(await gaplabRun(ctx!, p, runner, strategy, seed, preset.budget));
            log(`[quality] ${p.name} ${runner} seed ${seed} done`);
          });
        }
      }
    }
    log(
      `[quality] ${tasks.length} campaigns of ${preset.budget} trials, ${preset.parallel} at a time`,
    );
    await Promise.all([pool(preset.parallel, tasks), direct]);

    if (preset.sequential) {
      // Weak-to-strong trials cost real compute: the diagnostic runner covers the functions only.
      const optuna = new OptunaService();
      try {
        const acts = createStrategyActivities({ optuna });
        for (const p of problems.filter((x) => x.name !== 'weak-to-strong')) {
          for (const seed of seeds) record(await sequentialRun(p, seed, preset.budget, acts));
          log(`[quality] ${p.name}: gaplab TPE activity, sequential, done`);
        }
      } finally {
        await optuna.close();
      }
    }
    out.notes.push(
      'gaplab campaigns run at concurrency 1 with one seed per trial and MLflow recording off; the baseline is measured on the campaign seed before the search and every trial uses that seed.',
      'A campaign keeps one trial queued behind the running one (maxInFlight = slots + 1), so each proposal is made one result behind: a batch-of-2-like search, not strictly sequential. The "activity, sequential" runner calls the same strategy activity one trial at a time.',
      "Optuna used directly uses the sampler gaplab builds (TPE, multivariate, grouped for conditional spaces) and is told the baseline first, as a campaign's strategy is.",
    );
  },

  render(result: BenchResult<QualityData>) {
    const { summary, tpe } = result.data;
    const budgets = (result.params.budgets as number[] | undefined) ?? [];
    const order: QualityRunner[] = [
      'gaplab random',
      'gaplab optuna:tpe',
      'optuna tpe direct',
      'gaplab tpe activity, sequential',
    ];
    const rows = [...summary]
      .sort(
        (a, b) =>
          ALL_PROBLEMS.indexOf(a.problem) - ALL_PROBLEMS.indexOf(b.problem) ||
          order.indexOf(a.runner) - order.indexOf(b.runner),
      )
      .map((s) => [
        s.problem,
        s.runner,
        s.seeds,
        ...TARGETS.map(
          (t) =>
            `${s.medianTrialsTo[String(t)] ?? `>${result.params.budget as number}`} (${s.reached[String(t)]}/${s.seeds})`,
        ),
        ...budgets.map((b) => {
          const e = s.bestAt[String(b)];
          return e ? `${fmt(e.mean, 3)} ± ${fmt(e.stderr, 3)}` : '–';
        }),
      ]);
    const parts = [
      `Median trials to reach PGR (seeds that reached it / seeds), and mean best PGR ± standard error after a budget of trials. Budget ${result.params.budget as number} trials per run.`,
      '',
      table(
        [
          'problem',
          'runner',
          'seeds',
          ...TARGETS.map((t) => `trials to ${t}`),
          ...budgets.map((b) => `best PGR @${b}`),
        ],
        rows,
      ),
    ];
    if (tpe.length > 0) {
      parts.push(
        '',
        'gaplab TPE vs Optuna TPE used directly (difference of mean best PGR, Welch two-sided p):',
        '',
        table(
          ['problem', 'gaplab runner', 'budget', 'difference', 'p'],
          tpe.map((t) => [t.problem, t.runner, t.budget, fmt(t.diff, 3), fmt(t.p, 3)]),
        ),
      );
    }
    return parts.join('\n');
  },
};
