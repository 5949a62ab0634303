/**
 * What every part of the campaign state shares: the workflow input, the carried data (ONE object,
 * carried over continue-as-new as it is), the clock, the change counter the main loop waits on,
 * and lookups over the carried data. Each field of the carried data has one owner, named below;
 * other parts only read it.
 */
import { BATCH_SLACK, seedBatchSize } from '../../../domain/batches.js';
import { emptyLedger, initialStagnation } from '../../../domain/budget.js';
import { bestTrial, trustState } from '../../../domain/scoring.js';
import { emptyProposalAudit, ProposalAudit } from './proposal-audit.js';
import type {
  CampaignInput,
  CarriedState,
  FailureLedger,
  TrialSummary,
  VerificationResult,
} from '../../types.js';
import { ARCHIVED_LIMIT, hashFingerprint, MAX_BATCHED_IN_FLIGHT } from './limits.js';

/**
 * The carried data with every defaulted field present. Owners: lifecycle.ts (phase, paused,
 * budgets, stopRequest, stopReason, stopDetail), trials.ts (trials, counts, pgrSeries,
 * archivedConfigs, failures, nextTrialIndex, ledger's compute and trial counts),
 * references.ts (references), queue.ts (queue, pending, decisions, hypothesisCounter),
 * proposals.ts (iteration, stagnation, emptyProposalRounds, lastCallDollars, outage, warned,
 * proposals, ledger's dollars and iterations), records.ts (notebook, audit, dropped),
 * verification.ts (verification), ../notifier.ts (notified), the workflow through commands
 * (runs, startedAtMs, mlflow ids).
 */
export type Carried = CarriedState & {
  failures: FailureLedger;
  warned: string[];
  proposals: NonNullable<CarriedState['proposals']>;
};

/** Time in ms since the epoch; the workflow passes Temporal's deterministic `Date.now`. */
export type Clock = () => number;

/** The carried data of a new campaign, or the carried one of the previous run brought up to date. */
export function restoreCarried(input: CampaignInput, nowMs: number): Carried {
  const c = input.carried;
  const fresh: Carried = {
    runs: 0,
    startedAtMs: nowMs,
    phase: 'starting',
    paused: input.startPaused === true,
    budgets: input.criteria.criteria.budgets,
    ledger: emptyLedger(nowMs),
    iteration: 0,
    nextTrialIndex: 0,
    trials: [],
    references: {},
    notebook: [],
    audit: [],
    pending: [],
    queue: [],
    stagnation: initialStagnation,
    dropped: [],
    emptyProposalRounds: 0,
    decisions: {},
    hypothesisCounter: 0,
    counts: { total: 0, succeeded: 0, failed: 0, cancelled: 0, flagged: 0 },
    pgrSeries: [],
    archivedConfigs: [],
    lastCallDollars: 0,
    failures: { computeSeconds: 0, totalComputeSeconds: 0, timedOutTrials: 0, seedDurations: [] },
    verification: [],
    proposals: emptyProposalAudit(),
    warned: [],
  };
  if (!c) return fresh;
  const data: Carried = { ...fresh, ...definedOnly(c), runs: c.runs + 1 };
  // Older runs carried whole fingerprints: keep their hashes.
  data.archivedConfigs = data.archivedConfigs
    .map((f) => (f.startsWith('[') ? hashFingerprint(f) : f))
    .slice(-ARCHIVED_LIMIT);
  for (const t of data.trials) t.trust ??= trustState(t.flags);
  return data;
}

/** The carried data as it goes over continue-as-new: the same object, absent fields left out. */
export function carriedPayload(data: Carried): CarriedState {
  return definedOnly(data) as CarriedState;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export class StateContext {
  readonly data: Carried;
  /** Bumped on every change the main loop may be waiting for. */
  version = 0;
  /**
   * What the workflow awaits right now, in words ("3 running trials", "MLflow to write 2 trial
   * records"): set by the workflow before each wait, shown in the status. Not carried.
   */
  waitingFor: string | undefined;
  /** Every strategy proposal's fate (counts exact, recent reasons kept); its state is carried. */
  readonly proposalAudit: ProposalAudit;
  private readonly trialIndex = new Map<string, TrialSummary>();
  /**
   * Compute of seeds that finished in trials still running: their slots are free again before
   * the trial is scored and charged, so a trial waiting for a slot must see it. Not carried
   * (nothing runs across continue-as-new).
   */
  private readonly seedCompute = new Map<string, number>();

  constructor(
    readonly input: CampaignInput,
    readonly now: Clock,
  ) {
    this.data = restoreCarried(input, now());
    this.proposalAudit = new ProposalAudit(this.data.proposals);
    for (const t of this.data.trials) this.trialIndex.set(t.id, t);
  }

  bump(): void {
    this.version++;
  }

  /**
   * Trials whose summary changed after they finished (their MLflow run id, review flags, their
   * PGR once the references are known), each with the number of its latest change, oldest first:
   * readers that keep trials (server/live-trials.ts) ask for those changed since they last read.
   * Not carried: a new run starts over, and its readers then read every trial again.
   */
  private changeCount = 0;
  private readonly changes = new Map<string, number>();
  /** The number of the latest change. */
  get revision(): number {
    return this.changeCount;
  }
  trialChanged(id: string): void {
    this.changes.delete(id);
    this.changes.set(id, ++this.changeCount);
    for (const listener of this.changeListeners) listener(id);
  }
  private readonly changeListeners: ((id: string) => void)[] = [];
  /** Calls `listener` with the id of each trial that changes after it finished (see trialChanged). */
  onTrialChanged(listener: (id: string) => void): void {
    this.changeListeners.push(listener);
  }
  /** The ids of the trials changed after revision `since`, oldest change first. */
  changedSince(since: number): string[] {
    const ids: string[] = [];
    if (since < this.changeCount)
      for (const [id, rev] of this.changes) if (rev > since) ids.push(id);
    return ids;
  }

  /** Short search seeds run in batches (TrialRunner.enableBatches). Not carried: each run sets it. */
  batchSeeds = false;
  /**
   * Batch sizes may run a tenth over BATCH_SECONDS (domain/batches.ts BATCH_SLACK); off in runs
   * that began before that rule (patch `batch-share-remaining`), so their histories replay.
   */
  batchSlack = false;
  /**
   * Short search seeds run in batches from now on (TrialRunner.enableBatches); `slack`: batch
   * sizes may run a tenth over their target (domain/batches.ts BATCH_SLACK).
   */
  enableSeedBatches(slack: boolean): void {
    this.batchSeeds = true;
    this.batchSlack = slack;
  }
  /** The campaign's MLflow experiment and parent run, once created. */
  setMlflowRun(experimentId: string, runId: string): void {
    this.data.mlflowExperimentId = experimentId;
    this.data.mlflowParentRunId = runId;
  }
  /** Seeds one slot runs back to back now: 1 unless batching is on (domain/batches.ts). */
  seedBatchSize(): number {
    if (!this.batchSeeds) return 1;
    // A running batch and a waiting one per slot stay within MAX_BATCHED_IN_FLIGHT trials.
    const cap = Math.floor(MAX_BATCHED_IN_FLIGHT / (2 * this.wave()));
    const size = this.batchSize(
      this.data.failures.seedDurations,
      this.batchSlack ? BATCH_SLACK : 1,
    );
    return Math.max(1, Math.min(cap, size));
  }
  /** Asked several times per workflow task: remembered per durations array. */
  private readonly batchSize = memoOnDurations(seedBatchSize);
  /** Trials that fill every slot once. */
  wave(): number {
    return Math.max(1, Math.ceil(this.data.budgets.concurrency / this.criteria.seedsPerTrial));
  }

  /** A finished seed's compute, counted until its trial is charged (settleSeedCompute). */
  addSeedCompute(trialId: string, seconds: number): void {
    if (!(seconds > 0)) return;
    this.seedCompute.set(trialId, (this.seedCompute.get(trialId) ?? 0) + seconds);
  }
  settleSeedCompute(trialId: string): void {
    this.seedCompute.delete(trialId);
  }
  /** Compute spent by finished seeds of trials not charged yet. */
  get unsettledCompute(): number {
    let sum = 0;
    for (const s of this.seedCompute.values()) sum += s;
    return sum;
  }

  /** The clock's time as an ISO string (timestamps of notes, audit entries, hypotheses). */
  nowIso(): string {
    return new Date(this.now()).toISOString();
  }

  get criteria() {
    return this.input.criteria.criteria;
  }
  get space() {
    return this.input.problem.space;
  }

  trialById(id: string): TrialSummary | undefined {
    return this.trialIndex.get(id);
  }
  indexTrial(t: TrialSummary): void {
    this.trialIndex.set(t.id, t);
  }
  forgetTrial(id: string): void {
    this.trialIndex.delete(id);
  }

  /** The best eligible, feasible search trial, or null. */
  bestSearch(): TrialSummary | null {
    return bestTrial(this.data.trials.filter((t) => t.kind === 'search'));
  }

  /** The latest verification of a trial, if any. */
  verificationOf(trialId: string): VerificationResult | undefined {
    const list = this.data.verification;
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.trialId === trialId) return list[i];
    return undefined;
  }
}

/**
 * `f` remembering its last answer for the same durations array (same object, same length: the
 * state replaces the array when seeds finish) and the same second argument. For rules asked at
 * every start (batch sizes, adaptive timeouts) that sort the durations.
 */
export function memoOnDurations<K, R>(
  f: (durations: readonly number[], key: K) => R,
): (durations: readonly number[], key: K) => R {
  let last: { durations: readonly number[]; length: number; key: K; value: R } | undefined;
  return (durations, key) => {
    if (last?.durations !== durations || last.length !== durations.length || last.key !== key)
      last = { durations, length: durations.length, key, value: f(durations, key) };
    return last.value;
  };
}
