/**
 * The campaign's state and every decision over it, as a plain class: the workflow function
 * only wires it to activities, timers and messages. Deterministic: time comes in as arguments.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import {
  canStartTrial as budgetAllowsTrial,
  emptyLedger,
  exhausted,
  initialStagnation,
  isStagnant,
  remaining,
  stepStagnation,
  type StopReason,
} from '../domain/budget.js';
import { InvalidConfigError } from '../domain/errors.js';
import { adaptiveTimeoutSeconds, failureKind, summarizeFailures } from '../domain/failures.js';
import type {
  Actor,
  Budgets,
  Config,
  Hypothesis,
  HypothesisProposalInput,
  SeedResult,
} from '../domain/schemas.js';
import { Budgets as BudgetsSchema, HypothesisProposal } from '../domain/schemas.js';
import { trialPgr, referencesWithinNoise, type PairedBaseline } from '../domain/pgr.js';
import {
  bestTrial,
  openFlags,
  rankTrials,
  scoreTrial,
  trustState,
  verificationVerdict,
} from '../domain/scoring.js';
import type { PooledVariance } from '../domain/stats.js';
import { applyChanges, findDuplicate } from '../domain/space.js';
import { reportVerdict } from './report.js';
import type { Note, StrategyResult, StrategyView, TrialView } from '../domain/strategy.js';
import { ProposalAudit, strategyRetryDelayMs, type StrategyOutage } from './proposal-audit.js';
import type {
  AuditEntry,
  CampaignInput,
  CampaignPhase,
  CampaignReport,
  CampaignStatus,
  CarriedState,
  PendingApproval,
  TrialSummary,
  UnderReview,
  VerificationResult,
} from './types.js';

/** A trial about to run. */
export interface TrialRequest {
  id: string;
  index: number;
  kind: TrialSummary['kind'];
  label?: string;
  hypothesis: Hypothesis;
  seeds: number[];
  /** Each seed's time limit in seconds (search trials; else the experiment's own). */
  timeoutSeconds?: number;
  /** For verification: the trial it re-runs. */
  verifies?: string;
  /** For verification: the target was reached, or the end-of-campaign check. */
  trigger?: 'target' | 'final';
}

/** Every metric on each seed (null: failed seed or no finite value), in seed order. */
function bySeed(seeds: readonly SeedResult[]): {
  seeds: number[];
  values: Record<string, (number | null)[]>;
} {
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

const NOTEBOOK_LIMIT = 500;
/**
 * Byte budgets (JSON) of the state carried over continue-as-new. With the workflow input (spec,
 * criteria, strategy) the whole continue-as-new payload stays under a quarter of Temporal's
 * 2 MiB payload limit at any trial count and any amount of human input. Each part is bounded
 * where it grows (most recent kept, counts exact, evicted entries archived to MLflow); `carry()`
 * then fits the kept trials into what the other parts leave. workflows/README.md has the table.
 */
export const CARRY_BUDGET = {
  /** The whole continue-as-new input: carried state and the workflow input. */
  total: 512 * 1024,
  /** Kept trials (references, verification runs, leaders and their ancestors, the most recent). */
  trials: 160 * 1024,
  /** Queued hypotheses and those waiting for approval. */
  queue: 96 * 1024,
  notebook: 32 * 1024,
  audit: 16 * 1024,
  dropped: 12 * 1024,
  verification: 64 * 1024,
} as const;
/** Texts kept in workflow state; longer ones are archived whole in MLflow and cut here. */
export const KEPT_CHARS = {
  note: 1000,
  rationale: 500,
  expectedEffect: 300,
  /** A kept trial's copy of its rationale (the hypothesis and MLflow keep more). */
  trialRationale: 200,
  title: 200,
  reason: 500,
  /** Reasons in the proposal audit's recent records (300 of them are kept). */
  proposalReason: 200,
  auditDetail: 500,
} as const;
/** Queued plus pending hypotheses at most (beyond: "retry once some have run"). */
export const QUEUE_LIMIT = 100;
/** Points of the PGR-over-trials series kept: every improvement of the best, then thinned. */
const PGR_SERIES_LIMIT = 1000;
/** Hashes of archived configurations kept for duplicate checks (the most recent). */
const ARCHIVED_LIMIT = 4096;
/** Verification results kept (the most recent; the report's verdict needs only the best's own). */
const VERIFICATION_LIMIT = 60;
/** PI decisions on hypotheses kept (to tell "already decided" from "unknown"). */
const DECISIONS_LIMIT = 500;
/**
 * Temporal's default limit of updates per workflow run (dynamic config `history.maxTotalUpdates`,
 * 2000; `history.maxInFlightUpdates` allows 10 at once). The campaign continues as new well
 * before it, refuses other updates with "too many updates in this run, retry shortly" past
 * `refuseAt`, and keeps the rest for a PI's stop.
 */
export const UPDATE_LIMITS = { temporal: 2000, continueAt: 1500, refuseAt: 1800, stopUntil: 1990 };
/**
 * Log tails carried back from seeds: at most `perSeed` each and `perTrial` over a trial's seeds
 * (the full logs are MLflow artifacts).
 */
export const TAIL_BUDGET = { perSeed: 4096, perTrial: 64 * 1024 } as const;
/**
 * Trials kept in workflow memory. Past this, the state keeps the references, the verification
 * runs, the most recent search trials and the leaders with their ancestors; MLflow keeps every
 * trial. This bounds the continue-as-new payload and what each strategy call carries.
 */
const KEEP_TRIALS = 1200;
const KEEP_RECENT = 600;
const KEEP_TOP = 100;
/** Trials a strategy call carries at most: the leaders with their ancestors, then the most recent. */
const VIEW_TRIALS = 500;
const VIEW_TOP = 100;
/** Failed trials a strategy call carries at most beyond the leaders (failures are information). */
const VIEW_FAILED = 100;
const AUDIT_LIMIT = 2000;
const DROPPED_LIMIT = 500;
/** Consecutive strategy calls that yield nothing runnable before the campaign gives up. */
const EMPTY_ROUNDS_LIMIT = 3;
const SEED_SPACE = 2 ** 31 - 1;
/** Successful seed durations kept for adaptive timeouts: the most recent ones. */
const SEED_DURATIONS = 200;

const pad = (n: number) => String(n).padStart(4, '0');

/** A configuration as a stable string: keys sorted. */
function fingerprint(config: Config): string {
  return JSON.stringify(
    Object.keys(config)
      .sort()
      .map((k) => [k, config[k]]),
  );
}

/** JSON size in UTF-16 code units: a close, cheap stand-in for the payload's bytes. */
export function jsonSize(value: unknown): number {
  return JSON.stringify(value)?.length ?? 0;
}

/** `text` cut to `max` characters, saying so. */
export function cut(text: string, max: number, note = ''): string {
  if (text.length <= max) return text;
  const tail = ` … [cut${note ? `; ${note}` : ''}]`;
  return text.slice(0, Math.max(0, max - tail.length)) + tail;
}

/** A short stable hash of a configuration's fingerprint (two FNV-style hashes, 40 bits, base 36). */
function hashFingerprint(fp: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < fp.length; i++) {
    const c = fp.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
  }
  return ((h2 & 0xff) * 0x100000000 + h1).toString(36);
}

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

export class CampaignState {
  readonly input: CampaignInput;
  runs: number;
  startedAtMs: number;
  phase: CampaignPhase;
  paused: boolean;
  budgets: Budgets;
  ledger: CarriedState['ledger'];
  iteration: number;
  nextTrialIndex: number;
  trials: TrialSummary[];
  references: CarriedState['references'];
  notebook: Note[];
  auditTrail: AuditEntry[];
  pending: PendingApproval[];
  queue: Hypothesis[];
  stagnation: CarriedState['stagnation'];
  dropped: CarriedState['dropped'];
  emptyProposalRounds: number;
  decisions: Record<string, 'approve' | 'reject'>;
  counts: CarriedState['counts'];
  pgrSeries: CarriedState['pgrSeries'];
  private archivedConfigs: Set<string>;
  lastCallDollars: number;
  /** Failure costs and recent successful seed durations (adaptive timeouts, the report). */
  failureLedger: NonNullable<CarriedState['failures']>;
  mlflowParentRunId: string | undefined;
  mlflowExperimentId: string | undefined;
  stopRequest: CarriedState['stopRequest'];
  /** A PI stopped the verification phase itself (a stop before it still lets the best be verified). */
  verificationStopped = false;
  stopReason: StopReason | undefined;
  stopDetail: string | undefined;
  verification: VerificationResult[];
  report: CampaignReport | undefined;

  /** Bumped on every change the main loop may be waiting for. */
  version = 0;
  private slotsInUse = 0;
  private readonly slotWaiters: (() => void)[] = [];
  private running = 0;
  private hypothesisCounter = 0;
  private idleReason: StopReason | undefined;
  private draining: { reason: StopReason; detail: string } | null | undefined;
  private strategyFailure: string | undefined;
  /** Every strategy proposal's fate (counts exact, recent reasons kept). */
  readonly proposals: ProposalAudit;
  /** Strategy calls failing on an outage: when to ask again. */
  outage: StrategyOutage | undefined;
  /** Model warnings already in the notebook (once per campaign). */
  private warned: string[];
  private readonly trialIndex = new Map<string, TrialSummary>();
  /** The standard-error floor in force (see rescore); recomputed as evidence accumulates. */
  private floor: PooledVariance | null = null;
  private floorDf = 0;
  /** Per-seed PGR variance and n of each scored search trial, for the pooled floor. */
  private readonly spread = new Map<string, { variance: number; n: number }>();
  /** The trial reaching the target that waits for its verification. */
  private targetCandidate: string | undefined;
  /** Trials whose verification is running. */
  private readonly verifying = new Set<string>();
  /**
   * Texts to write to the campaign's MLflow run: full notes and rationales cut in state, and
   * notebook, audit and dropped entries evicted from it. Drained by the workflow before it
   * continues as new or ends; never carried.
   */
  readonly outbox: { path: string; text: string }[] = [];
  private outboxSeq = 0;
  /** JSON sizes of the bounded lists (notebook, audit, dropped), kept as they change. */
  private readonly listBytes = new Map<unknown[], number>();
  /** Updates accepted in this run (Temporal limits them per run; see UPDATE_LIMITS). */
  updatesThisRun = 0;

  constructor(input: CampaignInput, nowMs: number) {
    this.input = input;
    const c = input.carried;
    this.runs = c ? c.runs + 1 : 0;
    this.startedAtMs = c?.startedAtMs ?? nowMs;
    this.phase = c?.phase ?? 'starting';
    this.paused = c?.paused ?? false;
    this.budgets = c?.budgets ?? input.criteria.criteria.budgets;
    this.ledger = c?.ledger ?? emptyLedger(nowMs);
    this.iteration = c?.iteration ?? 0;
    this.nextTrialIndex = c?.nextTrialIndex ?? 0;
    this.trials = c?.trials ?? [];
    this.references = c?.references ?? {};
    this.notebook = c?.notebook ?? [];
    this.auditTrail = c?.audit ?? [];
    this.pending = c?.pending ?? [];
    this.queue = c?.queue ?? [];
    this.stagnation = c?.stagnation ?? initialStagnation;
    this.dropped = c?.dropped ?? [];
    this.emptyProposalRounds = c?.emptyProposalRounds ?? 0;
    this.decisions = c?.decisions ?? {};
    this.counts = c?.counts ?? { total: 0, succeeded: 0, failed: 0, cancelled: 0, flagged: 0 };
    this.pgrSeries = c?.pgrSeries ?? [];
    // Older runs carried whole fingerprints: keep their hashes.
    this.archivedConfigs = new Set(
      (c?.archivedConfigs ?? [])
        .map((f) => (f.startsWith('[') ? hashFingerprint(f) : f))
        .slice(-ARCHIVED_LIMIT),
    );
    this.lastCallDollars = c?.lastCallDollars ?? 0;
    this.failureLedger = c?.failures ?? {
      computeSeconds: 0,
      totalComputeSeconds: 0,
      timedOutTrials: 0,
      seedDurations: [],
    };
    this.mlflowParentRunId = c?.mlflowParentRunId;
    this.mlflowExperimentId = c?.mlflowExperimentId;
    this.stopRequest = c?.stopRequest;
    this.stopReason = c?.stopReason;
    this.stopDetail = c?.stopDetail;
    this.verification = c?.verification ?? [];
    for (const t of this.trials) {
      this.trialIndex.set(t.id, t);
      t.trust ??= trustState(t.flags);
    }
    this.hypothesisCounter = c?.hypothesisCounter ?? 0;
    this.proposals = new ProposalAudit(c?.proposals);
    this.outage = c?.outage;
    this.warned = c?.warned ?? [];
  }

  private get criteria() {
    return this.input.criteria.criteria;
  }
  private get space() {
    return this.input.problem.space;
  }

  /**
   * The state to continue as new with. Every part is already bounded where it grows; the kept
   * trials are then compacted until the whole fits CARRY_BUDGET (with `inputBytes`, the size of
   * the workflow input that goes along).
   */
  carry(inputBytes = 0): CarriedState {
    const budget = (rest: number) =>
      Math.min(CARRY_BUDGET.trials, CARRY_BUDGET.total - inputBytes - rest);
    let carried = this.carryAll();
    let recent = KEEP_RECENT;
    let top = KEEP_TOP;
    for (;;) {
      const trialBytes = jsonSize(this.trials);
      if (trialBytes <= budget(jsonSize(carried) - trialBytes) || (recent === 0 && top === 0))
        break;
      recent = Math.floor(recent / 2);
      top = Math.floor(top / 2);
      this.compact(recent, top);
      carried = this.carryAll();
    }
    return carried;
  }

  private carryAll(): CarriedState {
    return {
      runs: this.runs,
      startedAtMs: this.startedAtMs,
      phase: this.phase,
      paused: this.paused,
      budgets: this.budgets,
      ledger: this.ledger,
      iteration: this.iteration,
      nextTrialIndex: this.nextTrialIndex,
      trials: this.trials,
      references: this.references,
      notebook: this.notebook,
      audit: this.auditTrail,
      pending: this.pending,
      queue: this.queue,
      stagnation: this.stagnation,
      dropped: this.dropped,
      emptyProposalRounds: this.emptyProposalRounds,
      decisions: this.decisions,
      hypothesisCounter: this.hypothesisCounter,
      counts: this.counts,
      pgrSeries: this.pgrSeries,
      archivedConfigs: [...this.archivedConfigs],
      lastCallDollars: this.lastCallDollars,
      failures: this.failureLedger,
      verification: this.verification,
      proposals: this.proposals.state,
      warned: this.warned,
      ...(this.outage ? { outage: this.outage } : {}),
      ...(this.mlflowParentRunId ? { mlflowParentRunId: this.mlflowParentRunId } : {}),
      ...(this.mlflowExperimentId ? { mlflowExperimentId: this.mlflowExperimentId } : {}),
      ...(this.stopRequest ? { stopRequest: this.stopRequest } : {}),
      ...(this.stopReason ? { stopReason: this.stopReason } : {}),
      ...(this.stopDetail ? { stopDetail: this.stopDetail } : {}),
    };
  }

  bump(): void {
    this.version++;
  }

  // ---- updates per run ----------------------------------------------------------------------

  /** Counts an accepted update (handlers call it; see UPDATE_LIMITS). */
  countUpdate(): void {
    this.updatesThisRun++;
    this.bump();
  }

  /** True once this run took enough updates that it should continue as new. */
  get updatesNearLimit(): boolean {
    return this.updatesThisRun >= UPDATE_LIMITS.continueAt;
  }

  /**
   * Refuses an update (429) when this run is close to Temporal's per-run limit: other updates
   * stop at `refuseAt`, a PI's stop is taken until `stopUntil`, so a stop always gets through.
   */
  checkUpdateRoom(kind: 'stop' | 'other' = 'other'): void {
    const limit = kind === 'stop' ? UPDATE_LIMITS.stopUntil : UPDATE_LIMITS.refuseAt;
    if (this.updatesThisRun >= limit)
      throw ApplicationFailure.nonRetryable(
        'too many updates in this run, retry shortly (the campaign continues as new first)',
        'RateLimited',
      );
  }

  // ---- slots (experiment runs at once) ------------------------------------------------------

  /**
   * Resolves when this caller holds an experiment slot; slots = budgets.concurrency. A freed
   * slot is handed to one waiter at a time (first come, first served): waiters woken together by
   * a condition would all see the same free slot and overshoot the concurrency budget.
   */
  acquireSlot(): Promise<void> {
    if (this.slotsInUse < this.budgets.concurrency && this.slotWaiters.length === 0) {
      this.slotsInUse++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.slotWaiters.push(resolve));
  }
  releaseSlot(): void {
    this.slotsInUse--;
    this.handOutSlots();
    this.bump();
  }
  private handOutSlots(): void {
    while (this.slotWaiters.length > 0 && this.slotsInUse < this.budgets.concurrency) {
      this.slotsInUse++;
      this.slotWaiters.shift()!();
    }
  }
  /**
   * Why a search trial that waited for a slot must not start now, or null. Trial and iteration
   * budgets were checked when it was queued; compute, dollars, the deadline, a stop, the target
   * and stagnation can end the campaign while it waits.
   */
  newWorkRefused(nowMs: number, req: TrialRequest): string | null {
    if (req.kind !== 'search') return null;
    if (this.stopRequest) return 'the campaign was stopped';
    const spent = exhausted(this.budgets, this.ledger, nowMs);
    if (spent === 'max_compute' || spent === 'max_dollars' || spent === 'deadline')
      return `budget used (${spent}) before it got a slot`;
    const draining = this.draining?.reason;
    if (draining === 'target_verified' || draining === 'stagnation')
      return `the campaign is stopping (${draining})`;
    return null;
  }

  /** Experiment runs holding a slot now. */
  get slotsBusy(): number {
    return this.slotsInUse;
  }

  /**
   * How many trials may be in flight: two waves of slots, so that when a wave finishes together
   * the next is already queued behind the slots instead of waiting for a strategy call.
   */
  private maxInFlight(): number {
    return 2 * Math.max(1, Math.ceil(this.budgets.concurrency / this.criteria.seedsPerTrial));
  }

  // ---- audit and notebook -------------------------------------------------------------------

  audit(actor: Actor, action: string, detail?: string): void {
    this.auditTrail.push({
      at: new Date().toISOString(),
      actor,
      action,
      ...(detail ? { detail: cut(detail, KEPT_CHARS.auditDetail) } : {}),
    });
    this.evict('audit', this.auditTrail, AUDIT_LIMIT, CARRY_BUDGET.audit);
    this.bump();
  }

  addNote(note: Omit<Note, 'at'>): void {
    const at = new Date().toISOString();
    let text = note.text;
    if (text.length > KEPT_CHARS.note) {
      const path = this.archive('notebook/note', JSON.stringify({ ...note, at }));
      text = cut(text, KEPT_CHARS.note, `full note: MLflow artifact ${path}`);
    }
    this.notebook.push({ ...note, text, at });
    this.evict('notebook', this.notebook, NOTEBOOK_LIMIT, CARRY_BUDGET.notebook);
    this.bump();
  }

  private drop(title: string, reason: string): void {
    this.dropped.push({
      title: cut(title, KEPT_CHARS.title),
      reason: cut(reason, KEPT_CHARS.reason),
      at: new Date().toISOString(),
    });
    this.evict('dropped', this.dropped, DROPPED_LIMIT, CARRY_BUDGET.dropped);
  }

  /** Queues `text` for the campaign's MLflow run; returns its artifact path. */
  private archive(prefix: string, text: string, ext = 'json'): string {
    const path = `${prefix}-${pad(this.runs)}-${String(++this.outboxSeq).padStart(5, '0')}.${ext}`;
    this.outbox.push({ path, text });
    return path;
  }

  /**
   * Keeps the most recent entries of `list` within `maxCount` and `maxBytes`; the older ones go
   * to MLflow (JSON lines), so nothing is lost and the carried state stays bounded.
   */
  private evict<T>(kind: string, list: T[], maxCount: number, maxBytes: number): void {
    // Called after each push: the size is kept up to date instead of re-measured.
    const known = this.listBytes.get(list);
    let bytes = known === undefined ? jsonSize(list) : known + jsonSize(list[list.length - 1]) + 1;
    let n = Math.max(0, list.length - maxCount);
    for (let i = 0; i < n; i++) bytes -= jsonSize(list[i]) + 1;
    while (bytes > maxBytes && n < list.length - 1) bytes -= jsonSize(list[n++]) + 1;
    this.listBytes.set(list, bytes);
    if (n === 0) return;
    const gone = list.splice(0, n);
    this.archive(`${kind}/evicted`, gone.map((e) => JSON.stringify(e)).join('\n'), 'jsonl');
  }

  private archiveConfig(params: Config): void {
    const h = hashFingerprint(fingerprint(params));
    this.archivedConfigs.delete(h);
    this.archivedConfigs.add(h);
    if (this.archivedConfigs.size > ARCHIVED_LIMIT)
      this.archivedConfigs.delete(this.archivedConfigs.values().next().value!);
  }

  // ---- references ---------------------------------------------------------------------------

  private searchSeeds(): number[] {
    // Every search trial uses the same seeds (common random numbers): differences between
    // configurations are then not confounded with seed luck.
    return Array.from(
      { length: this.criteria.seedsPerTrial },
      (_, i) => (this.input.seed + i) % SEED_SPACE,
    );
  }

  /** The baseline configuration always runs first: it is the lineage root and the source of relative limits. */
  referenceRequest(which: 'baseline' | 'optimum'): TrialRequest | null {
    if (this.references[which]) return null;
    const ref = which === 'baseline' ? this.criteria.baseline : this.criteria.optimum;
    if (which === 'optimum' && ref.kind === 'value') {
      this.references.optimum = { score: { mean: ref.value }, metrics: {} };
      return null;
    }
    const configName = ref.kind === 'measure' ? ref.configuration : 'baseline';
    const params =
      configName === 'baseline'
        ? this.input.problem.baseline
        : this.input.problem.configurations[configName];
    if (!params) {
      this.requestStop('error', `${which}: unknown configuration "${configName}"`);
      return null;
    }
    const n = ref.kind === 'measure' ? ref.seeds : this.criteria.seedsPerTrial;
    const index = this.nextTrialIndex++;
    const id = which === 'baseline' ? 'baseline' : `${which}-${configName}`;
    return {
      id,
      index,
      kind: 'reference',
      label: which,
      seeds: Array.from({ length: n }, (_, i) => (this.input.seed + i) % SEED_SPACE),
      hypothesis: {
        id: `h-${id}`,
        title: which === 'baseline' ? 'Baseline' : `Optimum reference (${configName})`,
        rationale: `Reference measurement of the ${which} configuration "${configName}" on ${n} seeds.`,
        parentTrialId: null,
        changes: {},
        params,
        expectedEffect: '',
        author: { kind: 'system', name: 'gaplab' },
        createdAt: new Date().toISOString(),
      },
    };
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
    this.references[which] = {
      score: ref.kind === 'value' ? { mean: ref.value } : measured,
      metrics: trial.metrics,
      trialId: trial.id,
      ...(seeds ? { bySeed: bySeed(seeds) } : {}),
    };
    // Reference trials get their PGR once both references are known (0 and 1 up to noise).
    for (const t of this.trials) if (t.kind === 'reference') this.rescore(t);
  }

  /**
   * A reason the references make PGR meaningless, or null. `references_within_noise` when the
   * measured optimum cannot be told from the baseline at the criteria's confidence (criteria
   * with two equal numbers are refused when they are set).
   */
  referenceProblem(): { reason: 'error' | 'references_within_noise'; detail: string } | null {
    for (const t of this.trials) if (t.kind === 'reference') this.rescore(t);
    if (this.stopReason || this.stopRequest) return null;
    const b = this.references.baseline?.score;
    const o = this.references.optimum?.score;
    const error = (detail: string) => ({ reason: 'error' as const, detail });
    if (b === undefined || o === undefined)
      return error('the baseline or optimum could not be established');
    if (b.mean === o.mean) return error(`optimum equals baseline (${b.mean}): PGR is undefined`);
    if ((this.criteria.direction === 'maximize') !== o.mean > b.mean)
      return error(
        `the optimum (${o.mean}) is not better than the baseline (${b.mean}) for a metric to ${this.criteria.direction}`,
      );
    const noise = referencesWithinNoise(b, o, this.criteria.confidence);
    return noise ? { reason: 'references_within_noise', detail: noise } : null;
  }

  /** The measured baseline with its per-seed objective, for paired PGR. */
  private pairedBaseline(): PairedBaseline | null {
    const b = this.references.baseline;
    if (!b) return null;
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
  private rescore(trial: TrialSummary): void {
    const b = this.pairedBaseline();
    const o = this.references.optimum?.score;
    if (!b || !o || b.mean === o.mean || !trial.seedScores) return;
    if (!trial.seedScores.some((v) => v !== null)) return;
    const res = trialPgr({
      seeds: trial.seeds,
      scores: trial.seedScores,
      baseline: b,
      optimum: o,
      confidence: this.criteria.confidence,
      floor: trial.kind === 'search' ? this.floor : null,
    });
    trial.pgr = res.estimate;
    if (trial.kind === 'search' && trial.status === 'succeeded' && res.perSeed.length >= 2) {
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
  private refreshFloor(force = false): void {
    const search = this.trials.filter((t) => t.kind === 'search' && t.status === 'succeeded');
    let df = 0;
    for (const t of search) {
      if (!this.spread.has(t.id)) this.rescore(t);
      const s = this.spread.get(t.id);
      if (s) df += s.n - 1;
    }
    // Trials compacted out of memory leave the pool (their spread was counted while kept).
    if (this.spread.size > 2 * search.length + 100) {
      const kept = new Set(search.map((t) => t.id));
      for (const id of [...this.spread.keys()]) if (!kept.has(id)) this.spread.delete(id);
    }
    if (!force && (df === this.floorDf || (df >= 30 && df < this.floorDf * 1.1))) return;
    this.floorDf = df;
    // Σ (n_i - 1) s_i² / Σ (n_i - 1): domain/stats.ts pooledVariance over the cached spreads.
    let ss = 0;
    for (const t of search) {
      const s = this.spread.get(t.id);
      if (s) ss += s.variance * (s.n - 1);
    }
    this.floor = df > 0 ? { variance: ss / df, df } : null;
    for (const t of search) this.rescore(t);
  }

  // ---- trials -------------------------------------------------------------------------------

  trialById(id: string): TrialSummary | undefined {
    return this.trialIndex.get(id);
  }

  knowsHypothesis(id: string): boolean {
    return (
      id in this.decisions ||
      this.queue.some((h) => h.id === id) ||
      this.trials.some((t) => t.hypothesisId === id)
    );
  }

  queueLength(): number {
    return this.queue.length;
  }

  /** Params of every configuration tried, queued or awaiting approval (for duplicate checks). */
  private triedConfigs(): Config[] {
    return [
      ...this.trials.filter((t) => t.kind !== 'verification').map((t) => t.params),
      ...this.queue.map((h) => h.params),
      ...this.pending.map((p) => p.hypothesis.params),
    ];
  }

  canStartTrial(nowMs: number, inFlight: number): boolean {
    if (
      this.phase !== 'running' ||
      this.paused ||
      this.stopRequest ||
      this.stopReason ||
      this.stopping
    )
      return false;
    if (this.queue.length === 0 || inFlight >= this.maxInFlight()) return false;
    // The iteration budget limits proposals, not the running of what was proposed.
    const { maxIterations: _ignored, ...trialBudgets } = this.budgets;
    return budgetAllowsTrial(
      { ...trialBudgets, concurrency: Number.MAX_SAFE_INTEGER },
      this.ledger,
      nowMs,
    );
  }

  nextTrialRequest(): TrialRequest | null {
    const hypothesis = this.queue.shift();
    if (!hypothesis) return null;
    this.proposals.ran(hypothesis.id);
    const index = this.nextTrialIndex++;
    this.ledger = { ...this.ledger, trialsStarted: this.ledger.trialsStarted + 1 };
    this.running++;
    return {
      id: `t${pad(index)}`,
      index,
      kind: 'search',
      hypothesis,
      seeds: this.searchSeeds(),
      timeoutSeconds: this.seedTimeoutSeconds(),
    };
  }

  /**
   * The time limit of the next search trial's seeds: the experiment's own until a few seeds
   * succeeded, then a multiple of their durations (domain/failures.ts), so a hang is stopped
   * after a few typical run times instead of at a limit set for the worst case.
   */
  seedTimeoutSeconds(): number {
    const limit = this.input.experiment.timeoutSeconds;
    if (this.input.timing?.adaptiveTimeouts === false) return limit;
    return adaptiveTimeoutSeconds(this.failureLedger.seedDurations, limit);
  }

  /** Successful seeds' durations (any trial kind) and what failed search trials cost. */
  private noteFailureCosts(req: TrialRequest, trial: TrialSummary, seeds: SeedResult[]): void {
    const ok = seeds.filter((s) => s.status === 'succeeded').map((s) => s.durationSeconds);
    const l = this.failureLedger;
    const durations =
      ok.length > 0 ? [...l.seedDurations, ...ok].slice(-SEED_DURATIONS) : l.seedDurations;
    const search = req.kind === 'search';
    const failed = search && trial.status === 'failed';
    this.failureLedger = {
      computeSeconds: l.computeSeconds + (failed ? trial.computeSeconds : 0),
      totalComputeSeconds: l.totalComputeSeconds + (search ? trial.computeSeconds : 0),
      timedOutTrials:
        l.timedOutTrials + (failed && failureKind(trial.failureReason) === 'timeout' ? 1 : 0),
      seedDurations: durations,
    };
  }

  finishTrial(
    req: TrialRequest,
    seeds: SeedResult[],
    startedAt: string,
    finishedAt: string,
  ): TrialSummary {
    const b = this.references.baseline;
    const o = this.references.optimum;
    const score = scoreTrial({
      seeds,
      criteria: this.criteria,
      baselineScore: b ? b.score : null,
      optimumScore: o ? o.score : null,
      ...(b ? { baselineMetricMeans: b.metrics } : {}),
    });
    const objective = score.aggregates[this.criteria.metric] ?? null;
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
      author: req.hypothesis.author,
      params: req.hypothesis.params,
      changes: req.hypothesis.changes,
      seeds: req.seeds,
      ...(req.timeoutSeconds !== undefined ? { timeoutSeconds: req.timeoutSeconds } : {}),
      status: score.status,
      metrics: Object.fromEntries(Object.entries(score.aggregates).map(([k, v]) => [k, v.mean])),
      objective,
      pgr: score.pgr,
      feasible: score.feasible,
      flags: score.flags,
      trust: trustState(score.flags),
      seedScores: req.seeds.map((seed) => {
        const r = seeds.find((x) => x.seed === seed);
        const v = r?.status === 'succeeded' ? r.metrics[this.criteria.metric] : undefined;
        return typeof v === 'number' && Number.isFinite(v) ? v : null;
      }),
      computeSeconds: score.computeSeconds,
      ...(score.failureReason ? { failureReason: score.failureReason } : {}),
      startedAt,
      finishedAt,
    };
    if (trial.status === 'succeeded') this.rescore(trial);
    this.trials.push(trial);
    this.trialIndex.set(trial.id, trial);
    if (req.kind === 'search' && trial.status === 'succeeded') this.refreshFloor();
    this.ledger = {
      ...this.ledger,
      computeSeconds: this.ledger.computeSeconds + trial.computeSeconds,
    };
    if (req.kind === 'search') {
      this.running--;
      this.ledger = { ...this.ledger, trialsFinished: this.ledger.trialsFinished + 1 };
      this.counts = {
        total: this.counts.total + 1,
        succeeded: this.counts.succeeded + (trial.status === 'succeeded' ? 1 : 0),
        failed: this.counts.failed + (trial.status === 'failed' ? 1 : 0),
        cancelled: this.counts.cancelled + (trial.status === 'cancelled' ? 1 : 0),
        flagged: this.counts.flagged + (trial.trust !== 'eligible' ? 1 : 0),
      };
      const eligible =
        trial.status === 'succeeded' &&
        trial.feasible &&
        trial.pgr !== null &&
        trial.trust === 'eligible';
      this.pgrSeries.push([
        trial.index,
        trial.pgr?.mean ?? null,
        eligible ? trial.pgr!.ciLow : null,
      ]);
      if (this.pgrSeries.length > PGR_SERIES_LIMIT)
        this.pgrSeries = thinSeries(this.pgrSeries, Math.floor(PGR_SERIES_LIMIT * 0.75));
      if (this.trials.length > KEEP_TRIALS) this.compact();
      if (trial.status === 'failed') {
        this.addNote({
          kind: 'error',
          author: 'gaplab',
          text: `${trial.id} "${trial.title}" failed: ${trial.failureReason ?? 'unknown'}`.slice(
            0,
            5000,
          ),
          trialId: trial.id,
        });
      }
    }
    this.noteFailureCosts(req, trial, seeds);
    this.bump();
    return trial;
  }

  /** Keeps references, verification runs, recent trials and the leaders with their ancestors. */
  private compact(recent = KEEP_RECENT, top = KEEP_TOP): void {
    const search = this.trials.filter((t) => t.kind === 'search');
    const keep = new Set<string>();
    for (const t of this.trials) if (t.kind !== 'search') keep.add(t.id);
    for (const t of recent > 0 ? search.slice(-recent) : []) keep.add(t.id);
    for (const t of rankTrials(search).slice(0, top)) {
      for (
        let cur: TrialSummary | undefined = t;
        cur && !keep.has(`lineage:${cur.id}`);
        cur = cur.parentTrialId ? this.trialIndex.get(cur.parentTrialId) : undefined
      ) {
        keep.add(cur.id);
        keep.add(`lineage:${cur.id}`);
      }
    }
    const kept: TrialSummary[] = [];
    for (const t of this.trials) {
      if (keep.has(t.id)) kept.push(t);
      else {
        this.archiveConfig(t.params);
        this.trialIndex.delete(t.id);
      }
    }
    this.trials = kept;
  }

  setRunId(trialId: string, runId: string): void {
    const t = this.trialIndex.get(trialId);
    if (t) t.mlflowRunId = runId;
  }

  // ---- proposals ----------------------------------------------------------------------------

  proposalsWanted(inFlight: number): number {
    if (
      this.phase !== 'running' ||
      this.paused ||
      this.stopRequest ||
      this.stopReason ||
      this.stopping
    )
      return 0;
    let wanted = this.maxInFlight() - inFlight - this.queue.length - this.pending.length;
    const left = remaining(this.budgets, this.ledger, 0);
    if (left.trials !== undefined)
      wanted = Math.min(wanted, left.trials - this.queue.length - this.pending.length);
    wanted = Math.min(wanted, QUEUE_LIMIT - this.queue.length - this.pending.length);
    return Math.max(0, wanted);
  }

  /** Why no more proposals can be asked for, or null when they can. */
  private cannotProposeReason(nowMs: number): StopReason | null {
    if (this.draining) return this.draining.reason;
    if (this.strategyFailure) return 'strategy_failed';
    if (this.emptyProposalRounds >= EMPTY_ROUNDS_LIMIT) return 'no_proposals';
    const spent = exhausted(this.budgets, this.ledger, nowMs);
    if (spent) return spent;
    const left = remaining(this.budgets, this.ledger, nowMs);
    // Never start a call the dollar budget cannot cover by the last call's cost.
    if (
      left.dollars !== undefined &&
      this.lastCallDollars > 0 &&
      this.lastCallDollars > left.dollars
    )
      return 'max_dollars';
    return null;
  }

  canPropose(nowMs: number): boolean {
    return this.cannotProposeReason(nowMs) === null && !this.waitingForStrategy(nowMs);
  }

  strategyView(count: number): StrategyView {
    this.iteration++;
    this.ledger = { ...this.ledger, iterations: this.ledger.iterations + 1 };
    const hidden = new Set(this.criteria.hiddenMetrics);
    const visible = (m: Record<string, number>) =>
      Object.fromEntries(Object.entries(m).filter(([k]) => !hidden.has(k)));
    const history: TrialView[] = this.viewTrials().map((t) => ({
      id: t.id,
      parentTrialId: t.id === 'baseline' ? null : t.parentTrialId,
      title: t.title,
      author: t.author.name,
      params: t.params,
      status: t.status,
      metrics: visible(t.metrics),
      ...(t.objective ? { objective: t.objective.mean } : {}),
      // A trial under review (or excluded) is never offered as a result to build on: no PGR,
      // and infeasible, so no strategy ranks it or samples around it.
      pgr:
        t.pgr && t.trust === 'eligible'
          ? { mean: t.pgr.mean, ciLow: t.pgr.ciLow, ciHigh: t.pgr.ciHigh }
          : null,
      feasible: t.feasible && t.trust === 'eligible',
      ...(t.failureReason ? { failureReason: t.failureReason } : {}),
    }));
    const p = this.input.problem;
    return {
      campaignId: this.input.campaignId,
      iteration: this.iteration,
      count,
      seed: (this.input.seed * 7919 + this.iteration) % SEED_SPACE,
      problem: {
        id: p.id,
        title: p.title,
        question: p.question,
        context: p.context,
        experiment: this.input.experiment.name,
        experimentDescription: this.input.experiment.description,
        space: p.space,
        baseline: p.baseline,
      },
      objective: { metric: this.criteria.metric, direction: this.criteria.direction },
      visibleMetrics: this.input.experiment.metrics.filter((m) => !hidden.has(m.name)),
      baselineScore: this.references.baseline?.score.mean ?? null,
      optimumScore: this.references.optimum?.score.mean ?? null,
      targetPgr: this.criteria.targetPgr,
      constraints: this.criteria.constraints.map((c) =>
        c.kind === 'absolute'
          ? `${c.metric} ${c.op} ${c.value}`
          : `${c.metric} ${c.op} ${c.factor} x baseline`,
      ),
      history,
      notebook: this.notebook.slice(-100),
      ...(this.outage ? { retryAgents: this.outage.agents } : {}),
      budgetLeft: remaining(this.budgets, this.ledger, Date.now()),
      strategy: this.input.strategy,
    };
  }

  /** The trials a strategy sees, oldest first; bounded so a call's payload stays small. */
  private viewTrials(): TrialSummary[] {
    const all = this.trials.filter((t) => t.kind === 'search' || t.id === 'baseline');
    if (all.length <= VIEW_TRIALS) return all;
    const keep = new Set<string>(['baseline']);
    for (const t of rankTrials(all.filter((x) => x.kind === 'search')).slice(0, VIEW_TOP)) {
      for (
        let cur: TrialSummary | undefined = t;
        cur && !keep.has(cur.id);
        cur = cur.parentTrialId ? this.trialIndex.get(cur.parentTrialId) : undefined
      )
        keep.add(cur.id);
    }
    // Failures are information (where not to go): the most recent ones stay in view too.
    for (let i = all.length - 1, n = 0; i >= 0 && n < VIEW_FAILED; i--)
      if (all[i]!.status === 'failed' && !keep.has(all[i]!.id)) {
        keep.add(all[i]!.id);
        n++;
      }
    for (let i = all.length - 1; i >= 0 && keep.size < VIEW_TRIALS; i--) keep.add(all[i]!.id);
    return all.filter((t) => keep.has(t.id));
  }

  /** Resolves a proposal into a hypothesis, or throws an InvalidConfigError / Error with the reason. */
  private resolve(proposal: HypothesisProposalInput, author: Hypothesis['author']): Hypothesis {
    const parsed = HypothesisProposal.safeParse(proposal);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`${issue.path.join('.') || 'proposal'}: ${issue.message}`);
    }
    const p = parsed.data;
    let parentParams: Config = this.input.problem.baseline;
    if (p.parentTrialId !== null && p.parentTrialId !== 'baseline') {
      const parent = this.trialIndex.get(p.parentTrialId);
      if (!parent || parent.kind === 'verification')
        throw new Error(`parentTrialId: unknown trial ${p.parentTrialId}`);
      parentParams = parent.params;
    }
    const params = applyChanges(this.space, parentParams, p.changes, {
      baseline: this.input.problem.baseline,
    });
    const dup =
      findDuplicate(this.space, params, this.triedConfigs()) ??
      (this.archivedConfigs.has(hashFingerprint(fingerprint(params))) ? true : null);
    if (dup) throw new Error(`changes: duplicate of a configuration already tried or queued`);
    return {
      ...p,
      parentTrialId: p.parentTrialId === 'baseline' ? null : p.parentTrialId,
      id: `h${pad(++this.hypothesisCounter)}`,
      params,
      author,
      createdAt: new Date().toISOString(),
    };
  }

  acceptProposals(result: StrategyResult, nowMs: number): void {
    const at = new Date(nowMs).toISOString();
    this.ledger = { ...this.ledger, dollars: this.ledger.dollars + result.dollars };
    if (result.dollars > 0) this.lastCallDollars = result.dollars;
    for (const n of result.notes) this.addNote(n);
    for (const w of result.warnings ?? []) {
      if (this.warned.includes(w)) continue;
      this.warned.push(w);
      this.addNote({ kind: 'error', author: 'gaplab', text: `warning: ${w}`.slice(0, 5000) });
    }
    const strategyName = this.input.strategy.name;
    for (const d of result.dropped) {
      this.drop(d.title, d.reason);
      this.proposals.settled(
        {
          ...d,
          title: cut(d.title, KEPT_CHARS.title),
          reason: cut(d.reason, KEPT_CHARS.proposalReason),
        },
        d.author ?? strategyName,
        at,
      );
    }
    if (result.fatalError) {
      this.strategyFailure = result.fatalError;
      this.addNote({
        kind: 'error',
        author: strategyName,
        text: `strategy stopped: ${result.fatalError}`.slice(0, 5000),
      });
    }
    if (result.usageAnomaly)
      this.requestStop(
        'usage_anomaly',
        `${result.usageAnomaly}; $${this.ledger.dollars.toFixed(4)} spent in all`,
      );
    let accepted = 0;
    result.proposals.forEach((proposal, i) => {
      const name = result.authors[i] ?? result.authors[0] ?? strategyName;
      const author: Hypothesis['author'] =
        strategyName === 'claude'
          ? {
              kind: 'agent',
              name,
              model: (this.input.strategy.settings as { model?: string }).model ?? 'unknown',
            }
          : { kind: 'strategy', name };
      const title = proposal.title ?? '(untitled)';
      try {
        const h = this.bounded(this.resolve(proposal, author));
        const full = this.queueFull(h);
        if (full) throw new Error(`queue: ${full}`);
        this.enqueue(h, nowMs, true);
        this.proposals.queued(name, h.title, h.id, at);
        accepted++;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.drop(title, message);
        const duplicate = /duplicate/.test(message);
        this.proposals.refused(
          name,
          title,
          duplicate ? 'duplicate' : 'dropped',
          duplicate
            ? 'duplicate'
            : message.startsWith('parentTrialId: unknown')
              ? 'unknown_parent'
              : 'invalid',
          cut(message, KEPT_CHARS.proposalReason),
          at,
        );
      }
    });
    this.noteOutage(result, accepted, nowMs);
    // Rounds lost to an outage are not empty rounds: the outage has its own limit.
    if (!(result.unavailable && accepted === 0))
      this.emptyProposalRounds = accepted > 0 ? 0 : this.emptyProposalRounds + 1;
    this.stagnation = stepStagnation(
      this.stagnation,
      this.bestSearch()?.pgr?.ciLow ?? null,
      this.criteria.stagnation?.minImprovement ?? 0.01,
    );
    this.bump();
  }

  /**
   * Agents that failed on an outage are asked again later (first in the next call). A round in
   * which nothing could be proposed waits longer each time; after `strategyRetryRounds` such
   * rounds in a row the campaign stops with the reason and the dollars spent.
   */
  private noteOutage(result: StrategyResult, accepted: number, nowMs: number): void {
    if (!result.unavailable) {
      this.outage = undefined;
      return;
    }
    const { agents, reason } = result.unavailable;
    const initial = this.input.timing?.strategyRetrySeconds ?? 30;
    const limit = this.input.timing?.strategyRetryRounds ?? 6;
    const since = this.outage?.since ?? new Date(nowMs).toISOString();
    if (accepted > 0) {
      // Others proposed: the failed agents simply speak first next time.
      this.outage = { rounds: 0, since, retryAtMs: nowMs, agents, reason };
      return;
    }
    const rounds = (this.outage?.rounds ?? 0) + 1;
    if (rounds >= limit) {
      this.outage = undefined;
      this.requestStop(
        'strategy_unavailable',
        `the Claude API stayed unavailable for ${rounds} rounds in a row since ${since} (${reason}); $${this.ledger.dollars.toFixed(4)} spent`,
      );
      return;
    }
    const delay = strategyRetryDelayMs(rounds, initial);
    this.outage = { rounds, since, retryAtMs: nowMs + delay, agents, reason };
    this.addNote({
      kind: 'error',
      author: 'gaplab',
      text: `${agents.join(', ')} could not be reached (${reason}); asking again in ${Math.round(delay / 1000)} s (round ${rounds} of at most ${limit})`.slice(
        0,
        5000,
      ),
    });
  }

  /** True while the strategy waits out an outage's backoff. */
  waitingForStrategy(nowMs: number): boolean {
    return this.outage !== undefined && nowMs < this.outage.retryAtMs;
  }

  /**
   * The hidden metrics' names and the real values the campaign has measured (trial and reference
   * means, reference seeds), for the strategy to redact from prompts. Never part of a view.
   */
  hiddenForRedaction(): { names: string[]; values: number[] } {
    const names = [...this.criteria.hiddenMetrics];
    const values: number[] = [];
    const take = (m: Record<string, number> | undefined) => {
      for (const n of names) if (typeof m?.[n] === 'number') values.push(m[n]);
    };
    for (const t of this.trials) take(t.metrics);
    for (const r of Object.values(this.references)) {
      take(r?.metrics);
      // Per-seed values, where the reference keeps them.
      const perSeed = (r as { bySeed?: { values: Record<string, (number | null)[]> } } | undefined)
        ?.bySeed?.values;
      for (const n of names)
        for (const v of perSeed?.[n] ?? []) if (typeof v === 'number') values.push(v);
    }
    return { names, values };
  }

  /**
   * The hypothesis as the state keeps it: rationale and expected effect cut to KEPT_CHARS, the
   * full texts archived in MLflow (`hypotheses/...`) and named in the cut text.
   */
  private bounded(h: Hypothesis): Hypothesis {
    if (
      h.rationale.length <= KEPT_CHARS.rationale &&
      h.expectedEffect.length <= KEPT_CHARS.expectedEffect
    )
      return h;
    const path = this.archive(
      `hypotheses/${h.id}`,
      JSON.stringify({
        id: h.id,
        title: h.title,
        rationale: h.rationale,
        expectedEffect: h.expectedEffect,
      }),
    );
    const note = `full text: MLflow artifact ${path}`;
    return {
      ...h,
      rationale: cut(h.rationale, KEPT_CHARS.rationale, note),
      expectedEffect: cut(h.expectedEffect, KEPT_CHARS.expectedEffect, note),
    };
  }

  /** Why one more hypothesis cannot wait in the queue (count or bytes), or null. */
  queueFull(h?: Hypothesis): string | null {
    const waiting = this.queue.length + this.pending.length;
    if (waiting >= QUEUE_LIMIT)
      return `${waiting} ideas are queued or awaiting approval (at most ${QUEUE_LIMIT}); retry once some have run`;
    const bytes = jsonSize(this.queue) + jsonSize(this.pending) + (h ? jsonSize(h) : 0);
    if (bytes > CARRY_BUDGET.queue)
      return `the queued ideas fill their ${CARRY_BUDGET.queue / 1024} KiB; retry once some have run`;
    return null;
  }

  private enqueue(h: Hypothesis, nowMs: number, moderated: boolean): void {
    if (moderated && this.criteria.approval.enabled) {
      this.pending.push({
        hypothesis: h,
        submittedAt: new Date(nowMs).toISOString(),
        deadlineMs: nowMs + this.criteria.approval.timeoutSeconds * 1000,
      });
    } else {
      this.queue.push(h);
    }
    this.bump();
  }

  validateHumanProposal(proposal: HypothesisProposalInput): void {
    let h: Hypothesis;
    try {
      // Resolve without keeping the result: the same checks the handler will apply.
      const counter = this.hypothesisCounter;
      h = this.resolve(proposal, { kind: 'human', name: 'validator' });
      this.hypothesisCounter = counter;
    } catch (err) {
      const message =
        err instanceof InvalidConfigError || err instanceof Error ? err.message : String(err);
      throw ApplicationFailure.nonRetryable(
        message,
        message.startsWith('parentTrialId: unknown') ? 'NotFound' : 'InvalidInput',
      );
    }
    const full = this.queueFull({
      ...h,
      rationale: h.rationale.slice(0, KEPT_CHARS.rationale + 100),
      expectedEffect: h.expectedEffect.slice(0, KEPT_CHARS.expectedEffect + 100),
    });
    if (full) throw ApplicationFailure.nonRetryable(`queue: ${full}`, 'RateLimited');
  }

  injectHuman(actor: Actor, proposal: HypothesisProposalInput): Hypothesis {
    const h = this.bounded(this.resolve(proposal, { kind: 'human', name: actor.name }));
    // Ideas from people go first. A PI's run at once; a researcher's wait for approval when the
    // campaign is in approval mode.
    const moderated = actor.role !== 'pi';
    if (moderated && this.criteria.approval.enabled) this.enqueue(h, Date.now(), true);
    else {
      this.queue.unshift(h);
      this.bump();
    }
    this.audit(actor, 'inject hypothesis', `${h.id}: ${h.title}`);
    return h;
  }

  decide(
    hypothesisId: string,
    decision: 'approve' | 'reject',
    actor: Actor,
    reason?: string,
  ): void {
    const i = this.pending.findIndex((p) => p.hypothesis.id === hypothesisId);
    if (i < 0) return;
    const [p] = this.pending.splice(i, 1);
    this.decisions[hypothesisId] = decision;
    const decided = Object.keys(this.decisions);
    for (const id of decided.slice(0, Math.max(0, decided.length - DECISIONS_LIMIT)))
      delete this.decisions[id];
    if (decision === 'approve') this.queue.push(p!.hypothesis);
    else {
      this.drop(p!.hypothesis.title, `rejected by ${actor.name}${reason ? `: ${reason}` : ''}`);
      this.proposals.unqueued(
        hypothesisId,
        'rejected',
        cut(`rejected by ${actor.name}${reason ? `: ${reason}` : ''}`, KEPT_CHARS.proposalReason),
      );
    }
    this.audit(
      actor,
      decision,
      `${hypothesisId}: ${p!.hypothesis.title}${reason ? ` (${reason})` : ''}`,
    );
  }

  applyApprovalTimeouts(nowMs: number): void {
    const due = this.pending.filter((p) => p.deadlineMs <= nowMs);
    for (const p of due) {
      this.decide(
        p.hypothesis.id,
        this.criteria.approval.onTimeout,
        { name: 'gaplab', role: 'system' },
        'approval timed out',
      );
    }
  }

  // ---- budgets ------------------------------------------------------------------------------

  validateBudgetChange(change: Partial<Budgets>): void {
    const merged = BudgetsSchema.safeParse({ ...this.budgets, ...change });
    if (!merged.success) {
      const issue = merged.error.issues[0]!;
      throw ApplicationFailure.nonRetryable(
        `budgets.${issue.path.join('.')}: ${issue.message}`,
        'InvalidInput',
      );
    }
  }

  changeBudgets(change: Partial<Budgets>): void {
    this.budgets = BudgetsSchema.parse({ ...this.budgets, ...change });
    this.handOutSlots();
    // A raised budget lets a campaign that had run out of proposals try again.
    this.emptyProposalRounds = 0;
    this.idleReason = undefined;
    if (this.draining && this.draining.reason !== 'target_verified') this.draining = undefined;
    this.bump();
  }

  // ---- stopping -----------------------------------------------------------------------------

  requestStop(reason: StopReason, detail: string): void {
    if (this.stopReason) return;
    this.stopReason = reason;
    this.stopDetail = detail;
    this.addNote({
      kind: 'error',
      author: 'gaplab',
      text: `stopping (${reason}): ${detail}`.slice(0, 5000),
    });
    this.bump();
  }

  private bestSearch(): TrialSummary | null {
    return bestTrial(this.trials.filter((t) => t.kind === 'search'));
  }

  /**
   * The reason to stop now, or null to go on. A PI stop and the deadline stop at once; every
   * other reason first drains: nothing new starts, running trials finish, then the campaign stops.
   */
  stopReasonNow(nowMs: number): StopReason | null {
    if (this.stopReason) return this.stopReason;
    const hard = this.hardStopNow(nowMs);
    if (hard) return hard;
    this.draining ??= this.drainReason(nowMs);
    if (this.draining && this.running === 0) {
      for (const h of this.queue.splice(0)) {
        this.drop(h.title, `not run: the campaign stopped (${this.draining.reason})`);
        this.proposals.unqueued(h.id, 'not_run', `the campaign stopped (${this.draining.reason})`);
      }
      this.stopDetail = this.draining.detail;
      return this.draining.reason;
    }
    return null;
  }

  /** A PI stop or the deadline, which end every phase at once (measuring included); else null. */
  hardStopNow(nowMs: number): 'stopped_by_pi' | 'deadline' | null {
    if (this.stopRequest) {
      this.stopDetail = `stopped by ${this.stopRequest.actor.name}${this.stopRequest.reason ? `: ${this.stopRequest.reason}` : ''}`;
      return 'stopped_by_pi';
    }
    if (
      this.budgets.maxWallSeconds !== undefined &&
      nowMs - this.ledger.startedAtMs >= this.budgets.maxWallSeconds * 1000
    ) {
      this.stopDetail = `wall-clock budget of ${this.budgets.maxWallSeconds} s used`;
      return 'deadline';
    }
    return null;
  }

  /** A reason to stop starting work, or null. */
  private drainReason(nowMs: number): { reason: StopReason; detail: string } | null {
    // The target stops the campaign only once the best eligible trial that reached it held up
    // on fresh seeds and hidden metrics: until its verification is back the campaign goes on;
    // one that fails is flagged (and so no longer best) and the search continues.
    const best = this.bestSearch();
    if (best?.pgr && best.pgr.ciLow >= this.criteria.targetPgr) {
      const v = this.verificationOf(best.id);
      if (v?.verdict === 'verified')
        return {
          reason: 'target_verified',
          detail:
            `${best.id} reached PGR lower bound ${best.pgr.ciLow.toFixed(3)} >= target ${this.criteria.targetPgr} ` +
            `and held up on ${v.freshPgr?.n ?? 0} fresh seeds (PGR ${v.freshPgr ? v.freshPgr.mean.toFixed(3) : '—'})`,
        };
      if (!v) this.targetCandidate = best.id;
    }
    const noWork = this.queue.length === 0 && this.pending.length === 0;
    const spent = exhausted(this.budgets, this.ledger, nowMs);
    // Hypotheses proposed in the last allowed iteration still run.
    if (spent && (spent !== 'max_iterations' || noWork))
      return { reason: spent, detail: `budget used: ${spent}` };
    if (this.criteria.stagnation && isStagnant(this.stagnation, this.criteria.stagnation)) {
      return {
        reason: 'stagnation',
        detail: `no improvement of the best PGR lower bound by ${this.criteria.stagnation.minImprovement} in ${this.criteria.stagnation.iterations} iterations`,
      };
    }
    if (this.idleReason && noWork) {
      const detail =
        this.idleReason === 'strategy_failed'
          ? `strategy failed: ${this.strategyFailure}`
          : `nothing left to run (${this.idleReason})`;
      return { reason: this.idleReason, detail };
    }
    return null;
  }

  /** The dollar budget cannot cover the next strategy call: wind down. */
  refuseForBudget(detail: string): void {
    this.draining ??= { reason: 'max_dollars', detail };
    this.bump();
  }

  /** True once the campaign is winding down: nothing new starts. */
  get stopping(): boolean {
    return this.draining !== null && this.draining !== undefined;
  }

  /** Called when nothing runs, nothing waits, and no proposal can be asked for. */
  markIdle(): void {
    this.idleReason = this.cannotProposeReason(Date.now()) ?? 'no_proposals';
    this.bump();
  }

  /** PI stops and deadlines cancel running trials; budget stops let them finish. */
  shouldCancelRunning(): boolean {
    if (this.stopReason === 'deadline' || this.stopReason === 'error') return true;
    if (this.stopReason === 'stopped_by_pi') return this.stopRequest?.cancelRunning ?? true;
    return false;
  }

  msUntilNextDeadline(nowMs: number): number | null {
    const times: number[] = this.pending.map((p) => p.deadlineMs);
    if (this.budgets.maxWallSeconds !== undefined)
      times.push(this.ledger.startedAtMs + this.budgets.maxWallSeconds * 1000);
    if (this.outage && this.outage.retryAtMs > nowMs) times.push(this.outage.retryAtMs);
    if (times.length === 0) return null;
    return Math.max(1, Math.min(...times) - nowMs);
  }

  // ---- verification -------------------------------------------------------------------------

  /**
   * The seeds every verification runs on: fresh (never a search seed) and the same for every
   * verified trial and for the baseline's re-run, so fresh and hidden PGR are paired per seed.
   */
  private freshSeeds(): number[] {
    const base = this.input.seed + 1_000_003;
    return Array.from(
      { length: this.criteria.verification.seeds },
      (_, i) => (base + i) % SEED_SPACE,
    );
  }

  /** The latest verification of a trial, if any. */
  verificationOf(trialId: string): VerificationResult | undefined {
    for (let i = this.verification.length - 1; i >= 0; i--)
      if (this.verification[i]!.trialId === trialId) return this.verification[i];
    return undefined;
  }

  /** The baseline re-run on the fresh seeds, once (null when done or not measurable). */
  freshBaselineRequest(): TrialRequest | null {
    if (this.references.freshBaseline || this.stopReason === 'error') return null;
    const index = this.nextTrialIndex++;
    return {
      id: 'baseline-fresh',
      index,
      kind: 'reference',
      label: 'baseline on the verification seeds',
      seeds: this.freshSeeds(),
      hypothesis: {
        id: 'h-baseline-fresh',
        title: 'Baseline on the verification seeds',
        rationale:
          'The baseline re-run on the fresh seeds, so verified PGRs compare like with like (seed by seed, hidden metrics included).',
        parentTrialId: null,
        changes: {},
        params: this.input.problem.baseline,
        expectedEffect: '',
        author: { kind: 'system', name: 'gaplab' },
        createdAt: new Date().toISOString(),
      },
    };
  }

  setFreshBaseline(trial: TrialSummary, seeds: SeedResult[]): void {
    this.references.freshBaseline = {
      score: trial.objective
        ? { mean: trial.objective.mean, stderr: trial.objective.stderr, n: trial.objective.n }
        : { mean: Number.NaN },
      metrics: trial.metrics,
      trialId: trial.id,
      bySeed: bySeed(seeds),
    };
    this.bump();
  }

  private verificationRequest(t: TrialSummary, trigger: 'target' | 'final'): TrialRequest {
    const index = this.nextTrialIndex++;
    this.verifying.add(t.id);
    return {
      id: `v${pad(index)}`,
      index,
      kind: 'verification' as const,
      label: `verifies ${t.id}`,
      verifies: t.id,
      trigger,
      seeds: this.freshSeeds(),
      hypothesis: {
        id: `h-v-${t.id}`,
        title: `Verification of ${t.id}: ${t.title}`,
        rationale: 'Re-run on fresh seeds and scored on the hidden metrics.',
        parentTrialId: t.id,
        changes: {},
        params: t.params,
        expectedEffect: '',
        author: { kind: 'system' as const, name: 'gaplab' },
        createdAt: new Date().toISOString(),
      },
    };
  }

  /** The verification of the trial that reached the target, when it is due and not running. */
  targetVerificationRequest(): TrialRequest | null {
    const id = this.targetCandidate;
    if (!id || this.verifying.has(id) || this.stopReason) return null;
    this.targetCandidate = undefined;
    const t = this.trialIndex.get(id);
    if (!t || this.verificationOf(id)) return null;
    return this.verificationRequest(t, 'target');
  }

  /**
   * End-of-campaign verifications: first the top K eligible trials not verified yet; after that
   * (`followUp`) the current best when it has no verification, because a leader that failed was
   * flagged and the report's verdict is always about the reported best's own verification.
   */
  verificationRequests(followUp = false): TrialRequest[] {
    const { topK } = this.criteria.verification;
    if (topK === 0 || this.stopReason === 'error' || this.stopReason === 'references_within_noise')
      return [];
    const search = this.trials.filter((t) => t.kind === 'search');
    const todo = followUp
      ? [this.bestSearch()].filter((t) => t !== null)
      : rankTrials(search).slice(0, topK);
    return todo
      .filter((t) => !this.verificationOf(t.id) && !this.verifying.has(t.id))
      .map((t) => this.verificationRequest(t, 'final'));
  }

  /**
   * Scores a verification run and, when it fails, flags the trial it verifies (verification gap):
   * the trial goes under review and can no longer be best or reach the target.
   */
  addVerification(req: TrialRequest, trial: TrialSummary, seeds: SeedResult[]): void {
    const original = this.trialIndex.get(req.verifies!)!;
    this.verifying.delete(original.id);
    // A run cancelled by a stop verified nothing, and failed nothing either.
    if (trial.status === 'cancelled') {
      this.bump();
      return;
    }
    const o = this.references.optimum?.score;
    const b = this.references.baseline;
    const fresh = this.references.freshBaseline?.bySeed;
    const values = bySeed(seeds);
    const estimateOf = (metric: string, baselineMean: number | undefined) => {
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
        confidence: this.criteria.confidence,
        floor: this.floor,
      }).estimate;
    };
    const freshPgr =
      trial.status === 'succeeded' ? estimateOf(this.criteria.metric, b?.score.mean) : null;
    const hiddenPgr: VerificationResult['hiddenPgr'] = {};
    for (const m of this.criteria.hiddenMetrics)
      hiddenPgr[m] = trial.status === 'succeeded' ? estimateOf(m, b?.metrics[m]) : null;
    const searchPgr = original.pgr;
    const result = searchPgr
      ? verificationVerdict({
          searchPgr,
          freshPgr,
          hiddenPgr,
          ...(trial.status !== 'succeeded'
            ? { failure: trial.failureReason ?? `the run ${trial.status}` }
            : {}),
        })
      : {
          verdict: 'failed_verification' as const,
          reasons: ['the verified trial has no PGR'],
          flag: null,
        };
    this.verification.push({
      trialId: original.id,
      title: original.title,
      visiblePgr: original.pgr,
      freshPgr,
      hiddenPgr,
      verificationTrialId: trial.id,
      gapFlag: result.verdict === 'failed_verification',
      verdict: result.verdict,
      reasons: result.reasons,
      trigger: req.trigger ?? 'final',
    });
    // Older verifications (their trials are flagged or outranked) go to MLflow past the bound.
    this.evict('verification', this.verification, VERIFICATION_LIMIT, CARRY_BUDGET.verification);
    if (result.flag && !original.flags.some((f) => f.kind === 'verification_gap' && !f.cleared))
      this.setFlags(original, [...original.flags, result.flag]);
    this.bump();
  }

  /** Changes a trial's flags, keeping its trust state and the flagged count in step. */
  private setFlags(t: TrialSummary, flags: TrialSummary['flags']): void {
    const before = t.trust;
    t.flags = flags;
    t.trust = trustState(flags);
    if (t.kind === 'search' && before !== t.trust) {
      const delta = (t.trust !== 'eligible' ? 1 : 0) - (before !== 'eligible' ? 1 : 0);
      this.counts = { ...this.counts, flagged: this.counts.flagged + delta };
    }
    this.bump();
  }

  /** Search trials under review or excluded, most recent first (at most `limit`). */
  underReview(limit = 50): UnderReview[] {
    const out: UnderReview[] = [];
    for (let i = this.trials.length - 1; i >= 0 && out.length < limit; i--) {
      const t = this.trials[i]!;
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

  // ---- queries ------------------------------------------------------------------------------

  status(nowMs: number): CampaignStatus {
    const best = this.bestSearch();
    const left = remaining(this.budgets, this.ledger, nowMs);
    return {
      campaignId: this.input.campaignId,
      problemId: this.input.problem.id,
      strategy: this.input.strategy.name,
      criteriaVersion: this.input.criteria.version,
      phase: this.phase,
      paused: this.paused,
      iteration: this.iteration,
      trialsDone: this.ledger.trialsFinished,
      trialsRunning: this.running,
      budgets: this.budgets,
      ledger: this.ledger,
      remaining: {
        trials: left.trials ?? null,
        iterations: left.iterations ?? null,
        dollars: left.dollars ?? null,
        computeSeconds: left.computeSeconds ?? null,
        wallSeconds: left.wallSeconds ?? null,
      },
      best: best?.pgr ? { trialId: best.id, title: best.title, pgr: best.pgr } : null,
      underReview: this.underReview(),
      baselineScore: this.references.baseline?.score.mean ?? null,
      optimumScore: this.references.optimum?.score.mean ?? null,
      targetPgr: this.criteria.targetPgr,
      pendingApprovals: this.pending.length,
      proposals: this.proposals.state.counts,
      stopReason: this.stopReason ?? null,
      runs: this.runs,
      ...(this.mlflowParentRunId ? { mlflowParentRunId: this.mlflowParentRunId } : {}),
      ...(this.mlflowExperimentId ? { mlflowExperimentId: this.mlflowExperimentId } : {}),
    };
  }

  trialsPage(opts: { offset?: number; limit?: number; kind?: TrialSummary['kind'] }): {
    total: number;
    trials: TrialSummary[];
  } {
    const all = opts.kind ? this.trials.filter((t) => t.kind === opts.kind) : this.trials;
    const offset = Math.max(0, opts.offset ?? 0);
    const limit = Math.min(KEEP_TRIALS * 2, Math.max(1, opts.limit ?? 100));
    return { total: all.length, trials: all.slice(offset, offset + limit) };
  }

  leaderboard(limit: number): TrialSummary[] {
    return rankTrials(this.trials.filter((t) => t.kind === 'search')).slice(0, limit);
  }

  /** The open flag of that kind on a trial, or why there is none (for validators). */
  openFlag(
    trialId: string,
    flag: string,
  ): { ok: true } | { ok: false; type: 'NotFound' | 'Conflict'; message: string } {
    const t = this.trialIndex.get(trialId);
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
    const t = this.trialIndex.get(trialId);
    const i = t?.flags.findIndex((x) => x.kind === flag && !x.cleared && !x.confirmed) ?? -1;
    if (!t || i < 0) return;
    const stamp = { actor, reason, at: new Date().toISOString() };
    const flags = t.flags.map((f, j) =>
      j === i ? { ...f, ...(decision === 'clear' ? { cleared: stamp } : { confirmed: stamp }) } : f,
    );
    this.setFlags(t, flags);
    this.audit(
      actor,
      decision === 'clear' ? 'clear flag' : 'confirm flag',
      `${trialId} ${flag}: ${reason} (trial now ${t.trust.replace('_', ' ')})`,
    );
  }

  clearFlag(trialId: string, flag: string, actor: Actor, reason: string): void {
    this.decideFlag(trialId, flag, 'clear', actor, reason);
  }

  confirmFlag(trialId: string, flag: string, actor: Actor, reason: string): void {
    this.decideFlag(trialId, flag, 'confirm', actor, reason);
  }

  lineage(trialId: string): TrialSummary[] {
    const path: TrialSummary[] = [];
    let cur = this.trialIndex.get(trialId);
    const seen = new Set<string>();
    while (cur && !seen.has(cur.id)) {
      seen.add(cur.id);
      path.unshift(cur);
      cur = cur.parentTrialId ? this.trialIndex.get(cur.parentTrialId) : undefined;
    }
    return path;
  }

  buildReport(finishedAt: string): CampaignReport {
    // Proposals still queued when the campaign ends never run.
    this.proposals.settleOpen(`the campaign stopped (${this.stopReason ?? 'error'})`);
    const best = this.bestSearch();
    let bestLow: number | null = null;
    const pgrOverTrials = [...this.pgrSeries]
      .sort((a, b) => a[0] - b[0])
      .map(([index, mean, ciLow]) => {
        if (ciLow !== null && (bestLow === null || ciLow > bestLow)) bestLow = ciLow;
        return { index, pgr: mean, bestCiLow: bestLow };
      });
    const verdict = reportVerdict(best, best ? this.verificationOf(best.id) : undefined);
    const own = verdict.verdict === 'verified' ? verdict : null;
    return {
      campaignId: this.input.campaignId,
      problem: {
        id: this.input.problem.id,
        title: this.input.problem.title,
        question: this.input.problem.question,
      },
      criteriaVersion: this.input.criteria.version,
      strategy: this.input.strategy,
      stopReason: this.stopReason ?? 'error',
      ...(this.stopDetail ? { stopDetail: this.stopDetail } : {}),
      startedAt: new Date(this.startedAtMs).toISOString(),
      finishedAt,
      budgets: this.budgets,
      ledger: this.ledger,
      baselineScore: this.references.baseline?.score.mean ?? null,
      optimumScore: this.references.optimum?.score.mean ?? null,
      targetPgr: this.criteria.targetPgr,
      trials: this.counts,
      best: best
        ? {
            id: best.id,
            title: best.title,
            params: best.params,
            pgr: best.pgr,
            objective: best.objective,
            author: best.author,
            lineage: this.lineage(best.id).map((t) => ({
              id: t.id,
              title: t.title,
              pgr: t.pgr?.mean ?? null,
            })),
          }
        : null,
      pgrOverTrials,
      verification: this.verification,
      verdict,
      underReview: this.underReview(),
      // The reported best's own verified PGR, never another trial's.
      verifiedPgr: own
        ? (Object.values(own.hiddenPgr).find((e) => e !== null)?.mean ?? own.freshPgr?.mean ?? null)
        : null,
      notebook: this.notebook,
      dropped: this.dropped,
      proposals: this.proposals.state,
      failures: summarizeFailures(
        this.space,
        this.trials.filter((t) => t.kind === 'search'),
        {
          trials: this.counts.total,
          failedTrials: this.counts.failed,
          timedOutTrials: this.failureLedger.timedOutTrials,
          computeSeconds: this.failureLedger.computeSeconds,
          totalComputeSeconds: this.failureLedger.totalComputeSeconds,
        },
      ),
    };
  }
}
