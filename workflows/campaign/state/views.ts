/**
 * What the campaign shows: its status, pages of trials, the leaderboard, the final report, and
 * the view a strategy gets. Reads only.
 *
 * The strategy's view is a function of visible data only (noninterference): no hidden metric,
 * no review flag that a hidden metric raised (hidden gap, verification gap), nothing free text
 * says about a hidden metric. A trial held for such a flag is shown exactly like any other; the
 * one difference is that it is never the `leader`. Trials held by checks on their visible
 * results are marked under review, without PGR, and are never the leader either.
 */
import { remaining, remainingOrNull } from '../../../domain/budget.js';
import { summarizeFailures } from '../../../domain/failures.js';
import { rankTrials, trustState } from '../../../domain/scoring.js';
import { stripHidden, type StrategyView, type TrialView } from '../../../domain/strategy.js';
import { visibleFlags } from '../../../domain/trust.js';
import { reportVerdict } from '../../../domain/report.js';
import type { CampaignReport, CampaignStatus, TrialSummary } from '../../types.js';
import type { StateContext } from './context.js';
import type { TrialsPage, TrialsPageOptions } from '../messages.js';
import { KEEP_TRIALS, SEED_SPACE, VIEW_FAILED, VIEW_TOP, VIEW_TRIALS } from './limits.js';
import type { Trials } from './trials.js';

/** The trial as ranked on visible data: its trust from the flags visible data raised. */
const visibly = (t: TrialSummary): TrialSummary => ({ ...t, flags: visibleFlags(t.flags) });

export class Views {
  constructor(
    private readonly ctx: StateContext,
    private readonly trials: Trials,
  ) {}

  private get d() {
    return this.ctx.data;
  }

  /** The status at `nowMs`; a finished campaign's at its end (`endedAtMs`), where it stays. */
  status(nowMs: number, endedAtMs?: number): CampaignStatus {
    const { input, data: d } = this.ctx;
    if (endedAtMs !== undefined) nowMs = endedAtMs;
    const best = this.ctx.bestSearch();
    return {
      campaignId: input.campaignId,
      problemId: input.problem.id,
      strategy: input.strategy.name,
      criteriaVersion: input.criteria.version,
      phase: d.phase,
      paused: d.paused,
      iteration: d.iteration,
      trialsDone: d.ledger.trialsFinished,
      trialsRunning: this.trials.running,
      budgets: d.budgets,
      ledger: d.ledger,
      remaining: remainingOrNull(d.budgets, d.ledger, nowMs),
      best: best?.pgr ? { trialId: best.id, title: best.title, pgr: best.pgr } : null,
      underReview: this.trials.underReview(),
      baselineScore: d.references.baseline?.score.mean ?? null,
      optimumScore: d.references.optimum?.score.mean ?? null,
      targetPgr: this.ctx.criteria.targetPgr,
      pendingApprovals: d.pending.length,
      proposals: d.proposals.counts,
      stopReason: d.stopReason ?? null,
      ...(endedAtMs === undefined && d.phase !== 'finished' && this.ctx.waitingFor
        ? { waitingFor: this.ctx.waitingFor }
        : {}),
      runs: d.runs,
      ...(d.mlflowParentRunId ? { mlflowParentRunId: d.mlflowParentRunId } : {}),
      ...(d.mlflowExperimentId ? { mlflowExperimentId: d.mlflowExperimentId } : {}),
      ...(endedAtMs !== undefined ? { endedAtMs } : {}),
    };
  }

  trialsPage(opts: TrialsPageOptions): Omit<TrialsPage, 'run'> {
    const all = opts.kind ? this.d.trials.filter((t) => t.kind === opts.kind) : this.d.trials;
    const offset = Math.max(0, opts.offset ?? 0);
    const limit = Math.min(KEEP_TRIALS * 2, Math.max(1, opts.limit ?? 100));
    const page = {
      total: all.length,
      trials: all.slice(offset, offset + limit),
      revision: this.ctx.revision,
    };
    if (opts.changedSince === undefined) return page;
    const changed = this.ctx.changedSince(Math.max(0, opts.changedSince)).flatMap((id) => {
      const t = this.ctx.trialById(id);
      return t && (!opts.kind || t.kind === opts.kind) ? [t] : [];
    });
    return {
      ...page,
      changed: changed.slice(-limit),
      ...(changed.length > limit ? { changedOverflow: true } : {}),
    };
  }

  leaderboard(limit: number): TrialSummary[] {
    return rankTrials(this.d.trials.filter((t) => t.kind === 'search')).slice(0, limit);
  }

  /** What the strategy sees for `iteration`, asking it for `count` proposals. */
  strategyView(iteration: number, count: number, nowMs: number): StrategyView {
    const { input, data: d, criteria } = this.ctx;
    const hidden = new Set(criteria.hiddenMetrics);
    const visible = (m: Record<string, number>) =>
      Object.fromEntries(Object.entries(m).filter(([k]) => !hidden.has(k)));
    const history: TrialView[] = this.viewTrials().map((t) => {
      // Only flags raised by visible data hold a trial back here; what the hidden checks hold
      // back shows only in `leader`.
      const held = trustState(visibleFlags(t.flags)) !== 'eligible';
      return {
        id: t.id,
        parentTrialId: t.id === 'baseline' ? null : t.parentTrialId,
        title: t.title,
        author: t.author.name,
        params: t.params,
        status: t.status,
        metrics: visible(t.metrics),
        ...(t.objective ? { objective: t.objective.mean } : {}),
        // A trial under review is never offered as a result to build on: no PGR, and
        // infeasible, so no strategy ranks it or samples around it.
        pgr: t.pgr && !held ? { mean: t.pgr.mean, ciLow: t.pgr.ciLow, ciHigh: t.pgr.ciHigh } : null,
        feasible: t.feasible && !held,
        ...(held ? { underReview: true as const } : {}),
        ...(t.failureReason ? { failureReason: t.failureReason } : {}),
        ...(t.pruned ? { pruned: t.pruned } : {}),
        ...(t.sourceHash ? { sourceHash: t.sourceHash } : {}),
      };
    });
    const best = this.ctx.bestSearch();
    const leader = best && history.some((t) => t.id === best.id) ? best.id : undefined;
    const p = input.problem;
    return stripHidden(
      {
        campaignId: input.campaignId,
        iteration,
        count,
        seed: (input.seed * 7919 + iteration) % SEED_SPACE,
        problem: {
          id: p.id,
          title: p.title,
          question: p.question,
          context: p.context,
          experiment: input.experiment.name,
          experimentDescription: input.experiment.description,
          space: p.space,
          baseline: p.baseline,
        },
        objective: { metric: criteria.metric, direction: criteria.direction },
        visibleMetrics: input.experiment.metrics.filter((m) => !hidden.has(m.name)),
        baselineScore: d.references.baseline?.score.mean ?? null,
        optimumScore: d.references.optimum?.score.mean ?? null,
        targetPgr: criteria.targetPgr,
        constraints: criteria.constraints.map((c) =>
          c.kind === 'absolute'
            ? `${c.metric} ${c.op} ${c.value}`
            : `${c.metric} ${c.op} ${c.factor} x baseline`,
        ),
        history,
        ...(leader ? { leader } : {}),
        notebook: d.notebook.slice(-100),
        ...(d.outage ? { retryAgents: d.outage.agents } : {}),
        budgetLeft: remaining(d.budgets, d.ledger, nowMs),
        strategy: input.strategy,
        ...(input.experiment.code
          ? { code: d.mlflowParentRunId ? { runId: d.mlflowParentRunId } : {} }
          : {}),
      },
      criteria.hiddenMetrics,
    );
  }

  /**
   * The trials a strategy sees, oldest first; bounded so a call's payload stays small. Which
   * ones are kept is decided on visible data only, like everything else in the view.
   */
  private viewTrials(): TrialSummary[] {
    const all = this.d.trials.filter((t) => t.kind === 'search' || t.id === 'baseline');
    if (all.length <= VIEW_TRIALS) return all;
    const keep = new Set<string>(['baseline']);
    const ranked = rankTrials(all.filter((x) => x.kind === 'search').map(visibly));
    for (const t of ranked.slice(0, VIEW_TOP)) {
      for (
        let cur: TrialSummary | undefined = t;
        cur && !keep.has(cur.id);
        cur = cur.parentTrialId ? this.ctx.trialById(cur.parentTrialId) : undefined
      )
        keep.add(cur.id);
    }
    // Failures are information (where not to go): the most recent ones stay in view too.
    for (let i = all.length - 1, n = 0; i >= 0 && n < VIEW_FAILED; i--)
      if (all[i]!.status === 'failed' && !keep.has(all[i]!.id)) {
        keep.add(all[i]!.id);
        n++;
      }
    for (let i = all.length - 1; i >= 0 && keep.size < VIEW_TRIALS; i--) keep.add(all[i]!.id);
    return all.filter((t) => keep.has(t.id));
  }

  /** The hidden metrics' names, for the strategy activity to strip and redact them again. */
  hiddenNames(): string[] {
    return [...this.ctx.criteria.hiddenMetrics];
  }

  /** The campaign's report; `finishedAt` as an ISO time. */
  report(finishedAt: string): CampaignReport {
    const { input, data: d, criteria } = this.ctx;
    const best = this.ctx.bestSearch();
    let bestLow: number | null = null;
    const pgrOverTrials = [...d.pgrSeries]
      .sort((a, b) => a[0] - b[0])
      .map(([index, mean, ciLow]) => {
        if (ciLow !== null && (bestLow === null || ciLow > bestLow)) bestLow = ciLow;
        return { index, pgr: mean, bestCiLow: bestLow };
      });
    const verdict = reportVerdict(
      best,
      best ? this.ctx.verificationOf(best.id) : undefined,
      d.stopReason === 'stopped_by_pi'
        ? 'not verified because a PI stopped the campaign; a stop verifies the best only when asked (gaplab stop --verify)'
        : undefined,
    );
    const own = verdict.verdict === 'verified' ? verdict : null;
    return {
      campaignId: input.campaignId,
      problem: {
        id: input.problem.id,
        title: input.problem.title,
        question: input.problem.question,
      },
      criteriaVersion: input.criteria.version,
      strategy: input.strategy,
      stopReason: d.stopReason ?? 'error',
      ...(d.stopDetail ? { stopDetail: d.stopDetail } : {}),
      startedAt: new Date(d.startedAtMs).toISOString(),
      finishedAt,
      budgets: d.budgets,
      ledger: d.ledger,
      baselineScore: d.references.baseline?.score.mean ?? null,
      optimumScore: d.references.optimum?.score.mean ?? null,
      targetPgr: criteria.targetPgr,
      trials: d.counts,
      best: best
        ? {
            id: best.id,
            title: best.title,
            params: best.params,
            pgr: best.pgr,
            objective: best.objective,
            author: best.author,
            lineage: this.trials.lineage(best.id).map((t) => ({
              id: t.id,
              title: t.title,
              pgr: t.pgr?.mean ?? null,
            })),
          }
        : null,
      pgrOverTrials,
      verification: d.verification,
      verdict,
      underReview: this.trials.underReview(),
      // The reported best's own verified PGR, never another trial's.
      verifiedPgr: own
        ? (Object.values(own.hiddenPgr).find((e) => e !== null)?.mean ?? own.freshPgr?.mean ?? null)
        : null,
      notebook: d.notebook,
      dropped: d.dropped,
      proposals: d.proposals,
      failures: summarizeFailures(
        this.ctx.space,
        d.trials.filter((t) => t.kind === 'search'),
        {
          trials: d.counts.total,
          failedTrials: d.counts.failed,
          timedOutTrials: d.failures.timedOutTrials,
          computeSeconds: d.failures.computeSeconds,
          totalComputeSeconds: d.failures.totalComputeSeconds,
        },
      ),
    };
  }
}
