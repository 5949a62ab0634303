/**
 * Hidden metrics stay hidden from people too, while a campaign runs. The held-out metrics exist
 * to catch gaming; a researcher who watches them can steer by them, and then they no longer
 * hold anything out. So by default (criteria `hiddenMetricsVisibility: pi-until-finished`) only
 * PIs see hidden values until the campaign has finished; researchers and viewers get the metric
 * listed in `withheld` with no value, and the UI shows "hidden". Once the campaign has finished,
 * everyone sees them (the verdict is in; hiding it would only hide the evidence). Agents never see
 * them at all: that is the strategies' redaction, not this module.
 *
 * Every read route passes what it sends through {@link redactForRole}; the event stream does so
 * per client at send time, so clients sharing one poller still each get what their role may see.
 * The redaction is structural (metric records, hidden PGRs, review flags that concern hidden
 * metrics) and then textual: in every string (failure reasons, log tails, notes, audit details,
 * titles, diffs, sources) `<hidden name>=<number>` loses the number, and every number that is a
 * rounding of a hidden value is replaced, whichever campaign of the problem the value came from
 * (server/hidden-values.ts keeps them; server/hidden-match.ts matches them). A number in free text
 * that merely coincides with a hidden value is withheld too: text cannot say which it is. Numbers
 * in structured fields (a visible metric, a PGR) are never touched.
 */
import type { ConstraintVerdict, EvaluationCriteria as Criteria } from '../domain/schemas.js';
import { withheldVerdict } from '../domain/constraints.js';
import { TAG } from '../records/names.js';
import type { CampaignStatus } from '../api/schemas.js';
import type { CampaignVisibility } from './campaign-source.js';
import type { ApiService } from './context.js';
import { ServiceError } from './errors.js';
import { ValueMatcher } from './hidden-match.js';
import type { CampaignRecords } from './lineage.js';

export type { CampaignVisibility } from './campaign-source.js';

/** Marker that replaces a withheld value in free text. */
export const HIDDEN_MARK = 'hidden';

/** What replaces the message of a review flag that is about hidden metrics. */
export const WITHHELD_FLAG_MESSAGE =
  'concerns hidden metrics: details are shown to PIs until the campaign finishes';

/** Whether `role` may not see the campaign's hidden values now. */
export function withholds(role: string | undefined, v: CampaignVisibility): boolean {
  return (
    v.hiddenMetrics.length > 0 &&
    !v.finished &&
    v.visibility === 'pi-until-finished' &&
    role !== 'pi' &&
    role !== 'system'
  );
}

/**
 * The redaction a caller with `role` needs for the campaign, or null when they may see
 * everything (PIs; anyone once the campaign has finished; criteria with `everyone`).
 * @throws ServiceError Unavailable when the campaign runs, the caller is no PI and its hidden
 *   metrics cannot be determined: failing closed beats guessing.
 */
export function redactForRole(
  role: string | undefined,
  v: CampaignVisibility,
  values: readonly ValueMatcher[] = [],
): HiddenRedactor | null {
  if (v.unknown && !v.finished && role !== 'pi' && role !== 'system')
    throw new ServiceError(
      'Unavailable',
      "the campaign's criteria cannot be read now, so its hidden metrics cannot be withheld: try again",
    );
  return withholds(role, v) ? new HiddenRedactor(v.hiddenMetrics, values) : null;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
const NUMBER = String.raw`-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|-?Infinity|NaN`;

/**
 * Fields that name or time things (ids, hashes, timestamps, enums): never free text, and a
 * number in them is part of a name, not a value.
 */
const NOT_TEXT = new Set([
  'id',
  'campaignId',
  'problemId',
  'trialId',
  'hypothesisId',
  'parentTrialId',
  'verificationTrialId',
  'sourceHash',
  'parentSourceHash',
  'hash',
  'mlflowRunId',
  'mlflowParentRunId',
  'mlflowExperimentId',
  'at',
  'startedAt',
  'finishedAt',
  'createdAt',
  'kind',
  'status',
  'phase',
  'role',
  'logArtifact',
]);

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Removes hidden values from API payloads (trial records and summaries, seeds, statuses,
 * reports, notes, audit entries, SSE events). Pure; returns copies, never changes its input.
 */
export class HiddenRedactor {
  private readonly hidden: Set<string>;
  /**
   * `name: 0.123`, `"name": 0.123`, `name=0.123`, `name 0.123`, `name is 0.123` in free text: a
   * value printed by name is withheld even when no record knows it (a seed that printed it and
   * then failed).
   */
  private readonly namedValue: RegExp | null;
  /** Mentions of a hidden name, for flag messages. */
  private readonly mention: RegExp | null;

  /**
   * @param values hidden values known beyond the payload (every campaign of the problem); the
   *   payload's own are added per call.
   */
  constructor(
    hiddenMetrics: readonly string[],
    readonly values: readonly ValueMatcher[] = [],
  ) {
    this.hidden = new Set(hiddenMetrics);
    this.names = [...this.hidden];
    const names = hiddenMetrics.filter((n) => n.length > 0).map(escapeRe);
    this.namedValue =
      names.length > 0
        ? new RegExp(
            `((?<![A-Za-z0-9_])(?:${names.join('|')})(?![A-Za-z0-9_])["']?\\s*(?:(?:[:=]|is|was|of|at|reached)\\s*)?)(${NUMBER})`,
            'g',
          )
        : null;
    this.mention =
      names.length > 0
        ? new RegExp(`(?<![A-Za-z0-9_])(?:${names.join('|')})(?![A-Za-z0-9_])`)
        : null;
  }

  /** The hidden metric names (what `withheld` lists). */
  readonly names: string[];

  /**
   * A copy of `value` with hidden values removed:
   *   - every `metrics` record loses its hidden keys, and its object gets `withheld: [names]`;
   *   - every `hiddenPgr` record is emptied, its object gets `withheld` too;
   *   - constraint verdicts on hidden metrics keep whether they held, not the value or limit;
   *   - review flags that concern hidden metrics (`hidden_gap`, verification flags, or any whose
   *     message names a hidden metric) keep their kind but lose their message;
   *   - in all text (ids, hashes and timestamps aside), `<hidden name>: <number>` loses the
   *     number, and every rounding (two significant digits or more) of a hidden value, known to
   *     the redactor or found in the payload, is replaced wherever it appears.
   */
  redact<T>(value: T): T {
    const found: number[] = [];
    this.collect(value, found);
    const matchers = found.length > 0 ? [...this.values, new ValueMatcher(found)] : this.values;
    return this.walk(value, (s) => this.scrub(s, matchers)) as T;
  }

  /**
   * Lineage nodes: no metric values and no flag messages, so only their free text (title,
   * author) can carry one. Nodes without a hidden name are returned as they are (10,000 nodes
   * cost about a millisecond instead of a full walk).
   */
  nodes<N extends { title: string; author: string }>(nodes: readonly N[]): N[] {
    return nodes.map((n) => {
      const title = this.text(n.title);
      const author = this.text(n.author);
      return title === n.title && author === n.author ? n : { ...n, title, author };
    });
  }

  /** Free text with hidden values taken out (the values the redactor knows, and `name=<number>`). */
  text(s: string): string {
    return this.scrub(s, this.values);
  }

  status(s: CampaignStatus): CampaignStatus {
    return this.redact(s);
  }

  private scrub(s: string, matchers: readonly ValueMatcher[]): string {
    // Most strings (ids, titles, kinds) mention no hidden name: skip the regex for them.
    const named = this.namedValue && this.names.some((n) => s.includes(n));
    const out = named ? s.replace(this.namedValue!, `$1${HIDDEN_MARK}`) : s;
    return ValueMatcher.scrub(out, matchers, HIDDEN_MARK);
  }

  /** Hidden values in the payload: metric records' hidden keys and hidden PGRs. */
  private collect(v: unknown, out: number[]): void {
    if (Array.isArray(v)) {
      for (const x of v) this.collect(x, out);
      return;
    }
    if (!isPlainObject(v)) return;
    const add = (n: unknown) => {
      if (typeof n === 'number' && Number.isFinite(n)) out.push(n);
    };
    for (const [k, x] of Object.entries(v)) {
      if (k === 'metrics' && isPlainObject(x)) {
        for (const h of this.hidden) add(x[h]);
      } else if (k === 'hiddenPgr' && isPlainObject(x)) {
        for (const e of Object.values(x))
          if (isPlainObject(e)) for (const f of ['mean', 'ciLow', 'ciHigh']) add(e[f]);
      } else if (typeof x === 'object') this.collect(x, out);
    }
  }

  private isHiddenFlag(o: Record<string, unknown>): boolean {
    const kind = String(o.kind);
    return (
      kind.startsWith('hidden') ||
      kind.startsWith('verification') ||
      (typeof o.message === 'string' && this.mention !== null && this.mention.test(o.message))
    );
  }

  /** A constraint verdict (`{ description, metric, value, limit, ok }`) on a hidden metric. */
  private isHiddenVerdict(o: Record<string, unknown>): boolean {
    return (
      typeof o.metric === 'string' &&
      this.hidden.has(o.metric) &&
      typeof o.ok === 'boolean' &&
      typeof o.description === 'string' &&
      'limit' in o
    );
  }

  private walk(v: unknown, text: (s: string) => string): unknown {
    if (typeof v === 'string') return text(v);
    if (Array.isArray(v)) return v.map((x) => this.walk(x, text));
    if (!isPlainObject(v)) return v;
    // Its value is the hidden mean, a relative limit the baseline's hidden mean times a factor.
    if (this.isHiddenVerdict(v)) return withheldVerdict(v as ConstraintVerdict);
    const out: Record<string, unknown> = {};
    let withheld = false;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'metrics' && isPlainObject(x)) {
        const kept: Record<string, unknown> = {};
        for (const [m, n] of Object.entries(x)) {
          if (this.hidden.has(m)) withheld = true;
          else kept[m] = n;
        }
        out[k] = kept;
      } else if (k === 'hiddenPgr' && isPlainObject(x)) {
        out[k] = {};
        withheld = withheld || Object.keys(x).length > 0;
      } else if (
        k === 'hiddenMetrics' ||
        k === 'withheld' ||
        (NOT_TEXT.has(k) && typeof x === 'string')
      ) {
        out[k] = x;
      } else {
        out[k] = this.walk(x, text);
      }
    }
    // A review flag: `{ kind, message, cleared? }`.
    if (typeof v.kind === 'string' && typeof v.message === 'string' && this.isHiddenFlag(v))
      out.message = WITHHELD_FLAG_MESSAGE;
    if (withheld || Array.isArray(v.hiddenMetrics)) out.withheld = [...this.names];
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Where a campaign's visibility comes from
// ---------------------------------------------------------------------------------------------

type CriteriaFacts = Pick<CampaignVisibility, 'hiddenMetrics' | 'visibility'> & {
  criteria: Criteria;
};

/** Criteria versions never change, so their facts are kept (bounded). */
const MAX_CACHED = 512;
/**
 * How long a read waits for the criteria before it goes on with the default (PIs only until
 * finished, the hidden names the records carry), and how long a failed lookup is remembered:
 * with Temporal unreachable, reads from MLflow stay fast instead of each waiting out a
 * connection timeout.
 */
export const CRITERIA_LOOKUP_MS = 2_000;
export const CRITERIA_RETRY_MS = 15_000;

/**
 * Finds a campaign's {@link CampaignVisibility} from its status (workflow) or its MLflow record,
 * reading the hidden metrics and the visibility option from the problem's criteria version.
 * When the criteria cannot be read, the default (PIs only until finished) applies.
 */
export class VisibilityResolver {
  private readonly cache = new Map<string, Promise<CriteriaFacts | null>>();
  /** Lookups that failed or timed out, by key: when to try again (ms since the epoch). */
  private readonly failedUntil = new Map<string, number>();
  /** Lookups still in flight, reads that went on without them included. */
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly service: Pick<ApiService, 'getProblem'>,
    private readonly now: () => number = Date.now,
  ) {}

  private criteria(problemId: string, version: number): Promise<CriteriaFacts | null> {
    const key = `${problemId}@${version}`;
    let p = this.cache.get(key);
    if (p) return p;
    const retryAt = this.failedUntil.get(key);
    if (retryAt !== undefined && this.now() < retryAt) return Promise.resolve(null);
    this.failedUntil.delete(key);
    p = this.service.getProblem(problemId).then(
      (problem) => {
        const c = problem.criteria.find((x) => x.version === version)?.criteria;
        return c
          ? {
              hiddenMetrics: c.hiddenMetrics,
              visibility: c.hiddenMetricsVisibility ?? 'pi-until-finished',
              criteria: c,
            }
          : null;
      },
      () => null,
    );
    // Failures are kept only briefly: the problem may answer later.
    const failed = () => {
      if (this.cache.get(key) === p) this.cache.delete(key);
      if (this.failedUntil.size >= MAX_CACHED) this.failedUntil.clear();
      this.failedUntil.set(key, this.now() + CRITERIA_RETRY_MS);
    };
    const answer = p;
    this.inFlight.add(answer);
    void answer.finally(() => this.inFlight.delete(answer));
    void p.then((r) => {
      if (r === null) return failed();
      // A late answer (after the read went on with the default) is kept all the same.
      this.failedUntil.delete(key);
      this.cache.set(key, answer);
    });
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, p);
    // A slow answer (Temporal unreachable) does not hold the read up: it goes on with the
    // default, and a late answer still fills the cache.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => {
        failed();
        resolve(null);
      }, CRITERIA_LOOKUP_MS);
      timer.unref?.();
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  /**
   * The criteria a campaign runs under (cached like its visibility), or null when they cannot be
   * read now (the lookup is then given {@link CRITERIA_LOOKUP_MS} and tried again later).
   */
  async criteriaOf(problemId: string, version: number): Promise<Criteria | null> {
    return (await this.criteria(problemId, version))?.criteria ?? null;
  }

  /**
   * Resolves once no lookup is in flight. The server waits for this before it closes its Temporal
   * connection: a lookup that a read stopped waiting for may still be retrying on it.
   */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  async ofStatus(
    s: Pick<CampaignStatus, 'problemId' | 'criteriaVersion' | 'phase'>,
  ): Promise<CampaignVisibility> {
    const facts = await this.criteria(s.problemId, s.criteriaVersion);
    return {
      hiddenMetrics: facts?.hiddenMetrics ?? [],
      visibility: facts?.visibility ?? 'pi-until-finished',
      finished: s.phase === 'finished',
      ...(facts ? {} : { unknown: true }),
    };
  }

  /**
   * From the MLflow record; `running` is whether the workflow still runs, when known (a closed
   * workflow whose record was never ended has finished all the same).
   */
  async ofRecords(r: CampaignRecords, running?: boolean): Promise<CampaignVisibility> {
    const version = Number(r.parent.data.tags[TAG.criteriaVersion]);
    const facts =
      r.location.problemId && Number.isInteger(version)
        ? await this.criteria(r.location.problemId, version)
        : null;
    const recorded = new Set(r.records.flatMap((t) => t.hiddenMetrics));
    for (const h of facts?.hiddenMetrics ?? []) recorded.add(h);
    return {
      hiddenMetrics: [...recorded],
      visibility: facts?.visibility ?? 'pi-until-finished',
      finished: r.finished || running === false,
      // Trial runs carry the hidden names as a tag, so records alone are enough to redact.
      ...(facts || r.records.length > 0 ? {} : { unknown: true }),
    };
  }
}

const resolvers = new WeakMap<object, VisibilityResolver>();

/** One resolver (and criteria cache) per service. */
export function visibilityResolver(service: Pick<ApiService, 'getProblem'>): VisibilityResolver {
  let r = resolvers.get(service);
  if (!r) {
    r = new VisibilityResolver(service);
    resolvers.set(service, r);
  }
  return r;
}
