/**
 * Reads campaigns back from MLflow, the permanent record (`MlflowSource` is the campaign read
 * from it, see campaign-source.ts): trial pages, the lineage tree, a
 * trial's detail, the final report and the per-problem comparison. It works for campaigns whose
 * workflow is long gone and for runs written straight into MLflow, because it relies only on
 * what activities/recording.ts writes: a parent run per campaign (gaplab.kind=campaign) and a
 * nested run per trial (gaplab.kind=trial), decoded by the trial codec (records/trial-codec.ts).
 * It only reads: a finished campaign's records snapshot is written when the campaign ends.
 *
 * Speed at 10,000 trials: one download of the records snapshot of a finished campaign, else one
 * paged search (5,000 runs a page) and one pass decoding runs to records; finished campaigns kept
 * in memory (a bounded LRU), running ones reused for a short TTL, concurrent requests for the
 * same campaign share one fetch.
 */
import {
  CampaignReport,
  type Lineage,
  type TrialRecord,
  TrialSummary,
  SeedRecord,
  toLineageNode,
  type LineageNode,
} from '../api/schemas.js';
import {
  MlflowError,
  type Metric,
  type Run,
  type SearchRunsPage,
  type SearchRunsOptions,
} from '../mlflow-ts-client/index.js';
import {
  decodeSnapshot,
  decodeTrialState,
  decodeTrials,
  parseCurveKey,
  withStateOf,
  mergeHiddenRuns,
  RECORDS_SNAPSHOT,
} from '../records/trial-codec.js';
import { hiddenExperimentName, experimentName, quote, TAG, tagFilter } from '../records/names.js';
import { bestTrial, eligible, type RankableTrial } from '../domain/scoring.js';
import type { FlagKind } from '../domain/schemas.js';
import {
  isRecorded,
  lineagePath,
  NO_ARTIFACT,
  RecordsSource,
  type CampaignSource,
  type CampaignVisibility,
  type TrialArtifact,
} from './campaign-source.js';

export { lineagePath, quote, RECORDS_SNAPSHOT };

/** What the reader needs of MlflowClient (a structural subset, so tests can fake it). */
export interface LineageMlflow {
  readonly trackingUri: string;
  /** The `authorization` header of an MLflow with authentication. */
  readonly authorization?: string | undefined;
  searchRuns(options: SearchRunsOptions): Promise<SearchRunsPage>;
  getRun(runId: string): Promise<Run>;
  getExperimentByName(name: string): Promise<{ experimentId: string } | null>;
  downloadArtifactText(runId: string, path: string): Promise<string>;
  getMetricHistory(runId: string, metricKey: string): Promise<Metric[]>;
}

/** Curves read per trial at most: a seed's metric limit (domain/curves.ts) times 8 seeds. */
export const CURVES_READ = 64;

/** One seed's curve of one metric, as recorded. */
export interface RecordedCurve {
  metric: string;
  seedIndex: number;
  points: [number, number][];
}

export interface ExperimentRef {
  experimentId: string;
  name: string;
}

export interface LineageReaderOptions {
  mlflow: LineageMlflow;
  /** Lists gaplab's MLflow experiments. @default a search of experiments named `gaplab/%` over REST */
  listExperiments?: () => Promise<ExperimentRef[]>;
  /** How long a running campaign's records are reused. @default 2000 */
  ttlMs?: number;
  /** Finished campaigns kept in memory. @default 16 */
  cacheCampaigns?: number;
  /** Trials kept in memory over all cached campaigns (the newest campaign always stays). @default 200000 */
  maxTrials?: number;
  /** Runs per search request (MLflow allows 50,000; smaller pages keep each request well inside client timeouts). @default 5000 */
  pageSize?: number;
  /** @default Date.now */
  now?: () => number;
  /** Read a finished campaign's records from its snapshot artifact when it has one (see RECORDS_SNAPSHOT). @default true */
  snapshots?: boolean;
  /**
   * How long the list of every campaign in MLflow answers lookups by id before an id it does
   * not hold makes it list again: unknown ids cost no search of their own. @default 5000
   */
  indexTtlMs?: number;
}

/** Where a campaign lives in MLflow. */
export interface CampaignLocation {
  campaignId: string;
  problemId: string | null;
  experimentId: string;
  parentRunId: string;
}

/** Everything MLflow holds on one campaign, mapped once. */
export interface CampaignRecords {
  location: CampaignLocation;
  parent: Run;
  /** The parent run has ended: nothing will be added any more. */
  finished: boolean;
  /** Sorted by index. */
  records: TrialRecord[];
  nodes: LineageNode[];
  byId: Map<string, TrialRecord>;
  fetchedAt: number;
  /** How long the MLflow search and the mapping took, for logs and benchmarks. */
  fetchMs: number;
  /** Read from the records snapshot rather than a search. */
  fromSnapshot: boolean;
  /** The campaign's own best (see {@link recordedBest}). */
  best: CampaignBest | null;
}

/** A campaign's best trial and its PGR as recorded: what every screen names. */
export interface CampaignBest {
  trialId: string;
  pgr: NonNullable<TrialRecord['pgr']>;
}

/**
 * The campaign's best as its record says. A campaign that ended names it on its parent run
 * (`gaplab.bestTrialId`, the report's best), with the PGR its trial's run holds (kept current
 * until the end). A campaign still recording (or runs written without the tag) has none: its best
 * is then ranked from the records as the workflow ranks its trials (domain/scoring.ts), with the
 * trust each record holds, which the campaign keeps current.
 */
export function recordedBest(
  parent: Run,
  records: readonly TrialRecord[],
  byId: ReadonlyMap<string, TrialRecord>,
): CampaignBest | null {
  const named = parent.data.tags[TAG.bestTrialId];
  if (named !== undefined) {
    const t = byId.get(named);
    return t?.pgr ? { trialId: t.id, pgr: t.pgr } : null;
  }
  let best: { trial: TrialRecord; rank: RankableTrial } | null = null;
  for (const t of records) {
    if (t.kind !== 'search') continue;
    const rank = rankable(t);
    if (eligible(rank) && (!best || bestTrial([best.rank, rank]) === rank))
      best = { trial: t, rank };
  }
  return best?.trial.pgr ? { trialId: best.trial.id, pgr: best.trial.pgr } : null;
}

const TERMINAL = new Set(['FINISHED', 'FAILED', 'KILLED']);
/** MLflow caps experiment ids per search; chunks stay well below. */
const EXPERIMENT_CHUNK = 100;

/** Records sorted by index, then id (two records for one trial cannot both stay: recording keeps the oldest). */
function sortRecords(records: TrialRecord[]): TrialRecord[] {
  return records.sort((a, b) => a.index - b.index || a.id.localeCompare(b.id));
}

/** Default experiment listing: MLflow's experiments/search over REST (the client has no wrapper for it). */
export function restExperimentLister(
  trackingUri: string,
  fetchImpl: typeof fetch = globalThis.fetch,
  authorization?: string,
): () => Promise<ExperimentRef[]> {
  return async () => {
    const out: ExperimentRef[] = [];
    let pageToken: string | undefined;
    do {
      const endpoint = 'POST /experiments/search';
      let res: Response;
      try {
        res = await fetchImpl(
          `${trackingUri.replace(/\/+$/, '')}/api/2.0/mlflow/experiments/search`,
          {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              ...(authorization ? { authorization } : {}),
            },
            body: JSON.stringify({
              max_results: 1000,
              filter: "name LIKE 'gaplab/%'",
              ...(pageToken ? { page_token: pageToken } : {}),
            }),
            signal: AbortSignal.timeout(10_000),
          },
        );
      } catch (err) {
        throw new MlflowError(`MLflow is unreachable: ${(err as Error).message}`, {
          errorCode: 'NETWORK_ERROR',
          endpoint,
          retryable: true,
          cause: err,
        });
      }
      if (!res.ok) {
        throw new MlflowError(`MLflow experiments/search answered ${res.status}`, {
          errorCode: `HTTP_${res.status}`,
          status: res.status,
          endpoint,
          retryable: res.status >= 500 || res.status === 429,
        });
      }
      const body = (await res.json()) as {
        experiments?: { experiment_id: string; name: string }[];
        next_page_token?: string;
      };
      for (const e of body.experiments ?? [])
        out.push({ experimentId: e.experiment_id, name: e.name });
      pageToken = body.next_page_token || undefined;
    } while (pageToken);
    return out;
  };
}

export class LineageReader {
  private readonly mlflow: LineageMlflow;
  private readonly listExperiments: () => Promise<ExperimentRef[]>;
  private readonly ttlMs: number;
  private readonly cacheCampaigns: number;
  private readonly maxTrials: number;
  private readonly pageSize: number;
  private readonly now: () => number;
  private readonly snapshots: boolean;
  /** campaignId → location; locations never change. */
  private readonly locations = new Map<string, CampaignLocation>();
  /** campaignId → records, most recently used last. */
  private readonly cache = new Map<string, CampaignRecords>();
  private readonly inflight = new Map<string, Promise<CampaignRecords | null>>();
  private readonly indexTtlMs: number;
  /** Every campaign MLflow held when last listed (negative cache of unknown ids). */
  private index: { at: number; byId: Map<string, CampaignLocation> } | undefined;
  private indexing: Promise<Map<string, CampaignLocation>> | undefined;

  constructor(opts: LineageReaderOptions) {
    this.mlflow = opts.mlflow;
    this.listExperiments =
      opts.listExperiments ??
      restExperimentLister(opts.mlflow.trackingUri, globalThis.fetch, opts.mlflow.authorization);
    this.ttlMs = opts.ttlMs ?? 2000;
    this.cacheCampaigns = opts.cacheCampaigns ?? 16;
    this.maxTrials = opts.maxTrials ?? 200_000;
    this.pageSize = opts.pageSize ?? 5000;
    this.now = opts.now ?? Date.now;
    this.snapshots = opts.snapshots ?? true;
    this.indexTtlMs = opts.indexTtlMs ?? 5000;
  }

  private async searchAll(
    experimentIds: string[],
    filter: string,
    orderBy?: string[],
  ): Promise<Run[]> {
    const runs: Run[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.mlflow.searchRuns({
        experimentIds,
        filter,
        maxResults: this.pageSize,
        ...(orderBy ? { orderBy } : {}),
        ...(pageToken ? { pageToken } : {}),
      });
      runs.push(...page.runs);
      pageToken = page.nextPageToken;
    } while (pageToken);
    return runs;
  }

  private static locationOf(run: Run, campaignId: string): CampaignLocation {
    return {
      campaignId,
      problemId: run.data.tags[TAG.problemId] ?? null,
      experimentId: run.info.experimentId,
      parentRunId: run.info.runId,
    };
  }

  /** The oldest campaign run among duplicates (recording keeps the oldest too). */
  private static oldest(runs: Run[]): Run | undefined {
    return runs.sort(
      (a, b) =>
        (a.info.startTime ?? 0) - (b.info.startTime ?? 0) ||
        a.info.runId.localeCompare(b.info.runId),
    )[0];
  }

  /**
   * Finds the campaign's parent run. `problemId` (when the caller knows it) avoids a search over
   * every gaplab experiment.
   */
  async locate(campaignId: string, problemId?: string): Promise<CampaignLocation | null> {
    const known = this.locations.get(campaignId);
    if (known) return known;
    const filter = `${tagFilter(TAG.campaignId, campaignId)} and ${tagFilter(TAG.kind, 'campaign')}`;
    if (!problemId) {
      // One listing of every campaign answers all lookups for a while: ids that do not exist
      // (a mistyped link, a scan) never cost a search across every experiment each.
      const loc = (await this.campaignIndex(campaignId)).get(campaignId) ?? null;
      if (loc) this.remember(loc);
      return loc;
    }
    const exp = await this.mlflow.getExperimentByName(experimentName(problemId));
    const experimentIds = exp ? [exp.experimentId] : [];
    for (let i = 0; i < experimentIds.length; i += EXPERIMENT_CHUNK) {
      const runs = await this.searchAll(experimentIds.slice(i, i + EXPERIMENT_CHUNK), filter);
      const run = LineageReader.oldest(runs);
      if (run) {
        const loc = LineageReader.locationOf(run, campaignId);
        this.remember(loc);
        return loc;
      }
    }
    return null;
  }

  /** Campaign id → location of every campaign in MLflow, listed at most once per `indexTtlMs`. */
  private async campaignIndex(campaignId: string): Promise<Map<string, CampaignLocation>> {
    const idx = this.index;
    if (idx && (idx.byId.has(campaignId) || this.now() - idx.at < this.indexTtlMs)) return idx.byId;
    this.indexing ??= this.listCampaigns().finally(() => (this.indexing = undefined));
    return this.indexing;
  }

  private async listCampaigns(): Promise<Map<string, CampaignLocation>> {
    const at = this.now();
    const experimentIds = (await this.listExperiments()).map((e) => e.experimentId);
    const runsById = new Map<string, Run[]>();
    for (let i = 0; i < experimentIds.length; i += EXPERIMENT_CHUNK) {
      const runs = await this.searchAll(
        experimentIds.slice(i, i + EXPERIMENT_CHUNK),
        tagFilter(TAG.kind, 'campaign'),
      );
      for (const run of runs) {
        const id = run.data.tags[TAG.campaignId];
        if (id) runsById.set(id, [...(runsById.get(id) ?? []), run]);
      }
    }
    const byId = new Map<string, CampaignLocation>();
    for (const [id, runs] of runsById)
      byId.set(id, LineageReader.locationOf(LineageReader.oldest(runs)!, id));
    this.index = { at, byId };
    return byId;
  }

  private remember(loc: CampaignLocation): void {
    this.locations.set(loc.campaignId, loc);
    // Locations are tiny, but bound them anyway.
    if (this.locations.size > 10_000) this.locations.delete(this.locations.keys().next().value!);
  }

  /** The records of a finished campaign when they are in memory already (no MLflow request). */
  cached(campaignId: string): CampaignRecords | null {
    const c = this.cache.get(campaignId);
    return c?.finished ? c : null;
  }

  /** Everything MLflow holds on the campaign (cached), or null when MLflow does not know it. */
  async records(campaignId: string, problemId?: string): Promise<CampaignRecords | null> {
    const cached = this.cache.get(campaignId);
    if (cached && (cached.finished || this.now() - cached.fetchedAt < this.ttlMs)) {
      this.cache.delete(campaignId);
      this.cache.set(campaignId, cached);
      return cached;
    }
    const running = this.inflight.get(campaignId);
    if (running) return running;
    const p = this.fetch(campaignId, problemId).finally(() => this.inflight.delete(campaignId));
    this.inflight.set(campaignId, p);
    return p;
  }

  private async fetch(campaignId: string, problemId?: string): Promise<CampaignRecords | null> {
    const location = await this.locate(campaignId, problemId);
    if (!location) return null;
    const t0 = performance.now();
    const snapshot = this.snapshots ? await this.readSnapshot(location) : null;
    if (snapshot) return this.store(location, snapshot.parent, snapshot.records, t0, true);

    // One search brings the parent run and every trial run of the campaign.
    const runs = await this.searchAll(
      [location.experimentId],
      tagFilter(TAG.campaignId, campaignId),
    );
    const parent = runs.find(
      (run) => run.data.tags[TAG.kind] === 'campaign' && run.info.runId === location.parentRunId,
    );
    if (!parent) {
      // The parent run was deleted since it was located.
      this.locations.delete(campaignId);
      return null;
    }
    return this.store(
      location,
      parent,
      mergeHiddenRuns(decodeTrials(runs), await this.hiddenRuns(campaignId)),
      t0,
      false,
    );
  }

  /** The runs of the campaign's hidden experiment (trial-codec.ts hiddenExperimentName); none when it has none. */
  private async hiddenRuns(campaignId: string): Promise<Run[]> {
    const exp = await this.mlflow.getExperimentByName(hiddenExperimentName(campaignId));
    return exp ? this.searchAll([exp.experimentId], tagFilter(TAG.campaignId, campaignId)) : [];
  }

  /** The records snapshot of a finished campaign, or null (running, absent, unreadable). */
  private async readSnapshot(
    location: CampaignLocation,
  ): Promise<{ parent: Run; records: TrialRecord[] } | null> {
    const parent = await this.mlflow.getRun(location.parentRunId);
    if (!TERMINAL.has(parent.info.status)) return null;
    const text = await this.mlflow
      .downloadArtifactText(location.parentRunId, RECORDS_SNAPSHOT)
      .catch(() => null);
    if (text === null) return null;
    const records = decodeSnapshot(text, location.campaignId);
    return records ? { parent, records: sortRecords(records) } : null;
  }

  private store(
    location: CampaignLocation,
    parent: Run,
    records: TrialRecord[],
    t0: number,
    fromSnapshot: boolean,
  ): CampaignRecords {
    const finished = TERMINAL.has(parent.info.status);
    const byId = new Map(records.map((r) => [r.id, r]));
    const entry: CampaignRecords = {
      location,
      parent,
      finished,
      records,
      nodes: records.map(toLineageNode),
      byId,
      fetchedAt: this.now(),
      fetchMs: performance.now() - t0,
      fromSnapshot,
      best: recordedBest(parent, records, byId),
    };
    this.cache.delete(location.campaignId);
    this.cache.set(location.campaignId, entry);
    this.evict();
    return entry;
  }

  private evict(): void {
    // Least recently used first, bounded by campaigns and by trials held (about 1 KB each).
    let total = 0;
    for (const c of this.cache.values()) total += c.records.length;
    while (
      this.cache.size > 1 &&
      (this.cache.size > Math.max(this.cacheCampaigns, 1) || total > this.maxTrials)
    ) {
      const oldest = this.cache.keys().next().value!;
      total -= this.cache.get(oldest)!.records.length;
      this.cache.delete(oldest);
    }
  }

  /** Drops cached records (all, or one campaign's). */
  invalidate(campaignId?: string): void {
    if (campaignId === undefined) this.cache.clear();
    else this.cache.delete(campaignId);
  }

  async trials(
    campaignId: string,
    opts: { offset: number; limit: number; kind?: TrialRecord['kind'] | undefined },
  ): Promise<{ total: number; trials: TrialRecord[] } | null> {
    const r = await this.records(campaignId);
    if (!r) return null;
    const all = opts.kind ? r.records.filter((t) => t.kind === opts.kind) : r.records;
    return { total: all.length, trials: all.slice(opts.offset, opts.offset + opts.limit) };
  }

  /** One trial with its lineage and the per-seed results of its trial.json artifact. */
  async trial(
    campaignId: string,
    trialId: string,
  ): Promise<{
    records: CampaignRecords;
    trial: TrialRecord;
    lineage: LineageNode[];
    summary: TrialSummary | null;
    seeds: SeedRecord[];
  } | null> {
    const r = await this.records(campaignId);
    const trial = r?.byId.get(trialId);
    if (!r || !trial) return null;
    const lineage = lineagePath(r.byId, trialId).map((id) => toLineageNode(r.byId.get(id)!));
    const { summary, seeds } =
      trial.mlflowRunId && trial.status !== 'running'
        ? await this.trialArtifact(trial.mlflowRunId)
        : { summary: null, seeds: [] };
    return { records: r, trial, lineage, summary, seeds };
  }

  /**
   * A trial run's learning curves: the metric history of its `curve/<seed>/<metric>` keys
   * (records/trial-codec.ts), and of its hidden run's when `hidden` (hidden metrics' curves are
   * recorded there only). At most CURVES_READ curves, by metric and seed; points in step order.
   */
  async curves(runId: string, hidden: boolean): Promise<RecordedCurve[]> {
    const run = await this.mlflow.getRun(runId);
    const runs = [run];
    const hiddenRunId = run.data.tags[TAG.hiddenRunId];
    if (hidden && hiddenRunId) runs.push(await this.mlflow.getRun(hiddenRunId));
    const keys = runs
      .flatMap((r) =>
        Object.keys(r.data.metrics).flatMap((key) => {
          const k = parseCurveKey(key);
          return k ? [{ runId: r.info.runId, key, ...k }] : [];
        }),
      )
      .sort((a, b) => a.metric.localeCompare(b.metric) || a.seedIndex - b.seedIndex)
      .slice(0, CURVES_READ);
    return Promise.all(
      keys.map(async (k) => ({
        metric: k.metric,
        seedIndex: k.seedIndex,
        points: (await this.mlflow.getMetricHistory(k.runId, k.key))
          .filter((m) => Number.isFinite(m.value))
          .map((m): [number, number] => [m.step, m.value])
          .sort((a, b) => a[0] - b[0]),
      })),
    );
  }

  /** An artifact's text (a code trial's `diff.patch`, a campaign's `sources/<hash>.json`), or null when absent. */
  async artifactText(runId: string, path: string): Promise<string | null> {
    return this.mlflow.downloadArtifactText(runId, path).catch(() => null);
  }

  /**
   * The full trial and its per-seed results from a trial run's trial.json (empty when missing or
   * unreadable). trial.json holds the trial as it finished; what changed since (flags with their
   * reviews, trust, PGR) is the run's state tag (trial-codec.ts TrialState), which wins.
   */
  async trialArtifact(
    runId: string,
  ): Promise<{ summary: TrialSummary | null; seeds: SeedRecord[] }> {
    // The whole trial.json (hidden metrics and logs included) is in the trial's hidden run when
    // the campaign has hidden metrics; the trial's own run has it without them.
    const run = await this.mlflow.getRun(runId).catch(() => null);
    const hiddenRunId = run?.data.tags[TAG.hiddenRunId];
    // The hidden run's state has the flag texts the trial run's withholds.
    const hiddenRun = hiddenRunId ? await this.mlflow.getRun(hiddenRunId).catch(() => null) : null;
    const state =
      (hiddenRun && decodeTrialState(hiddenRun)) ?? (run ? decodeTrialState(run) : null);
    const artifact =
      (hiddenRunId
        ? await this.mlflow.downloadArtifactText(hiddenRunId, 'trial.json').catch(() => null)
        : null) ?? (await this.mlflow.downloadArtifactText(runId, 'trial.json').catch(() => null));
    if (artifact === null) return { summary: null, seeds: [] };
    try {
      const doc = JSON.parse(artifact) as { trial?: unknown; seeds?: unknown[] };
      const parsed = TrialSummary.safeParse(doc.trial);
      const seeds = (Array.isArray(doc.seeds) ? doc.seeds : []).flatMap((s) => {
        const p = SeedRecord.safeParse(s);
        return p.success ? [p.data] : [];
      });
      const summary = parsed.success ? parsed.data : null;
      return { summary: summary && state ? withStateOf(summary, state) : summary, seeds };
    } catch {
      // A truncated or foreign artifact: the MLflow record alone still answers.
      return { summary: null, seeds: [] };
    }
  }

  /** The campaign's final report (report.json on the parent run), or null before it ends. */
  async report(campaignId: string): Promise<CampaignReport | null> {
    const loc = await this.locate(campaignId);
    if (!loc) return null;
    const text = await this.mlflow
      .downloadArtifactText(loc.parentRunId, 'report.json')
      .catch(() => null);
    if (text === null) return null;
    try {
      const parsed = CampaignReport.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : null;
    } catch {
      return null;
    }
  }

  /** Every campaign of a problem with its records, oldest first; null when MLflow has no such problem. */
  async campaignsOf(problemId: string): Promise<CampaignRecords[] | null> {
    const exp = await this.mlflow.getExperimentByName(experimentName(problemId));
    if (!exp) return null;
    const parents = await this.searchAll([exp.experimentId], tagFilter(TAG.kind, 'campaign'), [
      'attributes.start_time ASC',
    ]);
    const byCampaign = new Map<string, Run>();
    for (const run of parents) {
      const id = run.data.tags[TAG.campaignId];
      if (!id) continue;
      const prior = byCampaign.get(id);
      if (!prior || (run.info.startTime ?? 0) < (prior.info.startTime ?? 0))
        byCampaign.set(id, run);
    }
    for (const [id, run] of byCampaign)
      if (!this.locations.has(id)) this.remember(LineageReader.locationOf(run, id));
    const out: CampaignRecords[] = [];
    // A few at a time: each is one search, and a problem may have many campaigns.
    const ids = [...byCampaign.keys()];
    for (let i = 0; i < ids.length; i += 4) {
      const batch = await Promise.all(ids.slice(i, i + 4).map((id) => this.records(id)));
      for (const r of batch) if (r) out.push(r);
    }
    return out;
  }
}

/** What the domain's ranking needs of a record: a missing lower bound never wins. */
function rankable(t: TrialRecord): RankableTrial {
  return {
    status: t.status,
    feasible: t.feasible,
    pgr: t.pgr ? { mean: t.pgr.mean, ciLow: t.pgr.ciLow ?? -Infinity } : null,
    // The trust the record holds says whether its flags still hold it back.
    flags:
      t.trust === 'eligible'
        ? []
        : [
            {
              kind: (t.flags[0] ?? 'verification_gap') as FlagKind,
              confirmed: t.trust === 'excluded',
            },
          ],
  };
}

/**
 * Best-so-far series and bests of a campaign's search trials, for side-by-side comparison.
 * `best` is the campaign's own (CampaignRecords.best); the series ranks as the domain does
 * (domain/scoring.ts): succeeded, feasible, eligible trials with a PGR, by lower confidence
 * bound, then mean.
 */
export function compareSeries(r: CampaignRecords) {
  const start = r.parent.info.startTime ?? null;
  const search = r.records.filter((t) => t.kind === 'search');
  let best: { trial: TrialRecord; rank: RankableTrial } | null = null;
  let bestMean: { trialId: string; mean: number } | null = null;
  const series = [];
  for (const [i, t] of search.entries()) {
    const rank = rankable(t);
    if (eligible(rank)) {
      // bestTrial keeps the earlier of two exact ties, so the incumbent stays.
      if (!best || bestTrial([best.rank, rank]) === rank) best = { trial: t, rank };
      if (!bestMean || t.pgr!.mean > bestMean.mean) bestMean = { trialId: t.id, mean: t.pgr!.mean };
    }
    const end = t.finishedAt ? Date.parse(t.finishedAt) : null;
    series.push({
      n: i + 1,
      trialId: t.id,
      seconds: start !== null && end !== null ? Math.max(0, (end - start) / 1000) : null,
      pgr: t.pgr?.mean ?? null,
      bestCiLow: best?.trial.pgr?.ciLow ?? null,
      bestMean: bestMean?.mean ?? null,
    });
  }
  // The campaign's own best, as every other screen names it; the series is its progress.
  const top = r.best;
  return {
    best: top
      ? { trialId: top.trialId, mean: top.pgr.mean, ciLow: top.pgr.ciLow, ciHigh: top.pgr.ciHigh }
      : null,
    bestMean,
    series,
    trials: search.length,
  };
}

/**
 * A campaign read from its MLflow record (campaign-source.ts). `running` is whether its workflow
 * still runs, when Temporal could say: a record whose parent run has not ended yet may belong to
 * a campaign that is over all the same.
 */
export class MlflowSource extends RecordsSource implements CampaignSource {
  readonly kind = 'mlflow' as const;
  readonly hiddenMetrics: readonly string[] = [];
  readonly references = null;

  constructor(
    private readonly r: CampaignRecords,
    private readonly deps: {
      reader: Pick<LineageReader, 'trialArtifact'>;
      /** Which of the record's values are hidden (hidden.ts VisibilityResolver `ofRecords`). */
      visibility: (r: CampaignRecords, running?: boolean) => Promise<CampaignVisibility>;
    },
    private readonly running?: boolean,
  ) {
    super(r.location.campaignId, r);
  }

  get problemId(): string | null {
    return this.r.location.problemId;
  }
  get criteriaVersion(): number | null {
    const v = Number(this.r.parent.data.tags[TAG.criteriaVersion]);
    return Number.isInteger(v) ? v : null;
  }
  get ended(): boolean {
    return this.r.finished || this.running === false;
  }
  get settled(): boolean {
    return this.ended;
  }
  get experimentId(): string {
    return this.r.location.experimentId;
  }
  get parentRunId(): string {
    return this.r.location.parentRunId;
  }

  lineage(): Lineage {
    return {
      campaignId: this.campaignId,
      problemId: this.r.location.problemId,
      finished: this.r.finished,
      source: 'mlflow',
      total: this.r.nodes.length,
      nodes: this.r.nodes,
      best: this.r.best,
    };
  }

  async detail(trial: TrialRecord): Promise<TrialArtifact> {
    return isRecorded(trial) ? this.deps.reader.trialArtifact(trial.mlflowRunId) : NO_ARTIFACT;
  }

  async summary(trial: TrialRecord) {
    return (await this.detail(trial)).summary;
  }

  visibility(): Promise<CampaignVisibility> {
    return this.deps.visibility(this.r, this.running);
  }
}
