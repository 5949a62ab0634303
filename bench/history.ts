/**
 * What a campaign's Temporal histories say: every run of the workflow (continue-as-new makes
 * several), its event count, and the timing of each activity from the server's own event times
 * — more precise than the workflow's trial timestamps, which start when a trial is queued for a
 * slot rather than when its experiment is scheduled.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';

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

const toMs = (t: Timestamp | null | undefined): number => (t ? Number(String(t.seconds ?? 0)) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : NaN);

function decode(payloads: { payloads?: Payload[] | null } | null | undefined): unknown {
  const p = payloads?.payloads?.[0];
  if (!p) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(p as never);
  } catch {
    return undefined;
  }
}

const idNum = (id: { toString(): string } | number | null | undefined): string => String(id ?? '');

/** Every run of a workflow, oldest first, with its activities' timings. */
export async function workflowRuns(client: Client, workflowId: string): Promise<RunHistory[]> {
  const runs: RunHistory[] = [];
  let runId: string | undefined = undefined;
  // From the latest run back along continuedExecutionRunId.
  for (let guard = 0; guard < 10_000; guard++) {
    const handle: WorkflowHandle = client.workflow.getHandle(workflowId, runId);
    const history: Awaited<ReturnType<WorkflowHandle['fetchHistory']>> = await handle.fetchHistory();
    const events = history.events ?? [];
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
          input: decode(a.input),
          result: undefined,
        });
      } else if (e.activityTaskStartedEventAttributes) {
        const t = byScheduled.get(idNum(e.activityTaskStartedEventAttributes.scheduledEventId));
        if (t) t.startedMs = toMs(e.eventTime);
      } else if (e.activityTaskCompletedEventAttributes) {
        const t = byScheduled.get(idNum(e.activityTaskCompletedEventAttributes.scheduledEventId));
        if (t) Object.assign(t, { closedMs: toMs(e.eventTime), status: 'completed', result: decode(e.activityTaskCompletedEventAttributes.result) });
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
    const inputBytes = (started?.input?.payloads ?? []).reduce((s, p) => s + (p.data?.length ?? 0), 0);
    const thisRunId = runId ?? (await handle.describe()).runId;
    runs.unshift({ runId: thisRunId, events: events.length, activities: [...byScheduled.values()], inputBytes });
    const previous: string | null | undefined = started?.continuedExecutionRunId;
    if (!previous) break;
    runId = previous;
  }
  return runs;
}

/** Search trial ids are t0001, t0002...; the baseline and verification re-runs are not. */
const SEARCH_TRIAL = /^t\d+$/;

/**
 * Experiment activities (one per seed) of all runs, in schedule order: of the search trials only
 * (the default), or of every trial (the baseline reference, verification re-runs).
 */
export function experimentTimings(runs: readonly RunHistory[], which: 'search' | 'all' = 'search'): ActivityTiming[] {
  return runs
    .flatMap((r) => r.activities)
    .filter((a) => a.type === 'runExperimentSeed')
    .filter((a) => which === 'all' || SEARCH_TRIAL.test(String((a.input as { trialId?: unknown } | undefined)?.trialId ?? '')))
    .sort((a, b) => a.scheduledMs - b.scheduledMs);
}

/** The experiment's own run time reported by a completed runExperimentSeed, ms (0 when unknown). */
export function workMs(a: ActivityTiming): number {
  const d = (a.result as { durationSeconds?: unknown } | undefined)?.durationSeconds;
  return typeof d === 'number' && Number.isFinite(d) ? d * 1000 : 0;
}
