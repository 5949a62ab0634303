/**
 * Which hidden values people's free text is scrubbed of, and for whom: a value echoed in a note,
 * a log line or a flag reason may come from another trial, another seed or an earlier campaign on
 * the same problem, so the payload alone does not know it.
 *
 * {@link HiddenValueBook} keeps, per problem, every hidden value of every campaign of the problem,
 * finished ones included: each trial's hidden means, each seed's hidden values (from the trial's
 * trial.json artifact in MLflow, read once per trial since a recorded trial never changes), and
 * the values derived from them (hidden PGR, the hidden-gap shortfall, verification's hidden PGR
 * and its interval bounds from the report). The problem workflow lists the campaigns (one query,
 * answered from the workflow's state); each campaign's trials come from where server/reader.ts
 * reads them anyway (live from the workflow, or MLflow's cached records), so the book adds one
 * artifact read per recorded trial, once, and nothing per request once it is complete.
 */
import { hiddenGapMetricsOf } from '../domain/schemas.js';
import type { CampaignReport, CampaignStatus, ProblemState, TrialRecord } from '../api/schemas.js';
import type { AppContext } from './context.js';
import { ServiceError } from './errors.js';
import {
  HiddenRedactor,
  redactForRole,
  visibilityResolver,
  withholds,
  type CampaignVisibility,
} from './hidden.js';
import { ValueMatcher } from './hidden-match.js';
import { openCampaign } from './reader.js';

// ---------------------------------------------------------------------------------------------
// Every hidden value of a problem
// ---------------------------------------------------------------------------------------------

type BookContext = Pick<AppContext, 'service' | 'lineage' | 'live'>;

interface DebugLog {
  debug: (o: object, m: string) => void;
}

const quiet: DebugLog = { debug() {} };

/** What the book holds of one campaign. */
interface CampaignValues {
  values: Set<number>;
  /** Trials whose per-seed values have been read (a recorded trial never changes). */
  seedsRead: Set<string>;
  /**
   * Reads that found nothing (a trial.json not written yet or never, the report of a campaign
   * recorded without one), by trial id or `report`: how often, and when to try again.
   */
  misses: Map<string, { count: number; retryAt: number }>;
  reportRead: boolean;
  /** Finished, every trial's seeds and the report read: nothing more to learn. */
  complete: boolean;
}

interface ProblemValues {
  campaigns: Map<string, CampaignValues>;
  /** Every value but the latest few, compiled; rebuilt only once `recent` has grown. */
  base: ValueMatcher;
  /** Values added since `base` was built. */
  recent: number[];
  /** `[base, matcher of recent]`: the same array until the values change. */
  matchers: readonly ValueMatcher[];
  refreshedAt: number;
  refreshing: Promise<readonly ValueMatcher[]> | null;
}

export interface HiddenValueBookOptions {
  /** A problem's values are read again at most this often (ms). @default 250 */
  refreshMs?: number;
  /** Artifact reads in flight at once while a campaign's per-seed values are read. @default 8 */
  concurrency?: number;
  /** Problems kept. @default 256 */
  maxProblems?: number;
  /**
   * How long a read waits for a refresh when it has the values of an earlier one to go on with
   * (ms): a problem no worker answers for, or MLflow down, does not hold every read up. @default 2000
   */
  waitMs?: number;
  /**
   * How old those earlier values may be (ms); past it, and on a problem's first read, a read waits
   * for the refresh and fails with it. @default 60000
   */
  staleMs?: number;
  /** How long a read waits for a refresh at most before a 503 (ms). @default 15000 */
  timeoutMs?: number;
  now?: () => number;
}

const finite = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);

/** Every hidden value of each problem's campaigns (see the module comment). */
export class HiddenValueBook {
  private readonly problems = new Map<string, ProblemValues>();
  private readonly refreshMs: number;
  private readonly concurrency: number;
  private readonly maxProblems: number;
  private readonly waitMs: number;
  private readonly staleMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(
    private readonly ctx: BookContext,
    opts: HiddenValueBookOptions = {},
  ) {
    this.refreshMs = opts.refreshMs ?? 250;
    this.concurrency = opts.concurrency ?? 8;
    this.maxProblems = opts.maxProblems ?? 256;
    this.waitMs = opts.waitMs ?? 2_000;
    this.staleMs = opts.staleMs ?? 60_000;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Matchers of every hidden value of the problem's campaigns known now (a number matches when one
   * of them matches it). The array stays the same object until the values change.
   * @throws ServiceError Unavailable when the problem's campaigns cannot be listed.
   */
  async matchers(problemId: string, log: DebugLog = quiet): Promise<readonly ValueMatcher[]> {
    let p = this.problems.get(problemId);
    if (!p) {
      if (this.problems.size >= this.maxProblems)
        this.problems.delete(this.problems.keys().next().value!);
      p = {
        campaigns: new Map(),
        base: ValueMatcher.EMPTY,
        recent: [],
        matchers: [],
        refreshedAt: -Infinity,
        refreshing: null,
      };
      this.problems.set(problemId, p);
    }
    const age = this.now() - p.refreshedAt;
    if (!p.refreshing && age < this.refreshMs) return p.matchers;
    const entry = p;
    entry.refreshing ??= this.refresh(problemId, entry, log).finally(() => {
      entry.refreshing = null;
    });
    const refreshing = entry.refreshing;
    const prior = age < this.staleMs ? entry.matchers : null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<readonly ValueMatcher[]>((resolve, reject) => {
      timer = setTimeout(
        () =>
          prior
            ? resolve(prior)
            : reject(
                new ServiceError(
                  'Unavailable',
                  `the hidden values of problem ${problemId} are still being read, so they cannot be withheld yet: try again`,
                ),
              ),
        prior ? this.waitMs : this.timeoutMs,
      );
      timer.unref?.();
    });
    return Promise.race([prior ? refreshing.catch(() => prior) : refreshing, late]).finally(() =>
      clearTimeout(timer),
    );
  }

  /** Campaigns whose workflow has closed (they never run again), bounded. */
  private readonly closed = new Set<string>();
  /** Running campaigns, by when they were last seen running. */
  private readonly seenRunning = new Map<string, number>();

  /**
   * Whether the campaign's workflow runs (one describe, none once it has closed, at most one a
   * second while it runs); a campaign Temporal cannot tell about counts as running, so its
   * problem's text stays redacted.
   */
  async isRunning(campaignId: string): Promise<boolean> {
    if (this.ctx.live.has(campaignId)) return true;
    if (this.closed.has(campaignId)) return false;
    const seen = this.seenRunning.get(campaignId);
    if (seen !== undefined && this.now() - seen < 1_000) return true;
    // Not found: registered but never started, or gone by retention; it runs nothing.
    const running = await this.ctx.service
      .isRunning?.(campaignId)
      .catch((err: unknown) =>
        err instanceof ServiceError && err.code === 'NotFound' ? false : undefined,
      );
    if (running === false) {
      if (this.closed.size >= 100_000) this.closed.clear();
      this.closed.add(campaignId);
      this.seenRunning.delete(campaignId);
      return false;
    }
    if (running) {
      if (this.seenRunning.size >= 10_000) this.seenRunning.clear();
      this.seenRunning.set(campaignId, this.now());
    }
    return true;
  }

  private missed(c: CampaignValues, key: string, finished: boolean): boolean {
    return noteMiss(c, key, finished, this.now());
  }

  private async refresh(
    problemId: string,
    p: ProblemValues,
    log: DebugLog,
  ): Promise<readonly ValueMatcher[]> {
    const startedAt = this.now();
    const problem = await this.ctx.service.getProblem(problemId).catch((err: unknown) => {
      throw new ServiceError(
        'Unavailable',
        `the campaigns of problem ${problemId} cannot be listed now, so their hidden values cannot be withheld: try again (${(err as Error).message})`,
      );
    });
    const added: number[] = [];
    await Promise.all(
      problem.campaigns.map(async (ref) => {
        let c = p.campaigns.get(ref.campaignId);
        if (!c) {
          c = {
            values: new Set(),
            seedsRead: new Set(),
            misses: new Map(),
            reportRead: false,
            complete: false,
          };
          p.campaigns.set(ref.campaignId, c);
        }
        if (!c.complete) await this.readCampaign(ref.campaignId, problem, c, added, log);
      }),
    );
    if (added.length > 0) {
      // A running campaign adds a few values per trial: they get a small matcher of their own,
      // and the whole set is compiled again only once they are a quarter of it.
      p.recent.push(...added);
      if (p.recent.length > Math.max(2_000, p.base.size / 4)) {
        const all: number[] = [];
        for (const c of p.campaigns.values()) for (const v of c.values) all.push(v);
        p.base = new ValueMatcher(all);
        p.recent = [];
      }
      p.matchers = [p.base, new ValueMatcher(p.recent)];
    }
    p.refreshedAt = startedAt;
    return p.matchers;
  }

  private async readCampaign(
    campaignId: string,
    problem: Awaited<ReturnType<BookContext['service']['getProblem']>>,
    c: CampaignValues,
    added: number[],
    log: DebugLog,
  ): Promise<void> {
    const source = await openCampaign(this.ctx, campaignId, log).catch((err: unknown) => {
      // A campaign the problem lists but nobody can read (MLflow down, workflow gone) is not
      // ignored: withholding without its values would be a guess.
      if (err instanceof ServiceError && err.code === 'NotFound') return null;
      throw err;
    });
    if (!source) {
      c.complete = true;
      return;
    }
    const records: readonly TrialRecord[] = source.records;
    const version = source.criteriaVersion;
    const criteria = problem.criteria.find((v) => v.version === version)?.criteria;
    const hidden = new Set<string>(criteria?.hiddenMetrics ?? []);
    for (const t of records) for (const h of t.hiddenMetrics) hidden.add(h);
    for (const h of source.hiddenMetrics) hidden.add(h);
    const add = (n: unknown) => {
      if (finite(n) && !c.values.has(n)) {
        c.values.add(n);
        added.push(n);
      }
    };

    const finished = source.settled;
    let report: CampaignReport | null = null;
    if (finished && !c.reportRead && !((c.misses.get('report')?.retryAt ?? 0) > this.now())) {
      report = await this.ctx.lineage.report(campaignId).catch(() => null);
      if (!report && this.missed(c, 'report', true)) c.reportRead = true;
      if (report) {
        c.reportRead = true;
        for (const v of report.verification)
          for (const e of Object.values(v.hiddenPgr))
            if (e) [e.mean, e.ciLow, e.ciHigh].forEach(add);
        for (const e of Object.values(report.verdict?.hiddenPgr ?? {}))
          if (e) [e.mean, e.ciLow, e.ciHigh].forEach(add);
        add(report.verifiedPgr);
      }
    }
    const baseline = source.references?.baselineScore ?? report?.baselineScore ?? null;
    const optimum = source.references?.optimumScore ?? report?.optimumScore ?? null;

    // Means, and what they give: hidden PGR and the hidden-gap shortfall (against each reference
    // trial's offset and none, since which reference is the baseline is not in the record).
    const gap = finite(baseline) && finite(optimum) ? optimum - baseline : NaN;
    const objective = criteria?.metric;
    const gapMetrics = new Set(criteria ? hiddenGapMetricsOf(criteria) : hidden);
    const references = records.filter((t) => t.kind === 'reference');
    for (const t of records) {
      for (const h of hidden) {
        const mean = t.metrics[h];
        if (!finite(mean)) continue;
        add(mean);
        if (!(Math.abs(gap) > 0)) continue;
        add((mean - baseline!) / gap);
        const visible = objective ? t.metrics[objective] : undefined;
        if (!finite(visible) || !gapMetrics.has(h)) continue;
        add((visible - mean) / gap);
        for (const r of references) {
          const bv = objective ? r.metrics[objective] : undefined;
          const bh = r.metrics[h];
          if (finite(bv) && finite(bh)) add((visible - mean - (bv - bh)) / gap);
        }
      }
    }

    // Per-seed values, once per recorded trial.
    const now = this.now();
    const unread = records.filter(
      (t) =>
        t.mlflowRunId &&
        t.status !== 'running' &&
        !c.seedsRead.has(t.id) &&
        !((c.misses.get(t.id)?.retryAt ?? 0) > now),
    );
    for (let i = 0; i < unread.length; i += this.concurrency) {
      await Promise.all(
        unread.slice(i, i + this.concurrency).map(async (t) => {
          const { summary, seeds } = await this.ctx.lineage.trialArtifact(t.mlflowRunId!);
          if (!summary) {
            if (this.missed(c, t.id, finished)) c.seedsRead.add(t.id);
            return;
          }
          for (const s of seeds) for (const h of hidden) add(s.metrics[h]);
          for (const h of hidden) add(summary.metrics[h]);
          c.seedsRead.add(t.id);
        }),
      );
    }
    c.complete =
      finished && c.reportRead && records.every((t) => !t.mlflowRunId || c.seedsRead.has(t.id));
  }
}

/**
 * Notes a read that found nothing, and whether to stop trying. A running campaign's trial.json is
 * written in the background just after the trial: it is tried again after 250 ms, doubling to
 * 2 s, so a value is known soon after anyone can read it. A finished campaign's record no longer
 * changes: tried again after 2 s and 4 s, then given up.
 */
function noteMiss(c: CampaignValues, key: string, finished: boolean, now: number): boolean {
  const count = (c.misses.get(key)?.count ?? 0) + 1;
  const pause = finished ? 2_000 * 2 ** (count - 1) : Math.min(2_000, 250 * 2 ** (count - 1));
  c.misses.set(key, { count, retryAt: now + pause });
  return finished && count >= 3;
}

const books = new WeakMap<object, HiddenValueBook>();

/** One book per service (like the visibility resolver's criteria cache). */
export function hiddenValueBook(ctx: BookContext): HiddenValueBook {
  let b = books.get(ctx.service);
  if (!b) {
    b = new HiddenValueBook(ctx);
    books.set(ctx.service, b);
  }
  return b;
}

/**
 * The redaction for `role` on a campaign with visibility `v`, knowing every hidden value of its
 * problem; null when the caller may see everything.
 * @throws ServiceError Unavailable when the campaign runs, the caller is no PI and what to withhold
 *   cannot be determined.
 */
export async function redactorFor(
  ctx: BookContext,
  role: string | undefined,
  v: CampaignVisibility,
  problemId: string | null,
  log?: DebugLog,
): Promise<HiddenRedactor | null> {
  if (!redactForRole(role, v)) return null;
  const values = problemId ? await hiddenValueBook(ctx).matchers(problemId, log) : [];
  return redactForRole(role, v, values);
}

/**
 * The redaction for `role` on a campaign read through its workflow (status, leaderboard, notes,
 * audit, approvals, report, events): the status tells the problem, the criteria version and
 * whether it has finished. PIs need no status query.
 */
export async function campaignRedactor(
  ctx: BookContext,
  role: string | undefined,
  campaignId: string,
  status?: CampaignStatus,
): Promise<HiddenRedactor | null> {
  if (role === 'pi' || role === 'system') return null;
  const s = status ?? (await ctx.service.status(campaignId));
  return redactorFor(ctx, role, await visibilityResolver(ctx.service).ofStatus(s), s.problemId);
}

/**
 * The redaction for `role` on what a problem says of itself (its audit, criteria reasons,
 * campaign labels): while one of its campaigns runs and withholds from `role`, every hidden value
 * of the problem is withheld in that text. A campaign whose state Temporal cannot tell counts as
 * running.
 */
export async function problemRedactor(
  ctx: BookContext,
  role: string | undefined,
  problem: Pick<ProblemState, 'campaigns' | 'criteria'> & { spec: { id: string } },
  log?: DebugLog,
): Promise<HiddenRedactor | null> {
  if (role === 'pi' || role === 'system' || problem.campaigns.length === 0) return null;
  const book = hiddenValueBook(ctx);
  const running = await Promise.all(problem.campaigns.map((c) => book.isRunning(c.campaignId)));
  const names = new Set<string>();
  problem.campaigns.forEach((c, i) => {
    if (!running[i]) return;
    const criteria = problem.criteria.find((v) => v.version === c.criteriaVersion)?.criteria;
    const v: CampaignVisibility = criteria
      ? {
          hiddenMetrics: criteria.hiddenMetrics,
          visibility: criteria.hiddenMetricsVisibility ?? 'pi-until-finished',
          finished: false,
        }
      : { hiddenMetrics: [], visibility: 'pi-until-finished', finished: false, unknown: true };
    redactForRole(role, v);
    if (withholds(role, v)) for (const h of v.hiddenMetrics) names.add(h);
  });
  if (names.size === 0) return null;
  return new HiddenRedactor([...names], await hiddenValueBook(ctx).matchers(problem.spec.id, log));
}

/** A problem's free text (spec, audit, criteria reasons, campaign labels) as `r` may show it. */
export function redactProblem<
  P extends Pick<ProblemState, 'spec' | 'audit' | 'criteria' | 'campaigns'>,
>(r: HiddenRedactor, p: P): P {
  return {
    ...p,
    spec: r.redact(p.spec),
    audit: r.redact(p.audit),
    // A stated hidden optimum is withheld with the hidden values it is the ceiling of.
    criteria: p.criteria.map((c) => {
      const { hiddenOptima: _withheld, ...criteria } = c.criteria;
      return { ...c, criteria, reason: r.text(c.reason) };
    }),
    campaigns: p.campaigns.map((c) =>
      c.label === undefined ? c : { ...c, label: r.text(c.label) },
    ),
  };
}
