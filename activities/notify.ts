/**
 * `sendWebhook`: one POST of a campaign's notification (domain/notify.ts builds the body) to the
 * campaign's webhook. One attempt per activity attempt: Temporal retries it with backoff
 * (workflows/options.ts `presets.notify`), and the workflow turns a final failure into a warning
 * in the campaign's notebook, so an endpoint that is down never fails or holds up the campaign
 * for longer than the preset's schedule-to-close bound.
 *
 * Nothing of the URL but its origin ever appears in an error (a Slack webhook's path is its
 * secret), redirects are not followed, and the body is the message as the workflow built it.
 */
import { webhookOrigin, webhookUrlProblem, type SlackMessage } from '../domain/notify.js';
import { activityFailure } from './failures.js';

/** How long one attempt waits for the endpoint's answer. */
export const WEBHOOK_TIMEOUT_MS = 5_000;

export interface SendWebhookInput {
  url: string;
  message: SlackMessage;
}

export interface NotifyDeps {
  /** @default WEBHOOK_TIMEOUT_MS */
  timeoutMs?: number;
}

/** Statuses worth another attempt: a timeout, rate limits, the server's own errors. */
const retryableStatus = (status: number) => status === 408 || status === 429 || status >= 500;

export function createNotifyActivities(deps: NotifyDeps = {}) {
  const timeoutMs = deps.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  return {
    /** POSTs the message; the endpoint's status when it took it (2xx). */
    async sendWebhook(input: SendWebhookInput): Promise<{ status: number }> {
      const origin = webhookOrigin(input.url);
      // The server checked the URL against its http rule; a worker checks the scheme again.
      if (webhookUrlProblem(input.url, true))
        throw activityFailure('WebhookRefused', `the webhook URL (${origin}) is not a http(s) URL`);
      let res: Response;
      try {
        res = await fetch(input.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'gaplab' },
          body: JSON.stringify(input.message),
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw activityFailure(
          'Unavailable',
          `the webhook at ${origin} could not be reached: ${reachError(err, timeoutMs)}`,
        );
      }
      // The answer's body is not needed; reading none frees the connection.
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { status: res.status };
      const said = `the webhook at ${origin} answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
      if (retryableStatus(res.status)) throw activityFailure('Unavailable', said);
      throw activityFailure(
        'WebhookRefused',
        res.status >= 300 && res.status < 400 ? `${said} (a redirect, not followed)` : said,
      );
    },
  };
}

/** Why a request got no answer, in a few words (the code of the network error, or the timeout). */
function reachError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
    return `no answer within ${timeoutMs / 1000} s`;
  const cause = err instanceof Error ? (err as Error & { cause?: unknown }).cause : undefined;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  return err instanceof Error ? err.message : String(err);
}
