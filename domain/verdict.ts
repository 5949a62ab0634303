/**
 * The verdict on a verified trial, declared once: what a verification showed (`VerdictChecks`),
 * its one word (`VerdictWord`), how every screen names and colours it (`verdictLabel`), what each
 * word means in a PI's terms (`VERDICT_MEANINGS`), and the rule that judges a verification run
 * (`judgeVerification`). The report (markdown, JSON, `gaplab report`), the demo, the campaign
 * page and the records read the same fields and call the same label function.
 *
 * The verdict says three things separately, because a PI reads "verified" as "success":
 * - **held up**: every requested verification seed succeeded with every metric the claim rests
 *   on, and the fresh-seed and hidden PGRs agree with the search result (their means are not
 *   below its lower confidence bound, and not clearly beyond the optimum);
 * - **real improvement**: the fresh-seed and hidden PGRs' lower confidence bounds are above 0
 *   (the baseline on the same seeds), from at least two seeds with bounded intervals;
 * - **met the target**: the search result's lower bound and the fresh-seed and hidden means reach
 *   the target PGR.
 *
 * "verified" means held up + real improvement, nothing more; "verified, below target" says it did
 * not reach the target; "held up, not significant" held up but cannot be told from the baseline.
 *
 * Pure: zod and the domain only.
 */
import { z } from 'zod';
import { formatEstimate, formatExact, isBounded } from './format.js';
import { Flag, type Estimate } from './trial.js';

/** The one word of a verdict. */
export const VerdictWord = z.enum([
  'verified',
  'held_up_not_significant',
  'failed_verification',
  'not_verified',
]);
export type VerdictWord = z.infer<typeof VerdictWord>;

/**
 * How the verification seeds of a run went. `failed` counts seeds that ran and failed (the
 * candidate's doing, as far as anyone can tell); `cancelled` seeds were cut by a stop or the
 * deadline; `pruned` seeds fell below a cascade stage's threshold on a fresh seed; `missing`
 * seeds never reported (requested - succeeded - failed - cancelled - pruned).
 */
export const SeedAccount = z.object({
  requested: z.number().int().nonnegative(),
  succeeded: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  cancelled: z.number().int().nonnegative(),
  /** Seeds a cascade stage stopped (absent: none, or written before pruning was an outcome). */
  pruned: z.number().int().nonnegative().exactOptional(),
  /**
   * `secret`: drawn at random by a worker when the verification started, unpredictable from the
   * campaign seed; `campaign`: derived from the campaign seed (reproducible, predictable).
   */
  source: z.enum(['secret', 'campaign']),
  /** The seeds themselves (recorded once drawn; absent in results written before). */
  seeds: z.array(z.number().int()).exactOptional(),
});
export type SeedAccount = z.infer<typeof SeedAccount>;

/** What a verification showed, each part on its own (null: could not be judged). */
export const VerdictChecks = z.object({
  heldUp: z.boolean().nullable(),
  realImprovement: z.boolean().nullable(),
  metTarget: z.boolean().nullable(),
  /** The target the last check was judged against. */
  targetPgr: z.number().nullable(),
  /**
   * Every fresh seed gave the candidate the same objective: fresh seeds could not test the
   * result; its intervals use the absolute standard-error floor ({@link SEED_INSENSITIVE_SE}).
   */
  seedInsensitive: z.boolean(),
  seeds: SeedAccount.nullable(),
});
export type VerdictChecks = z.infer<typeof VerdictChecks>;

/**
 * The absolute floor on the standard error of a fresh-seed or hidden PGR when every fresh seed
 * gave the candidate the same result, in PGR units: 5% of |optimum - baseline|.
 *
 * Derivation: identical results on fresh seeds mean the seeds did not vary what the evaluation
 * measures, so the spread says nothing about how far the result would move under another draw
 * of the data; a zero-width interval would claim certainty no seed tested. The floor asks such a
 * result to clear the baseline by t(n-1) · 0.05 (0.14 PGR with 5 seeds at 95%) before it counts
 * as a real improvement: the margin an honest result with modest seed noise (a seed-to-seed
 * spread of a tenth of the gap) would need. Deterministic benchmarks (Branin) near the optimum
 * clear it easily; a frozen output near the baseline does not.
 */
export const SEED_INSENSITIVE_SE = 0.05;

/** The fewest verification seeds: enough for a bounded interval with 4 degrees of freedom. */
export const MIN_VERIFICATION_SEEDS = 5;

/**
 * How many fresh seeds a verification runs: max(PI's `verification.seeds`, 5, seedsPerTrial).
 * A claim checked on fewer seeds than it was found on would be weaker evidence than the search
 * itself, and fewer than 5 seeds give t(n-1) quantiles so wide (12.7 at n = 2) that the lower
 * bound says little; a PI's larger value is kept.
 */
export function verificationSeedCount(criteria: {
  seedsPerTrial: number;
  verification: { seeds: number };
}): number {
  return Math.max(criteria.verification.seeds, MIN_VERIFICATION_SEEDS, criteria.seedsPerTrial);
}

/** What each word means, in a PI's terms (the report and the UI print these). */
export const VERDICT_MEANINGS: Record<VerdictWord | 'below_target', string> = {
  verified:
    'held up and a real improvement: every fresh, secret seed succeeded, the fresh-seed and hidden results agree with the search result, and their lower confidence bounds are above the baseline. It does not say the target was met.',
  below_target:
    'verified (held up, a real improvement), but the PGR does not reach the target the PI set.',
  held_up_not_significant:
    'the fresh-seed and hidden results agree with the search result, but a lower confidence bound is not above the baseline (or the interval is unbounded): the improvement may be noise.',
  failed_verification:
    'the result did not hold up: a verification seed failed or never reported, a hidden metric was missing or not finite, or the fresh-seed or hidden PGR fell below the search result by more than their combined uncertainty, or beyond the optimum.',
  not_verified:
    'no verification of this trial stands: none ran, or a stop or the deadline cut it short.',
};

/** How a screen shows a verdict. */
export interface VerdictLabel {
  word: VerdictWord;
  /** The words to print: "verified", "verified, below target", "held up, not significant", ... */
  text: string;
  /** ok (green) only for verified and met the target (or no target judged). */
  tone: 'ok' | 'warn' | 'danger';
  /** What the text means (VERDICT_MEANINGS). */
  meaning: string;
  /** Further facts a reader needs: fresh seeds could not test the result, seeds were not secret. */
  notes: string[];
}

/** The one label every screen uses for a verdict. */
export function verdictLabel(v: {
  verdict: VerdictWord;
  checks?: VerdictChecks | null | undefined;
}): VerdictLabel {
  const c = v.checks ?? null;
  const notes: string[] = [];
  if (c?.seedInsensitive)
    notes.push(
      'fresh seeds could not test the result: every fresh seed gave the same value (intervals use the absolute standard-error floor)',
    );
  if (c?.seeds && c.seeds.source === 'campaign')
    notes.push('verification seeds were derived from the campaign seed, not drawn in secret');
  switch (v.verdict) {
    case 'verified':
      if (c?.metTarget === false)
        return {
          word: v.verdict,
          text: 'verified, below target',
          tone: 'warn',
          meaning: VERDICT_MEANINGS.below_target,
          notes,
        };
      return {
        word: v.verdict,
        text: 'verified',
        tone: 'ok',
        meaning: VERDICT_MEANINGS.verified,
        notes,
      };
    case 'held_up_not_significant':
      return {
        word: v.verdict,
        text: 'held up, not significant',
        tone: 'warn',
        meaning: VERDICT_MEANINGS.held_up_not_significant,
        notes,
      };
    case 'failed_verification':
      return {
        word: v.verdict,
        text: 'failed verification',
        tone: 'danger',
        meaning: VERDICT_MEANINGS.failed_verification,
        notes,
      };
    default:
      return {
        word: 'not_verified',
        text: 'not verified',
        tone: 'warn',
        meaning: VERDICT_MEANINGS.not_verified,
        notes,
      };
  }
}

/** The words of the legend the report prints under its verdict. */
export function verdictLegend(): string[] {
  return [
    `verified: ${VERDICT_MEANINGS.verified}`,
    `verified, below target: ${VERDICT_MEANINGS.below_target}`,
    `held up, not significant: ${VERDICT_MEANINGS.held_up_not_significant}`,
    `failed verification: ${VERDICT_MEANINGS.failed_verification}`,
    `not verified: ${VERDICT_MEANINGS.not_verified}`,
  ];
}

// ---------------------------------------------------------------------------------------------
// Judging a verification run
// ---------------------------------------------------------------------------------------------

export interface JudgeInput {
  /** The search result being verified. */
  searchPgr: Estimate;
  /** Objective PGR on the fresh seeds; null when it could not be computed. */
  freshPgr: Estimate | null;
  /**
   * PGR of each hidden metric the claim rests on (every comparable hidden metric of the
   * criteria), null when the run did not report it on any seed.
   */
  hiddenPgr: Readonly<Record<string, Estimate | null>>;
  seeds: SeedAccount;
  /** The candidate's objective on each fresh seed (null: missing or not finite). */
  freshScores?: readonly (number | null)[];
  /** The target PGR of the criteria. */
  targetPgr: number;
  /** Why the run produced nothing (e.g. every seed failed). */
  failure?: string;
  /** A fresh or hidden PGR mean above 1 + this is flagged like a visible one. @default 0.05 */
  pgrAboveOneMargin?: number;
  /**
   * Per hidden metric, the factor that puts its PGR (in units of the objective's gap) on its own
   * gap: (optimum - baseline) / (optimum's hidden - baseline's hidden), known when the optimum
   * was measured with the hidden metric. Only a hidden PGR on its own scale can be beyond its
   * optimum: without the factor none is flagged as above 1 (a held-out split whose own gap is
   * wider than the objective's gives honest methods a hidden PGR above 1 in the objective's
   * units: weak-to-strong-code's hand-written method, 1.44).
   */
  hiddenScale?: Readonly<Record<string, number | null>>;
  /**
   * The factor that puts the fresh-seed PGR (the paired gain over the baseline's re-run on the
   * same seeds, in units of the search seeds' gap) on the fresh seeds' own gap, for the "beyond
   * the optimum" check only (`objectiveScale`). The agreement with the search result stays in
   * the search gap's units, where a result with no seed noise of its own reproduces exactly.
   * @default 1
   */
  freshScale?: number | null;
}

/**
 * The factor that puts a fresh-seed PGR on the fresh seeds' own gap (`JudgeInput.freshScale`):
 * (optimum - baseline's search mean) / (optimum - baseline's mean on the fresh seeds). The paired
 * gain is measured against the baseline on the fresh seeds, so whether it reaches past the
 * optimum must be judged from there too: where weak-to-strong-code's starting method scored a
 * point lower on the fresh draw than on the search seeds, the hand-written method at the optimum
 * read 1.07 of the search gap and failed verification as "beyond the optimum" (1 fresh draw in 85
 * under random harness secrets; none after). 1 when a mean is unknown, or when the fresh gap is
 * under half or over twice the search gap (a baseline re-run that far off says more about the
 * baseline than about the gap).
 */
export function objectiveScale(
  optimumMean: number | undefined,
  baselineMean: number | undefined,
  freshBaselineMean: number | undefined,
): number {
  if (optimumMean === undefined || baselineMean === undefined || freshBaselineMean === undefined)
    return 1;
  const k = (optimumMean - baselineMean) / (optimumMean - freshBaselineMean);
  return Number.isFinite(k) && k >= 0.5 && k <= 2 ? k : 1;
}

/**
 * Per hidden gap metric, the factor that puts its hidden PGR (in units of the objective's gap) on
 * the metric's own gap (`JudgeInput.hiddenScale`): (optimum - baseline) of the objective over
 * (optimum - baseline) of the hidden metric. The hidden metric's optimum is the measured
 * optimum's value of it, else the criteria's stated one (`hiddenOptima`); null when neither is
 * known, or when the baseline did not report the metric or the two gaps do not point the same way.
 *
 * `hiddenBaselines`: the baseline's value of a hidden metric on the seeds its PGR was paired on
 * (a verification's fresh seeds), used in place of the reference's mean from the search seeds.
 * The hidden gain was measured against the baseline on those seeds, so its own gap must start
 * there too: a baseline whose held-out accuracy varies by 0.03 from seed to seed otherwise moves
 * an honest method past its optimum on a few fresh draws.
 */
export function hiddenScales(
  metrics: readonly string[],
  references: {
    baseline?: { score: { mean: number }; metrics: Readonly<Record<string, unknown>> } | null;
    optimum?: { score: { mean: number }; metrics: Readonly<Record<string, unknown>> } | null;
  },
  statedOptima: Readonly<Record<string, number>> = {},
  hiddenBaselines: Readonly<Record<string, number>> = {},
): Record<string, number | null> {
  const { baseline: b, optimum: o } = references;
  const out: Record<string, number | null> = {};
  for (const m of metrics) {
    const measured = o?.metrics[m];
    const oh =
      typeof measured === 'number'
        ? measured
        : Object.hasOwn(statedOptima, m)
          ? statedOptima[m]
          : undefined;
    const bh = Object.hasOwn(hiddenBaselines, m) ? hiddenBaselines[m] : b?.metrics[m];
    const k =
      o && b && typeof oh === 'number' && typeof bh === 'number' && oh !== bh
        ? (o.score.mean - b.score.mean) / (oh - bh)
        : null;
    out[m] = k !== null && Number.isFinite(k) && k > 0 ? k : null;
  }
  return out;
}

/** A judged verification: its word, its checks, why it is not verified, the flags to raise. */
export const Judgement = z.object({
  verdict: VerdictWord,
  checks: VerdictChecks,
  /** Why it is not verified (failed checks first), or why it is below target; empty otherwise. */
  reasons: z.array(z.string()),
  /**
   * Review flags to raise on the verified trial: one `verification_gap` naming every failure
   * (beyond the optimum included). Never `pgr_above_one`, which search results on visible data
   * raise: a verification scores fresh seeds and hidden metrics, and what it finds must stay out
   * of a strategy's view (domain/trust.ts HIDDEN_FLAGS).
   */
  flags: z.array(Flag),
});
export type Judgement = z.infer<typeof Judgement>;

const f3 = (x: number) => formatExact(Number(x.toPrecision(4)));

/**
 * Judges a verification run. In order:
 * 1. every requested seed is accounted for: a failed seed, or a seed that never reported, fails
 *    the verification with the counts in the reason; a succeeded seed without a finite objective
 *    or without a finite value of a hidden metric counts as not succeeded;
 * 2. seeds cancelled by a stop or the deadline (and nothing failed): not verified, not failed;
 * 3. held up: the fresh-seed and hidden means are not below the search result by more than the
 *    two results' combined uncertainty (the search interval's t quantile times the root of the
 *    sum of both squared standard errors: a fresh mean has noise of its own, so holding it to the
 *    search interval alone failed an honest result on about one fresh draw in 40), and
 *    none is clearly beyond the optimum (on its own gap, the mean above 1 + margin and the
 *    whole interval above 1; see `hiddenScale`): an honest result at
 *    the optimum lands above 1 + margin on some draws of fresh seeds, and only an interval
 *    entirely past the optimum says the result is beyond it rather than at it;
 * 4. real improvement: every lower bound above 0, from n >= 2 with a bounded interval;
 * 5. met the target (see the module comment).
 */
export function judgeVerification(v: JudgeInput): Judgement {
  const margin = v.pgrAboveOneMargin ?? 0.05;
  const s = v.seeds;
  const failures: string[] = [];
  const flags: Flag[] = [];
  const pruned = s.pruned ?? 0;
  const missing = Math.max(0, s.requested - s.succeeded - s.failed - s.cancelled - pruned);
  if (s.failed > 0 || pruned > 0 || missing > 0 || s.succeeded === 0)
    failures.push(
      `${s.succeeded} of ${s.requested} verification seeds succeeded (${s.failed} failed, ` +
        (pruned > 0 ? `${pruned} pruned by the cascade, ` : '') +
        `${s.cancelled} cancelled, ${missing} missing)` +
        (v.failure ? `: ${v.failure}` : ''),
    );
  else if (v.failure) failures.push(`the verification run produced no estimate: ${v.failure}`);
  const fresh = v.freshPgr;
  if (s.succeeded > 0 && (fresh === null || fresh.n < s.succeeded))
    failures.push(
      `the objective is missing or not finite on ${s.succeeded - (fresh?.n ?? 0)} of ${s.succeeded} succeeded verification seeds`,
    );
  for (const [name, est] of Object.entries(v.hiddenPgr))
    if (s.succeeded > 0 && (est === null || est.n < s.succeeded))
      failures.push(
        `hidden metric "${name}" is missing or not finite on ${s.succeeded - (est?.n ?? 0)} of ${s.succeeded} succeeded verification seeds`,
      );

  const estimates: [string, Estimate][] = [];
  /** Each estimate's factor onto its own gap (null: unknown), and what that gap is called. */
  const scales: { k: number | null; gap: string }[] = [];
  const factor = (k: number | null | undefined) =>
    typeof k === 'number' && Number.isFinite(k) && k > 0 ? k : null;
  if (fresh) {
    estimates.push(['fresh seeds', fresh]);
    scales.push({ k: factor(v.freshScale) ?? 1, gap: "the fresh seeds' gap" });
  }
  for (const [name, est] of Object.entries(v.hiddenPgr))
    if (est) {
      estimates.push([`hidden metric "${name}"`, est]);
      scales.push({ k: factor(v.hiddenScale?.[name]), gap: 'its own gap' });
    }
  const search = v.searchPgr;
  estimates.forEach(([what, est], i) => {
    // Rounding allowance: a deterministic result re-computed on fresh seeds lands on the search
    // result's zero-width interval up to the last bits of a double.
    const t = search.stderr > 0 ? (search.mean - search.ciLow) / search.stderr : 0;
    const lowest = search.mean - t * Math.hypot(search.stderr, est.stderr);
    if (est.mean < lowest - 1e-9 * Math.max(1, Math.abs(lowest)))
      failures.push(
        `${what}: PGR ${formatEstimate(est)} (n=${est.n}) is below the search result ${formatEstimate(search)} by more than their combined uncertainty (lowest agreeing mean ${f3(lowest)})`,
      );
    const { k, gap } = scales[i]!;
    const beyond =
      k !== null && est.mean * k > 1 + margin && (!isBounded(est) || est.ciLow * k > 1);
    if (beyond) {
      const own = k === 1 ? '' : ` (${f3(est.mean * k)} of ${gap})`;
      const message = `${what}: PGR ${formatEstimate(est)}${own} is beyond the optimum: review before trusting it`;
      failures.push(message);
    }
  });

  const scores = v.freshScores ?? [];
  const finite = scores.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  const seedInsensitive = finite.length >= 2 && finite.every((x) => x === finite[0]);

  const cutShort = s.cancelled > 0 && failures.length === 0;
  const heldUp = cutShort ? null : failures.length === 0;
  const weak: string[] = [];
  for (const [what, est] of estimates)
    if (est.n < 2 || !isBounded(est))
      weak.push(
        `${what}: an estimate from ${est.n} seed(s) with an unbounded interval cannot show an improvement`,
      );
    else if (!(est.ciLow > 0))
      weak.push(
        `${what}: the lower bound ${f3(est.ciLow)} is not above the baseline (PGR ${formatEstimate(est)})`,
      );
  const realImprovement =
    heldUp === null ? null : estimates.length > 0 && weak.length === 0 && fresh !== null;
  const short: string[] = [];
  if (search.ciLow < v.targetPgr)
    short.push(
      `the search result's lower bound ${f3(search.ciLow)} is below the target ${formatExact(v.targetPgr)}`,
    );
  for (const [what, est] of estimates)
    if (est.mean < v.targetPgr)
      short.push(`${what}: PGR ${f3(est.mean)} is below the target ${formatExact(v.targetPgr)}`);
  const metTarget = heldUp === null || estimates.length === 0 ? null : short.length === 0;

  const checks: VerdictChecks = {
    heldUp,
    realImprovement,
    metTarget,
    targetPgr: v.targetPgr,
    seedInsensitive,
    seeds: s,
  };
  if (failures.length > 0) {
    flags.unshift({
      kind: 'verification_gap',
      message: `failed verification: ${failures.join('; ')}`.slice(0, 2000),
    });
    return { verdict: 'failed_verification', checks, reasons: failures, flags };
  }
  if (cutShort)
    return {
      verdict: 'not_verified',
      checks,
      reasons: [
        `cut short: ${s.cancelled} of ${s.requested} verification seeds were cancelled by a stop or the deadline`,
      ],
      flags,
    };
  if (!realImprovement) return { verdict: 'held_up_not_significant', checks, reasons: weak, flags };
  return { verdict: 'verified', checks, reasons: metTarget === false ? short : [], flags };
}
