/**
 * The campaign's webhook (domain/notify.ts): after each turn of the main loop it looks for what
 * newly waits for a person (hypotheses for a PI's decision, trials held for review, a pause) and
 * sends one message about all of it; as the campaign ends, one message with the stop reason, the
 * best and the verdict. Messages go out from the `sendWebhook` activity (retried with backoff
 * within a minute, `presets.notify`), one at a time: what turns up while one is sent goes in the
 * next. A message that still fails becomes a warning in the notebook, and after three failures
 * in a row the campaign stops sending "needs a person" messages (the end is still tried); the
 * campaign itself goes on either way.
 *
 * What was announced is carried over continue-as-new (`notified`), so a new run does not repeat it.
 */
import { condition, patched, proxyActivities } from '@temporalio/workflow';
import {
  endedMessage,
  needsPersonMessage,
  sendsEvent,
  webhookOrigin,
  type CampaignWebhook,
  type MessageContext,
  type SlackMessage,
  type WaitingItem,
} from '../../domain/notify.js';
import type { CampaignReport } from '../types.js';
import type { Activities } from './activities.js';
import type { CampaignState } from './state/campaign-state.js';
import { failureMessage } from './seed-results.js';
import { presets } from '../options.js';
import { WEBHOOK_NOTIFY_PATCH } from '../patches.js';

/** Ids remembered as announced, per kind (a bound on the carried state). */
const REMEMBERED = 200;
/** Failed messages in a row after which "needs a person" messages stop. */
const GIVE_UP_AFTER = 3;

export class Notifier {
  private readonly hook: CampaignWebhook | undefined;
  private readonly acts = proxyActivities<Activities>(presets.notify());
  private readonly ctx: MessageContext;
  private inFlight = 0;
  private failuresInRow = 0;
  private gaveUp = false;

  /** Whether the campaign has a webhook to tell. */
  get active(): boolean {
    return this.hook !== undefined;
  }

  constructor(private readonly state: CampaignState) {
    const input = state.context.input;
    // Only campaigns with a webhook ask, so histories without one replay as they were.
    this.hook = input.notify && patched(WEBHOOK_NOTIFY_PATCH) ? input.notify : undefined;
    this.ctx = {
      campaignId: input.campaignId,
      problemId: input.problem.id,
      campaignUrl: input.notify?.campaignUrl,
      piOnly: input.notify?.piOnly === true,
    };
  }

  private get notified() {
    return (this.state.context.data.notified ??= { approvals: [], reviews: [], paused: false });
  }

  /** Sends what newly waits for a person, unless a message is on its way (it goes next). */
  check(): void {
    const hook = this.hook;
    if (!hook || this.gaveUp || this.inFlight > 0 || !sendsEvent(hook, 'needs_person')) return;
    const items = this.newlyWaiting();
    if (items.length === 0) return;
    this.send('needs_person', needsPersonMessage(this.ctx, items));
  }

  /** What waits for a person and was not announced yet; marks it announced. */
  private newlyWaiting(): WaitingItem[] {
    const n = this.notified;
    const items: WaitingItem[] = [];
    const approvals = new Set(n.approvals);
    for (const p of this.state.queue.pending) {
      if (approvals.has(p.hypothesis.id)) continue;
      items.push({
        kind: 'approval',
        hypothesisId: p.hypothesis.id,
        title: p.hypothesis.title,
        deadlineMs: p.deadlineMs,
      });
      n.approvals.push(p.hypothesis.id);
    }
    const reviews = new Set(n.reviews);
    for (const r of this.state.trials.underReview().reverse()) {
      if (r.trust !== 'under_review' || reviews.has(r.trialId)) continue;
      items.push({ kind: 'review', trialId: r.trialId, title: r.title, flags: r.flags });
      n.reviews.push(r.trialId);
    }
    const paused = this.state.lifecycle.paused;
    if (paused && !n.paused) {
      const pause = this.state.context.data.audit.findLast((a) => a.action === 'pause');
      items.push({
        kind: 'paused',
        by: pause?.actor.name ?? 'someone',
        ...(pause?.detail ? { reason: pause.detail } : {}),
      });
    }
    n.paused = paused;
    n.approvals = n.approvals.slice(-REMEMBERED);
    n.reviews = n.reviews.slice(-REMEMBERED);
    return items;
  }

  /** Sends the end of the campaign and waits for it (bounded by the preset: about a minute at most). */
  async ended(report: CampaignReport): Promise<void> {
    const hook = this.hook;
    if (!hook || !sendsEvent(hook, 'ended')) return;
    await this.settled();
    this.send('ended', endedMessage(this.ctx, report));
    await this.settled();
  }

  /** Resolves once no message is on its way (before continue-as-new and the end). */
  settled(): Promise<void> {
    return condition(() => this.inFlight === 0);
  }

  private send(event: 'needs_person' | 'ended', message: SlackMessage): void {
    const url = this.hook!.url;
    this.inFlight++;
    void this.acts.sendWebhook({ url, message }).then(
      () => {
        this.failuresInRow = 0;
        this.done();
      },
      (err: unknown) => {
        this.failuresInRow++;
        const records = this.state.records;
        records.addError(
          `warning: the campaign's webhook (${webhookOrigin(url)}) did not take the "${event === 'ended' ? 'campaign ended' : 'needs a person'}" message: ${failureMessage(err)}`,
        );
        if (this.failuresInRow >= GIVE_UP_AFTER && !this.gaveUp) {
          this.gaveUp = true;
          records.addError(
            `warning: the campaign's webhook failed ${GIVE_UP_AFTER} times in a row: no more "needs a person" messages are sent (the end is still announced)`,
          );
        }
        this.done();
      },
    );
  }

  private done(): void {
    this.inFlight--;
    // Wakes the main loop: what turned up meanwhile goes out next.
    this.state.context.bump();
  }
}
