/**
 * Records the replay fixtures of test/time-skipping/replay-compat.test.ts: short campaigns on
 * Temporal's time-skipping test server, run by the campaign workflow code of the tree this script
 * sits in, each exported as a JSON history into test/fixtures/histories/<name>.json.
 *
 * Together they cover every phase: the reference measurement, a search with several trials and a
 * failed one, a campaign recorded to (in-memory) MLflow to its end (the records snapshot), an
 * injected idea approved by a PI, a deadline (maxWallSeconds) that ends the verification, and a
 * PI stop during verification (cancelling, and letting the run finish).
 *
 * Refresh at a release (the released code is what campaigns in flight were started with):
 *
 *   git worktree add /tmp/wt-rel <release commit>
 *   cd /tmp/wt-rel && ln -s /work/main/node_modules node_modules && ln -s /work/main/.gaplab .gaplab
 *   cp /work/main/test/support/record-histories.ts test/support/   # when the release lacks it
 *   npx tsx test/support/record-histories.ts /work/main/test/fixtures/histories
 *   cd /work/main && git worktree remove --force /tmp/wt-rel
 *
 * then run the replay test against the current code. Keep the fixtures of the last release or
 * two: campaigns started before them have ended by then.
 */
import { createSeedActivities } from '../../activities/seeds.js';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { historyToFixture } from './replay-fixtures.js';
import { createRecordingActivities } from '../../activities/recording.js';
import { createStrategyActivities } from '../../activities/strategies/index.js';
import type { EvaluationCriteria, SeedResult } from '../../domain/schemas.js';
import type { MlflowClient } from '../../mlflow-ts-client/index.js';
import { resolveTimeSkippingServer } from '../../stack/install.js';
import { recordingQueue } from '../../workflows/options.js';
import { dataConverter } from '../../temporal/data-converter.js';
import type { CampaignInput, PendingApproval } from '../../workflows/types.js';
import { campaignInput, quadCriteria } from './quadratic.js';

const DAY = 24 * 3600;
const pi = { name: 'Pat PI', role: 'pi' } as const;
const outDir = resolve(
  process.argv[2] ?? fileURLToPath(new URL('../fixtures/histories', import.meta.url)),
);
/** Fixture names to record (all by default). */
const only = process.argv.slice(3);
const wanted = (name: string) => only.length === 0 || only.includes(name);

interface SeedIn {
  trialId?: string;
  seed: number;
  params: Record<string, unknown>;
}
/** The fake experiment: the quadratic bowl, a failed seed where `fails`, held seeds where `hold`. */
const lab = {
  fails: (_c: SeedIn) => false,
  hold: (_c: SeedIn) => false,
  held: new Map<SeedIn, () => void>(),
  release() {
    this.hold = () => false;
    for (const r of this.held.values()) r();
  },
};
async function runSeed(input: SeedIn): Promise<SeedResult> {
  if (lab.hold(input)) {
    const ctx = Context.current();
    const beat = setInterval(() => ctx.heartbeat(), 50);
    try {
      await Promise.race([new Promise<void>((r) => lab.held.set(input, r)), ctx.cancelled]);
    } finally {
      clearInterval(beat);
      lab.held.delete(input);
    }
  }
  if (lab.fails(input))
    return { seed: input.seed, status: 'failed', metrics: {}, durationSeconds: 60, error: 'boom' };
  const { x, y } = input.params as { x: number; y: number };
  const score = 10 - (x - 1) ** 2 - (y + 2) ** 2 + ((input.seed % 7) - 3) * 0.05;
  return { seed: input.seed, status: 'succeeded', metrics: { score }, durationSeconds: 3 * 3600 };
}

async function until<T>(check: () => Promise<T | undefined | false>, what: string): Promise<T> {
  const end = Date.now() + 30_000;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`${what}: not seen in 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const server = await resolveTimeSkippingServer();
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: server.path } },
    client: { dataConverter },
  });
  const { code } = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('../../workflows/index.ts', import.meta.url)),
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: console.error },
  });
  const taskQueue = `record-${randomUUID().slice(0, 8)}`;
  const strategies = createStrategyActivities({});
  const common = {
    connection: env.nativeConnection,
    maxHeartbeatThrottleInterval: '50ms',
    defaultHeartbeatThrottleInterval: '50ms',
    shutdownGraceTime: '1s',
    dataConverter,
  } as const;
  const recorded = Object.keys(createRecordingActivities({ mlflow: {} as MlflowClient }));
  const workers = [
    await Worker.create({
      ...common,
      taskQueue,
      workflowBundle: { code },
      activities: {
        runExperimentSeed: runSeed,
        runExperimentSeeds: async ({ jobs }: { jobs: Parameters<typeof runSeed>[0][] }) => {
          const results = [];
          for (const job of jobs) results.push(await runSeed(job));
          return { results, timings: results.map(() => ({ startedMs: 1, endedMs: 1 })) };
        },
        proposeHypotheses: strategies.proposeHypotheses,
        estimateStrategyCost: strategies.estimateStrategyCost,
        ...createSeedActivities(),
      },
    }),
    await Worker.create({
      ...common,
      taskQueue: recordingQueue(taskQueue),
      activities: Object.fromEntries(
        recorded.map((name) => [
          name,
          async (input: { trial?: { id: string }; items?: { trial: { id: string } }[] }) =>
            ({
              recordCampaignStart: { experimentId: 'exp-1', runId: 'campaign-run' },
              recordTrial: { runId: `run-${input?.trial?.id ?? 'unknown'}` },
              recordTrials: { runIds: (input?.items ?? []).map((it) => `run-${it.trial.id}`) },
              recordRecordsSnapshot: { trials: 0 },
            })[name],
        ]),
      ),
    }),
  ];
  const running = Promise.all(workers.map((w) => w.run()));

  const start = async (name: string, criteria: Record<string, unknown>, mlflow = false) => {
    const base = campaignInput({ criteria: quadCriteria(criteria) as EvaluationCriteria });
    const input: CampaignInput = {
      ...base,
      campaignId: `${name}-${randomUUID().slice(0, 8)}`,
      experiment: { ...base.experiment, taskQueue, timeoutSeconds: DAY },
      mlflow,
    };
    return env.client.workflow.start('campaignWorkflow', {
      taskQueue,
      workflowId: input.campaignId,
      args: [input],
    });
  };
  const save = async (name: string, handle: WorkflowHandle) => {
    const report = (await handle.result()) as { stopReason?: string; stopDetail?: string };
    const json = historyToFixture(await handle.fetchHistory());
    writeFileSync(resolve(outDir, `${name}.json`), json);
    console.log(`${name}: ${json.length} bytes, ${report.stopReason} (${report.stopDetail ?? ''})`);
  };
  const pending = (h: WorkflowHandle, n: number) =>
    until(async () => {
      const p = await h.query<PendingApproval[]>('pendingApprovals');
      return p.length >= n && p;
    }, `${n} ideas awaiting approval`);
  const decide = (h: WorkflowHandle, hypothesisId: string) =>
    h.executeUpdate('decide', { args: [{ actor: pi, hypothesisId, decision: 'approve' }] });
  const stop = (h: WorkflowHandle, cancelRunning: boolean) =>
    h.executeUpdate('stop', { args: [{ actor: pi, reason: 'enough', cancelRunning }] });
  const verificationSeed = (c: SeedIn) => /^v\d/.test(c.trialId ?? '');
  mkdirSync(outDir, { recursive: true });

  // The reference measurement, a search of several trials, one of them failed, and verification.
  lab.fails = (c) => c.trialId === 't2';
  if (wanted('search-with-failure'))
    await save(
      'search-with-failure',
      await start('search', { seedsPerTrial: 2, budgets: { maxTrials: 4, concurrency: 2 } }),
    );
  lab.fails = () => false;

  // Recorded to MLflow (in memory) to its end: the campaign's end record, then its records snapshot.
  if (wanted('recorded-to-mlflow'))
    await save(
      'recorded-to-mlflow',
      await start(
        'recorded',
        { seedsPerTrial: 1, budgets: { maxTrials: 3, concurrency: 2 } },
        true,
      ),
    );

  // A PI's idea injected and approved beside the strategy's, approval on.
  if (wanted('injected-idea-approved')) {
    const h = await start('idea', {
      seedsPerTrial: 1,
      budgets: { maxTrials: 3, concurrency: 1 },
      approval: { enabled: true, timeoutSeconds: DAY },
    });
    await until(
      async () => (await h.query<{ phase: string }>('status')).phase === 'running',
      'search',
    );
    const { hypothesisId } = await h.executeUpdate<{ hypothesisId: string }, [unknown]>(
      'injectHypothesis',
      {
        args: [
          {
            actor: pi,
            proposal: { title: 'near the top', parentTrialId: null, changes: { x: 1, y: -2 } },
          },
        ],
      },
    );
    // The PI's own idea needs no approval; the strategy's are approved as they come.
    let ended = false;
    const approving = (async () => {
      while (!ended) {
        const ideas = await h.query<PendingApproval[]>('pendingApprovals').catch(() => []);
        for (const idea of ideas)
          if (idea.hypothesis.id !== hypothesisId)
            await decide(h, idea.hypothesis.id).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await h.result();
    ended = true;
    await approving;
    await save('injected-idea-approved', h);
  }

  // The deadline falls during verification: the second leader's verification seeds are held.
  // (Cancelled seeds hold the test server's clock for good, so this and the stops come last.)
  if (wanted('deadline-in-verification')) {
    const h = await start('deadline', {
      seedsPerTrial: 2,
      budgets: { maxWallSeconds: 2 * DAY, maxTrials: 2, concurrency: 2 },
      approval: { enabled: true, timeoutSeconds: 30 * DAY },
      verification: { topK: 2, seeds: 2 },
    });
    let first: string | undefined;
    lab.hold = (c) => {
      if (!verificationSeed(c)) return false;
      first ??= c.trialId;
      return c.trialId !== first;
    };
    const ideas = await pending(h, 2);
    const { ledger } = await h.query<{ ledger: { startedAtMs: number } }>('status');
    const deadlineMs = ledger.startedAtMs + 2 * DAY * 1000;
    await env.sleep(deadlineMs - (await env.currentTimeMs()) - 10_000);
    for (const idea of ideas.slice(0, 2)) await decide(h, idea.hypothesis.id);
    await until(async () => lab.held.size === 2, 'the second leader verification running');
    // Code that lets the deadline pass during verification verifies it all the same.
    const late = setTimeout(() => lab.release(), 15_000);
    await save('deadline-in-verification', h);
    clearTimeout(late);
    lab.release();
  }

  // A PI stop during verification, cancelling it / letting the verification in progress finish.
  for (const cancelRunning of [true, false]) {
    const name = cancelRunning ? 'stop-in-verification' : 'stop-in-verification-let-finish';
    if (!wanted(name)) continue;
    const h = await start('stop', {
      seedsPerTrial: 1,
      budgets: { maxTrials: 2, concurrency: 1 },
      verification: { topK: 1, seeds: 2 },
    });
    lab.hold = verificationSeed;
    await until(async () => lab.held.size > 0, 'verification running');
    await stop(h, cancelRunning);
    if (!cancelRunning) setTimeout(() => lab.release(), 500);
    await save(name, h);
    lab.release();
  }

  for (const w of workers) w.shutdown();
  await running;
  await env.teardown();
}

await main();
