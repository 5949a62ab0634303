/**
 * Server-sent events of a campaign's progress: `GET /api/campaigns/:id/events`.
 *
 * The server polls the workflow's status query (every `sseIntervalMs`) and sends
 *   - `status` with the CampaignStatus whenever it changes,
 *   - `trial` with each newly finished trial (its `id:` is the number of trials sent so far, so
 *     a reconnecting EventSource resumes via Last-Event-ID without gaps or repeats),
 *   - `end` once the campaign has finished (then closes), `error` when it cannot go on,
 * and a comment line as heartbeat. EventSource cannot set headers, so the token may come as
 * `?token=`; `?since=<n>` replays trials from the n-th (default: only new ones).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CampaignIdParam, ErrorBody, recordOfSummary } from './api-types.js';
import type { ApiService } from './context.js';
import { toErrorResponse } from './error-handler.js';
import { ServiceError } from './errors.js';

export interface EventStreamOptions {
  service: Pick<ApiService, 'status' | 'trials'>;
  campaignId: string;
  /** Trials already known to the client (0 replays all). */
  since: number;
  intervalMs: number;
  heartbeatMs: number;
  /** Consecutive failed polls before the stream gives up. @default 30 */
  maxFailures?: number;
  onError?: (err: unknown) => void;
}

/** Formats one SSE message; data is JSON on a single line. */
export function sseMessage(event: string, data: unknown, id?: number): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** One client's stream: polls, writes, and stops on close, on the campaign's end or on failure. */
export class CampaignEventStream {
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastStatus = '';
  private sent: number;
  private failures = 0;
  private readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    private readonly res: ServerResponse,
    private readonly opts: EventStreamOptions,
  ) {
    this.sent = opts.since;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Resolves when the stream has ended. */
  get finished(): Promise<void> {
    return this.done;
  }

  start(): void {
    this.write('retry: 3000\n\n');
    this.heartbeat = setInterval(() => this.write(': ping\n\n'), this.opts.heartbeatMs);
    this.heartbeat.unref();
    void this.tick();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    if (!this.res.writableEnded) this.res.end();
    this.resolveDone();
  }

  private write(chunk: string): void {
    if (this.closed || this.res.writableEnded) return;
    this.res.write(chunk);
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    try {
      const status = await this.opts.service.status(this.opts.campaignId);
      const json = JSON.stringify(status);
      if (json !== this.lastStatus) {
        this.lastStatus = json;
        this.write(sseMessage('status', status));
      }
      // Trials only grow; ask for what came after the last one sent.
      for (;;) {
        const page = await this.opts.service.trials(this.opts.campaignId, {
          offset: this.sent,
          limit: 1000,
        });
        for (const t of page.trials) {
          this.sent += 1;
          this.write(sseMessage('trial', recordOfSummary(t), this.sent));
        }
        if (page.trials.length === 0 || this.sent >= page.total) break;
      }
      this.failures = 0;
      if (status.phase === 'finished') {
        this.write(sseMessage('end', { stopReason: status.stopReason }));
        this.close();
        return;
      }
    } catch (err) {
      this.failures += 1;
      this.opts.onError?.(err);
      const fatal =
        err instanceof ServiceError && (err.code === 'NotFound' || err.code === 'Forbidden');
      if (fatal || this.failures >= (this.opts.maxFailures ?? 30)) {
        this.write(sseMessage('error', toErrorResponse(err, '').body));
        this.close();
        return;
      }
    }
    if (!this.closed) this.timer = setTimeout(() => void this.tick(), this.opts.intervalMs);
  }
}

const EventsQuery = z.object({
  since: z.coerce.number().int().min(0).max(10_000_000).optional(),
  /** The bearer token, for EventSource (which cannot set headers). */
  token: z.string().max(512).optional(),
});

export const eventRoutes: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.gaplab;

  app.get(
    '/campaigns/:campaignId/events',
    {
      config: { queryToken: true },
      schema: {
        tags: ['campaigns'],
        summary: 'Server-sent events: status, trial, end, error',
        description:
          'text/event-stream. `status` carries a CampaignStatus, `trial` a TrialRecord (id: trials sent so far), `end` {stopReason}. ' +
          'Token in the Authorization header or `?token=`. `?since=n` (or Last-Event-ID) replays trials after the n-th; default: only new ones.',
        params: z.object({ campaignId: CampaignIdParam }),
        querystring: EventsQuery,
        response: { 401: ErrorBody, 404: ErrorBody },
      },
    },
    async (req, reply) => {
      const { campaignId } = req.params;
      // Unknown campaigns get a plain 404 before the stream opens.
      await ctx.service.status(campaignId);
      const lastEventId = Number(req.headers['last-event-id']);
      let since =
        req.query.since ??
        (Number.isInteger(lastEventId) && lastEventId >= 0 ? lastEventId : undefined);
      if (since === undefined)
        since = (await ctx.service.trials(campaignId, { offset: 0, limit: 1 })).total;

      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        // The connection ends with the stream, so a server shutdown never waits on an idle socket.
        connection: 'close',
        // Proxies such as nginx would otherwise hold the events back.
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
      });
      res.flushHeaders();
      /** On server shutdown: end the stream and drop the socket (a client that stopped reading would hold it). */
      const socket = res.socket;
      const shutdown = () => {
        stream.close();
        setTimeout(() => socket?.destroy(), 100).unref();
      };
      const stream = new CampaignEventStream(res, {
        service: ctx.service,
        campaignId,
        since,
        intervalMs: ctx.config.sseIntervalMs,
        heartbeatMs: ctx.config.sseHeartbeatMs,
        onError: (err) => req.log.debug({ err }, 'event stream poll failed'),
      });
      ctx.streams.add(shutdown);
      void stream.finished.then(() => ctx.streams.delete(shutdown));
      req.raw.on('close', () => stream.close());
      res.on('close', () => stream.close());
      stream.start();
    },
  );
};
