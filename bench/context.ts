/**
 * What every benchmark runs against: a Temporal server and an MLflow server (a stack of the
 * bench's own, fresh, unless TEMPORAL_ADDRESS and MLFLOW_TRACKING_URI name running ones), one
 * gaplab worker (a child process by default, so its memory is measured apart), and the service
 * layer the API and CLI use to start and read campaigns.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { Actor } from '../domain/schemas.js';
import type { StrategyConfigInput } from '../domain/strategy.js';
import type { ExperimentRegistry } from '../experiments/registry.js';
import { GaplabService } from '../server/service.js';
import { Stack } from '../stack/index.js';
import { exportMlflowCredentials } from '../stack/mlflow-auth.js';
import { isAlive } from '../stack/process.js';
import { STATE_DIR } from '../stack/paths.js';
import type { CampaignReport, CampaignTiming, TrialSummary } from '../workflows/types.js';
import { startWorker, type RunningWorker } from '../worker/index.js';
import { dataConverter } from '../temporal/data-converter.js';
import { recordsSnapshotWorkflowId } from '../workflows/records-snapshot.js';
import { benchRegistry, type BenchProblem } from './experiments.js';
import { MemorySampler, processGroupPids } from './memory.js';
import type { ChildMessage, ParentMessage, WorkerProcessOptions } from './worker-process.js';

export const pi: Actor = { name: 'bench-pi', role: 'pi' };

export interface ContextOptions {
  /** Run the worker in this process instead of a child process. @default false */
  inProcessWorker?: boolean;
  /** Activities the worker runs at once (experiments, strategy calls and recording share them). @default 64 */
  maxConcurrentActivities?: number;
  /** Folder of the bench's own stack. @default <state>/bench-stack */
  stackDir?: string;
  /** @default 37233 */
  temporalPort?: number;
  /** @default 35050 */
  mlflowPort?: number;
  /** Leave the bench's own stack running at the end. @default false */
  keepStack?: boolean;
  log?: (line: string) => void;
}

/** The worker as the benchmarks see it, wherever it runs. */
export interface BenchWorker {
  mode: 'process' | 'in-process';
  pid: number;
  /** Resident memory of the worker now, in bytes. */
  rss(): Promise<number>;
  shutdown(): Promise<void>;
}

export interface CampaignRun {
  campaignId: string;
  problemId: string;
  report: CampaignReport;
  /** Every trial of the campaign (all pages), in index order. */
  trials: TrialSummary[];
  /** From the start request to the result, in ms (client clock). */
  wallMs: number;
  startedAtMs: number;
  /** The records snapshot written after the result (workflows/records-snapshot.ts), ms; null: none. */
  snapshotMs: number | null;
}

export class BenchContext {
  readonly runTag = randomBytes(3).toString('hex');
  readonly log: (line: string) => void;
  private services = new Map<string, GaplabService>();
  private problemCounter = 0;

  private constructor(
    readonly temporalAddress: string,
    readonly mlflowUri: string,
    readonly connection: Connection,
    readonly client: Client,
    readonly registry: ExperimentRegistry,
    readonly taskQueue: string,
    readonly worker: BenchWorker,
    /** The stack this context started (null when it uses running services). */
    readonly stack: Stack | null,
    private readonly keepStack: boolean,
    log: (line: string) => void,
  ) {
    this.log = log;
  }

  static async create(opts: ContextOptions = {}): Promise<BenchContext> {
    const log = opts.log ?? ((line: string) => console.log(line));
    let stack: Stack | null = null;
    let temporalAddress = process.env.TEMPORAL_ADDRESS;
    let mlflowUri = process.env.MLFLOW_TRACKING_URI;
    if (!temporalAddress || !mlflowUri) {
      const dir = opts.stackDir ?? path.join(STATE_DIR, 'bench-stack');
      stack = new Stack({
        dir,
        temporalPort: opts.temporalPort ?? 37233,
        mlflowPort: opts.mlflowPort ?? 35050,
        log: (l) => log(`[stack] ${l}`),
      });
      // One run at a time on the bench's stack: the next would stop it and wipe its data.
      takeStackLock(dir);
      // A fresh stack per run: an MLflow database full of earlier runs would slow its searches.
      await stack.down();
      fs.rmSync(path.join(dir, 'data'), { recursive: true, force: true });
      fs.rmSync(path.join(dir, 'postgres'), { recursive: true, force: true });
      await stack.up();
      exportMlflowCredentials(stack.mlflowCredentials());
      temporalAddress = stack.temporalAddress;
      mlflowUri = stack.mlflowUri;
    } else {
      log(`[bench] using running services: Temporal ${temporalAddress}, MLflow ${mlflowUri}`);
    }
    const registry = await benchRegistry();
    const connection = await Connection.connect({ address: temporalAddress });
    const client = new Client({ connection, namespace: 'default', dataConverter });
    const taskQueue = `bench-${randomBytes(4).toString('hex')}`;
    const workerOpts: WorkerProcessOptions = {
      temporalAddress,
      mlflowUri,
      taskQueue,
      maxConcurrentActivities: opts.maxConcurrentActivities ?? 64,
      workDir: path.join(os.tmpdir(), 'gaplab-bench-runs', taskQueue),
    };
    log(
      `[bench] starting a worker (${opts.inProcessWorker ? 'in this process' : 'child process'}) on ${taskQueue}`,
    );
    const worker = opts.inProcessWorker
      ? await inProcessWorker(workerOpts, registry)
      : await childWorker(workerOpts);
    return new BenchContext(
      temporalAddress,
      mlflowUri,
      connection,
      client,
      registry,
      taskQueue,
      worker,
      stack,
      opts.keepStack ?? false,
      log,
    );
  }

  /** The service, recording in MLflow or not (CampaignInput.mlflow), with the campaigns' timing. */
  service(mlflow = true, timing?: CampaignTiming): GaplabService {
    const key = JSON.stringify([mlflow, timing ?? null]);
    let s = this.services.get(key);
    if (!s) {
      s = new GaplabService({
        client: this.client,
        registry: this.registry,
        taskQueue: this.taskQueue,
        mlflow,
        ...(timing ? { timing } : {}),
      });
      this.services.set(key, s);
    }
    return s;
  }

  /** A problem id unique to this bench run. */
  problemId(name: string): string {
    return `bench-${name}-${this.runTag}-${++this.problemCounter}`.slice(0, 64);
  }

  /** Submits the problem and its criteria under a fresh id; returns the id. */
  async submit(problem: BenchProblem, name: string): Promise<string> {
    const id = this.problemId(name);
    const service = this.service();
    await service.submitProblem(pi, { ...problem.spec, id });
    await service.setCriteria(pi, id, problem.criteria, 'benchmark');
    return id;
  }

  /** Submits a problem, runs one campaign on it to the end, and reads back every trial. */
  async runCampaign(
    problem: BenchProblem,
    name: string,
    strategy: StrategyConfigInput,
    opts: { mlflow?: boolean; seed?: number; timeoutMs?: number } = {},
  ): Promise<CampaignRun> {
    const problemId = await this.submit(problem, name);
    const service = this.service(opts.mlflow ?? true);
    const startedAtMs = Date.now();
    const t0 = performance.now();
    const { campaignId } = await service.startCampaign(pi, {
      problemId,
      strategy,
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    });
    const report = await withTimeout(
      service.result(campaignId),
      opts.timeoutMs ?? 3_600_000,
      `campaign ${campaignId}`,
    );
    const wallMs = performance.now() - t0;
    // The records snapshot is written after the result (workflows/records-snapshot.ts): wait
    // for it, outside the campaign's time, so the next campaign measured does not share MLflow
    // with it.
    const snapshotMs = (opts.mlflow ?? true) ? await this.recordsSnapshotMs(campaignId) : null;
    return {
      campaignId,
      problemId,
      report,
      snapshotMs,
      trials: await this.allTrials(campaignId),
      wallMs,
      startedAtMs,
    };
  }

  /**
   * Waits for a finished campaign's records snapshot workflow; its run time in ms, or null when
   * the campaign started none (recording off, or a campaign from before snapshots).
   */
  private async recordsSnapshotMs(campaignId: string): Promise<number | null> {
    const handle = this.client.workflow.getHandle(recordsSnapshotWorkflowId(campaignId));
    try {
      await handle.result();
      const d = await handle.describe();
      return d.closeTime ? d.closeTime.getTime() - d.startTime.getTime() : null;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
  }

  /** Every trial of a campaign, page by page (the trials query returns at most 1000 at once). */
  async allTrials(campaignId: string): Promise<TrialSummary[]> {
    const out: TrialSummary[] = [];
    for (let offset = 0; ;) {
      const page = await this.service().trials(campaignId, { offset, limit: 1000 });
      out.push(...page.trials);
      offset += page.trials.length;
      if (page.trials.length === 0 || offset >= page.total) break;
    }
    return out;
  }

  /** Pids of the services this context started, for memory sampling (empty for running services). */
  async servicePids(): Promise<{ temporal: number[]; mlflow: number[] }> {
    if (!this.stack) return { temporal: [], mlflow: [] };
    const status = await this.stack.status();
    const group = (name: 'temporal' | 'mlflow') => {
      const pid = status.services.find((s) => s.name === name)?.pid;
      return pid === undefined ? [] : processGroupPids(pid);
    };
    return { temporal: group('temporal'), mlflow: group('mlflow') };
  }

  /**
   * A started sampler of the worker, this process (client, service and API) and the bench's own
   * services (`temporal`, `mlflow`; absent when the context uses running servers).
   */
  async memorySampler(everyMs = 250): Promise<MemorySampler> {
    const pids = await this.servicePids();
    const sampler = new MemorySampler(
      {
        worker: () => [this.worker.pid],
        client: () => [process.pid],
        ...(pids.temporal.length ? { temporal: () => pids.temporal } : {}),
        ...(pids.mlflow.length ? { mlflow: () => pids.mlflow } : {}),
      },
      everyMs,
    );
    sampler.start();
    return sampler;
  }

  async close(): Promise<void> {
    await this.worker
      .shutdown()
      .catch((err: unknown) => this.log(`[bench] worker shutdown: ${String(err)}`));
    await this.connection.close();
    if (this.stack && !this.keepStack) await this.stack.down();
    if (this.stack) releaseStackLock(this.stack.dir);
  }
}

/** The file naming the process whose benchmark run uses a bench stack's folder. */
const lockFile = (dir: string) => path.join(dir, 'bench.lock');

/**
 * Claims the bench stack in `dir` for this process, or throws naming the live benchmark run
 * that holds it (a lock left by a run that died is taken over).
 */
export function takeStackLock(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const file = lockFile(dir);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(fs.readFileSync(file, 'utf8').trim());
    if (holder === process.pid) return;
    if (Number.isInteger(holder) && holder > 0 && isAlive(holder))
      throw new Error(
        `another benchmark run (pid ${holder}) is using the bench stack in ${dir}: starting this one would stop its Temporal and MLflow and wipe their data. Wait for it to finish, or point this run at other running services (TEMPORAL_ADDRESS and MLFLOW_TRACKING_URI)`,
      );
    // Left by a run that died: take it over.
    fs.rmSync(file, { force: true });
  }
  throw new Error(`could not take the bench stack lock ${file}`);
}

/** Gives the bench stack in `dir` back, if this process holds it. */
export function releaseStackLock(dir: string): void {
  const file = lockFile(dir);
  try {
    if (Number(fs.readFileSync(file, 'utf8').trim()) === process.pid) fs.rmSync(file);
  } catch {
    // No lock: nothing to give back.
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what} did not finish in ${Math.round(ms / 1000)} s`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function inProcessWorker(
  opts: WorkerProcessOptions,
  registry: ExperimentRegistry,
): Promise<BenchWorker> {
  const w: RunningWorker = await startWorker({ ...opts, registry, shutdownGraceSeconds: 2 });
  return {
    mode: 'in-process',
    pid: process.pid,
    rss: async () => process.memoryUsage().rss,
    shutdown: () => w.shutdown(),
  };
}

const WORKER_SCRIPT = fileURLToPath(new URL('./worker-process.ts', import.meta.url));

async function childWorker(opts: WorkerProcessOptions): Promise<BenchWorker> {
  const child: ChildProcess = fork(WORKER_SCRIPT, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, GAPLAB_BENCH_WORKER: JSON.stringify(opts) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  await new Promise<void>((resolve, reject) => {
    const onMessage = (m: ChildMessage) => {
      if (m.type === 'ready') {
        child.off('message', onMessage);
        resolve();
      } else if (m.type === 'error')
        reject(new Error(`bench worker failed to start: ${m.message}`));
    };
    child.on('message', onMessage);
    void exited.then((code) =>
      reject(new Error(`bench worker exited with code ${code} before it was ready`)),
    );
  });
  let nextId = 1;
  const request = (m: ParentMessage) => child.send(m);
  return {
    mode: 'process',
    pid: child.pid!,
    rss: () =>
      new Promise<number>((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(
          () => reject(new Error('the bench worker did not answer a memory request')),
          10_000,
        );
        const onMessage = (m: ChildMessage) => {
          if (m.type === 'memory' && m.id === id) {
            clearTimeout(timer);
            child.off('message', onMessage);
            resolve(m.rss);
          }
        };
        child.on('message', onMessage);
        request({ type: 'memory', id });
      }),
    async shutdown() {
      if (child.exitCode !== null) return;
      request({ type: 'shutdown' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
