/**
 * Campaign notifications: a webhook a campaign calls when it needs a person (a hypothesis waits
 * for a PI's decision, a trial is held for review, the campaign is paused) and when it ends. The
 * settings people give, the rule for their URL, and the messages, in the body Slack's incoming
 * webhooks take (`{ text, blocks }`, mrkdwn), which Mattermost, Discord's `/slack` endpoint and
 * most chat tools accept too.
 *
 * What a message may say: by default only what a viewer of the campaign may see while it runs,
 * from structured fields that hold no hidden value (ids, flag kinds, counts, the stop reason,
 * the best trial's visible PGR, the verdict's words). Free text (titles, flag messages, people's
 * reasons, the stop detail) and the verdict's fresh-seed and hidden PGRs go only to a webhook
 * marked `piOnly`, which only a PI may set. No token or credential is ever part of a message.
 *
 * Pure: zod and the domain only; the workflow builds the messages, an activity sends them.
 */
import { z } from 'zod';
import { STOP_REASON_TEXT, type StopReason } from './budget.js';
import type { CampaignReport } from './campaign.js';
import { formatEstimate } from './format.js';
import { verdictOfReport } from './report.js';
import type { FlagKind } from './trial.js';
import { verdictLabel } from './verdict.js';

export const NotifyEvent = z.enum(['needs_person', 'ended']);
export type NotifyEvent = z.infer<typeof NotifyEvent>;

/** The webhook settings of a campaign, as people give them (`notify` of the start request). */
export const WebhookSettings = z
  .object({
    /** Where to POST: https, or http to this machine (localhost, 127.0.0.1, [::1]) unless the server allows http. */
    url: z
      .url({
        protocol: /^https?$/,
        error: 'a http(s) URL, e.g. https://hooks.slack.com/services/...',
      })
      .max(2000),
    /**
     * The messages may carry what only a PI sees while the campaign runs (titles, people's
     * reasons, the verdict's fresh-seed and hidden PGRs). Only a PI may set it. @default false
     */
    piOnly: z.boolean().optional(),
    /** Which events are sent. @default ['needs_person', 'ended'] */
    events: z.array(NotifyEvent).min(1).optional(),
  })
  .strict();
export type WebhookSettings = z.infer<typeof WebhookSettings>;

/** What the campaign workflow carries: the settings, and the campaign page's address for links. */
export interface CampaignWebhook extends WebhookSettings {
  /** The campaign's page in the web UI (absent when the starter did not know the UI's address). */
  campaignUrl?: string;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Why a webhook URL is refused, or null: http goes only to this machine unless `allowHttp` (the
 * server's GAPLAB_WEBHOOK_ALLOW_HTTP), and a URL never carries a user name or password.
 */
export function webhookUrlProblem(url: string, allowHttp: boolean): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'only https (or http) URLs';
  if (u.username || u.password)
    return 'no user name or password in the URL (put a secret in the URL path, as Slack does)';
  if (u.protocol === 'http:' && !allowHttp && !LOOPBACK.has(u.hostname))
    return `http is allowed only to localhost or 127.0.0.1 (got ${u.hostname}): use https, or start the server with GAPLAB_WEBHOOK_ALLOW_HTTP=1`;
  return null;
}

/**
 * The part of a webhook URL that may be shown to people (warnings, the audit trail): scheme and
 * host. The path of a Slack webhook is its secret.
 */
export function webhookOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

/** Whether the campaign sends `event` to its webhook. */
export function sendsEvent(hook: Pick<WebhookSettings, 'events'>, event: NotifyEvent): boolean {
  return (hook.events ?? NotifyEvent.options).includes(event);
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/** A Slack incoming-webhook body: `text` is the fallback (notifications, plain clients). */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}
export type SlackBlock =
  | { type: 'header'; text: { type: 'plain_text'; text: string } }
  | { type: 'section'; text: { type: 'mrkdwn'; text: string } }
  | { type: 'context'; elements: { type: 'mrkdwn'; text: string }[] };

/** Slack's mrkdwn control characters escaped (its documented three: &, <, >). */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Slack caps a section's text at 3,000 characters and a header's at 150. */
const cut = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);

/** What waits for a person, as the campaign knows it. */
export type WaitingItem =
  | { kind: 'approval'; hypothesisId: string; title: string; deadlineMs: number }
  | { kind: 'review'; trialId: string; title: string; flags: { kind: FlagKind; message: string }[] }
  | { kind: 'paused'; by: string; reason?: string };

export interface MessageContext {
  campaignId: string;
  problemId: string;
  /** The campaign page, for the link. */
  campaignUrl?: string | undefined;
  /** The webhook may carry what only a PI sees. */
  piOnly: boolean;
}

/** At most this many items are listed in one message; the rest are counted. */
export const LISTED_ITEMS = 10;

function linkLine(ctx: MessageContext): string | null {
  return ctx.campaignUrl ? `<${ctx.campaignUrl}|Open the campaign>` : null;
}

function itemLine(item: WaitingItem, piOnly: boolean): string {
  const e = slackEscape;
  switch (item.kind) {
    case 'approval': {
      const by = new Date(item.deadlineMs).toISOString().slice(0, 16).replace('T', ' ');
      return `• hypothesis \`${e(item.hypothesisId)}\`${piOnly ? ` "${e(cut(item.title, 200))}"` : ''} waits for a PI's decision (until ${by} UTC)`;
    }
    case 'review': {
      const kinds = item.flags.map((f) => f.kind).join(', ') || 'a review flag';
      const detail = piOnly
        ? `${item.title ? ` "${e(cut(item.title, 200))}"` : ''}: ${item.flags.map((f) => e(cut(f.message, 300))).join('; ')}`
        : '';
      return `• trial \`${e(item.trialId)}\` is held for review (${kinds})${detail}`;
    }
    case 'paused':
      return `• the campaign is paused by ${e(item.by)}${piOnly && item.reason ? `: ${e(cut(item.reason, 300))}` : ''} and waits for a resume`;
  }
}

/** The message when the campaign needs a person: what waits, and where to act. */
export function needsPersonMessage(
  ctx: MessageContext,
  items: readonly WaitingItem[],
): SlackMessage {
  const e = slackEscape;
  const listed = items.slice(0, LISTED_ITEMS).map((i) => itemLine(i, ctx.piOnly));
  if (items.length > LISTED_ITEMS) listed.push(`• and ${items.length - LISTED_ITEMS} more`);
  const counts = countWaiting(items);
  const title = `Campaign ${e(ctx.campaignId)} needs a person: ${counts}`;
  const link = linkLine(ctx);
  return {
    text: cut(`${title}${link ? ` ${link}` : ''}`, 3000),
    blocks: [
      {
        type: 'header',
        text: { type: 'plain_text', text: cut('gaplab: a campaign needs a person', 150) },
      },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: cut(
            `*Campaign \`${e(ctx.campaignId)}\`* (problem \`${e(ctx.problemId)}\`): ${counts}\n${listed.join('\n')}`,
            3000,
          ),
        },
      },
      ...(link
        ? [{ type: 'context' as const, elements: [{ type: 'mrkdwn' as const, text: link }] }]
        : []),
    ],
  };
}

function countWaiting(items: readonly WaitingItem[]): string {
  const n = (kind: WaitingItem['kind']) => items.filter((i) => i.kind === kind).length;
  const parts: string[] = [];
  const approvals = n('approval');
  const reviews = n('review');
  if (approvals)
    parts.push(`${approvals} hypothes${approvals === 1 ? 'is waits' : 'es wait'} for approval`);
  if (reviews) parts.push(`${reviews} trial${reviews === 1 ? ' is' : 's are'} held for review`);
  if (n('paused')) parts.push('paused, waiting for a resume');
  return parts.join('; ');
}

/** The words of a stop reason. */
export function stopReasonWords(reason: StopReason): string {
  return STOP_REASON_TEXT[reason] ?? reason;
}

/**
 * The message when the campaign ended: why it stopped, the best trial's visible PGR, the
 * verdict's words, the trial counts and the link. A PI-only webhook also gets the stop detail
 * (a PI's reason) and the verdict's headline (fresh-seed and hidden PGRs).
 */
export function endedMessage(ctx: MessageContext, report: CampaignReport): SlackMessage {
  const e = slackEscape;
  const verdict = verdictOfReport(report);
  const label = verdictLabel(verdict);
  const why = stopReasonWords(report.stopReason);
  const best = report.best
    ? `best \`${e(report.best.id)}\`, PGR ${formatEstimate(report.best.pgr)}`
    : 'no eligible trial';
  const t = report.trials;
  const lines = [
    `*Stopped:* ${e(why)}${ctx.piOnly && report.stopDetail ? ` (${e(cut(report.stopDetail, 500))})` : ''}`,
    `*Result:* ${best} (target ${report.targetPgr})`,
    `*Verdict:* ${e(label.text)}${ctx.piOnly ? `: ${e(verdict.headline)}` : ''}`,
    `*Trials:* ${t.total} (${t.succeeded} ok, ${t.failed} failed, ${t.cancelled} cancelled, ${t.flagged} flagged)`,
  ];
  const link = linkLine(ctx);
  const text = `Campaign ${e(ctx.campaignId)} ended: ${e(why)}. Verdict: ${e(label.text)}. ${report.best ? `Best ${e(report.best.id)}, PGR ${formatEstimate(report.best.pgr)}.` : 'No eligible trial.'}`;
  return {
    text: cut(`${text}${link ? ` ${link}` : ''}`, 3000),
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: cut('gaplab: a campaign ended', 150) } },
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: cut(
            `*Campaign \`${e(ctx.campaignId)}\`* (problem \`${e(ctx.problemId)}\`)\n${lines.join('\n')}`,
            3000,
          ),
        },
      },
      ...(link
        ? [{ type: 'context' as const, elements: [{ type: 'mrkdwn' as const, text: link }] }]
        : []),
    ],
  };
}
