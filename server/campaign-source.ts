/**
 * One way to read a campaign. A campaign is read from one of two sources, and every reader (the
 * trial, lineage and source routes, the hidden-value book) asks the same questions of either:
 *   - the running workflow (live-trials.ts `WorkflowSource`): ahead of MLflow, whose recording is
 *     asynchronous, refreshed incrementally;
 *   - the MLflow record (lineage.ts `MlflowSource`): the permanent record, for closed campaigns,
 *     vanished workflows and runs written straight into MLflow.
 * Which one answers is decided in one place, reader.ts `openCampaign`; nothing else looks at
 * which it got (`kind` is only reported to clients, as `source`).
 *
 * Lifecycle: `openCampaign` returns a source for one read. Its trials are a snapshot (the
 * source's `key` names it: a later read with the same key has the same trials, so derived
 * responses may be cached by it); asking again later gives a new source when trials have arrived.
 * The synchronous members answer from memory; the asynchronous ones (`detail`, `summary`,
 * `visibility`) may read a trial's MLflow artifact, the workflow or the problem's criteria.
 */
import type { z } from 'zod';
import {
  toLineageNode,
  type DataSource,
  type Lineage,
  type LineageNode,
  type SeedRecord,
  type TrialRecord,
  type TrialSummary,
} from '../api/schemas.js';
import type { HiddenMetricsVisibility } from '../domain/schemas.js';

/** What decides whether a campaign's hidden values are withheld from someone. */
export interface CampaignVisibility {
  /** The campaign's hidden metric names. */
  hiddenMetrics: readonly string[];
  visibility: HiddenMetricsVisibility;
  /** The campaign has finished (its workflow closed or its record ended). */
  finished: boolean;
  /** The criteria could not be read, so which metrics are hidden is not known. */
  unknown?: boolean;
}

export interface TrialsSlice {
  total: number;
  trials: TrialRecord[];
}

/** What a recorded trial's artifact holds: the full trial and its per-seed results. */
export interface TrialArtifact {
  summary: TrialSummary | null;
  seeds: SeedRecord[];
}

/** Reads a trial's artifact from MLflow (lineage.ts `LineageReader.trialArtifact`). */
export interface TrialArtifacts {
  trialArtifact(runId: string): Promise<TrialArtifact>;
}

export interface CampaignSource {
  /** Where the trials were read: reported to clients (`source`), never branched on. */
  readonly kind: z.infer<typeof DataSource>;
  readonly campaignId: string;
  readonly problemId: string | null;
  /** The criteria version the campaign runs under, when known. */
  readonly criteriaVersion: number | null;
  /** The campaign has ended (its workflow finished or its record closed). */
  readonly ended: boolean;
  /** The record is complete: nothing will be added to it or change in it any more. */
  readonly settled: boolean;
  /** Where its MLflow runs are (null while not known, or a campaign run without MLflow). */
  readonly experimentId: string | null;
  readonly parentRunId: string | null;
  /** The references' scores when the source knows them (the running workflow's status). */
  readonly references: { baselineScore: number | null; optimumScore: number | null } | null;
  /** Hidden metrics the source knows beyond those each record carries (the criteria's). */
  readonly hiddenMetrics: readonly string[];
  /** Changes (a new object) whenever the trials do: a key for caches of derived responses. */
  readonly key: object;
  /** Every trial in index order, as held (hidden marks of each record only). */
  readonly records: readonly TrialRecord[];

  /** A page of the trials in index order, each with its hidden-metric marks. */
  trials(opts: {
    offset: number;
    limit: number;
    kind?: TrialRecord['kind'] | undefined;
  }): TrialsSlice;
  /** One trial with its hidden-metric marks, or null when the campaign has no such trial. */
  trial(trialId: string): TrialRecord | null;
  /** Another trial's record as held (the parent's parameters, the baseline's means), or null. */
  record(trialId: string): TrialRecord | null;
  /** The nodes from the root (the baseline) down to the trial. */
  lineagePath(trialId: string): LineageNode[];
  /** The whole lineage tree and the campaign's own best. */
  lineage(): Lineage;
  /** The full trial (flag messages, objective estimate) and its per-seed results. */
  detail(trial: TrialRecord): Promise<TrialArtifact>;
  /** The full trial alone (cheaper than `detail` where the workflow has it). */
  summary(trial: TrialRecord): Promise<TrialSummary | null>;
  /** Which of its values are hidden, and from whom. */
  visibility(): Promise<CampaignVisibility>;
}

/** The path from the root down to `trialId` (cycles and missing parents end it). */
export function lineagePath(
  byId: ReadonlyMap<string, { id: string; parentTrialId: string | null }>,
  trialId: string,
): string[] {
  const path: string[] = [];
  const seen = new Set<string>();
  for (
    let cur = byId.get(trialId);
    cur && !seen.has(cur.id);
    cur = cur.parentTrialId ? byId.get(cur.parentTrialId) : undefined
  ) {
    seen.add(cur.id);
    path.unshift(cur.id);
  }
  return path;
}

/** Whether a trial's record (trial.json) is written: a finished trial with a run. */
export const isRecorded = (t: TrialRecord): t is TrialRecord & { mlflowRunId: string } =>
  t.mlflowRunId !== null && t.status !== 'running';

export const NO_ARTIFACT: TrialArtifact = { summary: null, seeds: [] };

/**
 * What both sources share: trials held in memory in index order, looked up by id. A subclass
 * says where they came from and how a trial's artifact and visibility are read; `mark` gives a
 * record the hidden-metric marks its source knows.
 */
export abstract class RecordsSource {
  constructor(
    readonly campaignId: string,
    protected readonly held: {
      records: readonly TrialRecord[];
      nodes: readonly LineageNode[];
      byId: ReadonlyMap<string, TrialRecord>;
    },
  ) {}

  get key(): object {
    return this.held;
  }

  get records(): readonly TrialRecord[] {
    return this.held.records;
  }

  protected mark(t: TrialRecord): TrialRecord {
    return t;
  }

  trials(opts: {
    offset: number;
    limit: number;
    kind?: TrialRecord['kind'] | undefined;
  }): TrialsSlice {
    const all = opts.kind
      ? this.held.records.filter((t) => t.kind === opts.kind)
      : this.held.records;
    return {
      total: all.length,
      trials: all.slice(opts.offset, opts.offset + opts.limit).map((t) => this.mark(t)),
    };
  }

  trial(trialId: string): TrialRecord | null {
    const t = this.held.byId.get(trialId);
    return t ? this.mark(t) : null;
  }

  record(trialId: string): TrialRecord | null {
    return this.held.byId.get(trialId) ?? null;
  }

  lineagePath(trialId: string): LineageNode[] {
    return lineagePath(this.held.byId, trialId).map((id) => toLineageNode(this.held.byId.get(id)!));
  }
}
