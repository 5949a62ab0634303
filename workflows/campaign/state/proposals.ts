/**
 * What comes back from the strategy: its proposals (queued or dropped with the reason, every
 * fate counted in the proposal audit), notes and warnings, its cost, a fatal error or a usage
 * anomaly, and outages (agents asked again later, with a growing wait). Also when the strategy
 * may be asked again.
 */
import { stepStagnation } from '../../../domain/budget.js';
import { failureTypeOf } from '../../../domain/failure-types.js';
import type { Hypothesis } from '../../../domain/schemas.js';
import { strategyTraits, type StrategyResult } from '../../../domain/strategy.js';
import { strategyRetryDelayMs } from './proposal-audit.js';
import type { StateContext } from './context.js';
import { cut, KEPT_CHARS } from './limits.js';
import type { Queue } from './queue.js';
import type { Records } from './records.js';
import type { Lifecycle } from './lifecycle.js';
import type { SourceResolution } from './source-ref.js';

export class Proposals {
  constructor(
    private readonly ctx: StateContext,
    private readonly records: Records,
    private readonly queue: Queue,
    private readonly lifecycle: Lifecycle,
  ) {}

  private get d() {
    return this.ctx.data;
  }

  /** A strategy call begins: one more iteration. */
  beginCall(): number {
    this.d.iteration++;
    this.d.ledger = { ...this.d.ledger, iterations: this.d.ledger.iterations + 1 };
    return this.d.iteration;
  }

  /** True while the strategy waits out an outage's backoff. */
  waitingForStrategy(nowMs: number): boolean {
    return this.d.outage !== undefined && nowMs < this.d.outage.retryAtMs;
  }

  canPropose(nowMs: number): boolean {
    return this.lifecycle.refusal('proposal', nowMs) === null && !this.waitingForStrategy(nowMs);
  }

  accept(result: StrategyResult, nowMs: number, sources: readonly SourceResolution[] = []): void {
    const d = this.d;
    const audit = this.ctx.proposalAudit;
    const at = new Date(nowMs).toISOString();
    d.ledger = { ...d.ledger, dollars: d.ledger.dollars + result.dollars };
    if (result.dollars > 0) d.lastCallDollars = result.dollars;
    for (const n of result.notes) this.records.addNote(n);
    for (const w of result.warnings ?? []) {
      if (d.warned.includes(w)) continue;
      d.warned.push(w);
      this.records.addError(`warning: ${w}`);
    }
    const strategyName = this.ctx.input.strategy.name;
    for (const x of result.dropped) {
      this.records.drop(x.title, x.reason);
      audit.settled(
        {
          ...x,
          title: cut(x.title, KEPT_CHARS.title),
          reason: cut(x.reason, KEPT_CHARS.proposalReason),
        },
        x.author ?? strategyName,
        at,
      );
    }
    if (result.fatalError) {
      this.lifecycle.strategyFailed(result.fatalError);
      this.records.addNote({
        kind: 'error',
        author: strategyName,
        text: `strategy stopped: ${result.fatalError}`.slice(0, 5000),
      });
    }
    if (result.usageAnomaly)
      this.lifecycle.requestStop(
        'usage_anomaly',
        `${result.usageAnomaly}; $${d.ledger.dollars.toFixed(4)} spent in all`,
      );
    let accepted = 0;
    result.proposals.forEach((proposal, i) => {
      const name = result.authors[i] ?? result.authors[0] ?? strategyName;
      const author: Hypothesis['author'] =
        strategyTraits(this.ctx.input.strategy).author === 'agent'
          ? {
              kind: 'agent',
              name,
              model: (this.ctx.input.strategy.settings as { model?: string }).model ?? 'unknown',
            }
          : { kind: 'strategy', name };
      const title = proposal.title ?? '(untitled)';
      try {
        const source = sources[i];
        if (source && 'error' in source) throw new Error(source.error);
        const h = this.queue.bounded(this.queue.resolve(proposal, author, source));
        const full = this.queue.queueFull(h);
        if (full) throw new Error(`queue: ${full}`);
        this.queue.enqueue(h, nowMs, true);
        audit.queued(name, h.title, h.id, at);
        accepted++;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        this.records.drop(title, message);
        const duplicate = /duplicate/.test(message);
        audit.refused(
          name,
          title,
          duplicate ? 'duplicate' : 'dropped',
          duplicate
            ? 'duplicate'
            : failureTypeOf(err) === 'NotFound'
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
      d.emptyProposalRounds = accepted > 0 ? 0 : d.emptyProposalRounds + 1;
    d.stagnation = stepStagnation(
      d.stagnation,
      this.ctx.bestSearch()?.pgr?.ciLow ?? null,
      this.ctx.criteria.stagnation?.minImprovement ?? 0.01,
    );
    this.ctx.bump();
  }

  /** A raised budget lets a campaign that had run out of proposals try again. */
  budgetsChanged(): void {
    this.d.emptyProposalRounds = 0;
  }

  /**
   * Agents that failed on an outage are asked again later (first in the next call). A round in
   * which nothing could be proposed waits longer each time; after `strategyRetryRounds` such
   * rounds in a row the campaign stops with the reason and the dollars spent.
   */
  private noteOutage(result: StrategyResult, accepted: number, nowMs: number): void {
    const d = this.d;
    if (!result.unavailable) {
      delete d.outage;
      return;
    }
    const { agents, reason } = result.unavailable;
    const timing = this.ctx.input.timing;
    const initial = timing?.strategyRetrySeconds ?? 30;
    const limit = timing?.strategyRetryRounds ?? 6;
    const since = d.outage?.since ?? new Date(nowMs).toISOString();
    if (accepted > 0) {
      // Others proposed: the failed agents simply speak first next time.
      d.outage = { rounds: 0, since, retryAtMs: nowMs, agents, reason };
      return;
    }
    const rounds = (d.outage?.rounds ?? 0) + 1;
    if (rounds >= limit) {
      delete d.outage;
      this.lifecycle.requestStop(
        'strategy_unavailable',
        `the Claude API stayed unavailable for ${rounds} rounds in a row since ${since} (${reason}); $${d.ledger.dollars.toFixed(4)} spent`,
      );
      return;
    }
    const delay = strategyRetryDelayMs(rounds, initial);
    d.outage = { rounds, since, retryAtMs: nowMs + delay, agents, reason };
    this.records.addError(
      `${agents.join(', ')} could not be reached (${reason}); asking again in ${Math.round(delay / 1000)} s (round ${rounds} of at most ${limit})`,
    );
  }
}
