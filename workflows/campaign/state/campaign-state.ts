/**
 * The campaign's state and every decision over it, as a plain class: the workflow function only
 * wires it to activities, timers and messages. It composes the parts in this folder, each the one
 * owner of its part of the carried data (workflows/README.md lists them); callers reach a part
 * directly (`state.queue.decide(...)`, `state.lifecycle.phase`). The class itself keeps only the
 * commands that touch several parts. Deterministic: decisions take `nowMs`; timestamps come from
 * the clock given at construction (the workflow passes Temporal's `Date.now`, tests any clock).
 */
import type { StopReason } from '../../../domain/budget.js';
import type { Actor, Budgets } from '../../../domain/schemas.js';
import type { StrategyView } from '../../../domain/strategy.js';
import type { CampaignInput, CampaignReport, CampaignStatus } from '../../types.js';
import { StateContext, type Clock } from './context.js';
import { Lifecycle } from './lifecycle.js';
import { Proposals } from './proposals.js';
import { Queue } from './queue.js';
import { Records } from './records.js';
import { References } from './references.js';
import { Slots } from './slots.js';
import { Trials } from './trials.js';
import { Verification } from './verification.js';
import { Views } from './views.js';

export * from './limits.js';
export type { Clock } from './context.js';
export type { TrialRequest } from './requests.js';

export class CampaignState {
  /** The carried data, the clock and lookups. */
  readonly context: StateContext;
  readonly records: Records;
  readonly slots: Slots;
  readonly lifecycle: Lifecycle;
  readonly references: References;
  readonly trials: Trials;
  readonly queue: Queue;
  /** Strategy results, warnings, costs and outages. */
  readonly proposals: Proposals;
  readonly verification: Verification;
  readonly views: Views;
  private finalReport: CampaignReport | undefined;

  /** `now`: the clock, or a fixed time in ms (tests). */
  constructor(input: CampaignInput, now: Clock | number) {
    const ctx = new StateContext(input, typeof now === 'number' ? () => now : now);
    this.context = ctx;
    this.records = new Records(ctx);
    const concurrency = () => ctx.data.budgets.concurrency;
    this.slots = new Slots(concurrency, () => ctx.bump());
    this.lifecycle = new Lifecycle(ctx, this.records, () => this.trials.running);
    this.references = new References(
      ctx,
      () => this.trials.nextIndex(),
      (reason, detail) => this.lifecycle.requestStop(reason, detail),
    );
    this.trials = new Trials(ctx, this.records, this.references);
    this.queue = new Queue(ctx, this.records, this.trials, this.references, this.lifecycle);
    this.proposals = new Proposals(ctx, this.records, this.queue, this.lifecycle);
    this.verification = new Verification(
      ctx,
      this.records,
      this.references,
      this.trials,
      this.lifecycle,
    );
    this.views = new Views(ctx, this.trials);
  }

  /** The final report, once the campaign finished. */
  get report(): CampaignReport | undefined {
    return this.finalReport;
  }

  /** The status now; once finished, as of the report's `finishedAt` (its time stands still). */
  status(nowMs: number): CampaignStatus {
    const ended = this.finalReport ? Date.parse(this.finalReport.finishedAt) : undefined;
    return this.views.status(nowMs, ended);
  }

  finish(report: CampaignReport): void {
    this.finalReport = report;
    this.lifecycle.setPhase('finished');
  }

  /** Stops now when it is time (recording the reason), else null; see Lifecycle.stopNow. */
  stopNow(nowMs: number): StopReason | null {
    return this.lifecycle.stopNow(nowMs, (reason) => this.queue.discard(reason));
  }

  // ---- people's messages that touch several parts ------------------------------------------
  setPaused(actor: Actor, paused: boolean, reason?: string): void {
    this.lifecycle.setPaused(paused);
    this.records.audit(actor, paused ? 'pause' : 'resume', reason);
  }
  piStop(actor: Actor, reason: string | undefined, cancelRunning: boolean, verify = false): void {
    const action = this.lifecycle.piStop(actor, reason ?? '', cancelRunning, verify);
    this.records.audit(actor, action, reason);
  }
  changeBudgets(change: Partial<Budgets>): void {
    this.lifecycle.changeBudgets(change);
    this.slots.handOut();
    this.proposals.budgetsChanged();
  }

  /** Begins a strategy call: the view it gets, asking for `count` proposals. */
  strategyView(count: number): StrategyView {
    return this.views.strategyView(this.proposals.beginCall(), count, this.context.now());
  }

  /** The final report; proposals still queued never run. */
  buildReport(finishedAt: string): CampaignReport {
    const stopped = this.lifecycle.stopReason ?? 'error';
    this.context.proposalAudit.settleOpen(`the campaign stopped (${stopped})`);
    return this.views.report(finishedAt);
  }
}
