/**
 * The references a PGR is measured against (baseline, optimum, the baseline re-run on the
 * verification seeds) and each trial's PGR from them: paired with the baseline seed by seed,
 * with the campaign's pooled per-seed variance as the floor of its standard error.
 */
import type { StopReason } from '../../../domain/budget.js';
import { referencesWithinNoise, trialPgr, type PairedBaseline } from '../../../domain/pgr.js';
import type { Hypothesis, SeedResult } from '../../../domain/schemas.js';
import type { PooledVariance } from '../../../domain/stats.js';
import { trustState, visibleFlags } from '../../../domain/trust.js';
import type { ReferenceResult, TrialSummary } from '../../types.js';
import type { StateContext } from './context.js';
import { inWorkflowContext, patched } from '@temporalio/workflow';
import { SEED_SPACE } from './limits.js';

/**
 * The i-th seed derived from the campaign seed: a 32-bit mix (murmur3's finaliser over the seed
 * and the index) reduced to [0, 2^31 - 1). Reproducible from the campaign seed and spread over
 * the range a worker draws verification seeds from (activities/seeds.ts), so an experiment
 * cannot tell the two apart by their values.
 */
export function derivedSeed(campaignSeed: number, i: number): number {
  const hi = Math.floor(campaignSeed / 2 ** 32) | 0;
  let h = (Math.imul(campaignSeed | 0, 0x9e3779b1) ^ Math.imul(i + 1, 0x85ebca77) ^ hi) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) % SEED_SPACE;
}
import type { TrialRequest } from './requests.js';
import { HASHED_SEEDS_PATCH } from '../../patches.js';

/** Every metric on each seed (null: failed seed or no finite value), in seed order. */
export function bySeed(seeds: readonly SeedResult[]): NonNullable<ReferenceResult['bySeed']> {
  const values: Record<string, (number | null)[]> = {};
  seeds.forEach((r, i) => {
    if (r.status !== 'succeeded') return;
    for (const [k, v] of Object.entries(r.metrics)) {
      values[k] ??= seeds.map(() => null);
      values[k]![i] = typeof v === 'number' && Number.isFinite(v) ? v : null;
    }
  });
  return { seeds: seeds.map((r) => r.seed), values };
}

export class References {
  /** The standard-error floor in force (see rescore); recomputed as evidence accumulates. */
  private floorNow: PooledVariance | null = null;
  private floorDf = 0;
  /** Per-seed PGR variance and n of each scored search trial, for the pooled floor. */
  private readonly spread = new Map<string, { variance: number; n: number }>();

  constructor(
    private readonly ctx: StateContext,
    private readonly nextIndex: () => number,
    private readonly requestStop: (reason: StopReason, detail: string) => void,
  ) {
    this.seedScheme();
  }

  private get criteria() {
    return this.ctx.criteria;
  }
  get all() {
    return this.ctx.data.references;
  }
  get floor(): PooledVariance | null {
    return this.floorNow;
  }

  /**
   * `n` seeds from the campaign's base seed: derived uniform 31-bit values (`derivedSeed`) in
   * campaigns started since HASHED_SEEDS_PATCH, else consecutive from the base seed (`offset`
   * apart for fresh seeds).
   */
  seeds(n: number, offset = 0): number[] {
    if (this.seedScheme() === 'hashed') {
      const out: number[] = [];
      const seen = new Set<number>();
      for (let i = offset; out.length < n; i++) {
        const s = derivedSeed(this.ctx.input.seed, i);
        if (!seen.has(s)) {
          seen.add(s);
          out.push(s);
        }
      }
      return out;
    }
    const base = this.ctx.input.seed + offset;
    return Array.from({ length: n }, (_, i) => (base + i) % SEED_SPACE);
  }

  /**
   * Decided once, before the first reference is measured, and carried: a campaign that measured
   * its references with consecutive seeds keeps them for the rest of its life.
   */
  /** Whether this campaign runs under HASHED_SEEDS_PATCH's rules (see there). */
  get strict(): boolean {
    return this.seedScheme() === 'hashed';
  }

  private seedScheme(): 'hashed' | 'consecutive' {
    const d = this.ctx.data;
    // Decided once, at the campaign's start (the constructor), and carried from then on.
    if (!d.seedScheme) {
      const started = d.references.baseline !== undefined || d.trials.length > 0;
      d.seedScheme =
        !started && (!inWorkflowContext() || patched(HASHED_SEEDS_PATCH))
          ? 'hashed'
          : 'consecutive';
    }
    return d.seedScheme;
  }

  /**
   * The verification seeds: the secret ones once drawn (SECRET_VERIFICATION_SEEDS_PATCH), else
   * the seeds the baseline's re-run used, else `n` derived from the campaign seed (campaigns
   * started before the patch).
   */
  verificationSeeds(n: number): { seeds: number[]; secret: boolean } {
    if (this.ctx.data.verificationSeeds)
      return { seeds: [...this.ctx.data.verificationSeeds], secret: true };
    const fresh = this.ctx.data.references.freshBaseline?.bySeed?.seeds;
    if (fresh && fresh.length > 0) return { seeds: [...fresh], secret: false };
    return { seeds: this.seeds(n, 1_000_003), secret: false };
  }

  /** Keeps the secret verification seeds a worker drew (once per campaign). */
  setVerificationSeeds(seeds: readonly number[]): void {
    this.ctx.data.verificationSeeds ??= [...seeds];
    this.ctx.bump();
  }

  /** A reference trial's request. */
  private request(
    id: string,
    label: string,
    seeds: number[],
    text: Pick<Hypothesis, 'title' | 'rationale' | 'params'>,
  ): TrialRequest {
    return {
      id,
      index: this.nextIndex(),
      kind: 'reference',
      label,
      seeds,
      hypothesis: {
        id: `h-${id}`,
        ...text,
        parentTrialId: null,
        changes: {},
        expectedEffect: '',
        author: { kind: 'system', name: 'gaplab' },
        createdAt: this.ctx.nowIso(),
      },
    };
  }

  /** The baseline configuration always runs first: it is the lineage root and the source of relative limits. */
  referenceRequest(which: 'baseline' | 'optimum'): TrialRequest | null {
    const refs = this.ctx.data.references;
    if (refs[which]) return null;
    const ref = which === 'baseline' ? this.criteria.baseline : this.criteria.optimum;
    if (which === 'optimum' && ref.kind === 'value') {
      refs.optimum = { score: { mean: ref.value }, metrics: {} };
      return null;
    }
    const configName = ref.kind === 'measure' ? ref.configuration : 'baseline';
    const problem = this.ctx.input.problem;
    const params =
      configName === 'baseline' ? problem.baseline : problem.configurations[configName];
    if (!params) {
      this.requestStop('error', `${which}: unknown configuration "${configName}"`);
      return null;
    }
    const n = ref.kind === 'measure' ? ref.seeds : this.criteria.seedsPerTrial;
    const id = which === 'baseline' ? 'baseline' : `${which}-${configName}`;
    return this.request(id, which, this.seeds(n), {
      title: which === 'baseline' ? 'Baseline' : `Optimum reference (${configName})`,
      rationale: `Reference measurement of the ${which} configuration "${configName}" on ${n} seeds.`,
      params,
    });
  }

  setReference(which: 'baseline' | 'optimum', trial: TrialSummary, seeds?: SeedResult[]): void {
    const ref = which === 'baseline' ? this.criteria.baseline : this.criteria.optimum;
    if (trial.status !== 'succeeded' || !trial.objective) {
      this.requestStop(
        'error',
        `could not measure the ${which}: ${trial.failureReason ?? 'no objective value'}`,
      );
      return;
    }
    const measured = {
      mean: trial.objective.mean,
      stderr: trial.objective.stderr,
      n: trial.objective.n,
    };
    this.ctx.data.references[which] = {
      score: ref.kind === 'value' ? { mean: ref.value } : measured,
      metrics: trial.metrics,
      trialId: trial.id,
      ...(seeds ? { bySeed: bySeed(seeds) } : {}),
    };
    // Reference trials get their PGR once both references are known (0 and 1 up to noise).
    this.rescoreReferences();
  }

  rescoreReferences(): void {
    for (const t of this.ctx.data.trials) if (t.kind === 'reference') this.rescore(t);
  }

  /**
   * A reason the references make PGR meaningless, or null. `references_invalid` when the
   * measured optimum is no better than the baseline for the criteria's direction,
   * `references_within_noise` when it cannot be told from the baseline at the criteria's
   * confidence (criteria with two equal numbers are refused when they are set).
   */
  referenceProblem(): {
    reason: 'error' | 'references_within_noise' | 'references_invalid';
    detail: string;
  } | null {
    this.rescoreReferences();
    const d = this.ctx.data;
    if (d.stopReason || d.stopRequest) return null;
    const b = d.references.baseline?.score;
    const o = d.references.optimum?.score;
    const error = (detail: string) => ({ reason: 'error' as const, detail });
    if (b === undefined || o === undefined)
      return error('the baseline or optimum could not be established');
    const invalid = (detail: string) => ({ reason: 'references_invalid' as const, detail });
    if (b.mean === o.mean)
      return invalid(`the optimum equals the baseline (${b.mean}): PGR is undefined`);
    if ((this.criteria.direction === 'maximize') !== o.mean > b.mean)
      return invalid(
        `the optimum (${o.mean}) is not better than the baseline (${b.mean}) for ${this.criteria.metric}, a metric to ${this.criteria.direction}: check the criteria's references`,
      );
    const noise = referencesWithinNoise(b, o, this.criteria.confidence);
    return noise ? { reason: 'references_within_noise', detail: noise } : null;
  }

  /** The baseline re-run on the fresh seeds, once (null when done or not measurable). */
  freshBaselineRequest(freshSeeds: number[]): TrialRequest | null {
    const reason = this.ctx.data.stopReason;
    if (
      this.ctx.data.references.freshBaseline ||
      reason === 'error' ||
      reason === 'references_invalid'
    )
      return null;
    return this.request('baseline-fresh', 'baseline on the verification seeds', freshSeeds, {
      title: 'Baseline on the verification seeds',
      rationale:
        'The baseline re-run on the fresh seeds, so verified PGRs compare like with like (seed by seed, hidden metrics included).',
      params: this.ctx.input.problem.baseline,
    });
  }

  setFreshBaseline(trial: TrialSummary, seeds: SeedResult[]): void {
    this.ctx.data.references.freshBaseline = {
      score: trial.objective
        ? { mean: trial.objective.mean, stderr: trial.objective.stderr, n: trial.objective.n }
        : { mean: Number.NaN },
      metrics: trial.metrics,
      trialId: trial.id,
      bySeed: bySeed(seeds),
    };
    this.ctx.bump();
  }

  /** The last pairedBaseline, for the reference it was built from. */
  private paired: { from: ReferenceResult; value: PairedBaseline } | null = null;

  /** The measured baseline with its per-seed objective, for paired PGR (built once per baseline). */
  private pairedBaseline(): PairedBaseline | null {
    const b = this.ctx.data.references.baseline;
    if (!b) return null;
    if (this.paired?.from === b) return this.paired.value;
    const value = this.buildPairedBaseline(b);
    this.paired = { from: b, value };
    return value;
  }

  private buildPairedBaseline(b: ReferenceResult): PairedBaseline {
    const scores = b.bySeed?.values[this.criteria.metric];
    const map = new Map<number, number>();
    if (scores && this.criteria.baseline.kind === 'measure')
      b.bySeed!.seeds.forEach((seed, i) => {
        const v = scores[i];
        if (typeof v === 'number') map.set(seed, v);
      });
    return { ...b.score, ...(map.size > 0 ? { bySeed: map } : {}) };
  }

  /**
   * A trial's PGR from its per-seed objective (domain/pgr.ts trialPgr): paired with the baseline
   * on shared seeds, the campaign's pooled per-seed variance as the floor of its standard error,
   * the references' own error carried into the interval. Trials kept from before per-seed scores
   * were recorded keep their PGR.
   */
  rescore(trial: TrialSummary): void {
    const b = this.pairedBaseline();
    const o = this.ctx.data.references.optimum?.score;
    if (!b || !o || b.mean === o.mean || !trial.seedScores) return;
    if (!trial.seedScores.some((v) => v !== null)) return;
    const res = trialPgr({
      seeds: trial.seeds,
      scores: trial.seedScores,
      baseline: b,
      optimum: o,
      confidence: this.criteria.confidence,
      floor: trial.kind === 'search' ? this.floorNow : null,
      oneSeedReferenceUnbounded: this.strict,
    });
    trial.pgr = res.estimate;
    // A listed trial rescored (the references became known after it finished) has changed.
    if (this.ctx.trialById(trial.id) === trial) this.ctx.trialChanged(trial.id);
    // Identical per-seed PGRs (a frozen, seed-insensitive result) show no spread: the seeds did
    // not test the trial, so it says nothing about the evaluation's noise and must not pull the
    // floor towards 0 (40 frozen trials would otherwise shrink every interval). Counted as no
    // spread, like a one-seed trial. Judged on visible data, so the floor stays a function of it.
    const frozen = res.perSeed.length >= 2 && res.perSeed.every((x) => x === res.perSeed[0]);
    if (trial.kind === 'search' && trial.status === 'succeeded' && frozen)
      this.spread.set(trial.id, { variance: 0, n: 1 });
    else if (trial.kind === 'search' && trial.status === 'succeeded' && res.perSeed.length >= 2) {
      const m = res.perSeed.reduce((a, x) => a + x, 0) / res.perSeed.length;
      const variance = res.perSeed.reduce((a, x) => a + (x - m) ** 2, 0) / (res.perSeed.length - 1);
      this.spread.set(trial.id, { variance, n: res.perSeed.length });
    }
  }

  /**
   * Recomputes the standard-error floor (the pooled per-seed PGR variance of the search trials in
   * memory) and rescores every search trial with it. The pooled estimate settles quickly, so
   * this runs while it is young and then each time its degrees of freedom grew by a tenth: a
   * handful of full passes over a campaign's life, not one per trial.
   */
  refreshFloor(force = false): void {
    const all = this.ctx.data.trials.filter((t) => t.kind === 'search' && t.status === 'succeeded');
    // Only trials eligible on visible data (feasible, no open or confirmed flag that visible
    // data raised) set the floor: a flagged outlier must not widen every other trial's interval,
    // nor may 40 frozen (flagged) trials shrink it. Flags raised by hidden data (hidden gap,
    // verification) do not take a trial out: the floor sets every interval a strategy sees,
    // so it may depend on visible data only, and the pool estimates the visible per-seed spread,
    // which a hidden shortfall says nothing about.
    const search = this.strict
      ? all.filter((t) => t.feasible && trustState(visibleFlags(t.flags)) === 'eligible')
      : all;
    let df = 0;
    for (const t of search) {
      if (!this.spread.has(t.id)) {
        this.rescore(t);
        // Scored without a spread (one seed, or one usable seed): counted once, as no spread,
        // so the next pass does not score it again (one pass per finished trial stays O(1)
        // per trial, not O(trials)).
        if (!this.spread.has(t.id) && t.pgr) this.spread.set(t.id, { variance: 0, n: 1 });
      }
      const s = this.spread.get(t.id);
      if (s) df += s.n - 1;
    }
    // Trials compacted out of memory leave the pool (their spread was counted while kept).
    if (this.spread.size > 2 * search.length + 100) {
      const kept = new Set(search.map((t) => t.id));
      for (const id of [...this.spread.keys()]) if (!kept.has(id)) this.spread.delete(id);
    }
    // A smaller pool (a trial flagged since) is recomputed at once; a growing one in steps.
    if (
      !force &&
      (df === this.floorDf || (df >= 30 && df > this.floorDf && df < this.floorDf * 1.1))
    )
      return;
    this.floorDf = df;
    // Σ (n_i - 1) s_i² / Σ (n_i - 1): domain/stats.ts pooledVariance over the cached spreads.
    let ss = 0;
    for (const t of search) {
      const s = this.spread.get(t.id);
      if (s) ss += s.variance * (s.n - 1);
    }
    this.floorNow = df > 0 ? { variance: ss / df, df } : null;
    for (const t of all) this.rescore(t);
  }
}
