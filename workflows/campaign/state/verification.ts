/**
 * Verification: a trial that reached the target, and the leaders at the end, re-run on fresh
 * seeds beside the baseline's re-run on the same seeds, scored on the objective and the hidden
 * metrics paired seed by seed. A trial that fails its verification is flagged (verification gap).
 */
import { inWorkflowContext, patched } from '@temporalio/workflow';
import { trialPgr } from '../../../domain/pgr.js';
import { hiddenGapMetricsOf, type SeedResult } from '../../../domain/schemas.js';
import { formatPruned } from '../../../domain/format.js';
import { rankTrials } from '../../../domain/scoring.js';
import {
  hiddenScales,
  judgeVerification,
  objectiveScale,
  SEED_INSENSITIVE_SE,
  verificationSeedCount,
  type SeedAccount,
} from '../../../domain/verdict.js';
import type { TrialSummary, VerificationResult } from '../../types.js';
import type { StateContext } from './context.js';
import { CARRY_BUDGET, pad, VERIFICATION_LIMIT } from './limits.js';
import type { Records } from './records.js';
import { bySeed, type References } from './references.js';
import type { TrialRequest } from './requests.js';
import type { Lifecycle } from './lifecycle.js';
import type { Trials } from './trials.js';
import { PI_STOP_SKIPS_VERIFICATION_PATCH } from '../../patches.js';

function piStopSkipsVerification(): boolean {
  return inWorkflowContext() ? patched(PI_STOP_SKIPS_VERIFICATION_PATCH) : true;
}

export class Verification {
  /** Trials whose verification is running. */
  private readonly verifying = new Set<string>();

  constructor(
    private readonly ctx: StateContext,
    private readonly records: Records,
    private readonly refs: References,
    private readonly trials: Trials,
    private readonly lifecycle: Lifecycle,
  ) {}

  private get d() {
    return this.ctx.data;
  }

  /**
   * The seeds every verification runs on: fresh (never a search seed) and the same for every
   * verified trial and for the baseline's re-run, so fresh and hidden PGR are paired per seed.
   */
  freshSeeds(): { seeds: number[]; secret: boolean } {
    // Campaigns started before the secret seeds keep the PI's count and derived seeds.
    return this.refs.verificationSeeds(this.ctx.criteria.verification.seeds);
  }

  /**
   * How many secret seeds a worker should draw before the first verification:
   * max(verification.seeds, 5, seedsPerTrial) (domain/verdict.ts verificationSeedCount); 0 once
   * drawn.
   */
  seedsToDraw(): number {
    return this.d.verificationSeeds ? 0 : verificationSeedCount(this.ctx.criteria);
  }

  /** Keeps drawn seeds (first draw wins) and gives the campaign's verification seeds to `req`. */
  useSeeds(req: TrialRequest, drawn?: readonly number[]): void {
    if (drawn && drawn.length > 0) this.refs.setVerificationSeeds(drawn);
    const fresh = this.freshSeeds();
    req.seeds = fresh.seeds;
    req.secretSeeds = fresh.secret;
  }

  freshBaselineRequest(): TrialRequest | null {
    const fresh = this.freshSeeds();
    const req = this.refs.freshBaselineRequest(fresh.seeds);
    if (req) req.secretSeeds = fresh.secret;
    return req;
  }

  private request(t: TrialSummary, trigger: 'target' | 'final'): TrialRequest {
    const index = this.trials.nextIndex();
    this.verifying.add(t.id);
    return {
      id: `v${pad(index)}`,
      index,
      kind: 'verification' as const,
      label: `verifies ${t.id}`,
      verifies: t.id,
      trigger,
      ...(() => {
        const fresh = this.freshSeeds();
        return { seeds: fresh.seeds, secretSeeds: fresh.secret };
      })(),
      hypothesis: {
        id: `h-v-${t.id}`,
        title: `Verification of ${t.id}: ${t.title}`,
        rationale: 'Re-run on fresh seeds and scored on the hidden metrics.',
        parentTrialId: t.id,
        changes: {},
        params: t.params,
        // A code trial is verified with the source it ran.
        ...(t.sourceHash ? { sourceHash: t.sourceHash, parentSourceHash: t.sourceHash } : {}),
        expectedEffect: '',
        author: { kind: 'system' as const, name: 'gaplab' },
        createdAt: this.ctx.nowIso(),
      },
    };
  }

  /** The verification of the trial that reached the target, when it is due and not running. */
  targetRequest(): TrialRequest | null {
    const id = this.lifecycle.targetCandidatePending;
    if (!id || this.verifying.has(id) || this.d.stopReason) return null;
    this.lifecycle.takeTargetCandidate();
    const t = this.ctx.trialById(id);
    if (!t || this.ctx.verificationOf(id)) return null;
    return this.request(t, 'target');
  }

  /**
   * End-of-campaign verifications: first the top K eligible trials not verified yet; after that
   * (`followUp`) the current best when it has no verification, because a leader that failed was
   * flagged and the report's verdict is always about the reported best's own verification.
   */
  finalRequests(followUp = false): TrialRequest[] {
    const { topK } = this.ctx.criteria.verification;
    const reason = this.d.stopReason;
    if (
      topK === 0 ||
      reason === 'error' ||
      reason === 'references_within_noise' ||
      reason === 'references_invalid'
    )
      return [];
    // A PI's stop ends the campaign: no new experiments, unless the PI asked for the verification.
    if (reason === 'stopped_by_pi' && !this.d.stopRequest?.verify && piStopSkipsVerification())
      return [];
    const search = this.d.trials.filter((t) => t.kind === 'search');
    const todo = followUp
      ? [this.ctx.bestSearch()].filter((t) => t !== null)
      : rankTrials(search).slice(0, topK);
    return todo
      .filter((t) => !this.ctx.verificationOf(t.id) && !this.verifying.has(t.id))
      .map((t) => this.request(t, 'final'));
  }

  /**
   * Scores a verification run and, when it fails, flags the trial it verifies (verification gap):
   * the trial goes under review and can no longer be best or reach the target.
   */
  add(req: TrialRequest, trial: TrialSummary, seeds: SeedResult[]): void {
    const original = this.ctx.trialById(req.verifies!)!;
    this.verifying.delete(original.id);
    // A run cancelled by a stop verified nothing, and failed nothing either.
    if (trial.status === 'cancelled') {
      this.ctx.bump();
      return;
    }
    const criteria = this.ctx.criteria;
    const b = this.d.references.baseline;
    const account: SeedAccount = {
      requested: req.seeds.length,
      succeeded: seeds.filter((x) => x.status === 'succeeded').length,
      failed: seeds.filter((x) => x.status === 'failed').length,
      cancelled: seeds.filter((x) => x.status === 'cancelled').length,
      ...(seeds.some((x) => x.status === 'pruned')
        ? { pruned: seeds.filter((x) => x.status === 'pruned').length }
        : {}),
      source: req.secretSeeds ? 'secret' : 'campaign',
      seeds: [...req.seeds],
    };
    const values = bySeed(seeds);
    const freshScores = values.seeds.map((_, i) => values.values[criteria.metric]?.[i] ?? null);
    const finite = freshScores.filter((x): x is number => x !== null);
    // Identical results on every fresh seed: the seeds could not test the result, so its
    // intervals take the absolute floor (domain/verdict.ts SEED_INSENSITIVE_SE).
    const insensitive = finite.length >= 2 && finite.every((x) => x === finite[0]);
    const estimate = this.estimator(seeds, insensitive ? SEED_INSENSITIVE_SE : 0);
    const succeeded = account.succeeded > 0;
    const freshPgr = succeeded ? estimate(criteria.metric, b?.score.mean) : null;
    const hiddenPgr: VerificationResult['hiddenPgr'] = {};
    for (const m of hiddenGapMetricsOf(criteria))
      hiddenPgr[m] = succeeded ? estimate(m, b?.metrics[m]) : null;
    const freshMeans = this.freshBaselineMeans(seeds, [criteria.metric, ...Object.keys(hiddenPgr)]);
    // A hidden metric's PGR onto its own gap, where the measured optimum reported it or the
    // criteria state its optimum.
    const hiddenScale = hiddenScales(
      Object.keys(hiddenPgr),
      this.d.references,
      criteria.hiddenOptima,
      freshMeans,
    );
    // Beyond the optimum is judged on the fresh seeds' own gap (from the baseline's mean there).
    const freshScale = objectiveScale(
      this.d.references.optimum?.score.mean,
      b?.score.mean,
      freshMeans[criteria.metric],
    );
    const searchPgr = original.pgr;
    const result = searchPgr
      ? judgeVerification({
          hiddenScale,
          freshScale,
          searchPgr,
          freshPgr,
          hiddenPgr,
          seeds: account,
          freshScores,
          targetPgr: criteria.targetPgr,
          ...(trial.status !== 'succeeded'
            ? {
                failure:
                  trial.failureReason ??
                  (trial.pruned ? formatPruned(trial.pruned) : `the run ${trial.status}`),
              }
            : {}),
        })
      : null;
    const verdict = result?.verdict ?? 'failed_verification';
    this.d.verification.push({
      trialId: original.id,
      title: original.title,
      visiblePgr: original.pgr,
      freshPgr,
      hiddenPgr,
      verificationTrialId: trial.id,
      gapFlag: verdict === 'failed_verification',
      verdict,
      ...(result ? { checks: result.checks } : {}),
      reasons: result?.reasons ?? ['the verified trial has no PGR'],
      trigger: req.trigger ?? 'final',
    });
    // Older verifications (their trials are flagged or outranked) go to MLflow past the bound.
    this.records.evict(
      'verification',
      this.d.verification,
      VERIFICATION_LIMIT,
      CARRY_BUDGET.verification,
    );
    const open = (kind: string) => original.flags.some((f) => f.kind === kind && !f.cleared);
    const added = (result?.flags ?? []).filter((f) => !open(f.kind));
    if (added.length > 0) this.trials.setFlags(original, [...original.flags, ...added]);
    this.ctx.bump();
  }

  /**
   * The baseline's mean of each metric on these verification seeds, where its fresh re-run has a
   * value on every one of them (what the paired PGR was measured against).
   */
  private freshBaselineMeans(seeds: SeedResult[], metrics: string[]): Record<string, number> {
    const fresh = this.d.references.freshBaseline?.bySeed;
    const out: Record<string, number> = {};
    if (!fresh) return out;
    const runs = bySeed(seeds);
    for (const m of metrics) {
      // The seeds where the trial reported the metric: those its hidden PGR was paired on.
      const paired = runs.seeds.filter((_, i) => (runs.values[m]?.[i] ?? null) !== null);
      const vals = paired.map((seed) => {
        const j = fresh.seeds.indexOf(seed);
        return j >= 0 ? (fresh.values[m]?.[j] ?? null) : null;
      });
      if (vals.length && vals.every((v): v is number => v !== null && Number.isFinite(v)))
        out[m] = vals.reduce((a, v) => a + v, 0) / vals.length;
    }
    return out;
  }

  /** A metric's PGR on the verification seeds, against the baseline's value on the same seed. */
  private estimator(seeds: SeedResult[], minStderr: number) {
    const o = this.d.references.optimum?.score;
    const b = this.d.references.baseline;
    const fresh = this.d.references.freshBaseline?.bySeed;
    const values = bySeed(seeds);
    return (metric: string, baselineMean: number | undefined) => {
      if (!o || !b || b.score.mean === o.mean || baselineMean === undefined) return null;
      const scores = values.values[metric] ?? [];
      // Paired with the baseline's value on the same fresh seed when it has one for every seed;
      // else against the baseline's mean (for a hidden metric: measured on the search seeds).
      const base = fresh?.values[metric];
      const pairs = values.seeds.map((seed, i) => {
        const j = fresh ? fresh.seeds.indexOf(seed) : -1;
        return { s: scores[i] ?? null, b: j >= 0 ? (base?.[j] ?? null) : null };
      });
      const paired = pairs.every((p) => p.s === null || p.b !== null);
      // Shift each seed's difference onto the objective's baseline, so trialPgr divides by the
      // objective's gap whatever the metric (hidden metrics share the objective's units).
      const shifted = pairs.map((p) =>
        p.s === null
          ? null
          : paired
            ? p.s - p.b! + b.score.mean
            : p.s - baselineMean + b.score.mean,
      );
      if (!shifted.some((x) => x !== null)) return null;
      return trialPgr({
        seeds: values.seeds,
        scores: shifted,
        baseline: paired ? { mean: b.score.mean } : b.score,
        optimum: o,
        confidence: this.ctx.criteria.confidence,
        floor: this.refs.floor,
        minStderr,
        oneSeedReferenceUnbounded: this.refs.strict,
      }).estimate;
    };
  }
}
