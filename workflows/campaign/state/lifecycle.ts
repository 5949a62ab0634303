/**
 * The campaign's lifecycle: its phase and pause, the budgets, the one "still accepting work?"
 * rule, drains (nothing new starts, running trials finish), hard stops (a PI's stop, the
 * deadline) and the updates counted per run. Deterministic: time comes in as `nowMs`.
 */
import { exhausted, remaining, type StopReason } from '../../../domain/budget.js';
import { Budgets as BudgetsSchema, type Actor, type Budgets } from '../../../domain/schemas.js';
import type { CampaignPhase } from '../../types.js';
import { reject } from '../../failures.js';
import type { StateContext } from './context.js';
import type { Records } from './records.js';
import { EMPTY_ROUNDS_LIMIT, UPDATE_LIMITS } from './limits.js';
import { drainReason, type Drain } from './drain.js';
import { PHASE_STOPS_PATCH, patchedOrNew } from '../../patches.js';

/**
 * The kinds of work the campaign may refuse:
 * - `message`: a person's pause, resume, budget change, decision or idea;
 * - `search`: the search taking trials from the queue (and asking the strategy for more);
 * - `proposal`: a strategy call.
 * A search trial itself is admitted by `admission` as its first seed takes a slot.
 */
export type Work = 'message' | 'search' | 'proposal';

/** Why work is refused: a stop reason when one applies, and a sentence. */
export type Refusal = { reason: StopReason | null; detail: string };

export class Lifecycle {
  /** PHASE_STOPS_PATCH: false replays the old rules (the `!this.phaseStops` branches below). */
  private readonly phaseStops = patchedOrNew(PHASE_STOPS_PATCH);
  /** The campaign winds down for this reason: nothing new starts, running trials finish. */
  private draining: Drain | null | undefined;
  /** Nothing ran, nothing waited and no proposal could be asked for, for this reason. */
  private idleReason: StopReason | undefined;
  private strategyFailure: string | undefined;
  /** A PI stopped the verification phase itself (a stop before it still lets the best be verified). */
  private verificationStop: { actor: Actor; reason: string; cancelRunning: boolean } | undefined;
  /** The deadline cut the verification short (its detail is added to the stop detail once). */
  private verificationCutByDeadline = false;
  /** Updates accepted in this run (Temporal limits them per run; see UPDATE_LIMITS). */
  private updatesThisRun = 0;
  /** The trial reaching the target that waits for its verification. */
  private targetCandidate: string | undefined;
  /** Search trials may start while the references are measured (a model-free search beside them). */
  private searchWhileMeasuring = false;

  constructor(
    private readonly ctx: StateContext,
    private readonly records: Records,
    /** Search trials started and not finished. */
    private readonly running: () => number,
  ) {}

  private get d() {
    return this.ctx.data;
  }

  get phase(): CampaignPhase {
    return this.d.phase;
  }
  get paused(): boolean {
    return this.d.paused;
  }
  get budgets(): Budgets {
    return this.d.budgets;
  }
  get stopReason(): StopReason | undefined {
    return this.d.stopReason;
  }
  get stopRequest() {
    return this.d.stopRequest;
  }
  /** Verification ends: a PI stopped it, or the deadline has passed (it obeys both). */
  get verificationStopped(): boolean {
    if (!this.phaseStops) return this.verificationStop !== undefined;
    return (
      this.verificationStop !== undefined ||
      (this.d.phase === 'verifying' && this.deadlinePassed(this.ctx.now()))
    );
  }
  /** True once the campaign is winding down: nothing new starts. */
  get stopping(): boolean {
    return this.draining !== null && this.draining !== undefined;
  }

  setPhase(phase: CampaignPhase): void {
    this.d.phase = phase;
    this.ctx.bump();
  }

  /** From now on search trials may start while the phase is still `measuring`. */
  allowSearchWhileMeasuring(): void {
    this.searchWhileMeasuring = true;
    this.ctx.bump();
  }

  /** Whether search trials may start in this phase (running, or measuring beside the search). */
  get searchOpen(): boolean {
    return (
      this.d.phase === 'running' || (this.d.phase === 'measuring' && this.searchWhileMeasuring)
    );
  }

  // ---- the one "still accepting work?" rule -------------------------------------------------

  /** Why the campaign does not take `work` now, or null when it does. */
  refusal(work: Work, nowMs: number): Refusal | null {
    const d = this.d;
    const refuse = (reason: StopReason | null, detail: string): Refusal => ({ reason, detail });
    switch (work) {
      case 'message':
        if (d.phase === 'finished' || d.phase === 'verifying' || d.stopReason)
          return refuse(d.stopReason ?? null, 'the campaign has stopped');
        return null;
      case 'search':
        if (d.phase !== 'running' && !(d.phase === 'measuring' && this.searchWhileMeasuring))
          return refuse(null, `the campaign is ${d.phase}`);
        if (d.paused) return refuse(null, 'the campaign is paused');
        if (d.stopRequest) return refuse('stopped_by_pi', 'the campaign was stopped');
        if (d.stopReason) return refuse(d.stopReason, 'the campaign has stopped');
        if (this.draining) return refuse(this.draining.reason, this.draining.detail);
        return null;
      case 'proposal': {
        if (this.draining) return refuse(this.draining.reason, this.draining.detail);
        if (this.strategyFailure) return refuse('strategy_failed', this.strategyFailure);
        if (d.emptyProposalRounds >= EMPTY_ROUNDS_LIMIT)
          return refuse('no_proposals', 'the strategy proposed nothing runnable');
        const spent = exhausted(d.budgets, d.ledger, nowMs);
        if (spent) return refuse(spent, `budget used: ${spent}`);
        const left = remaining(d.budgets, d.ledger, nowMs);
        // Never start a call the dollar budget cannot cover by the last call's cost.
        if (left.dollars !== undefined && d.lastCallDollars > 0 && d.lastCallDollars > left.dollars)
          return refuse('max_dollars', 'the last strategy call cost more than the dollars left');
        return null;
      }
    }
  }

  /**
   * The one admission rule for a search trial, asked once, as its first seed takes a slot
   * (campaign/seed-results.ts `admit`): why it must not start now, or null. Trial and
   * iteration budgets were checked as the search took it from the queue; compute, dollars, the
   * deadline, a stop, the target and stagnation can end the campaign while it waits for a slot.
   */
  admission(nowMs: number): Refusal | null {
    const d = this.d;
    const refuse = (reason: StopReason | null, detail: string): Refusal => ({ reason, detail });
    if (d.stopRequest) return refuse('stopped_by_pi', 'the campaign was stopped');
    // Seeds that finished in trials still running count too: they freed the slot this one
    // waited for before their trial was charged.
    const ledger = {
      ...d.ledger,
      computeSeconds: d.ledger.computeSeconds + this.ctx.unsettledCompute,
    };
    const spent = exhausted(d.budgets, ledger, nowMs);
    if (spent === 'max_compute' || spent === 'max_dollars' || spent === 'deadline')
      return refuse(spent, `budget used (${spent}) before it got a slot`);
    const draining = this.draining?.reason;
    if (draining === 'target_verified' || draining === 'stagnation')
      return refuse(draining, `the campaign is stopping (${draining})`);
    return null;
  }

  /** Refuses a person's message when the campaign has stopped (for update validators). */
  checkOpen(): void {
    const r = this.refusal('message', this.ctx.now());
    if (r) throw reject('Conflict', r.detail);
  }

  // ---- pause, stop, budgets -----------------------------------------------------------------

  checkPause(pause: boolean): void {
    this.checkOpen();
    if (pause && this.d.paused) throw reject('Conflict', 'the campaign is already paused');
    if (!pause && !this.d.paused) throw reject('Conflict', 'the campaign is not paused');
  }

  setPaused(paused: boolean): void {
    this.d.paused = paused;
    this.ctx.bump();
  }

  /** A PI can stop a campaign in every phase, verification included. */
  checkStop(): void {
    if (this.d.phase === 'finished') throw reject('Conflict', 'the campaign has finished');
    if (this.d.phase === 'verifying' ? this.verificationStop !== undefined : this.d.stopRequest)
      throw reject('Conflict', 'the campaign is already stopping');
  }

  /** A PI's stop; during verification it ends the verification. Returns the audit action. */
  piStop(actor: Actor, reason: string, cancelRunning: boolean, verify = false): string {
    const verifying = this.d.phase === 'verifying';
    if (verifying) this.verificationStop = { actor, reason, cancelRunning };
    this.d.stopRequest ??= { actor, reason, cancelRunning, ...(verify ? { verify } : {}) };
    this.ctx.bump();
    return verifying ? 'stop verification' : 'stop';
  }

  validateBudgetChange(change: Partial<Budgets>): void {
    const merged = BudgetsSchema.safeParse({ ...this.d.budgets, ...change });
    if (!merged.success) {
      const issue = merged.error.issues[0]!;
      throw reject('InvalidInput', `budgets.${issue.path.join('.')}: ${issue.message}`);
    }
  }

  changeBudgets(change: Partial<Budgets>): void {
    this.d.budgets = BudgetsSchema.parse({ ...this.d.budgets, ...change });
    this.idleReason = undefined;
    // A raised budget lets a campaign that had run out of proposals try again.
    if (this.draining && this.draining.reason !== 'target_verified') this.draining = undefined;
    this.ctx.bump();
  }

  // ---- stop reasons -------------------------------------------------------------------------

  requestStop(reason: StopReason, detail: string): void {
    if (this.d.stopReason) return;
    this.d.stopReason = reason;
    this.d.stopDetail = detail;
    this.records.addError(`stopping (${reason}): ${detail}`);
    this.ctx.bump();
  }

  /** The strategy failed for good: no more proposals (the campaign ends once idle). */
  strategyFailed(reason: string): void {
    this.strategyFailure = reason;
  }

  /**
   * Stops now when it is time: returns the stop reason (and records it), or null to go on. A PI
   * stop and the deadline stop at once; every other reason first drains: nothing new starts,
   * running trials finish, then `discardQueue` drops what never ran and the campaign stops.
   */
  stopNow(nowMs: number, discardQueue: (reason: StopReason) => void): StopReason | null {
    if (this.d.stopReason) return this.d.stopReason;
    if (this.stopHard(nowMs)) return this.d.stopReason!;
    this.draining ??= this.drainReason(nowMs);
    if (this.draining && this.running() === 0) {
      discardQueue(this.draining.reason);
      this.d.stopDetail = this.draining.detail;
      this.d.stopReason = this.draining.reason;
      return this.draining.reason;
    }
    return null;
  }

  /**
   * A PI stop or the deadline, which end every phase (measuring and verifying included); else
   * null. During verification only a stop of the verification itself counts (a stop that ended
   * the search still lets the best be verified), and the deadline.
   */
  hardStop(nowMs: number): { reason: 'stopped_by_pi' | 'deadline'; detail: string } | null {
    const { budgets } = this.d;
    const stopRequest =
      this.phaseStops && this.d.phase === 'verifying' ? this.verificationStop : this.d.stopRequest;
    if (stopRequest)
      return {
        reason: 'stopped_by_pi',
        detail: `stopped by ${stopRequest.actor.name}${stopRequest.reason ? `: ${stopRequest.reason}` : ''}`,
      };
    if (this.deadlinePassed(nowMs))
      return {
        reason: 'deadline',
        detail: `wall-clock budget of ${budgets.maxWallSeconds} s used`,
      };
    return null;
  }

  /** Search trials the trial budget still allows to start (queued ones included); null without one. */
  trialsNotStarted(): number | null {
    return remaining(this.d.budgets, this.d.ledger, 0).trials ?? null;
  }

  /** When the deadline (max_wall) falls, ms since the epoch; null without one. */
  deadlineMs(): number | null {
    const { budgets, ledger } = this.d;
    return budgets.maxWallSeconds !== undefined
      ? ledger.startedAtMs + budgets.maxWallSeconds * 1000
      : null;
  }

  private deadlinePassed(nowMs: number): boolean {
    const { budgets, ledger } = this.d;
    return (
      budgets.maxWallSeconds !== undefined &&
      nowMs - ledger.startedAtMs >= budgets.maxWallSeconds * 1000
    );
  }

  /**
   * Acts on a hard stop when one is due: its detail is recorded, its reason unless the campaign
   * already stopped for another (during verification the search's own reason stands; the audit
   * shows the PI stop, the detail says the deadline cut the verification short). True when one
   * was due.
   */
  stopHard(nowMs: number): boolean {
    const hard = this.hardStop(nowMs);
    if (!hard) return false;
    if (!this.phaseStops) {
      this.d.stopDetail = hard.detail;
      this.d.stopReason ??= hard.reason;
      return true;
    }
    if (this.d.phase === 'verifying' && hard.reason === 'deadline') {
      if (!this.verificationCutByDeadline) {
        this.verificationCutByDeadline = true;
        const cut = `verification cut short by the deadline (${hard.detail}): trials it did not verify are reported as not verified`;
        this.d.stopDetail = this.d.stopDetail ? `${this.d.stopDetail}; ${cut}` : cut;
        this.records.addError(cut);
      }
    } else this.d.stopDetail = hard.detail;
    this.d.stopReason ??= hard.reason;
    this.ctx.bump();
    return true;
  }

  /** A reason to stop starting work (drain.ts), or null; notes a target candidate on the way. */
  private drainReason(nowMs: number): Drain | null {
    const found = drainReason(this.ctx, nowMs, this.idleReason, this.strategyFailure);
    if (found.targetCandidate) this.targetCandidate = found.targetCandidate;
    return found.drain;
  }

  /** The trial that reached the target and waits for its verification (taken once). */
  takeTargetCandidate(): string | undefined {
    const id = this.targetCandidate;
    this.targetCandidate = undefined;
    return id;
  }
  get targetCandidatePending(): string | undefined {
    return this.targetCandidate;
  }

  /** The dollar budget cannot cover the next strategy call: wind down. */
  refuseForBudget(detail: string): void {
    this.draining ??= { reason: 'max_dollars', detail };
    this.ctx.bump();
  }

  /** Called when nothing runs, nothing waits, and no proposal can be asked for. */
  markIdle(nowMs: number): void {
    this.idleReason = this.refusal('proposal', nowMs)?.reason ?? 'no_proposals';
    this.ctx.bump();
  }

  /**
   * PI stops and deadlines cancel running trials; budget stops let them finish. A PI stop with
   * `cancelRunning: false` lets running work finish in every phase (reference measurement and
   * verification included) until the deadline, which always cancels it.
   */
  shouldCancelRunning(): boolean {
    if (this.phaseStops && this.deadlinePassed(this.ctx.now())) return true;
    if (this.phaseStops && this.d.phase === 'verifying')
      return this.verificationStop?.cancelRunning ?? false;
    const reason = this.d.stopReason;
    if (reason === 'deadline' || reason === 'error' || reason === 'references_invalid') return true;
    if (reason === 'stopped_by_pi') return this.d.stopRequest?.cancelRunning ?? true;
    return false;
  }

  /** Until the next approval deadline, the wall-clock deadline or the strategy's retry. */
  msUntilNextDeadline(nowMs: number): number | null {
    const { pending, budgets, ledger, outage } = this.d;
    const times: number[] = pending.map((p) => p.deadlineMs);
    if (budgets.maxWallSeconds !== undefined)
      times.push(ledger.startedAtMs + budgets.maxWallSeconds * 1000);
    if (outage && outage.retryAtMs > nowMs) times.push(outage.retryAtMs);
    if (times.length === 0) return null;
    return Math.max(1, Math.min(...times) - nowMs);
  }

  // ---- updates per run ----------------------------------------------------------------------

  /** Counts an accepted update (handlers call it; see UPDATE_LIMITS). */
  countUpdate(): void {
    this.updatesThisRun++;
    this.ctx.bump();
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
      throw reject(
        'RateLimited',
        'too many updates in this run, retry shortly (the campaign continues as new first)',
      );
  }
}
