/**
 * What the campaign awaits, in words, for its status (`CampaignStatus.waitingFor`): the workflow
 * says it before each wait, so a person never reads "verifying · 0 running" without knowing why.
 */
import type { CampaignState } from './state/campaign-state.js';
import type { TrialRunner } from './runner.js';

/** "1 running trial", "3 running trials". */
export const count = (n: number, one: string, many = `${one}s`): string =>
  `${n} ${n === 1 ? one : many}`;

export class Waits {
  constructor(
    private readonly state: CampaignState,
    private readonly runner: TrialRunner,
  ) {}

  /** Says what the workflow awaits next; undefined once there is nothing left to wait for. */
  set(what: string | undefined): void {
    this.state.context.waitingFor = what;
  }

  /** "3 running trials <then>". */
  running(then: string): string {
    return `${count(this.runner.inFlight.size, 'running trial')} ${then}`;
  }

  /** A paused campaign waits for its resume, its running trials meanwhile finishing. */
  paused(): string {
    return this.runner.inFlight.size > 0
      ? `a resume (paused; ${this.running('finishing')})`
      : 'a resume (paused)';
  }

  /** The trial records MLflow has yet to write. */
  records(): string {
    return `MLflow to write ${count(this.runner.recordBacklog(), 'trial record')}`;
  }

  /** What the main loop waits for when it has nothing to start: every reason that holds. */
  loop(): string {
    const { state, runner } = this;
    const parts: string[] = [];
    if (!runner.referencesDone()) parts.push('the baseline and optimum measurement');
    if (runner.inFlight.size > 0) parts.push(count(runner.inFlight.size, 'running trial'));
    const pending = state.queue.pending.length;
    if (pending > 0) parts.push(`a PI's decision on ${count(pending, 'hypothesis', 'hypotheses')}`);
    if (state.proposals.waitingForStrategy(Date.now()))
      parts.push('the strategy to be tried again after a failed call');
    if (!runner.recordsKeepUp()) parts.push(this.records());
    return parts.join(' and ') || 'the next deadline';
  }
}
