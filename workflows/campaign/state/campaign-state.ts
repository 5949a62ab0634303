/**
 * The campaign's state and every decision over it, as a plain class: the workflow function only
 * wires it to activities, timers and messages. A façade over the parts in state/, each the one
 * owner of its part of the carried data (workflows/README.md lists them). Deterministic:
 * decisions take `nowMs`; timestamps come from the clock given at construction (the workflow
 * passes Temporal's `Date.now`, tests any clock).
 */
import { remaining, type StopReason } from '../../../domain/budget.js';
import type { Actor, Budgets, HypothesisProposalInput, SeedResult } from '../../../domain/schemas.js';
import type { Note, StrategyResult, StrategyView } from '../../../domain/strategy.js';
import type { ProposalAuditState } from './proposal-audit.js';
import type { TrialsPageOptions } from '../messages.js';
import { StateContext, type Clock } from './context.js';
import { Proposals } from './proposals.js';
import { Queue } from './queue.js';
import { Records } from './records.js';
import { References } from './references.js';
import type { TrialRequest } from './requests.js';
import { Slots } from './slots.js';
import { Stopping } from './stopping.js';
import { Trials } from './trials.js';
import { Verification } from './verification.js';
import { Views } from './views.js';
import type {
  CampaignInput,
  CampaignReport,
  CampaignStatus,
  CarriedState,
  TrialSummary,
  UnderReview,
} from '../../types.js';
import type { ResolvedSourceRef, SourceResolutions } from './source-ref.js';

export * from './limits.js';
export type { Clock } from './context.js';
export type { TrialRequest } from './requests.js';

export class CampaignState {
  private readonly ctx: StateContext;
  private readonly records: Records;
  private readonly slots: Slots;
  private readonly stops: Stopping;
  private readonly refs: References;
  private readonly trialSet: Trials;
  private readonly ideas: Queue;
  private readonly strategy: Proposals;
  private readonly verifications: Verification;
  private readonly views: Views;
  private finalReport: CampaignReport | undefined;

  /** `now`: the clock, or a fixed time in ms (tests). */
  constructor(input: CampaignInput, now: Clock | number) {
    const ctx = new StateContext(input, typeof now === 'number' ? () => now : now);
    this.ctx = ctx;
    this.records = new Records(ctx);
    const concurrency = () => ctx.data.budgets.concurrency;
    this.slots = new Slots(concurrency, () => ctx.bump());
    this.stops = new Stopping(ctx, this.records, () => this.trialSet.running);
    this.refs = new References(
      ctx,
      () => this.trialSet.nextIndex(),
      (reason, detail) => this.stops.requestStop(reason, detail),
    );
    this.trialSet = new Trials(ctx, this.records, this.refs);
    this.ideas = new Queue(ctx, this.records, this.trialSet, this.refs, this.stops);
    this.strategy = new Proposals(ctx, this.records, this.ideas, this.stops);
    this.verifications = new Verification(ctx, this.records, this.refs, this.trialSet, this.stops);
    this.views = new Views(ctx, this.trialSet);
  }

  // ---- reads ------------------------------------------------------------------------------
  get input(): CampaignInput {
    return this.ctx.input;
  }
  /** Bumped on every change the main loop may be waiting for. */
  get version(): number {
    return this.ctx.version;
  }
  /** Runs of this campaign before this one (continue-as-new). */
  get runs(): number {
    return this.ctx.data.runs;
  }
  get phase() {
    return this.stops.phase;
  }
  get paused(): boolean {
    return this.stops.paused;
  }
  get budgets(): Budgets {
    return this.stops.budgets;
  }
  get ledger() {
    return this.ctx.data.ledger;
  }
  get stopReason(): StopReason | undefined {
    return this.stops.stopReason;
  }
  get stopRequest() {
    return this.stops.stopRequest;
  }
  /** A PI stopped the verification phase itself (a stop before it still lets the best be verified). */
  get verificationStopped(): boolean {
    return this.stops.verificationStopped;
  }
  get trials(): readonly TrialSummary[] {
    return this.trialSet.all;
  }
  get counts() {
    return this.ctx.data.counts;
  }
  get pgrSeries(): CarriedState['pgrSeries'] {
    return this.ctx.data.pgrSeries;
  }
  get notebook(): readonly Note[] {
    return this.ctx.data.notebook;
  }
  get auditTrail(): readonly CarriedState['audit'][number][] {
    return this.ctx.data.audit;
  }
  get dropped(): readonly CarriedState['dropped'][number][] {
    return this.ctx.data.dropped;
  }
  get pending(): readonly CarriedState['pending'][number][] {
    return this.ctx.data.pending;
  }
  get emptyProposalRounds(): number {
    return this.ctx.data.emptyProposalRounds;
  }
  /** Every strategy proposal's fate: exact counts and the most recent with their reasons. */
  get proposals(): ProposalAuditState {
    return this.ctx.data.proposals;
  }
  get mlflowParentRunId(): string | undefined {
    return this.ctx.data.mlflowParentRunId;
  }
  get mlflowExperimentId(): string | undefined {
    return this.ctx.data.mlflowExperimentId;
  }
  get report(): CampaignReport | undefined {
    return this.finalReport;
  }
  /** Texts waiting to be written to the campaign's MLflow run, oldest first. */
  get outbox(): readonly { path: string; text: string }[] {
    return this.records.outbox;
  }
  /** Experiment runs holding a slot now. */
  get slotsBusy(): number {
    return this.slots.busy;
  }
  /** True once this run took enough updates that it should continue as new. */
  get updatesNearLimit(): boolean {
    return this.stops.updatesNearLimit;
  }
  /**
   * Calls `listener` with the id of each trial whose summary changes after it finished (its MLflow
   * run id, review flags, trust or PGR).
   */
  onTrialChanged(listener: (id: string) => void): void {
    this.ctx.onTrialChanged(listener);
  }
  trialById(id: string): TrialSummary | undefined {
    return this.ctx.trialById(id);
  }
  queueLength(): number {
    return this.ctx.data.queue.length;
  }
  lineage(trialId: string): TrialSummary[] {
    return this.trialSet.lineage(trialId);
  }
  underReview(limit?: number): UnderReview[] {
    return this.trialSet.underReview(limit);
  }
  status(nowMs: number): CampaignStatus {
    return this.views.status(nowMs);
  }
  trialsPage(opts: TrialsPageOptions) {
    return this.views.trialsPage(opts);
  }
  leaderboard(limit: number): TrialSummary[] {
    return this.views.leaderboard(limit);
  }
  hiddenNames(): string[] {
    return this.views.hiddenNames();
  }
  seedTimeoutSeconds(): number {
    return this.trialSet.seedTimeoutSeconds();
  }
  /** Seeds one slot runs back to back now (1: no batching; domain/batches.ts). */
  seedBatchSize(): number {
    return this.ctx.seedBatchSize();
  }
  /** Search trials the trial budget still allows to start (queued ones included); null without one. */
  trialsNotStarted(): number | null {
    return remaining(this.budgets, this.ledger, 0).trials ?? null;
  }
  /** When the deadline falls, ms since the epoch; null without one. */
  deadlineMs(): number | null {
    return this.stops.deadlineMs();
  }

  /**
   * The state to continue as new with: the carried data itself, its kept trials compacted until
   * the whole fits CARRY_BUDGET with `inputBytes`, the workflow input that goes along.
   */
  carry(inputBytes = 0): CarriedState {
    return this.trialSet.carry(inputBytes);
  }

  // ---- the workflow's commands ------------------------------------------------------------
  bump(): void {
    this.ctx.bump();
  }
  setMlflowRun(experimentId: string, runId: string): void {
    this.ctx.data.mlflowExperimentId = experimentId;
    this.ctx.data.mlflowParentRunId = runId;
  }
  /** The first `n` texts of the outbox were written (or given up). */
  archived(n: number): void {
    this.records.archived(n);
  }
  beginMeasuring(): void {
    this.stops.setPhase('measuring');
  }
  beginSearch(): void {
    this.stops.setPhase('running');
  }
  /** The search starts while the references are still measured (the phase stays `measuring`). */
  beginSearchBesideReferences(): void {
    this.stops.allowSearchWhileMeasuring();
  }
  /** Whether search trials may start in this phase. */
  get searchOpen(): boolean {
    return this.stops.searchOpen;
  }
  beginVerification(): void {
    this.stops.setPhase('verifying');
  }
  finish(report: CampaignReport): void {
    this.finalReport = report;
    this.stops.setPhase('finished');
  }
  audit(actor: Actor, action: string, detail?: string): void {
    this.records.audit(actor, action, detail);
  }
  addNote(note: Omit<Note, 'at'>): void {
    this.records.addNote(note);
  }

  /**
   * Short search seeds run in batches from now on (TrialRunner.enableBatches); `slack`: batch
   * sizes may run a tenth over their target (domain/batches.ts BATCH_SLACK).
   */
  enableSeedBatches(slack: boolean): void {
    this.ctx.batchSeeds = true;
    this.ctx.batchSlack = slack;
  }

  // ---- slots ------------------------------------------------------------------------------
  acquireSlot(): Promise<void> {
    return this.slots.acquire();
  }
  releaseSlot(): void {
    this.slots.release();
  }

  // ---- accepting work, stopping -----------------------------------------------------------
  /** A finished seed's compute, counted against the budget until its trial is charged. */
  noteSeedCompute(trialId: string, seconds: number): void {
    this.ctx.addSeedCompute(trialId, seconds);
  }
  /** Why a search trial that waited for a slot must not start now (state/stopping.ts), or null. */
  newWorkRefused(nowMs: number, req: TrialRequest): string | null {
    return req.kind === 'search' ? (this.stops.refusal('seed', nowMs)?.detail ?? null) : null;
  }
  canStartTrial(nowMs: number, inFlight: number): boolean {
    return this.ideas.canStartTrial(nowMs, inFlight);
  }
  proposalsWanted(inFlight: number): number {
    return this.ideas.proposalsWanted(inFlight);
  }
  proposalsForBatches(): number {
    return this.ideas.proposalsForBatches();
  }
  canPropose(nowMs: number): boolean {
    return this.strategy.canPropose(nowMs);
  }
  waitingForStrategy(nowMs: number): boolean {
    return this.strategy.waitingForStrategy(nowMs);
  }
  requestStop(reason: StopReason, detail: string): void {
    this.stops.requestStop(reason, detail);
  }
  /** Stops now when it is time (recording the reason), else null; see Stopping.stopNow. */
  stopNow(nowMs: number): StopReason | null {
    return this.stops.stopNow(nowMs, (reason) => this.ideas.discard(reason));
  }
  /** A PI stop or the deadline, due now (they end every phase at once); else null. */
  hardStopDue(nowMs: number): StopReason | null {
    return this.stops.hardStop(nowMs)?.reason ?? null;
  }
  /** Acts on a due hard stop (see Stopping.stopHard); true when one was due. */
  stopHard(nowMs: number): boolean {
    return this.stops.stopHard(nowMs);
  }
  refuseForBudget(detail: string): void {
    this.stops.refuseForBudget(detail);
  }
  markIdle(nowMs: number): void {
    this.stops.markIdle(nowMs);
  }
  shouldCancelRunning(): boolean {
    return this.stops.shouldCancelRunning();
  }
  msUntilNextDeadline(nowMs: number): number | null {
    return this.stops.msUntilNextDeadline(nowMs);
  }

  // ---- people's messages: validators throw, commands change state and audit it -----------
  countUpdate(): void {
    this.stops.countUpdate();
  }
  checkUpdateRoom(kind: 'stop' | 'other' = 'other'): void {
    this.stops.checkUpdateRoom(kind);
  }
  /** Refuses a person's message once the campaign has stopped. */
  checkOpen(): void {
    this.stops.checkOpen();
  }
  checkPause(pause: boolean): void {
    this.stops.checkPause(pause);
  }
  setPaused(actor: Actor, paused: boolean, reason?: string): void {
    this.stops.setPaused(paused);
    this.records.audit(actor, paused ? 'pause' : 'resume', reason);
  }
  checkStop(): void {
    this.stops.checkStop();
  }
  piStop(actor: Actor, reason: string | undefined, cancelRunning: boolean, verify = false): void {
    const action = this.stops.piStop(actor, reason ?? '', cancelRunning, verify);
    this.records.audit(actor, action, reason);
  }
  validateBudgetChange(change: Partial<Budgets>): void {
    this.stops.validateBudgetChange(change);
  }
  changeBudgets(change: Partial<Budgets>): void {
    this.stops.changeBudgets(change);
    this.slots.handOut();
    this.strategy.budgetsChanged();
  }
  checkPending(hypothesisId: string): void {
    this.ideas.checkPending(hypothesisId);
  }
  decide(hypothesisId: string, decision: 'approve' | 'reject', actor: Actor, reason?: string) {
    this.ideas.decide(hypothesisId, decision, actor, reason);
  }
  applyApprovalTimeouts(nowMs: number): void {
    this.ideas.applyApprovalTimeouts(nowMs);
  }
  validateHumanProposal(proposal: HypothesisProposalInput): void {
    this.ideas.validateHumanProposal(proposal);
  }
  injectHuman(actor: Actor, proposal: HypothesisProposalInput, source?: ResolvedSourceRef) {
    return this.ideas.injectHuman(actor, proposal, source);
  }
  dropHuman(actor: Actor, title: string, reason: string): void {
    this.ideas.dropHuman(actor, title, reason);
  }
  /** The source hash a proposal builds on (none: the initial source). */
  parentSourceHash(proposal: HypothesisProposalInput): string | undefined {
    return this.ideas.parentSourceHash(proposal);
  }
  queueFull(): string | null {
    return this.ideas.queueFull();
  }
  openFlag(trialId: string, flag: string) {
    return this.trialSet.openFlag(trialId, flag);
  }
  clearFlag(trialId: string, flag: string, actor: Actor, reason: string): void {
    this.trialSet.decideFlag(trialId, flag, 'clear', actor, reason);
  }
  confirmFlag(trialId: string, flag: string, actor: Actor, reason: string): void {
    this.trialSet.decideFlag(trialId, flag, 'confirm', actor, reason);
  }

  // ---- references, trials, proposals, verification ----------------------------------------
  referenceRequest(which: 'baseline' | 'optimum'): TrialRequest | null {
    return this.refs.referenceRequest(which);
  }
  setReference(which: 'baseline' | 'optimum', trial: TrialSummary, seeds?: SeedResult[]): void {
    this.refs.setReference(which, trial, seeds);
  }
  referenceProblem() {
    return this.refs.referenceProblem();
  }
  nextTrialRequest(): TrialRequest | null {
    return this.ideas.nextTrialRequest();
  }
  finishTrial(
    req: TrialRequest,
    seeds: SeedResult[],
    startedAt: string,
    finishedAt: string,
  ): TrialSummary {
    return this.trialSet.finish(req, seeds, startedAt, finishedAt);
  }
  setRunId(trialId: string, runId: string): void {
    this.trialSet.setRunId(trialId, runId);
  }
  /** Begins a strategy call: the view it gets, asking for `count` proposals. */
  strategyView(count: number): StrategyView {
    return this.views.strategyView(this.strategy.beginCall(), count, this.ctx.now());
  }
  acceptProposals(result: StrategyResult, nowMs: number, sources?: SourceResolutions): void {
    this.strategy.accept(result, nowMs, sources);
  }
  freshBaselineRequest(): TrialRequest | null {
    return this.verifications.freshBaselineRequest();
  }
  /** How many secret verification seeds to draw, or 0 once they are drawn. */
  verificationSeedsToDraw(): number {
    return this.verifications.seedsToDraw();
  }
  /** Keeps the secret verification seeds a worker drew, and gives them to `req`. */
  useVerificationSeeds(req: TrialRequest, seeds?: readonly number[]): void {
    this.verifications.useSeeds(req, seeds);
  }
  setFreshBaseline(trial: TrialSummary, seeds: SeedResult[]): void {
    this.refs.setFreshBaseline(trial, seeds);
  }
  targetVerificationRequest(): TrialRequest | null {
    return this.verifications.targetRequest();
  }
  verificationRequests(followUp = false): TrialRequest[] {
    return this.verifications.finalRequests(followUp);
  }
  addVerification(req: TrialRequest, trial: TrialSummary, seeds: SeedResult[]): void {
    this.verifications.add(req, trial, seeds);
  }

  /** The final report; proposals still queued never run. */
  buildReport(finishedAt: string): CampaignReport {
    this.ctx.proposalAudit.settleOpen(`the campaign stopped (${this.stopReason ?? 'error'})`);
    return this.views.report(finishedAt);
  }
}
