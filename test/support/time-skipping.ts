/**
 * Campaigns on Temporal's time-skipping test server: the real campaign workflow bundle, a worker
 * with fast in-memory activities, and a client whose `result()` lets days of workflow time pass
 * in milliseconds. The stopping, drain, deadline and approval rules are tested here, black-box:
 * through the workflow's own updates and queries (by name, as the API sends them) and its report.
 *
 * Time skips only while nothing runs: the test server holds its clock while any activity is in
 * flight (and while a workflow task or a query is outstanding). So an experiment that "takes
 * hours" is one that reports hours of compute (`durationSeconds`) and returns at once; days pass
 * while the campaign waits on its own timers (the wall-clock deadline, approval timeouts). A seed
 * the test holds (`lab.hold`) is running for as long as the test wants, in real time, until it
 * is released or cancelled.
 *
 * One test server per test file, and one campaign at a time on it: time is global to the server,
 * and `result()` unlocks time skipping for everything on it. And a campaign that ends while a seed
 * it cancelled is still winding down (a stop or the deadline cancels without waiting) holds the
 * server's clock for good: the Java test server forgets the activity but not the lock it took.
 * So tests that need time to skip start their campaigns with `skipsTime: true`, which fails at
 * once when an earlier campaign on the same server left the clock held; they go first in a file,
 * or in a file of their own.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import type { createActivities } from '../../activities/index.js';
import { createRecordingActivities } from '../../activities/recording.js';
import { createSeedActivities } from '../../activities/seeds.js';
import { createStrategyActivities } from '../../activities/strategies/index.js';
import type { Actor, EvaluationCriteria } from '../../domain/schemas.js';
import type { MlflowClient } from '../../mlflow-ts-client/index.js';
import { resolveTimeSkippingServer } from '../../stack/install.js';
import { recordingQueue } from '../../workflows/options.js';
import { dataConverter } from '../../temporal/data-converter.js';
import type {
  AuditEntry,
  CampaignInput,
  CampaignReport,
  CampaignStatus,
  CampaignTiming,
  PendingApproval,
  TrialSummary,
} from '../../workflows/types.js';
import { campaignInput, quadCriteria } from './quadratic.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The campaign workflow bundle, built once per run (test/time-skipping/global-setup.ts). */
    campaignBundle: string;
  }
}

type Activities = ReturnType<typeof createActivities>;
type SeedInput = Parameters<Activities['runExperimentSeed']>[0];
type SeedOutput = Awaited<ReturnType<Activities['runExperimentSeed']>>;

export const pi: Actor = { name: 'Pat PI', role: 'pi' };

/** One call of the fake experiment: a seed of a trial. */
export interface SeedCall {
  trialId: string;
  seed: number;
  params: SeedInput['params'];
  state: 'running' | 'succeeded' | 'cancelled';
}

/** A seed of a search trial (not a reference measurement or a verification re-run). */
export const searchSeed = (call: SeedCall): boolean => /^t\d/.test(call.trialId);

/**
 * The fake experiment behind `runExperimentSeed`: the quadratic problem of the campaign fixture
 * (score = 10 - (x-1)^2 - (y+2)^2, plus a little per-seed noise), answered at once unless held.
 */
export class FakeLab {
  /** Every seed run, in the order they started. */
  readonly calls: SeedCall[] = [];
  /** Metrics of a seed. @default the quadratic with per-seed noise */
  score: (params: SeedInput['params'], seed: number) => Record<string, number> = (p, seed) => ({
    score: 10 - (Number(p.x) - 1) ** 2 - (Number(p.y) + 2) ** 2 + ((seed % 7) - 3) * 0.05,
  });
  /** Compute seconds each seed reports. @default 3 hours */
  durationSeconds = 3 * 3600;
  /** Seeds that wait for `release` (or a cancellation) before they answer. @default none */
  hold: (call: SeedCall) => boolean = () => false;
  private waiting = new Map<SeedCall, () => void>();

  async run(input: SeedInput): Promise<SeedOutput> {
    const call: SeedCall = {
      trialId: input.trialId ?? '',
      seed: input.seed,
      params: input.params,
      state: 'running',
    };
    this.calls.push(call);
    if (this.hold(call)) {
      const ctx = Context.current();
      // Heartbeats bring the cancellation of a stop or a deadline to the held seed.
      const beat = setInterval(() => ctx.heartbeat(), 50);
      try {
        await Promise.race([
          new Promise<void>((resolve) => this.waiting.set(call, resolve)),
          ctx.cancelled,
        ]);
      } catch (err) {
        call.state = 'cancelled';
        throw err;
      } finally {
        clearInterval(beat);
        this.waiting.delete(call);
      }
    }
    call.state = 'succeeded';
    return {
      seed: input.seed,
      status: 'succeeded',
      metrics: this.score(input.params, input.seed),
      durationSeconds: this.durationSeconds,
    };
  }

  /** Seeds held right now. */
  held(): SeedCall[] {
    return [...this.waiting.keys()];
  }

  /** Lets held seeds answer (those `which` selects; all by default) and holds no new ones. */
  release(which: (call: SeedCall) => boolean = () => true): void {
    this.hold = () => false;
    for (const [call, resolve] of [...this.waiting]) if (which(call)) resolve();
  }
}

/** What the in-memory recording activities were asked to write. */
export interface RecordingLog {
  calls: { activity: string; input: unknown }[];
  /** Trial ids recordTrial and recordTrials received, in order. */
  trials(): string[];
  /** Recording activities that wait for `release` before they answer (by name). @default none */
  hold: (activity: string) => boolean;
  /** The input of the first call of `activity`, once it is made. */
  called(activity: string): Promise<unknown>;
  /** Lets held calls answer and holds no new ones. */
  release(): void;
}

/**
 * The recording activities in memory: every activity the real recording module has, answering
 * what the workflow reads back (run ids), so recording runs its production path on its own queue.
 * A test may hold calls (`hold`, e.g. the records snapshot) until it releases them.
 */
function memoryRecording(): {
  activities: Record<string, (input: never) => Promise<unknown>>;
  log: RecordingLog;
} {
  const calls: RecordingLog['calls'] = [];
  const waiting = new Set<() => void>();
  const callers = new Set<() => void>();
  const answers: Record<
    string,
    (input: { trial?: { id: string }; items?: { trial: { id: string } }[] }) => unknown
  > = {
    recordCampaignStart: () => ({ experimentId: 'exp-1', runId: 'campaign-run' }),
    recordTrial: (input) => ({ runId: `run-${input.trial?.id ?? 'unknown'}` }),
    recordTrials: (input) => ({
      runIds: (input.items ?? []).map((it) => `run-${it.trial.id}`),
    }),
    recordRecordsSnapshot: () => ({ trials: 0 }),
  };
  // The names come from the real module, so an activity added there is at least registered
  // (answering undefined) rather than retried forever as unknown.
  const names = Object.keys(createRecordingActivities({ mlflow: {} as MlflowClient }));
  const activities = Object.fromEntries(
    names.map((name) => [
      name,
      async (input: never) => {
        calls.push({ activity: name, input });
        for (const wake of [...callers]) wake();
        if (log.hold(name)) await new Promise<void>((resolve) => waiting.add(resolve));
        return answers[name]?.(input);
      },
    ]),
  );
  const log: RecordingLog = {
    calls,
    hold: () => false,
    async called(activity) {
      for (;;) {
        const call = calls.find((c) => c.activity === activity);
        if (call) return call.input;
        await new Promise<void>((resolve) => {
          const wake = () => {
            callers.delete(wake);
            resolve();
          };
          callers.add(wake);
        });
      }
    },
    release() {
      log.hold = () => false;
      for (const resolve of [...waiting]) resolve();
      waiting.clear();
    },
    trials: () =>
      calls.flatMap((c) =>
        c.activity === 'recordTrial'
          ? [(c.input as { trial: { id: string } }).trial.id]
          : c.activity === 'recordTrials'
            ? (c.input as { items: { trial: { id: string } }[] }).items.map((it) => it.trial.id)
            : [],
      ),
  };
  return { activities, log };
}

export interface CampaignOptions {
  /** Criteria fields over the quadratic fixture's (budgets are required there). */
  criteria: Record<string, unknown>;
  timing?: CampaignTiming;
  /** Record in (in-memory) MLflow: more activities, so only where a test checks the records. @default false */
  mlflow?: boolean;
  /** The test needs workflow time to skip ahead (see the module comment). @default false */
  skipsTime?: boolean;
}

/** A campaign on the test server, driven through its updates and queries by name. */
export class Campaign {
  constructor(
    readonly handle: WorkflowHandle,
    readonly input: CampaignInput,
  ) {}

  status(): Promise<CampaignStatus> {
    return this.handle.query<CampaignStatus>('status');
  }
  async trials(kind?: TrialSummary['kind']): Promise<TrialSummary[]> {
    const page = await this.handle.query<{ trials: TrialSummary[] }, [unknown]>('trials', {
      limit: 10_000,
      ...(kind ? { kind } : {}),
    });
    return page.trials;
  }
  pending(): Promise<PendingApproval[]> {
    return this.handle.query<PendingApproval[]>('pendingApprovals');
  }
  audit(): Promise<AuditEntry[]> {
    return this.handle.query<AuditEntry[]>('audit');
  }
  stop(opts: { reason?: string; cancelRunning?: boolean; verify?: boolean } = {}): Promise<void> {
    return this.handle.executeUpdate<void, [unknown]>('stop', { args: [{ actor: pi, ...opts }] });
  }
  decide(hypothesisId: string, decision: 'approve' | 'reject', reason?: string): Promise<void> {
    return this.handle.executeUpdate<void, [unknown]>('decide', {
      args: [{ actor: pi, hypothesisId, decision, ...(reason ? { reason } : {}) }],
    });
  }
  /** Waits for the report, letting workflow time skip ahead meanwhile. */
  result(): Promise<CampaignReport> {
    return this.handle.result() as Promise<CampaignReport>;
  }
}

export interface TimeSkippingEnv {
  env: TestWorkflowEnvironment;
  lab: FakeLab;
  recording: RecordingLog;
  /** An earlier campaign ended with a seed still winding down: time no longer skips on this server. */
  readonly clockHeld: boolean;
  start(opts: CampaignOptions): Promise<Campaign>;
  /** Polls `check` (queries, the lab) until it returns a value; fails after `timeoutMs` of real time. */
  until<T>(
    check: () => Promise<T | undefined | null | false> | T | undefined | null | false,
    what: string,
    timeoutMs?: number,
  ): Promise<T>;
  close(): Promise<void>;
}

let runtimeInstalled = false;

/**
 * The SDK gives the server 5 s to answer and then kills it; a JVM on a busy machine can miss
 * that (the installer's class-data archive makes it rare), so it gets three tries.
 */
async function startServer(executable: string): Promise<TestWorkflowEnvironment> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: executable } },
        client: { dataConverter },
      });
    } catch (err) {
      if (attempt === 3 || !/did not start within/.test(String(err))) throw err;
    }
  }
}

/**
 * Starts a time-skipping test server and a worker running the campaign workflow bundle with
 * fast activities: the fake experiment (`lab`), the real random strategy (pure, in-process) and
 * in-memory recording. Call `lab` setters before starting a campaign; a fresh lab per campaign.
 */
export async function createTimeSkippingEnv(): Promise<TimeSkippingEnv> {
  if (!runtimeInstalled) {
    runtimeInstalled = true;
    try {
      Runtime.install({ logger: new DefaultLogger('WARN') });
    } catch {
      // Installed already in this process.
    }
  }
  const server = await resolveTimeSkippingServer();
  const env = await startServer(server.path);
  const taskQueue = `timeskip-${randomUUID().slice(0, 8)}`;
  const current = { lab: new FakeLab(), recording: memoryRecording() };
  const strategies = createStrategyActivities({});
  const common = {
    connection: env.nativeConnection,
    // Cancellations reach held seeds within a heartbeat or two.
    maxHeartbeatThrottleInterval: '50ms',
    defaultHeartbeatThrottleInterval: '50ms',
    maxConcurrentActivityTaskExecutions: 200,
    shutdownGraceTime: '1s',
    dataConverter,
  } as const;
  const main = await Worker.create({
    ...common,
    taskQueue,
    workflowBundle: { code: inject('campaignBundle') },
    activities: {
      runExperimentSeed: (input: SeedInput) => current.lab.run(input),
      // Batched short seeds (domain/batches.ts): the same fake, one seed after another.
      runExperimentSeeds: async ({ jobs }: { jobs: SeedInput[] }) => {
        const results: SeedOutput[] = [];
        const timings: { startedMs: number; endedMs: number }[] = [];
        for (const job of jobs) {
          const startedMs = Date.now();
          results.push(await current.lab.run(job));
          timings.push({ startedMs, endedMs: Date.now() });
        }
        return { results, timings };
      },
      proposeHypotheses: strategies.proposeHypotheses,
      estimateStrategyCost: strategies.estimateStrategyCost,
      // The real secret verification seeds (node:crypto): instant.
      ...createSeedActivities(),
    },
  });
  const recorder = await Worker.create({
    ...common,
    taskQueue: recordingQueue(taskQueue),
    activities: Object.fromEntries(
      Object.keys(current.recording.activities).map((name) => [
        name,
        (input: never) => current.recording.activities[name]!(input),
      ]),
    ),
  });
  const running = Promise.all([main.run(), recorder.run()]);
  let held = false;
  const clockHeld = () => (held ||= current.lab.calls.some((c) => c.state !== 'succeeded'));

  const ts: TimeSkippingEnv = {
    env,
    get lab() {
      return current.lab;
    },
    get recording() {
      return current.recording.log;
    },
    get clockHeld() {
      return clockHeld();
    },
    async start(opts) {
      if (clockHeld() && opts.skipsTime)
        throw new Error(
          'an earlier campaign on this test server ended while a cancelled seed was winding down, ' +
            'which holds its clock for good: run tests that skip time before tests that cancel ' +
            'running seeds, or in a file of their own',
        );
      current.lab = new FakeLab();
      current.recording = memoryRecording();
      const base = campaignInput({
        criteria: quadCriteria(opts.criteria) as EvaluationCriteria,
        ...(opts.timing ? { timing: opts.timing } : {}),
      });
      const input: CampaignInput = {
        ...base,
        campaignId: `quad-${randomUUID().slice(0, 8)}`,
        experiment: { ...base.experiment, taskQueue, timeoutSeconds: 24 * 3600 },
        mlflow: opts.mlflow ?? false,
      };
      const handle = await env.client.workflow.start('campaignWorkflow', {
        taskQueue,
        workflowId: input.campaignId,
        args: [input],
      });
      return new Campaign(handle, input);
    },
    async until(check, what, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      let last: unknown;
      for (;;) {
        try {
          const v = await check();
          if (v) return v;
        } catch (err) {
          last = err;
        }
        if (Date.now() > deadline)
          throw new Error(
            `${what}: not seen in ${timeoutMs} ms${last ? ` (${String(last)})` : ''}`,
          );
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      current.lab.release();
      current.recording.log.release();
      main.shutdown();
      recorder.shutdown();
      await running;
      await env.teardown();
    },
  };
  // A fresh worker's first workflow task loads the bundle into its V8 context (a second or more
  // on a busy machine): one short campaign pays for it here, not the first test.
  await (await ts.start({ criteria: { seedsPerTrial: 1, budgets: { maxTrials: 1 } } })).result();
  return ts;
}
