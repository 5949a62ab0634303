/**
 * The trials the campaign keeps in memory and what is counted over all of them: finishing a
 * trial (score, counts, PGR series, failure costs), compaction past KEEP_TRIALS (MLflow keeps
 * every trial), review flags and the configurations compacted away (for duplicate checks).
 */
import { adaptiveTimeoutSeconds, failureKind } from '../../../domain/failures.js';
import type { Actor, Config, SeedResult } from '../../../domain/schemas.js';
import { openFlags, rankTrials, scoreTrial, trustState } from '../../../domain/scoring.js';
import type { CarriedState, TrialSummary, UnderReview } from '../../types.js';
import { carriedPayload, memoOnDurations, type StateContext } from './context.js';
import {
  ARCHIVED_LIMIT,
  CARRY_BUDGET,
  configHash,
  cut,
  jsonSize,
  KEEP_RECENT,
  KEEP_TOP,
  KEEP_TRIALS,
  KEPT_CHARS,
  PGR_SERIES_LIMIT,
  SEED_DURATIONS,
} from './limits.js';
import type { Records } from './records.js';
import type { References } from './references.js';
import type { TrialRequest } from './requests.js';

/**
 * The PGR series thinned to at most `limit` points: every point that raised the best lower bound
 * stays (the report's step curve), the others are halved, oldest first, until it fits.
 */
export function thinSeries(
  series: CarriedState['pgrSeries'],
  limit: number,
): CarriedState['pgrSeries'] {
  let out = series;
  while (out.length > limit) {
    let best = -Infinity;
    const step = out.map(([, , low]) => {
      if (low !== null && low > best) {
        best = low;
        return true;
      }
      return false;
    });
    let other = 0;
    const thinner = out.filter((_, i) => step[i] || i === out.length - 1 || other++ % 2 === 0);
    // Improvements alone over the limit: halve those too.
    out =
      thinner.length < out.length
        ? thinner
        : out.filter((_, i) => i % 2 === 0 || i === out.length - 1);
  }
  return out;
}

export class Trials {
  /** Search trials started and not finished. */
  private runningNow = 0;
  /** Hashes of the configurations of trials compacted out of memory, oldest first. */
  private readonly archivedConfigs: Set<string>;

  constructor(
    private readonly ctx: StateContext,
    private readonly records: Records,
    private readonly refs: References,
  ) {
    this.archivedConfigs = new Set(ctx.data.archivedConfigs);
  }

  private get d() {
    return this.ctx.data;
  }
  get all(): readonly TrialSummary[] {
    return this.d.trials;
  }
  get running(): number {
    return this.runningNow;
  }

  /** The next trial index (trial ids and the PGR series follow it). */
  nextIndex(): number {
    return this.d.nextTrialIndex++;
  }

  /** A search trial takes its place: counted as started and running. */
  startSearch(): number {
    this.d.ledger = { ...this.d.ledger, trialsStarted: this.d.ledger.trialsStarted + 1 };
    this.runningNow++;
    return this.nextIndex();
  }

  /** Whether a configuration was tried by a trial compacted out of memory. */
  isArchived(params: Config): boolean {
    return this.archivedConfigs.has(configHash(params));
  }

  /**
   * The carried data as it continues as new. Every part is already bounded where it grows; the
   * kept trials are then compacted until the whole fits CARRY_BUDGET (with `inputBytes`, the
   * size of the workflow input that goes along).
   */
  carry(inputBytes = 0): CarriedState {
    const budget = (rest: number) =>
      Math.min(CARRY_BUDGET.trials, CARRY_BUDGET.total - inputBytes - rest);
    const payload = () => {
      this.d.archivedConfigs = [...this.archivedConfigs];
      return carriedPayload(this.d);
    };
    let carried = payload();
    let recent = KEEP_RECENT;
    let top = KEEP_TOP;
    for (;;) {
      const trialBytes = jsonSize(this.d.trials);
      if (trialBytes <= budget(jsonSize(carried) - trialBytes) || (recent === 0 && top === 0))
        break;
      recent = Math.floor(recent / 2);
      top = Math.floor(top / 2);
      this.compact(recent, top);
      carried = payload();
    }
    return carried;
  }

  /**
   * The time limit of the next search trial's seeds: the experiment's own until a few seeds
   * succeeded, then a multiple of their durations (domain/failures.ts), so a hang is stopped
   * after a few typical run times instead of at a limit set for the worst case.
   */
  seedTimeoutSeconds(): number {
    const limit = this.ctx.input.experiment.timeoutSeconds;
    if (this.ctx.input.timing?.adaptiveTimeouts === false) return limit;
    return this.adaptiveTimeout(this.d.failures.seedDurations, limit);
  }
  /** Asked for every trial started: remembered per durations array. */
  private readonly adaptiveTimeout = memoOnDurations(adaptiveTimeoutSeconds);

  finish(req: TrialRequest, seeds: SeedResult[], startedAt: string, finishedAt: string) {
    const criteria = this.ctx.criteria;
    const b = this.d.references.baseline;
    const o = this.d.references.optimum;
    const score = scoreTrial({
      seeds,
      criteria,
      baselineScore: b ? b.score : null,
      optimumScore: o ? o.score : null,
      ...(b ? { baselineMetricMeans: b.metrics } : {}),
      ...(b?.bySeed && this.refs.strict ? { baselineBySeed: b.bySeed } : {}),
      ...(this.refs.strict && req.kind === 'search' ? { pgrFloor: this.refs.floor } : {}),
      options: { hiddenGapInterval: this.refs.strict },
    });
    const trial: TrialSummary = {
      id: req.id,
      index: req.index,
      hypothesisId: req.hypothesis.id,
      kind: req.kind,
      ...(req.label ? { label: req.label } : {}),
      parentTrialId:
        req.kind === 'search'
          ? (req.hypothesis.parentTrialId ?? 'baseline')
          : req.kind === 'verification'
            ? (req.verifies ?? null)
            : null,
      title: cut(req.hypothesis.title, KEPT_CHARS.title),
      rationale: cut(req.hypothesis.rationale, KEPT_CHARS.trialRationale),
      ...(req.hypothesis.expectedEffect
        ? { expectedEffect: cut(req.hypothesis.expectedEffect, KEPT_CHARS.trialRationale) }
        : {}),
      author: req.hypothesis.author,
      params: req.hypothesis.params,
      changes: req.hypothesis.changes,
      ...(req.hypothesis.sourceHash ? { sourceHash: req.hypothesis.sourceHash } : {}),
      ...(req.hypothesis.parentSourceHash
        ? { parentSourceHash: req.hypothesis.parentSourceHash }
        : {}),
      seeds: req.seeds,
      ...(req.timeoutSeconds !== undefined ? { timeoutSeconds: req.timeoutSeconds } : {}),
      status: score.status,
      metrics: Object.fromEntries(Object.entries(score.aggregates).map(([k, v]) => [k, v.mean])),
      objective: score.aggregates[criteria.metric] ?? null,
      pgr: score.pgr,
      feasible: score.feasible,
      constraints: score.constraints,
      flags: score.flags,
      trust: trustState(score.flags),
      seedScores: req.seeds.map((seed) => {
        const r = seeds.find((x) => x.seed === seed);
        const v = r?.status === 'succeeded' ? r.metrics[criteria.metric] : undefined;
        return typeof v === 'number' && Number.isFinite(v) ? v : null;
      }),
      computeSeconds: score.computeSeconds,
      ...(score.failureReason ? { failureReason: score.failureReason } : {}),
      ...(score.pruned ? { pruned: score.pruned } : {}),
      startedAt,
      finishedAt,
    };
    if (trial.status === 'succeeded') this.refs.rescore(trial);
    this.d.trials.push(trial);
    this.ctx.indexTrial(trial);
    if (req.kind === 'search' && trial.status === 'succeeded') this.refs.refreshFloor();
    this.d.ledger = {
      ...this.d.ledger,
      computeSeconds: this.d.ledger.computeSeconds + trial.computeSeconds,
    };
    this.ctx.settleSeedCompute(req.id);
    if (req.kind === 'search') this.countSearch(trial);
    this.noteFailureCosts(req, trial, seeds);
    this.ctx.bump();
    return trial;
  }

  private countSearch(trial: TrialSummary): void {
    const d = this.d;
    this.runningNow--;
    d.ledger = { ...d.ledger, trialsFinished: d.ledger.trialsFinished + 1 };
    d.counts = {
      total: d.counts.total + 1,
      succeeded: d.counts.succeeded + (trial.status === 'succeeded' ? 1 : 0),
      failed: d.counts.failed + (trial.status === 'failed' ? 1 : 0),
      cancelled: d.counts.cancelled + (trial.status === 'cancelled' ? 1 : 0),
      ...(trial.status === 'pruned' || d.counts.pruned !== undefined
        ? { pruned: (d.counts.pruned ?? 0) + (trial.status === 'pruned' ? 1 : 0) }
        : {}),
      flagged: d.counts.flagged + (trial.trust !== 'eligible' ? 1 : 0),
    };
    const eligible =
      trial.status === 'succeeded' &&
      trial.feasible &&
      trial.pgr !== null &&
      trial.trust === 'eligible';
    d.pgrSeries.push([trial.index, trial.pgr?.mean ?? null, eligible ? trial.pgr!.ciLow : null]);
    if (d.pgrSeries.length > PGR_SERIES_LIMIT)
      d.pgrSeries = thinSeries(d.pgrSeries, Math.floor(PGR_SERIES_LIMIT * 0.75));
    if (d.trials.length > KEEP_TRIALS) this.compact();
    if (trial.status === 'failed')
      this.records.addError(
        `${trial.id} "${trial.title}" failed: ${trial.failureReason ?? 'unknown'}`,
        trial.id,
      );
  }

  /** Successful seeds' durations (any trial kind) and what failed search trials cost. */
  private noteFailureCosts(req: TrialRequest, trial: TrialSummary, seeds: SeedResult[]): void {
    const ok = seeds.filter((s) => s.status === 'succeeded').map((s) => s.durationSeconds);
    const l = this.d.failures;
    const durations =
      ok.length > 0 ? [...l.seedDurations, ...ok].slice(-SEED_DURATIONS) : l.seedDurations;
    const search = req.kind === 'search';
    const failed = search && trial.status === 'failed';
    this.d.failures = {
      computeSeconds: l.computeSeconds + (failed ? trial.computeSeconds : 0),
      totalComputeSeconds: l.totalComputeSeconds + (search ? trial.computeSeconds : 0),
      timedOutTrials:
        l.timedOutTrials + (failed && failureKind(trial.failureReason) === 'timeout' ? 1 : 0),
      seedDurations: durations,
    };
  }

  /** Keeps references, verification runs, recent trials and the leaders with their ancestors. */
  compact(recent = KEEP_RECENT, top = KEEP_TOP): void {
    const trials = this.d.trials;
    const search = trials.filter((t) => t.kind === 'search');
    const keep = new Set<string>();
    for (const t of trials) if (t.kind !== 'search') keep.add(t.id);
    for (const t of recent > 0 ? search.slice(-recent) : []) keep.add(t.id);
    for (const t of rankTrials(search).slice(0, top)) {
      for (
        let cur: TrialSummary | undefined = t;
        cur && !keep.has(`lineage:${cur.id}`);
        cur = cur.parentTrialId ? this.ctx.trialById(cur.parentTrialId) : undefined
      ) {
        keep.add(cur.id);
        keep.add(`lineage:${cur.id}`);
      }
    }
    const kept: TrialSummary[] = [];
    for (const t of trials) {
      if (keep.has(t.id)) kept.push(t);
      else {
        this.archiveConfig(t.params);
        this.ctx.forgetTrial(t.id);
      }
    }
    this.d.trials = kept;
  }

  private archiveConfig(params: Config): void {
    const h = configHash(params);
    this.archivedConfigs.delete(h);
    this.archivedConfigs.add(h);
    if (this.archivedConfigs.size > ARCHIVED_LIMIT)
      this.archivedConfigs.delete(this.archivedConfigs.values().next().value!);
  }

  setRunId(trialId: string, runId: string): void {
    const t = this.ctx.trialById(trialId);
    if (t) {
      t.mlflowRunId = runId;
      this.ctx.trialChanged(t.id);
    }
  }

  /** The trial and its ancestors, the root first. */
  lineage(trialId: string): TrialSummary[] {
    const path: TrialSummary[] = [];
    let cur = this.ctx.trialById(trialId);
    const seen = new Set<string>();
    while (cur && !seen.has(cur.id)) {
      seen.add(cur.id);
      path.unshift(cur);
      cur = cur.parentTrialId ? this.ctx.trialById(cur.parentTrialId) : undefined;
    }
    return path;
  }

  // ---- review flags -------------------------------------------------------------------------

  /** Changes a trial's flags, keeping its trust state and the flagged count in step. */
  setFlags(t: TrialSummary, flags: TrialSummary['flags']): void {
    const before = t.trust;
    t.flags = flags;
    t.trust = trustState(flags);
    this.ctx.trialChanged(t.id);
    if (t.kind === 'search' && before !== t.trust) {
      const delta = (t.trust !== 'eligible' ? 1 : 0) - (before !== 'eligible' ? 1 : 0);
      this.d.counts = { ...this.d.counts, flagged: this.d.counts.flagged + delta };
    }
    this.ctx.bump();
  }

  /** The open flag of that kind on a trial, or why there is none (for validators). */
  openFlag(
    trialId: string,
    flag: string,
  ): { ok: true } | { ok: false; type: 'NotFound' | 'Conflict'; message: string } {
    const t = this.ctx.trialById(trialId);
    if (!t) return { ok: false, type: 'NotFound', message: `trialId: unknown trial ${trialId}` };
    const all = t.flags.filter((x) => x.kind === flag);
    if (all.length === 0)
      return { ok: false, type: 'NotFound', message: `flag: trial ${trialId} has no flag ${flag}` };
    if (!all.some((x) => !x.cleared && !x.confirmed))
      return {
        ok: false,
        type: 'Conflict',
        message: `flag ${flag} of trial ${trialId} is already ${all.some((x) => x.confirmed) ? 'confirmed' : 'cleared'}`,
      };
    return { ok: true };
  }

  /**
   * A PI's decision on an open review flag: `clear` (checked, harmless: the trial becomes
   * eligible once no flag is open) or `confirm` (the problem is real: the trial is excluded for
   * good). Audited with the reason; the flag keeps who decided, when and why.
   */
  decideFlag(
    trialId: string,
    flag: string,
    decision: 'clear' | 'confirm',
    actor: Actor,
    reason: string,
  ): void {
    const t = this.ctx.trialById(trialId);
    const i = t?.flags.findIndex((x) => x.kind === flag && !x.cleared && !x.confirmed) ?? -1;
    if (!t || i < 0) return;
    const stamp = { actor, reason, at: this.ctx.nowIso() };
    const flags = t.flags.map((f, j) =>
      j === i ? { ...f, ...(decision === 'clear' ? { cleared: stamp } : { confirmed: stamp }) } : f,
    );
    this.setFlags(t, flags);
    this.records.audit(
      actor,
      decision === 'clear' ? 'clear flag' : 'confirm flag',
      `${trialId} ${flag}: ${reason} (trial now ${t.trust.replace('_', ' ')})`,
    );
  }

  /** Search trials under review or excluded, most recent first (at most `limit`). */
  underReview(limit = 50): UnderReview[] {
    const out: UnderReview[] = [];
    const trials = this.d.trials;
    for (let i = trials.length - 1; i >= 0 && out.length < limit; i--) {
      const t = trials[i]!;
      if (t.kind !== 'search' || t.trust === 'eligible') continue;
      const shown =
        t.trust === 'excluded' ? t.flags.filter((f) => f.confirmed) : openFlags(t.flags);
      out.push({
        trialId: t.id,
        title: t.title,
        trust: t.trust,
        flags: shown.map((f) => ({ kind: f.kind, message: f.message })),
      });
    }
    return out;
  }
}
