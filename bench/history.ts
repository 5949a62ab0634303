/**
 * What a campaign's Temporal histories say: every run of the workflow (continue-as-new makes
 * several), its event count, and the timing of each activity from the server's own event times
 * — more precise than the workflow's trial timestamps, which start when a trial is queued for a
 * slot rather than when its experiment is scheduled.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { decodePayload } from '../temporal/data-converter.js';

export interface ActivityTiming {
  type: string;
  /** Server times in ms since the epoch. */
  scheduledMs: number;
  startedMs: number | null;
  closedMs: number | null;
  status: 'completed' | 'failed' | 'timed_out' | 'canceled' | 'open';
  /** The first argument, decoded. */
  input: unknown;
  /** The result, decoded (completed activities only). */
  result: unknown;
}

export interface RunHistory {
  runId: string;
  events: number;
  /** History size in bytes as the server counts it. */
  bytes: number | null;
  activities: ActivityTiming[];
  /** Size of the run's input (the carried state after a continue-as-new), bytes. */
  inputBytes: number;
}

interface Timestamp {
  seconds?: { toString(): string } | number | null;
  nanos?: number | null;
}
interface Payload {
  metadata?: Record<string, Uint8Array> | null;
  data?: Uint8Array | null;
}

const toMs = (t: Timestamp | null | undefined): number =>
  t ? Number(String(t.seconds ?? 0)) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : NaN;

/** The first payload's value (compressed or plain, temporal/data-converter.ts), or undefined. */
async function decode(
  payloads: { payloads?: Payload[] | null } | null | undefined,
): Promise<unknown> {
  const p = payloads?.payloads?.[0];
  if (!p) return undefined;
  try {
    return await decodePayload(p as never);
  } catch {
    return undefined;
  }
}

const idNum = (id: { toString(): string } | number | null | undefined): string => String(id ?? '');

type HistoryEvent = NonNullable<
  Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']
>[number];

/**
 * The events of one run, page by page: a campaign's strategy calls carry its history, so a
 * server page of the default size can exceed gRPC's 4 MB message limit.
 */
async function fetchEvents(
  client: Client,
  workflowId: string,
  runId: string,
): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  let pageSize = 100;
  do {
    try {
      const res = await client.workflowService.getWorkflowExecutionHistory({
        namespace: client.options.namespace,
        execution: { workflowId, runId },
        maximumPageSize: pageSize,
        ...(nextPageToken ? { nextPageToken } : {}),
      });
      events.push(...((res.history?.events ?? []) as HistoryEvent[]));
      nextPageToken =
        res.nextPageToken && res.nextPageToken.length > 0 ? res.nextPageToken : undefined;
    } catch (err) {
      // RESOURCE_EXHAUSTED: a page over the message limit; try smaller pages.
      if (pageSize > 1 && /RESOURCE_EXHAUSTED|larger than max/.test(String(err)))
        pageSize = Math.max(1, Math.floor(pageSize / 10));
      else throw err;
    }
  } while (nextPageToken);
  return events;
}

export interface RunInfo {
  runId: string;
  startTime: string;
  status: string;
  events: number;
  bytes: number | null;
}

/**
 * Every run of a workflow with its event count and size, from the visibility store (no history
 * is read, so it works for any history size). Waits until the latest run is listed.
 */
export async function runInfos(
  client: Client,
  workflowId: string,
  latestRunId?: string,
): Promise<RunInfo[]> {
  for (let attempt = 0; ; attempt++) {
    const out: RunInfo[] = [];
    for await (const wf of client.workflow.list({
      query: `WorkflowId = '${workflowId.replace(/'/g, "\\'")}'`,
    })) {
      out.push({
        runId: wf.runId,
        startTime: wf.startTime.toISOString(),
        status: wf.status.name,
        events: wf.historyLength,
        bytes: wf.historySize ?? null,
      });
    }
    out.sort((a, b) => a.startTime.localeCompare(b.startTime));
    if (
      !latestRunId ||
      out.some((r) => r.runId === latestRunId && r.status !== 'RUNNING') ||
      attempt >= 20
    )
      return out;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** One run's events, decoded into activity timings (and the run's start input size). */
export async function runHistory(
  client: Client,
  workflowId: string,
  runId: string,
): Promise<RunHistory & { previousRunId: string | null }> {
  const description = await client.workflow.getHandle(workflowId, runId).describe();
  const events = await fetchEvents(client, workflowId, runId);
  if (events.length === 0)
    throw new Error(`the history of ${workflowId} run ${runId} came back empty`);
  const started = events[0]?.workflowExecutionStartedEventAttributes;
  const byScheduled = new Map<string, ActivityTiming>();
  for (const e of events) {
    const id = idNum(e.eventId);
    if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      byScheduled.set(id, {
        type: a.activityType?.name ?? '',
        scheduledMs: toMs(e.eventTime),
        startedMs: null,
        closedMs: null,
        status: 'open',
        input: await decode(a.input),
        result: undefined,
      });
    } else if (e.activityTaskStartedEventAttributes) {
      const t = byScheduled.get(idNum(e.activityTaskStartedEventAttributes.scheduledEventId));
      if (t) t.startedMs = toMs(e.eventTime);
    } else if (e.activityTaskCompletedEventAttributes) {
      const t = byScheduled.get(idNum(e.activityTaskCompletedEventAttributes.scheduledEventId));
      if (t)
        Object.assign(t, {
          closedMs: toMs(e.eventTime),
          status: 'completed',
          result: await decode(e.activityTaskCompletedEventAttributes.result),
        });
    } else if (e.activityTaskFailedEventAttributes) {
      const t = byScheduled.get(idNum(e.activityTaskFailedEventAttributes.scheduledEventId));
      if (t) Object.assign(t, { closedMs: toMs(e.eventTime), status: 'failed' });
    } else if (e.activityTaskTimedOutEventAttributes) {
      const t = byScheduled.get(idNum(e.activityTaskTimedOutEventAttributes.scheduledEventId));
      if (t) Object.assign(t, { closedMs: toMs(e.eventTime), status: 'timed_out' });
    } else if (e.activityTaskCanceledEventAttributes) {
      const t = byScheduled.get(idNum(e.activityTaskCanceledEventAttributes.scheduledEventId));
      if (t) Object.assign(t, { closedMs: toMs(e.eventTime), status: 'canceled' });
    }
  }
  const inputBytes = (started?.input?.payloads ?? []).reduce(
    (sum: number, p: Payload) => sum + (p.data?.length ?? 0),
    0,
  );
  return {
    runId,
    events: events.length,
    bytes: description.historySize ?? null,
    activities: [...byScheduled.values()],
    inputBytes,
    previousRunId: started?.continuedExecutionRunId || null,
  };
}

/** Every run of a workflow, oldest first, with its activities' timings. */
export async function workflowRuns(client: Client, workflowId: string): Promise<RunHistory[]> {
  const runs: RunHistory[] = [];
  let runId: string | null = (await client.workflow.getHandle(workflowId).describe()).runId;
  // From the latest run back along continuedExecutionRunId.
  for (let guard = 0; runId && guard < 10_000; guard++) {
    const { previousRunId, ...run } = await runHistory(client, workflowId, runId);
    runs.unshift(run);
    runId = previousRunId;
  }
  return runs;
}

/** Failure messages of the failed workflow tasks of a workflow's latest run (why a campaign is stuck). */
export async function workflowTaskFailures(client: Client, workflowId: string): Promise<string[]> {
  const runId = (await client.workflow.getHandle(workflowId).describe()).runId;
  const msgs = new Set<string>();
  for (const e of await fetchEvents(client, workflowId, runId)) {
    const f = e.workflowTaskFailedEventAttributes;
    if (f) msgs.add(`${String(f.cause ?? '')}: ${f.failure?.message ?? ''}`.slice(0, 500));
  }
  return [...msgs];
}

/** Search trial ids are t0001, t0002...; the baseline and verification re-runs are not. */
const SEARCH_TRIAL = /^t\d+$/;

/**
 * Experiment seeds of all runs, in schedule order, one timing per seed: of the search trials only
 * (the default), or of every trial (the baseline reference, verification re-runs). A batch of
 * seeds (runExperimentSeeds) becomes one timing per seed it ran: the first from the batch's
 * scheduling, the others from their start on the worker; the last ends when the batch closed, so
 * the round trip to the next batch stays in the slot's overhead.
 */
export function experimentTimings(
  runs: readonly RunHistory[],
  which: 'search' | 'all' = 'search',
): ActivityTiming[] {
  return runs
    .flatMap((r) => r.activities)
    .flatMap(seedTimings)
    .filter(
      (a) =>
        which === 'all' ||
        SEARCH_TRIAL.test(String((a.input as { trialId?: unknown } | undefined)?.trialId ?? '')),
    )
    .sort((a, b) => a.scheduledMs - b.scheduledMs);
}

interface BatchInput {
  jobs?: unknown[];
}
interface BatchResult {
  results?: unknown[];
  timings?: { startedMs: number; endedMs: number }[];
}

/** One timing per seed of an experiment activity (none for other activities). */
export function seedTimings(a: ActivityTiming): ActivityTiming[] {
  if (a.type === 'runExperimentSeed') return [a];
  if (a.type !== 'runExperimentSeeds') return [];
  const jobs = (a.input as BatchInput | undefined)?.jobs ?? [];
  const out = a.result as BatchResult | undefined;
  if (!out?.timings || !out.results)
    return jobs.map((input) => ({ ...a, type: 'runExperimentSeed', input, result: undefined }));
  const ran = jobs.flatMap((input, i) => {
    const t = out.timings![i];
    return t && t.startedMs > 0 ? [{ input, result: out.results![i], t }] : [];
  });
  return ran.map(({ input, result, t }, i) => ({
    type: 'runExperimentSeed',
    scheduledMs: i === 0 ? a.scheduledMs : t.startedMs,
    startedMs: i === 0 ? a.startedMs : t.startedMs,
    closedMs: i === ran.length - 1 ? a.closedMs : t.endedMs,
    status: a.status,
    input,
    result,
  }));
}

/** The experiment's own run time reported by a completed runExperimentSeed, ms (0 when unknown). */
export function workMs(a: ActivityTiming): number {
  const d = (a.result as { durationSeconds?: unknown } | undefined)?.durationSeconds;
  return typeof d === 'number' && Number.isFinite(d) ? d * 1000 : 0;
}
