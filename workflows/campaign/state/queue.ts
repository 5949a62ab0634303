/**
 * The ideas waiting to run: hypotheses resolved from proposals (parent, changes, duplicates),
 * the queue, approvals by a PI (with their deadlines), people's injected ideas, and the next
 * search trial taken from the queue. Bounded by QUEUE_LIMIT and CARRY_BUDGET.queue.
 */
import { canStartTrial as budgetAllowsTrial, remaining } from '../../../domain/budget.js';
import { failureTypeOf, TypedFailure } from '../../../domain/failure-types.js';
import type {
  Actor,
  Config,
  Hypothesis,
  HypothesisProposalInput,
} from '../../../domain/schemas.js';
import { HypothesisProposal } from '../../../domain/schemas.js';
import { applyChanges, findDuplicate } from '../../../domain/space.js';
import { reject } from '../../failures.js';
import type { StateContext } from './context.js';
import {
  CARRY_BUDGET,
  cut,
  DECISIONS_LIMIT,
  jsonSize,
  KEPT_CHARS,
  pad,
  QUEUE_LIMIT,
} from './limits.js';
import type { Records } from './records.js';
import type { References } from './references.js';
import type { TrialRequest } from './requests.js';
import type { Lifecycle } from './lifecycle.js';
import type { ResolvedSourceRef } from './source-ref.js';
import type { Trials } from './trials.js';

export class Queue {
  constructor(
    private readonly ctx: StateContext,
    private readonly records: Records,
    private readonly trials: Trials,
    private readonly refs: References,
    private readonly lifecycle: Lifecycle,
  ) {}

  private get d() {
    return this.ctx.data;
  }
  get queued(): readonly Hypothesis[] {
    return this.d.queue;
  }
  get pending() {
    return this.d.pending;
  }

  knowsHypothesis(id: string): boolean {
    return (
      id in this.d.decisions ||
      this.d.queue.some((h) => h.id === id) ||
      this.d.trials.some((t) => t.hypothesisId === id)
    );
  }

  /**
   * Params of every configuration tried, queued or awaiting approval with the same source (for
   * duplicate checks: a configuration is its source hash and its params; no hash is the
   * experiment's initial source).
   */
  private triedConfigs(sourceHash: string | undefined): Config[] {
    const same = (x: { sourceHash?: string }) => x.sourceHash === sourceHash;
    return [
      ...this.d.trials.filter((t) => t.kind !== 'verification' && same(t)).map((t) => t.params),
      ...this.d.queue.filter(same).map((h) => h.params),
      ...this.d.pending.filter((p) => same(p.hypothesis)).map((p) => p.hypothesis.params),
    ];
  }

  /**
   * The source hash a proposal builds on: its parent trial's (none for the baseline or a trial
   * that ran the initial source). Throws like `resolve` for an unknown parent.
   */
  parentSourceHash(proposal: HypothesisProposalInput): string | undefined {
    const id = proposal.parentTrialId;
    if (id === null || id === undefined || id === 'baseline') return undefined;
    const parent = this.ctx.trialById(id);
    if (!parent || parent.kind === 'verification')
      throw new TypedFailure('NotFound', `parentTrialId: unknown trial ${id}`);
    return parent.sourceHash;
  }

  /**
   * Resolves a proposal into a hypothesis, or throws with the reason (a TypedFailure NotFound for
   * an unknown parent; an Error naming the field otherwise).
   */
  resolve(
    proposal: HypothesisProposalInput,
    author: Hypothesis['author'],
    /** What the proposal's edits resolved to (the resolveSource activity); required with edits. */
    source?: ResolvedSourceRef,
  ): Hypothesis {
    const parsed = HypothesisProposal.safeParse(proposal);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`${issue.path.join('.') || 'proposal'}: ${issue.message}`);
    }
    const { edits, ...p } = parsed.data;
    if (edits && !this.ctx.input.experiment.code)
      throw new Error(
        `edits: experiment ${this.ctx.input.experiment.name} is not a code experiment (it has no editable source)`,
      );
    if (edits && !source) throw new Error('edits: not resolved to a source snapshot');
    const { space, baseline } = this.ctx.input.problem;
    let parentParams: Config = baseline;
    let parentSourceHash: string | undefined;
    if (p.parentTrialId !== null && p.parentTrialId !== 'baseline') {
      const parent = this.ctx.trialById(p.parentTrialId);
      if (!parent || parent.kind === 'verification')
        throw new TypedFailure('NotFound', `parentTrialId: unknown trial ${p.parentTrialId}`);
      parentParams = parent.params;
      parentSourceHash = parent.sourceHash;
    }
    // Without edits a child runs its parent's source.
    const sourceHash = edits && source ? source.hash : parentSourceHash;
    const params = applyChanges(space, parentParams, p.changes, { baseline });
    const dup =
      findDuplicate(space, params, this.triedConfigs(sourceHash)) ??
      // Archived configurations are hashed without their source: only initial-source ones match.
      (sourceHash === undefined && this.trials.isArchived(params) ? true : null);
    if (dup)
      throw new Error(
        sourceHash === undefined
          ? `changes: duplicate of a configuration already tried or queued`
          : `edits: duplicate of a source and configuration already tried or queued (source ${sourceHash.slice(0, 12)})`,
      );
    const sourceRef =
      edits && source
        ? {
            sourceHash: source.hash,
            ...(source.parentHash ? { parentSourceHash: source.parentHash } : {}),
          }
        : sourceHash
          ? { sourceHash, parentSourceHash: sourceHash }
          : {};
    return {
      ...p,
      parentTrialId: p.parentTrialId === 'baseline' ? null : p.parentTrialId,
      id: `h${pad(++this.d.hypothesisCounter)}`,
      params,
      ...sourceRef,
      author,
      createdAt: this.ctx.nowIso(),
    };
  }

  /**
   * The hypothesis as the state keeps it: rationale and expected effect cut to KEPT_CHARS, the
   * full texts archived in MLflow (`hypotheses/...`) and named in the cut text.
   */
  bounded(h: Hypothesis): Hypothesis {
    if (
      h.rationale.length <= KEPT_CHARS.rationale &&
      h.expectedEffect.length <= KEPT_CHARS.expectedEffect
    )
      return h;
    const path = this.records.archive(
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
    const waiting = this.d.queue.length + this.d.pending.length;
    if (waiting >= QUEUE_LIMIT)
      return `${waiting} ideas are queued or awaiting approval (at most ${QUEUE_LIMIT}); retry once some have run`;
    const bytes = jsonSize(this.d.queue) + jsonSize(this.d.pending) + (h ? jsonSize(h) : 0);
    if (bytes > CARRY_BUDGET.queue)
      return `the queued ideas fill their ${CARRY_BUDGET.queue / 1024} KiB; retry once some have run`;
    return null;
  }

  /** Queues a hypothesis; a moderated one waits for a PI when the campaign is in approval mode. */
  enqueue(h: Hypothesis, nowMs: number, moderated: boolean): void {
    const approval = this.ctx.criteria.approval;
    if (moderated && approval.enabled) {
      this.d.pending.push({
        hypothesis: h,
        submittedAt: new Date(nowMs).toISOString(),
        deadlineMs: nowMs + approval.timeoutSeconds * 1000,
      });
    } else {
      this.d.queue.push(h);
    }
    this.ctx.bump();
  }

  validateHumanProposal(proposal: HypothesisProposalInput): void {
    let h: Hypothesis;
    try {
      // Resolve without keeping the result: the same checks the handler will apply. Edits are
      // resolved by the handler; a placeholder source stands for them here.
      const counter = this.d.hypothesisCounter;
      h = this.resolve(
        proposal,
        { kind: 'human', name: 'validator' },
        proposal.edits ? { hash: '(unresolved)' } : undefined,
      );
      this.d.hypothesisCounter = counter;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw reject(failureTypeOf(err) === 'NotFound' ? 'NotFound' : 'InvalidInput', message);
    }
    const full = this.queueFull({
      ...h,
      rationale: h.rationale.slice(0, KEPT_CHARS.rationale + 100),
      expectedEffect: h.expectedEffect.slice(0, KEPT_CHARS.expectedEffect + 100),
    });
    if (full) throw reject('RateLimited', `queue: ${full}`);
  }

  injectHuman(
    actor: Actor,
    proposal: HypothesisProposalInput,
    source?: ResolvedSourceRef,
  ): Hypothesis {
    const h = this.bounded(this.resolve(proposal, { kind: 'human', name: actor.name }, source));
    // Ideas from people go first. A PI's run at once; a researcher's wait for approval when the
    // campaign is in approval mode.
    const moderated = actor.role !== 'pi';
    if (moderated && this.ctx.criteria.approval.enabled) this.enqueue(h, this.ctx.now(), true);
    else {
      this.d.queue.unshift(h);
      this.ctx.bump();
    }
    this.records.audit(actor, 'inject hypothesis', `${h.id}: ${h.title}`);
    return h;
  }

  /**
   * A person's idea whose edits did not resolve: dropped with the reason and audited (the
   * proposal audit counts strategies' proposals only).
   */
  dropHuman(actor: Actor, title: string, reason: string): void {
    this.records.drop(title, reason);
    this.records.audit(actor, 'inject hypothesis', `dropped: ${title}: ${reason}`);
  }

  /** Refuses a decision on a hypothesis that is not pending (for the update validator). */
  checkPending(hypothesisId: string): void {
    if (this.d.pending.some((p) => p.hypothesis.id === hypothesisId)) return;
    const known = this.knowsHypothesis(hypothesisId);
    throw reject(
      known ? 'Conflict' : 'NotFound',
      known
        ? `hypothesis ${hypothesisId} is not pending (already decided)`
        : `unknown hypothesis ${hypothesisId}`,
    );
  }

  decide(
    hypothesisId: string,
    decision: 'approve' | 'reject',
    actor: Actor,
    reason?: string,
  ): void {
    const d = this.d;
    const i = d.pending.findIndex((p) => p.hypothesis.id === hypothesisId);
    if (i < 0) return;
    const [p] = d.pending.splice(i, 1);
    d.decisions[hypothesisId] = decision;
    const decided = Object.keys(d.decisions);
    for (const id of decided.slice(0, Math.max(0, decided.length - DECISIONS_LIMIT)))
      delete d.decisions[id];
    if (decision === 'approve') d.queue.push(p!.hypothesis);
    else {
      const why = `rejected by ${actor.name}${reason ? `: ${reason}` : ''}`;
      this.records.drop(p!.hypothesis.title, why);
      this.ctx.proposalAudit.unqueued(
        hypothesisId,
        'rejected',
        cut(why, KEPT_CHARS.proposalReason),
      );
    }
    this.records.audit(
      actor,
      decision,
      `${hypothesisId}: ${p!.hypothesis.title}${reason ? ` (${reason})` : ''}`,
    );
  }

  applyApprovalTimeouts(nowMs: number): void {
    const due = this.d.pending.filter((p) => p.deadlineMs <= nowMs);
    for (const p of due) {
      this.decide(
        p.hypothesis.id,
        this.ctx.criteria.approval.onTimeout,
        { name: 'gaplab', role: 'system' },
        'approval timed out',
      );
    }
  }

  /** The campaign stops: what is queued never runs. */
  discard(reason: string): void {
    for (const h of this.d.queue.splice(0)) {
      this.records.drop(h.title, `not run: the campaign stopped (${reason})`);
      this.ctx.proposalAudit.unqueued(h.id, 'not_run', `the campaign stopped (${reason})`);
    }
  }

  // ---- room for work ------------------------------------------------------------------------

  /**
   * How many trials may be in flight: two waves of slots, so that when a wave finishes together
   * the next is already queued behind the slots instead of waiting for a strategy call.
   */
  private maxInFlight(): number {
    return 2 * this.ctx.wave();
  }

  /**
   * Trials in flight and waiting in the queue that keep every slot busy: with batched seeds
   * (domain/batches.ts) a batch runs in every slot and the next batch's trials wait queued,
   * where a free slot takes them (TrialRunner's lanes).
   */
  private wantedInFlight(): number {
    return this.maxInFlight() * this.ctx.seedBatchSize();
  }

  canStartTrial(nowMs: number, inFlight: number): boolean {
    if (this.lifecycle.refusal('search', nowMs)) return false;
    if (this.d.queue.length === 0 || inFlight >= this.maxInFlight()) return false;
    // The iteration budget limits proposals, not the running of what was proposed.
    const { maxIterations: _ignored, ...trialBudgets } = this.d.budgets;
    return budgetAllowsTrial(
      { ...trialBudgets, concurrency: Number.MAX_SAFE_INTEGER },
      this.d.ledger,
      nowMs,
    );
  }

  /** How many proposals to ask the strategy for now (0: none). */
  proposalsWanted(inFlight: number): number {
    const waiting = this.d.queue.length + this.d.pending.length;
    return this.capped(this.wantedInFlight() - inFlight - waiting, waiting);
  }

  /**
   * A model-free sampler whose seeds are batched: nothing while half the target waits in the
   * queue, then enough to fill it to the target, two batches per slot. Fewer, larger calls than
   * `proposalsWanted`: each call carries the strategy view (up to VIEW_TRIALS trials) into the
   * history. The target is at most a tenth of the trial budget (at least two waves), so a small
   * campaign's sampler still sees its failures before it proposes most of its trials.
   */
  proposalsForBatches(): number {
    const waiting = this.d.queue.length + this.d.pending.length;
    const wave = this.ctx.wave();
    const target = Math.min(
      2 * wave * this.ctx.seedBatchSize(),
      Math.max(2 * wave, Math.ceil((this.d.budgets.maxTrials ?? Infinity) / 10)),
    );
    return 2 * waiting >= target ? 0 : this.capped(target - waiting, waiting);
  }

  /** `wanted`, within the trials left, QUEUE_LIMIT and the stop rules (0: none). */
  private capped(wanted: number, waiting: number): number {
    if (this.lifecycle.refusal('search', this.ctx.now())) return 0;
    const left = remaining(this.d.budgets, this.d.ledger, 0);
    if (left.trials !== undefined) wanted = Math.min(wanted, left.trials - waiting);
    wanted = Math.min(wanted, QUEUE_LIMIT - waiting);
    return Math.max(0, wanted);
  }

  nextTrialRequest(): TrialRequest | null {
    const hypothesis = this.d.queue.shift();
    if (!hypothesis) return null;
    this.ctx.proposalAudit.ran(hypothesis.id);
    const index = this.trials.startSearch();
    return {
      id: `t${pad(index)}`,
      index,
      kind: 'search',
      hypothesis,
      // Every search trial uses the same seeds (common random numbers): differences between
      // configurations are then not confounded with seed luck.
      seeds: this.refs.seeds(this.ctx.criteria.seedsPerTrial),
      timeoutSeconds: this.trials.seedTimeoutSeconds(),
    };
  }
}
