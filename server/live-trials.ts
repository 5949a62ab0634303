/**
 * Trials of campaigns whose workflow still answers, kept in memory and refreshed incrementally:
 * a campaign's trial list only grows, so a refresh asks the workflow for the trials after the
 * last one it has (one small query) instead of reading the whole campaign again. A listed trial
 * can still change (its MLflow run id once recorded, review flags, its PGR once the references
 * are known): the same query brings those changed since the workflow's `revision` the cache last
 * saw; a new workflow run (continue-as-new) has revisions of its own, so the cache then reads
 * every trial again.
 *
 * A read never answers older than what a campaign's event stream has told its clients: the
 * stream's poller calls `changed` before it sends what it saw, and a cached list or a read in
 * flight from before that is not reused (a page that refreshes on an event would otherwise keep
 * the trials from before it, with nothing left to make it ask again once the campaign goes quiet).
 *
 * Why next to MLflow: MLflow is the permanent record, but a search that returns 10,000 runs with
 * their tags, params and metrics takes MLflow tens of seconds; the running workflow has the same
 * trials in memory and is ahead of MLflow (recording is asynchronous). So the API reads live
 * campaigns here, and finished or vanished ones from MLflow (cached; see lineage.ts).
 * `WorkflowSource` is a campaign read from here (campaign-source.ts).
 */
import {
  bestOfStatus,
  recordOfSummary,
  toLineageNode,
  type CampaignStatus,
  type Lineage,
  type LineageNode,
  type TrialRecord,
  type TrialSummary,
} from '../api/schemas.js';
import {
  isRecorded,
  NO_ARTIFACT,
  RecordsSource,
  type CampaignSource,
  type CampaignVisibility,
  type TrialArtifact,
  type TrialArtifacts,
} from './campaign-source.js';
import type { GaplabService } from './service.js';

export interface LiveCampaign {
  campaignId: string;
  status: CampaignStatus;
  /** In index order. */
  records: TrialRecord[];
  /** In index order. */
  nodes: LineageNode[];
  /** How many trials the workflow has given so far (its list is in finishing order). */
  seen: number;
  /** The workflow run that answered, and its trial revision then (trialsQuery). */
  run?: string | undefined;
  revision?: number | undefined;
  /** Each trial's position in the workflow's list, to fetch its full summary alone. */
  positions: Map<string, number>;
  byId: Map<string, TrialRecord>;
  /** When the read that gave this began: what it holds is at least as new as then. */
  fetchedAt: number;
}

export interface LiveTrialsOptions {
  service: Pick<GaplabService, 'status' | 'trials'>;
  /** How long a campaign's trials are reused before the workflow is asked for new ones. @default 1000 */
  ttlMs?: number;
  /** Campaigns kept in memory. @default 16 */
  maxCampaigns?: number;
  /** Trials kept in memory over all campaigns (at least the newest campaign stays). @default 200000 */
  maxTrials?: number;
  /** @default Date.now */
  now?: () => number;
}

/** The workflow's trials query answers at most this many per call. */
const PAGE = 1000;

export class LiveTrials {
  private readonly cache = new Map<string, LiveCampaign>();
  /** The read under way per campaign, and the campaign's `generation` when it was asked for. */
  private readonly inflight = new Map<
    string,
    { read: Promise<LiveCampaign>; generation: number }
  >();
  /** Per campaign: how often `changed` was called; and the count the cached list was read at. */
  private readonly generations = new Map<string, number>();
  private readonly readAt = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly maxCampaigns: number;
  private readonly maxTrials: number;
  private readonly now: () => number;

  constructor(private readonly opts: LiveTrialsOptions) {
    this.ttlMs = opts.ttlMs ?? 1000;
    this.maxCampaigns = Math.max(1, opts.maxCampaigns ?? 16);
    this.maxTrials = opts.maxTrials ?? 200_000;
    this.now = opts.now ?? Date.now;
  }

  /** Whether the campaign is in memory (read from its workflow before). */
  has(campaignId: string): boolean {
    return this.cache.has(campaignId);
  }

  /**
   * Someone saw the campaign change (the event stream's poller, before it tells its clients):
   * the next read asks the workflow, even within the TTL or while an older read is under way.
   */
  changed(campaignId: string): void {
    // Nothing held or under way: no read could be older than the change.
    if (!this.cache.has(campaignId) && !this.inflight.has(campaignId)) return;
    this.generations.set(campaignId, (this.generations.get(campaignId) ?? 0) + 1);
  }

  /**
   * The campaign's trials as the workflow has them.
   * @throws ServiceError NotFound when the workflow is unknown; Temporal errors as they come
   */
  async get(campaignId: string): Promise<LiveCampaign> {
    const generation = this.generations.get(campaignId) ?? 0;
    const cached = this.cache.get(campaignId);
    // A finished campaign adds nothing any more.
    if (
      cached &&
      (cached.status.phase === 'finished' ||
        (this.readAt.get(campaignId) === generation && this.now() - cached.fetchedAt < this.ttlMs))
    )
      return cached;
    const before = this.inflight.get(campaignId);
    if (before?.generation === generation) return before.read;
    // A read from before the last change may miss it: this one starts after it ends, from the
    // list it leaves (two reads at once would each extend the same list).
    const read: Promise<LiveCampaign> = (before?.read.catch(() => undefined) ?? Promise.resolve())
      .then(() => this.refresh(campaignId, this.cache.get(campaignId)))
      .finally(() => {
        if (this.inflight.get(campaignId)?.read === read) this.inflight.delete(campaignId);
      });
    this.inflight.set(campaignId, { read, generation });
    return read;
  }

  private async refresh(
    campaignId: string,
    prior: LiveCampaign | undefined,
  ): Promise<LiveCampaign> {
    const startedAt = this.now();
    const generation = this.generations.get(campaignId) ?? 0;
    const status = await this.opts.service.status(campaignId);
    const entry: LiveCampaign = prior
      ? { ...prior, status }
      : {
          campaignId,
          status,
          records: [],
          nodes: [],
          seen: 0,
          positions: new Map(),
          byId: new Map(),
          fetchedAt: 0,
        };
    const added: TrialRecord[] = [];
    let changed = false;
    for (let first = true; ; first = false) {
      const since = first && entry.run !== undefined ? entry.revision : undefined;
      const page = await this.opts.service.trials(campaignId, {
        offset: entry.seen,
        limit: PAGE,
        ...(since !== undefined ? { changedSince: since } : {}),
      });
      // Never expected (trials only grow), or a new workflow run whose revisions are its own, or
      // more changes than a page: start over rather than serve a wrong list.
      if (
        page.total < entry.seen ||
        (first && prior && page.run !== entry.run) ||
        page.changedOverflow
      ) {
        this.cache.delete(campaignId);
        if (!prior) throw new Error(`the trials of ${campaignId} changed too fast to read`);
        return this.refresh(campaignId, undefined);
      }
      if (first) {
        // The revision before the pages read: changes while they are read come again next time.
        entry.run = page.run;
        entry.revision = page.revision;
      }
      for (const t of page.changed ?? []) {
        if (!entry.byId.has(t.id)) continue;
        entry.byId.set(t.id, recordOfSummary(t));
        changed = true;
      }
      page.trials.forEach((t, i) => {
        const r = recordOfSummary(t);
        added.push(r);
        entry.byId.set(r.id, r);
        entry.positions.set(r.id, entry.seen + i);
      });
      entry.seen += page.trials.length;
      if (page.trials.length === 0 || entry.seen >= page.total) break;
    }
    if (changed) {
      entry.records = entry.records.map((r) => entry.byId.get(r.id) ?? r);
      entry.nodes = entry.records.map(toLineageNode);
    }
    if (added.length > 0) {
      // Trials finish out of order when several run at once; readers want index order.
      entry.records = [...entry.records, ...added].sort(
        (a, b) => a.index - b.index || a.id.localeCompare(b.id),
      );
      entry.nodes = entry.records.map(toLineageNode);
    }
    entry.fetchedAt = startedAt;
    this.readAt.set(campaignId, generation);
    this.cache.delete(campaignId);
    this.cache.set(campaignId, entry);
    let total = 0;
    for (const c of this.cache.values()) total += c.records.length;
    while (this.cache.size > 1 && (this.cache.size > this.maxCampaigns || total > this.maxTrials)) {
      const oldest = this.cache.keys().next().value!;
      total -= this.cache.get(oldest)!.records.length;
      this.cache.delete(oldest);
      this.readAt.delete(oldest);
      if (!this.inflight.has(oldest)) this.generations.delete(oldest);
    }
    return entry;
  }

  /** The full summary of one trial (flag messages, objective estimate, typed params), or null. */
  async summary(campaign: LiveCampaign, trialId: string): Promise<TrialSummary | null> {
    const pos = campaign.positions.get(trialId);
    if (pos === undefined) return null;
    const page = await this.opts.service.trials(campaign.campaignId, { offset: pos, limit: 1 });
    const t = page.trials[0];
    return t && t.id === trialId ? t : null;
  }
}

/**
 * A campaign read from its running workflow (campaign-source.ts). The workflow's trials carry no
 * hidden-metric marks of their own: each gets the criteria's (`hiddenMetrics`), as its MLflow
 * record will, references and verifications included.
 */
export class WorkflowSource extends RecordsSource implements CampaignSource {
  readonly kind = 'workflow' as const;
  readonly settled = false;

  constructor(
    private readonly live: LiveCampaign,
    private readonly deps: {
      liveTrials: Pick<LiveTrials, 'summary'>;
      artifacts: TrialArtifacts;
      /** Which of its values are hidden (hidden.ts VisibilityResolver `ofStatus`). */
      visibility: (status: CampaignStatus) => Promise<CampaignVisibility>;
    },
    readonly hiddenMetrics: readonly string[],
  ) {
    super(live.campaignId, live);
  }

  get problemId(): string {
    return this.live.status.problemId;
  }
  get criteriaVersion(): number {
    return this.live.status.criteriaVersion;
  }
  get ended(): boolean {
    return this.live.status.phase === 'finished';
  }
  get experimentId(): string | null {
    return this.live.status.mlflowExperimentId ?? null;
  }
  get parentRunId(): string | null {
    return this.live.status.mlflowParentRunId ?? null;
  }
  get references() {
    return {
      baselineScore: this.live.status.baselineScore,
      optimumScore: this.live.status.optimumScore,
    };
  }

  protected override mark(t: TrialRecord): TrialRecord {
    return t.hiddenMetrics.length === 0 && this.hiddenMetrics.length > 0
      ? { ...t, hiddenMetrics: [...this.hiddenMetrics] }
      : t;
  }

  lineage(): Lineage {
    return {
      campaignId: this.campaignId,
      problemId: this.live.status.problemId,
      finished: this.ended,
      source: 'workflow',
      total: this.live.nodes.length,
      nodes: this.live.nodes,
      best: bestOfStatus(this.live.status.best),
    };
  }

  /** The workflow's full summary (ahead of MLflow) over the artifact's; seeds only from the artifact. */
  async detail(trial: TrialRecord): Promise<TrialArtifact> {
    const [live, artifact] = await Promise.all([
      this.deps.liveTrials.summary(this.live, trial.id),
      isRecorded(trial) ? this.deps.artifacts.trialArtifact(trial.mlflowRunId) : NO_ARTIFACT,
    ]);
    return { summary: live ?? artifact.summary, seeds: artifact.seeds };
  }

  async summary(trial: TrialRecord): Promise<TrialSummary | null> {
    const live = await this.deps.liveTrials.summary(this.live, trial.id);
    if (live || !isRecorded(trial)) return live;
    return (await this.deps.artifacts.trialArtifact(trial.mlflowRunId)).summary;
  }

  visibility(): Promise<CampaignVisibility> {
    return this.deps.visibility(this.live.status);
  }
}
