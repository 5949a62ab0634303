/**
 * 6. Failure-aware search: Branin with a crash region and a hang region
 * (experiments/benchmarks/failing.ts, 26% of the space; a hang waits out a 2 s limit), at equal
 * budget, several seeds each, three runners in one run:
 * - Optuna TPE as before: failures told as FAIL (which every sampler ignores) and fixed timeouts
 *   (`onFailure: 'ignore'`, `adaptiveTimeouts: false`);
 * - Optuna TPE now: failures told as infeasible trials, of four suggestions the one farthest from
 *   failures proposed (activities/strategies/optuna.ts), adaptive timeouts;
 * - random search now: samples near failures down-weighted, adaptive timeouts.
 * Reported: the share of trials spent in the failing regions, the compute-seconds they took and
 * the best PGR reached.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { welch } from '../domain/stats.js';
import type { StrategyConfigInput } from '../domain/strategy.js';
import { failingRegion } from '../experiments/benchmarks/failing.js';
import type { CampaignTiming, TrialSummary } from '../workflows/types.js';
import { pi, type BenchContext } from './context.js';
import type { BenchProblem } from './experiments.js';
import { fmt, pct, table, type BenchResult, type Size } from './results.js';
import { mean, round, stderr } from './stats.js';
import type { Benchmark } from './suite.js';

const PRESETS: Record<Size, { seeds: number; budget: number; parallel: number }> = {
  tiny: { seeds: 1, budget: 12, parallel: 3 },
  quick: { seeds: 3, budget: 60, parallel: 3 },
  full: { seeds: 10, budget: 60, parallel: 3 },
};

export const FAILURE_RUNNERS = ['optuna tpe, before', 'optuna tpe', 'random'] as const;
export type FailureRunner = (typeof FAILURE_RUNNERS)[number];

const SETUPS: Record<FailureRunner, { strategy: StrategyConfigInput; timing: CampaignTiming }> = {
  'optuna tpe, before': {
    strategy: { name: 'optuna', settings: { sampler: 'tpe', onFailure: 'ignore' } },
    timing: { adaptiveTimeouts: false },
  },
  'optuna tpe': {
    strategy: { name: 'optuna', settings: { sampler: 'tpe' } },
    timing: { adaptiveTimeouts: true },
  },
  random: { strategy: { name: 'random' }, timing: { adaptiveTimeouts: true } },
};

export interface FailureRun {
  runner: FailureRunner;
  seed: number;
  trials: number;
  /** Search trials in the crash / hang region (ground truth: the experiment's own regions). */
  crash: number;
  hang: number;
  /** Share of the search trials in a failing region. */
  share: number;
  /** Compute-seconds of the failed search trials, and of all of them. */
  wastedSeconds: number;
  computeSeconds: number;
  /** Mean time limit of the hanging trials' seeds. */
  hangTimeoutSeconds: number | null;
  bestPgr: number | null;
  /** The regions of repeated failures the report names. */
  reportedRegions: number;
  wallSeconds: number;
}

export interface FailureSummaryRow {
  runner: FailureRunner;
  seeds: number;
  share: { mean: number; stderr: number };
  wastedSeconds: { mean: number; stderr: number };
  wastedShare: number;
  hang: number;
  crash: number;
  hangTimeoutSeconds: number | null;
  bestPgr: { mean: number; stderr: number };
  wallSeconds: number;
}

export interface FailureComparison {
  runner: FailureRunner;
  metric: 'share' | 'wastedSeconds' | 'bestPgr';
  /** Mean of the runner minus mean of "optuna tpe, before". */
  diff: number;
  p: number;
}

export interface FailuresData {
  runs: FailureRun[];
  summary: FailureSummaryRow[];
  comparisons: FailureComparison[];
}

const estimate = (xs: readonly number[]) => ({
  mean: round(mean(xs), 4),
  stderr: round(stderr(xs), 4),
});

export function summarizeFailureRuns(runs: readonly FailureRun[]): Omit<FailuresData, 'runs'> {
  const summary: FailureSummaryRow[] = [];
  const by = (r: FailureRunner) => runs.filter((x) => x.runner === r);
  for (const runner of FAILURE_RUNNERS) {
    const rs = by(runner);
    if (rs.length === 0) continue;
    const timeouts = rs.map((r) => r.hangTimeoutSeconds).filter((x): x is number => x !== null);
    const wasted = rs.reduce((s, r) => s + r.wastedSeconds, 0);
    const total = rs.reduce((s, r) => s + r.computeSeconds, 0);
    summary.push({
      runner,
      seeds: rs.length,
      share: estimate(rs.map((r) => r.share)),
      wastedSeconds: estimate(rs.map((r) => r.wastedSeconds)),
      wastedShare: total > 0 ? round(wasted / total, 4) : 0,
      hang: round(mean(rs.map((r) => r.hang)), 2),
      crash: round(mean(rs.map((r) => r.crash)), 2),
      hangTimeoutSeconds: timeouts.length > 0 ? round(mean(timeouts), 2) : null,
      bestPgr: estimate(rs.map((r) => r.bestPgr ?? 0)),
      wallSeconds: round(mean(rs.map((r) => r.wallSeconds)), 1),
    });
  }
  const comparisons: FailureComparison[] = [];
  const before = by('optuna tpe, before');
  for (const runner of FAILURE_RUNNERS.filter((r) => r !== 'optuna tpe, before')) {
    const now = by(runner);
    if (now.length < 2 || before.length < 2) continue;
    for (const metric of ['share', 'wastedSeconds', 'bestPgr'] as const) {
      const w = welch(
        now.map((r) => r[metric] ?? 0),
        before.map((r) => r[metric] ?? 0),
      );
      comparisons.push({ runner, metric, diff: round(w.meanDiff, 4), p: round(w.p, 4) });
    }
  }
  return { summary, comparisons };
}

async function loadProblem(budget: number): Promise<BenchProblem> {
  const dir = new URL('../experiments/benchmarks/', import.meta.url);
  const spec = parseYaml(
    await readFile(new URL('branin-failures.problem.yaml', dir), 'utf8'),
  ) as BenchProblem['spec'];
  const criteria = parseYaml(
    await readFile(new URL('branin-failures.criteria.yaml', dir), 'utf8'),
  ) as BenchProblem['criteria'] & { budgets: Record<string, unknown> };
  return { spec, criteria: { ...criteria, budgets: { ...criteria.budgets, maxTrials: budget } } };
}

/** What one campaign's trials say, against the experiment's ground truth. */
export function scoreFailureRun(
  runner: FailureRunner,
  seed: number,
  trials: readonly TrialSummary[],
  baseline: number,
  optimum: number,
  reportedRegions: number,
  wallSeconds: number,
): FailureRun {
  const search = trials.filter((t) => t.kind === 'search');
  const region = (t: TrialSummary) => failingRegion(t.params as { x1: number; x2: number });
  const hangs = search.filter((t) => region(t) === 'hang');
  const values = search
    .filter((t) => t.status === 'succeeded' && t.objective)
    .map((t) => (t.objective!.mean - baseline) / (optimum - baseline));
  const timeouts = hangs.map((t) => t.timeoutSeconds).filter((x): x is number => x !== undefined);
  return {
    runner,
    seed,
    trials: search.length,
    crash: search.filter((t) => region(t) === 'crash').length,
    hang: hangs.length,
    share: search.length > 0 ? round(search.filter(region).length / search.length, 4) : 0,
    wastedSeconds: round(
      search.filter((t) => t.status === 'failed').reduce((s, t) => s + t.computeSeconds, 0),
      2,
    ),
    computeSeconds: round(
      search.reduce((s, t) => s + t.computeSeconds, 0),
      2,
    ),
    hangTimeoutSeconds: timeouts.length > 0 ? round(mean(timeouts), 2) : null,
    bestPgr: values.length > 0 ? round(Math.max(...values), 4) : null,
    reportedRegions,
    wallSeconds: round(wallSeconds, 1),
  };
}

async function runOne(
  ctx: BenchContext,
  problem: BenchProblem,
  runner: FailureRunner,
  seed: number,
): Promise<FailureRun> {
  const { strategy, timing } = SETUPS[runner];
  const problemId = await ctx.submit(problem, 'failures');
  const service = ctx.service(false, timing);
  const t0 = performance.now();
  const { campaignId } = await service.startCampaign(pi, { problemId, strategy, seed });
  const report = await service.result(campaignId);
  const wall = (performance.now() - t0) / 1000;
  if (report.baselineScore === null)
    throw new Error(`${campaignId}: the baseline was not measured (${report.stopReason})`);
  const trials = await ctx.allTrials(campaignId);
  const optimum = (problem.criteria.optimum as { value: number }).value;
  return scoreFailureRun(
    runner,
    seed,
    trials,
    report.baselineScore,
    optimum,
    report.failures?.regions.length ?? 0,
    wall,
  );
}

/** Runs `tasks` with at most `limit` at once. */
async function pool(limit: number, tasks: (() => Promise<void>)[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}

export const failures: Benchmark<FailuresData> = {
  name: 'failures',
  title: '6. Failure-aware search (a crash region and a hang region)',
  needsStack: true,
  initial: () => ({ runs: [], summary: [], comparisons: [] }),

  async run({ size, ctx, out, log }) {
    const preset = PRESETS[size];
    const problem = await loadProblem(preset.budget);
    const seeds = Array.from({ length: preset.seeds }, (_, i) => i + 1);
    out.params = {
      problem: 'branin-failures',
      seeds: preset.seeds,
      budget: preset.budget,
      concurrency: (problem.criteria.budgets as { concurrency: number }).concurrency,
      seedsPerTrial: 1,
      timeLimitSeconds: 2,
      failingShareOfSpace: 0.263,
      runners: FAILURE_RUNNERS,
    };
    const tasks: (() => Promise<void>)[] = [];
    // Interleaved, so that the runners share the machine's load alike.
    for (const seed of seeds)
      for (const runner of FAILURE_RUNNERS)
        tasks.push(async () => {
          const run = await runOne(ctx!, problem, runner, seed);
          out.data.runs.push(run);
          Object.assign(out.data, summarizeFailureRuns(out.data.runs));
          log(
            `[failures] ${runner} seed ${seed}: ${pct(run.share)} in failing regions, ${run.wastedSeconds} s wasted, best PGR ${fmt(run.bestPgr, 3)}`,
          );
        });
    await pool(preset.parallel, tasks);
    out.notes.push(
      'Ground truth: crash when x2 > 13, hang (until the time limit) when x1 < -2.75 and x2 <= 13; 26.3% of the space. The hang region holds one of the three global minima and borders good values.',
      '"before" is the previous behaviour in the same run: failed trials told to Optuna as FAIL (every sampler skips them) and every seed given the full 2 s limit. The others learn from failures (Optuna: infeasible trials for TPE, and of four TPE suggestions per proposal the one with the least failure pressure, by the kernel random search rejects with; random: rejection near failures) and use adaptive timeouts (after 5 successful seeds, max(3 x p95, 2 x longest, 1 s) here, never above 2 s).',
      'One seed per trial, MLflow recording off; the campaign runs its whole trial budget (one seed never reaches the target). Best PGR = best trial value against the measured baseline and the known optimum 0.397887.',
    );
  },

  render(result: BenchResult<FailuresData>) {
    const { summary, comparisons } = result.data;
    const p = result.params as { budget: number; concurrency: number; seeds: number };
    const rows = summary.map((s) => [
      s.runner,
      s.seeds,
      `${pct(s.share.mean)} ± ${pct(s.share.stderr)}`,
      fmt(s.hang, 1),
      fmt(s.crash, 1),
      s.hangTimeoutSeconds === null ? '–' : `${fmt(s.hangTimeoutSeconds, 2)} s`,
      `${fmt(s.wastedSeconds.mean, 1)} ± ${fmt(s.wastedSeconds.stderr, 1)}`,
      pct(s.wastedShare),
      `${fmt(s.bestPgr.mean, 3)} ± ${fmt(s.bestPgr.stderr, 3)}`,
      fmt(s.wallSeconds, 1),
    ]);
    const parts = [
      `${p.budget} trials per campaign at concurrency ${p.concurrency}, ${p.seeds} seeds per runner; mean ± standard error over seeds. Target: at most 10% of trials in failing regions with Optuna.`,
      '',
      table(
        [
          'runner',
          'seeds',
          'trials in failing regions',
          'hangs',
          'crashes',
          'hang stopped at',
          'compute-s on failures',
          'share of compute',
          'best PGR',
          'wall s',
        ],
        rows,
      ),
    ];
    if (comparisons.length > 0)
      parts.push(
        '',
        'Against "optuna tpe, before" (difference of means, Welch two-sided p):',
        '',
        table(
          ['runner', 'metric', 'difference', 'p'],
          comparisons.map((c) => [
            c.runner,
            c.metric,
            c.metric === 'share' ? `${(c.diff * 100).toFixed(1)} pts` : fmt(c.diff, 3),
            fmt(c.p, 4),
          ]),
        ),
      );
    return parts.join('\n');
  },
};
