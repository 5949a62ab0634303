/**
 * Server-sent events of a campaign's progress: `GET /api/campaigns/:id/events`.
 *
 * Streams send
 *   - `status` with the CampaignStatus whenever it changes,
 *   - `trial` with each newly finished trial (its `id:` is the number of trials sent so far, so
 *     a reconnecting EventSource resumes via Last-Event-ID without gaps or repeats),
 *   - `end` once the campaign has finished (then closes), `error` when it cannot go on,
 * and a comment line as heartbeat. EventSource cannot set headers, so the token may come as
 * `?token=`; `?since=<n>` replays trials from the n-th (default: only new ones).
 *
 * Reads cost the same at any fan-out: one poller per campaign queries the workflow (every
 * `sseIntervalMs`) and hands what it read to every stream of that campaign; each stream only
 * redacts and writes for its own client. A token holds at most `sseStreamsPerToken` streams
 * (429 beyond), a client that stops reading is dropped rather than buffered without end, and a
 * closed campaign is answered from its MLflow record, never by querying its closed workflow.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  CampaignIdParam,
  ErrorBody,
  recordOfSummary,
  type CampaignStatus,
  type TrialRecord,
} from '../api/schemas.js';
import type { ApiService } from './context.js';
import { toErrorResponse } from './error-handler.js';
import { ServiceError } from './errors.js';
import { visibilityResolver, type HiddenRedactor } from './hidden.js';
import { campaignRedactor } from './hidden-values.js';
import { readClosed } from './reader.js';

type TrialSummary = Awaited<ReturnType<ApiService['trials']>>['trials'][number];

/** Formats one SSE message; data is JSON on a single line. */
export function sseMessage(event: string, data: unknown, id?: number): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** What a poller tells the streams that follow it. */
interface PollerListener {
  /** A new status (only when it changed) and the trials appended since the last call. */
  update(status: CampaignStatus | undefined): void;
  end(stopReason: unknown): void;
  fail(err: unknown): void;
}

export interface CampaignPollerOptions {
  service: Pick<ApiService, 'status' | 'trials'>;
  campaignId: string;
  intervalMs: number;
  /** Consecutive failed polls before the streams give up. @default 30 */
  maxFailures?: number;
  /** Recent trials kept for streams that join late or catch up. @default 2000 */
  keepTrials?: number;
  onError?: (err: unknown) => void;
  /**
   * Called with the campaign's id when a read found new trials or a changed status, before the
   * streams are told: caches of the campaign's reads (LiveTrials) then answer at least as new
   * as what the clients will refresh for.
   */
  onChange?: (campaignId: string) => void;
  /** Called once the poller has stopped (no listener left, campaign ended, or failure). */
  onStop?: () => void;
}

/**
 * Polls one campaign's workflow for all its streams: one status query and one trials query per
 * interval, however many clients watch.
 */
export class CampaignPoller {
  status: CampaignStatus | undefined;
  private statusJson = '';
  /** Index (in trial order) of `recent[0]`. */
  recentStart = 0;
  readonly recent: TrialSummary[] = [];
  private readonly listeners = new Set<PollerListener>();
  private timer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  private started = false;
  /** Resolves after the first successful poll (status and trial count known). */
  readonly ready: Promise<void>;
  private markReady!: () => void;
  private failReady!: (err: unknown) => void;

  constructor(private readonly opts: CampaignPollerOptions) {
    this.ready = new Promise((resolve, reject) => {
      this.markReady = resolve;
      this.failReady = reject;
    });
    this.ready.catch(() => {});
  }

  /** Trials read so far (the index after the last one). */
  get cursor(): number {
    return this.recentStart + this.recent.length;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  get service(): Pick<ApiService, 'status' | 'trials'> {
    return this.opts.service;
  }

  add(l: PollerListener): void {
    this.listeners.add(l);
    if (!this.started) {
      this.started = true;
      void this.tick();
    }
  }

  remove(l: PollerListener): void {
    this.listeners.delete(l);
    if (this.listeners.size === 0) this.stop();
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.opts.onStop?.();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      const status = await this.opts.service.status(this.opts.campaignId);
      if (!this.status) {
        // Start at the end: older trials come to a stream from the service when it asks.
        const first = await this.opts.service.trials(this.opts.campaignId, {
          offset: 0,
          limit: 1,
        });
        this.recentStart = first.total;
      }
      const cursor = this.cursor;
      for (;;) {
        const page = await this.opts.service.trials(this.opts.campaignId, {
          offset: this.cursor,
          limit: 1000,
        });
        this.recent.push(...page.trials);
        if (page.trials.length === 0 || this.cursor >= page.total) break;
      }
      const added = this.cursor > cursor;
      const keep = this.opts.keepTrials ?? 2000;
      if (this.recent.length > keep) {
        const drop = this.recent.length - keep;
        this.recent.splice(0, drop);
        this.recentStart += drop;
      }
      const json = JSON.stringify(status);
      const changed = json !== this.statusJson;
      this.statusJson = json;
      this.status = status;
      this.failures = 0;
      if (changed || added) this.opts.onChange?.(this.opts.campaignId);
      this.markReady();
      for (const l of [...this.listeners]) l.update(changed ? status : undefined);
      if (status.phase === 'finished') {
        for (const l of [...this.listeners]) l.end(status.stopReason);
        this.stop();
        return;
      }
    } catch (err) {
      this.failures += 1;
      this.opts.onError?.(err);
      const fatal =
        err instanceof ServiceError && (err.code === 'NotFound' || err.code === 'Forbidden');
      if (fatal || this.failures >= (this.opts.maxFailures ?? 30)) {
        this.failReady(err);
        for (const l of [...this.listeners]) l.fail(err);
        this.stop();
        return;
      }
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.opts.intervalMs);
  }
}

export interface EventStreamOptions {
  poller: CampaignPoller;
  /** Trials already known to the client (0 replays all). */
  since: number;
  heartbeatMs: number;
  /** Bytes a client may leave unread before it is dropped. @default 4 MiB */
  maxBufferedBytes?: number;
  /**
   * What this client may not see of hidden metrics, decided from each status (see
   * server/hidden.ts): events are redacted per client at send time. Absent: nothing is withheld.
   */
  redact?: (status: CampaignStatus) => Promise<HiddenRedactor | null>;
  /**
   * The campaign's hidden metrics (from its criteria), marked on every trial event as MLflow
   * records mark them. Absent: trials carry no marks.
   */
  hiddenMetrics?: (status: CampaignStatus) => Promise<readonly string[]>;
  /**
   * Streams with the same key see the same redaction (their caller's role): they share the
   * redacted, serialized events instead of each redacting and serializing them again.
   */
  shareKey?: string;
}

/** Serialized event data per object the poller read and per share key (see `shareKey`). */
const rendered = new WeakMap<object, Map<string, unknown>>();
function renderOnce<T>(of: object, key: string | undefined, make: () => T): T {
  if (key === undefined) return make();
  let byKey = rendered.get(of);
  if (!byKey) rendered.set(of, (byKey = new Map()));
  if (!byKey.has(key)) byKey.set(key, make());
  return byKey.get(key) as T;
}

/** One client's stream: follows its campaign's poller, redacts and writes for this client. */
export class CampaignEventStream implements PollerListener {
  private closed = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private lastStatus = '';
  private sent: number;
  private redactor: HiddenRedactor | null = null;
  private hidden: readonly string[] = [];
  /** Work for this client runs in order (redaction may wait for the criteria). */
  private chain: Promise<void> = Promise.resolve();
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
    this.opts.poller.add(this);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.opts.poller.remove(this);
    if (!this.res.writableEnded) this.res.end();
    this.resolveDone();
  }

  private enqueue(work: () => Promise<void> | void): void {
    this.chain = this.chain.then(work).catch((err: unknown) => this.fail(err));
  }

  update(status: CampaignStatus | undefined): void {
    this.enqueue(async () => {
      if (this.closed) return;
      if (status) {
        const view = await renderOnce(status, this.opts.shareKey, async () => {
          const redactor = (await this.opts.redact?.(status)) ?? null;
          return { redactor, json: JSON.stringify(redactor ? redactor.redact(status) : status) };
        });
        this.redactor = view.redactor;
        this.hidden = (await this.opts.hiddenMetrics?.(status)) ?? [];
        if (view.json !== this.lastStatus) {
          this.lastStatus = view.json;
          this.write(`event: status\ndata: ${view.json}\n\n`);
        }
      }
      await this.sendTrials();
    });
  }

  end(stopReason: unknown): void {
    this.enqueue(() => {
      this.write(sseMessage('end', { stopReason }));
      this.close();
    });
  }

  fail(err: unknown): void {
    if (this.closed) return;
    this.write(sseMessage('error', toErrorResponse(err, '').body));
    this.close();
  }

  /** Trials after the last one sent: older ones from the service (once), then the poller's. */
  private async sendTrials(): Promise<void> {
    const p = this.opts.poller;
    while (!this.closed && this.sent < p.recentStart) {
      const page = await p.service.trials(p.status!.campaignId, {
        offset: this.sent,
        limit: Math.min(1000, p.recentStart - this.sent),
      });
      if (page.trials.length === 0) break;
      for (const t of page.trials) this.sendTrial(t);
    }
    const from = Math.max(0, this.sent - p.recentStart);
    for (let i = from; i < p.recent.length && !this.closed; i++) this.sendTrial(p.recent[i]!);
  }

  private sendTrial(t: TrialSummary): void {
    this.sent += 1;
    const json = renderOnce(t, this.opts.shareKey, () => {
      const record: TrialRecord = recordOfSummary(t, this.hidden);
      return JSON.stringify(this.redactor ? this.redactor.redact(record) : record);
    });
    this.write(`id: ${this.sent}\nevent: trial\ndata: ${json}\n\n`);
  }

  private write(chunk: string): void {
    if (this.closed || this.res.writableEnded) return;
    this.res.write(chunk);
    // A client that stops reading must not make the server hold its events without end.
    if (this.res.writableLength > (this.opts.maxBufferedBytes ?? 4 * 1024 * 1024)) this.close();
  }
}

/** Open streams per caller, and the one poller per campaign they share. */
export class EventStreamHub {
  private readonly pollers = new Map<string, CampaignPoller>();
  private readonly perCaller = new Map<string, number>();

  constructor(
    private readonly opts: Omit<CampaignPollerOptions, 'campaignId' | 'onStop'> & {
      streamsPerCaller: number;
    },
  ) {}

  /** The campaign's poller, started on first use and dropped when its last stream closes. */
  poller(campaignId: string): CampaignPoller {
    let p = this.pollers.get(campaignId);
    if (!p) {
      const created: CampaignPoller = new CampaignPoller({
        ...this.opts,
        campaignId,
        onStop: () => {
          if (this.pollers.get(campaignId) === created) this.pollers.delete(campaignId);
        },
      });
      p = created;
      this.pollers.set(campaignId, p);
    }
    return p;
  }

  /** Pollers running now (one per watched campaign). */
  get pollerCount(): number {
    return this.pollers.size;
  }

  /** Takes a stream slot for `caller`; throws 429 when the caller holds the most it may. */
  acquire(caller: string): () => void {
    const n = this.perCaller.get(caller) ?? 0;
    if (n >= this.opts.streamsPerCaller)
      throw new ServiceError(
        'RateLimited',
        `at most ${this.opts.streamsPerCaller} event streams per token are open at once: close one first`,
      );
    this.perCaller.set(caller, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.perCaller.get(caller) ?? 1) - 1;
      if (left <= 0) this.perCaller.delete(caller);
      else this.perCaller.set(caller, left);
    };
  }
}

const EventsQuery = z.object({
  since: z.coerce.number().int().min(0).max(10_000_000).optional(),
  /** The bearer token, for EventSource (which cannot set headers). */
  token: z.string().max(512).optional(),
});

export const eventRoutes: FastifyPluginAsyncZod = async (app) => {
  const ctx = app.gaplab;
  const hub = new EventStreamHub({
    service: ctx.service,
    intervalMs: ctx.config.sseIntervalMs,
    streamsPerCaller: ctx.config.sseStreamsPerToken,
    // A page refreshes its trials on the events this hub sends: its reads must not come from
    // before them.
    onChange: (campaignId) => ctx.live.changed(campaignId),
    onError: (err) => app.log.debug({ err }, 'event stream poll failed'),
  });

  app.get(
    '/campaigns/:campaignId/events',
    {
      config: { queryToken: true },
      schema: {
        tags: ['campaigns'],
        summary: 'Server-sent events: status, trial, end, error',
        description:
          'text/event-stream. `status` carries a CampaignStatus, `trial` a TrialRecord (id: trials sent so far), `end` {stopReason}. ' +
          'Token in the Authorization header or `?token=`. `?since=n` (or Last-Event-ID) replays trials after the n-th; default: only new ones. ' +
          'A token holds a limited number of open streams (429 beyond).',
        params: z.object({ campaignId: CampaignIdParam }),
        querystring: EventsQuery,
        response: { 401: ErrorBody, 404: ErrorBody, 429: ErrorBody },
      },
    },
    async (req, reply) => {
      const { campaignId } = req.params;
      const principal = req.principal;
      const release = hub.acquire(principal ? `${principal.role}:${principal.name}` : 'anonymous');
      try {
        const lastEventId = Number(req.headers['last-event-id']);
        const asked =
          req.query.since ??
          (Number.isInteger(lastEventId) && lastEventId >= 0 ? lastEventId : undefined);

        // A closed campaign is answered from its MLflow record (a query on a closed workflow
        // makes a worker replay its history); unknown ones get a plain 404 before the stream opens.
        const closed = await readClosed(ctx, campaignId);
        if (closed) {
          const { report, records } = closed;
          // Finished: its hidden values are no longer withheld from anyone.
          const res = openStream(reply);
          res.write('retry: 3000\n\n');
          const since = Math.min(asked ?? records.records.length, records.records.length);
          records.records.slice(since).forEach((r, i) => {
            res.write(sseMessage('trial', r, since + i + 1));
          });
          res.end(sseMessage('end', { stopReason: report.stopReason }));
          release();
          return;
        }

        const poller = hub.poller(campaignId);
        // Hold the poller while its first read tells whether the campaign exists.
        const probe: PollerListener = { update() {}, end() {}, fail() {} };
        poller.add(probe);
        try {
          await poller.ready;
        } catch (err) {
          poller.remove(probe);
          throw err;
        }
        const res = openStream(reply);
        /** On server shutdown: end the stream and drop the socket (a client that stopped reading would hold it). */
        const socket = res.socket;
        const shutdown = () => {
          stream.close();
          setTimeout(() => socket?.destroy(), 100).unref();
        };
        const stream = new CampaignEventStream(res, {
          poller,
          since: asked ?? poller.cursor,
          heartbeatMs: ctx.config.sseHeartbeatMs,
          redact: (status) => campaignRedactor(ctx, req.principal?.role, campaignId, status),
          shareKey: req.principal?.role ?? 'anonymous',
          hiddenMetrics: async (status) =>
            (await visibilityResolver(ctx.service).ofStatus(status)).hiddenMetrics,
        });
        ctx.streams.add(shutdown);
        void stream.finished.then(() => {
          ctx.streams.delete(shutdown);
          release();
        });
        req.raw.on('close', () => stream.close());
        res.on('close', () => stream.close());
        stream.start();
        poller.remove(probe);
        // The poller knows the status already: send it now rather than at its next read.
        stream.update(poller.status);
        if (poller.status?.phase === 'finished') stream.end(poller.status.stopReason);
      } catch (err) {
        release();
        throw err;
      }
    },
  );
};

function openStream(reply: { hijack(): void; raw: ServerResponse }): ServerResponse {
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
  return res;
}
