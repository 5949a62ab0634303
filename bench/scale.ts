/**
 * 4. Scale: one campaign of N instant trials (10,000 in the full run) through the full path:
 * wall time, peak memory of the worker, this process (service and API), the Temporal server and
 * MLflow; events per workflow run (continue-as-new keeps each history bounded) and the size of the
 * state each run carries; the lineage API's latency over the whole campaign; and, when
 * bench/ui-render.ts is present, the UI's load and render time.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { MlflowClient } from '../mlflow-ts-client/index.js';
import { TAG } from '../records/names.js';
import { buildApp } from '../server/app.js';
import { TokenTable } from '../server/auth.js';
import type { CampaignTiming } from '../workflows/types.js';
import { pi, type BenchContext } from './context.js';
import { overheadProblem } from './experiments.js';
import { runHistory, runInfos, workflowTaskFailures } from './history.js';
import { fmt, mib, table, type BenchResult, type Size } from './results.js';
import { distribution, median, round, roundDistribution, type Distribution } from './stats.js';
import type { Benchmark } from './suite.js';

interface ScalePreset {
  trials: number;
  concurrency: number;
  /** Record the trials in MLflow. */
  mlflow: boolean;
  timing?: CampaignTiming;
  timeoutMs: number;
  /** Give up when no trial finished for this long (a stuck workflow). */
  stallMs: number;
  lookups: number;
  /** Trials of the UI render measurement; null to skip it. */
  uiTrials: number | null;
}

/**
 * The preset of a size. `--postgres` (GAPLAB_POSTGRES=1, set once the command line is read, so
 * looked up here and not when the module loads) turns recording on at the full size.
 */
export function scalePreset(size: Size, env: NodeJS.ProcessEnv = process.env): ScalePreset {
  const preset = PRESETS[size];
  return size === 'full' && env.GAPLAB_POSTGRES === '1'
    ? { ...preset, mlflow: true, timeoutMs: 3_600_000 }
    : preset;
}

const PRESETS: Record<Size, ScalePreset> = {
  // A small event limit makes even the tiny run continue-as-new (a trial takes few events now
  // that seeds and records are batched).
  tiny: {
    trials: 40,
    concurrency: 8,
    mlflow: true,
    timing: { historyEventLimit: 60 },
    timeoutMs: 120_000,
    stallMs: 60_000,
    lookups: 5,
    uiTrials: null,
  },
  quick: {
    trials: 1000,
    concurrency: 8,
    mlflow: true,
    timeoutMs: 600_000,
    stallMs: 90_000,
    lookups: 20,
    uiTrials: 1000,
  },
  // MLflow on SQLite records ~5 trials/s on 2 cores (see the overhead benchmark): 10,000 records
  // alone would take longer than the whole suite may. With `--postgres` (MLflow on PostgreSQL)
  // the full run records every trial and checks each is in MLflow exactly once.
  full: {
    trials: 10_000,
    concurrency: 8,
    mlflow: false,
    timeoutMs: 480_000,
    stallMs: 90_000,
    lookups: 50,
    uiTrials: 10_000,
  },
};

export interface ScaleData {
  requested: number;
  concurrency: number;
  /** The campaign ran its whole trial budget. */
  completed: boolean;
  stopReason: string | null;
  trialsDone: number;
  wallSeconds: number | null;
  trialsPerSecond: number | null;
  /** Peak resident memory, bytes. */
  memory: { worker: number; client: number; temporal: number | null; mlflow: number | null };
  /** Worker RSS (MiB) as trials went by: [trialsDone, MiB]. */
  workerMemorySeries: [number, number][];
  history: {
    runs: number;
    eventsPerRun: number[];
    maxEvents: number;
    /** History size of each run, bytes (server's count). */
    bytesPerRun: (number | null)[];
    /** Bytes of the state carried into the latest run (continue-as-new input; it grows with the trials). */
    carriedBytes: number[];
    /** Largest strategy call input of the latest run (the view with the history), bytes. */
    maxStrategyInputBytes: number;
    /** Why workflow tasks failed, when they did (e.g. a payload over the server's limit). */
    workflowTaskFailures: string[];
  } | null;
  lineage: {
    source: 'http' | 'service';
    /** GET /campaigns/:id/lineage, the whole tree: first call, then the warm median. */
    wholeTreeColdMs: number | null;
    wholeTreeWarmMs: number | null;
    nodes: number | null;
    /** GET /campaigns/:id/trials/:trialId for trials spread over the campaign. */
    trialMs: Distribution;
    trialErrors: string[];
    /** Every trial page by page (limit 1000). */
    allPagesMs: number | null;
  } | null;
  ui: unknown;
  /** With recording on: the campaign's trial runs in MLflow once it has ended. */
  records?: {
    runs: number;
    /** Distinct trials among them (a trial recorded twice counts once here). */
    trials: number;
    duplicates: number;
    /** Trials the campaign finished that have no run. */
    missing: number;
    /** Runs over the campaign's wall time (its result waits for the last record). */
    perSecond: number | null;
  };
}

const UI_RENDER = fileURLToPath(new URL('./ui-render.ts', import.meta.url));
const UI_RESULT = fileURLToPath(new URL('./results/ui-render.json', import.meta.url));

/** What bench/ui-render.ts writes (the parts shown here). */
interface UiRenderResult {
  at: string;
  trials: number;
  chromium?: string;
  seedMs?: number | null;
  api?: { coldMs: number; warmMs: number };
  page?: {
    medianReadyMs: number;
    firstReadyMs: number;
    medianLayoutMs: number;
    medianDrawMs: number;
  };
  interaction?: { frameMsMedian: number; frameMsP95: number; searchAndSelectMs: number };
  targetMs?: number;
}

/**
 * The UI's load and render time from bench/ui-render.ts (another module: it seeds a campaign of
 * `trials` runs into this stack's MLflow, serves the built UI and measures it in headless
 * Chromium), run as a child process; its own result file is read back.
 */
async function measureUi(
  c: BenchContext,
  trials: number | null,
  notes: string[],
  log: (l: string) => void,
): Promise<UiRenderResult | string | null> {
  if (trials === null) {
    notes.push(
      'UI load/render: not run at this size (it seeds a campaign into MLflow, builds the UI and starts Chromium).',
    );
    return null;
  }
  if (!existsSync(UI_RENDER)) {
    notes.push('UI load/render: bench/ui-render.ts is not present, not measured.');
    return null;
  }
  log(`[scale] UI load and render at ${trials} trials (bench/ui-render.ts)`);
  const started = new Date().toISOString();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', UI_RENDER, '--trials', String(trials), '--runs', '3', '--fresh'],
      {
        env: { ...process.env, MLFLOW_TRACKING_URI: c.mlflowUri },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const forward = (b: Buffer) => {
      for (const line of b.toString('utf8').split('\n')) if (line.trim()) log(line);
    };
    child.stdout.on('data', forward);
    child.stderr.on('data', forward);
    const timer = setTimeout(() => child.kill('SIGKILL'), 900_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  try {
    const r = JSON.parse(readFileSync(UI_RESULT, 'utf8')) as UiRenderResult;
    if (code === 0 && r.at >= started) {
      notes.push(
        `UI load/render: measured by bench/ui-render.ts on a campaign of ${r.trials} trials it seeds into MLflow (not the campaign above); its full result is bench/results/ui-render.json.`,
      );
      return r;
    }
  } catch {
    // no result file
  }
  return `bench/ui-render.ts failed (exit ${code})`;
}

export const scale: Benchmark<ScaleData> = {
  name: 'scale',
  title: '4. Scale (one campaign of many instant trials)',
  needsStack: true,
  initial: () => ({
    requested: 0,
    concurrency: 0,
    completed: false,
    stopReason: null,
    trialsDone: 0,
    wallSeconds: null,
    trialsPerSecond: null,
    memory: { worker: 0, client: 0, temporal: null, mlflow: null },
    workerMemorySeries: [],
    history: null,
    lineage: null,
    ui: null,
  }),

  async run({ size, ctx, out, log }) {
    const preset = scalePreset(size);
    const c = ctx!;
    const d = out.data;
    d.requested = preset.trials;
    d.concurrency = preset.concurrency;
    out.params = {
      trials: preset.trials,
      concurrency: preset.concurrency,
      experiment: 'noop',
      strategy: 'random',
      mlflow: preset.mlflow,
      historyEventLimit: preset.timing?.historyEventLimit ?? 'default',
    };

    const service = c.service(preset.mlflow, preset.timing);
    const problemId = c.problemId('scale');
    const problem = overheadProblem(problemId, 'noop', preset.trials, preset.concurrency);
    await service.submitProblem(pi, { ...problem.spec, id: problemId });
    await service.setCriteria(pi, problemId, problem.criteria, 'benchmark');

    const sampler = await c.memorySampler(500);
    log(`[scale] ${preset.trials} instant trials at concurrency ${preset.concurrency}`);
    const t0 = performance.now();
    const { campaignId } = await service.startCampaign(pi, {
      problemId,
      strategy: { name: 'random' },
    });
    let finished = false;
    const result = service.result(campaignId).finally(() => (finished = true));
    const deadline = Date.now() + preset.timeoutMs;
    let lastLog = 0;
    let lastProgress = Date.now();
    let stalled = false;
    while (!finished && Date.now() < deadline) {
      await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
      const status = await service.status(campaignId).catch(() => null);
      if (status && status.trialsDone !== d.trialsDone) {
        d.trialsDone = status.trialsDone;
        lastProgress = Date.now();
      }
      if (!finished && Date.now() - lastProgress > preset.stallMs) {
        stalled = true;
        break;
      }
      d.workerMemorySeries.push([
        d.trialsDone,
        Math.round((await c.worker.rss().catch(() => 0)) / 2 ** 20),
      ]);
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        log(
          `[scale] ${d.trialsDone}/${preset.trials} trials, ${Math.round((performance.now() - t0) / 1000)} s`,
        );
      }
    }
    if (!finished && !stalled) {
      // Out of time but moving: a PI stop ends it cleanly, so what it did can still be measured.
      log(
        `[scale] ${preset.timeoutMs / 1000} s are up at ${d.trialsDone} trials: stopping the campaign`,
      );
      out.notes.push(
        `The campaign was stopped by the benchmark after ${preset.timeoutMs / 1000} s, at ${d.trialsDone} of ${preset.trials} trials.`,
      );
      await service
        .stop(pi, campaignId, { reason: 'benchmark time limit', cancelRunning: true })
        .catch(() => undefined);
      await Promise.race([
        result.catch(() => undefined),
        new Promise((r) => setTimeout(r, 120_000)),
      ]);
    }
    const peaks = sampler.stop();
    d.memory = {
      worker: peaks.worker ?? 0,
      client: peaks.client ?? 0,
      temporal: peaks.temporal ?? null,
      mlflow: peaks.mlflow ?? null,
    };

    d.history = await historySummary(c, campaignId, out.notes);
    if (!finished) {
      await c.client.workflow
        .getHandle(campaignId)
        .terminate('benchmark: stuck')
        .catch(() => undefined);
      throw new Error(
        `the campaign ${stalled ? `stalled (no trial finished for ${preset.stallMs / 1000} s)` : 'did not end after a stop'} at ${d.trialsDone} of ${preset.trials} trials` +
          (d.history.workflowTaskFailures.length
            ? `; workflow task failures: ${d.history.workflowTaskFailures[0]}`
            : ''),
      );
    }
    const report = await result;
    d.completed = report.stopReason === 'max_trials';
    d.stopReason = report.stopReason;
    d.trialsDone = report.trials.total;
    d.wallSeconds = round((performance.now() - t0) / 1000, 2);
    d.trialsPerSecond = round(report.trials.total / d.wallSeconds, 2);

    if (preset.mlflow) {
      log('[scale] counting the records in MLflow');
      d.records = await countRecords(c, campaignId, d.trialsDone, d.wallSeconds);
      log(
        `[scale] ${d.records.runs} runs, ${d.records.duplicates} duplicates, ${d.records.missing} missing`,
      );
    }

    log('[scale] lineage API');
    d.lineage = await measureLineage(c, campaignId, preset.lookups, out.notes);
    if (!preset.mlflow) {
      out.notes.push(
        `MLflow recording is off for this run (MLflow records ~5 trials/s on 2 cores, see the overhead benchmark: 10,000 records would not fit the suite's 30 minutes), so the lineage API answers from the workflow${d.lineage.nodes !== null ? `, which keeps ${d.lineage.nodes} of the ${d.trialsDone} trials in memory (older ones are compacted; MLflow keeps all)` : ''}.`,
      );
    }

    d.ui = await measureUi(c, preset.uiTrials, out.notes, log);
  },

  render(result: BenchResult<ScaleData>) {
    const d = result.data;
    const h = d.history;
    const l = d.lineage;
    const rows: [string, string][] = [
      [
        'trials',
        `${d.trialsDone} of ${d.requested} at concurrency ${d.concurrency}, MLflow ${result.params.mlflow ? 'on' : 'off'}, stop reason ${d.stopReason ?? '– (did not end)'}`,
      ],
      [
        'wall time',
        d.wallSeconds === null
          ? '–'
          : `${fmt(d.wallSeconds, 1)} s (${fmt(d.trialsPerSecond, 1)} trials/s)`,
      ],
      ['peak memory: worker', mib(d.memory.worker)],
      ['peak memory: bench process (service + API)', mib(d.memory.client)],
      ['peak memory: Temporal server', mib(d.memory.temporal)],
      ['peak memory: MLflow server', mib(d.memory.mlflow)],
      [
        'worker memory over the run',
        d.workerMemorySeries.length ? seriesText(d.workerMemorySeries) : '–',
      ],
    ];
    if (d.records)
      rows.push([
        'MLflow records',
        `${d.records.runs} runs for ${d.records.trials} trials: ${d.records.duplicates} recorded twice, ${d.records.missing} missing; ${fmt(d.records.perSecond, 1)} records/s over the campaign`,
      ]);
    if (h && h.runs > 0) {
      rows.push(
        ['workflow runs (continue-as-new)', String(h.runs)],
        [
          'history events per run',
          `max ${h.maxEvents}, median ${median(h.eventsPerRun)}, last ${h.eventsPerRun.at(-1) ?? '–'}`,
        ],
        [
          'history size per run',
          h.bytesPerRun?.some((b) => b !== null)
            ? `max ${fmt(Math.max(...h.bytesPerRun.map((b) => b ?? 0)) / 2 ** 20, 1)} MiB`
            : '–',
        ],
        [
          'state carried into the last run',
          h.carriedBytes.length ? `${fmt(Math.max(...h.carriedBytes) / 1024, 0)} KiB` : '–',
        ],
        ['largest strategy call input (last run)', `${fmt(h.maxStrategyInputBytes / 1024, 0)} KiB`],
      );
      if (h.workflowTaskFailures.length)
        rows.push(['workflow task failures', h.workflowTaskFailures.slice(0, 3).join('; ')]);
    }
    if (l) {
      rows.push(
        [
          `lineage, whole tree (${l.source})`,
          `cold ${fmt(l.wholeTreeColdMs, 0)} ms, warm ${fmt(l.wholeTreeWarmMs, 0)} ms, ${l.nodes ?? '–'} nodes`,
        ],
        [
          `one trial with its lineage (${l.source})`,
          `p50 ${fmt(l.trialMs.p50, 0)} ms, p95 ${fmt(l.trialMs.p95, 0)} ms over ${l.trialMs.n} trials${l.trialErrors.length ? `; ${l.trialErrors.length} errors` : ''}`,
        ],
        ['all trials, page by page', l.allPagesMs === null ? '–' : `${fmt(l.allPagesMs, 0)} ms`],
      );
    }
    rows.push(...uiRows(d.ui));
    return table(['measure', 'value'], rows);
  },
};

function uiRows(ui: ScaleData['ui']): [string, string][] {
  if (ui === null || ui === undefined) return [['UI load and render', '–']];
  if (typeof ui === 'string') return [['UI load and render', ui]];
  const r = ui as UiRenderResult;
  const rows: [string, string][] = [];
  if (r.page) {
    rows.push([
      `UI lineage page, ${r.trials} trials (target < ${r.targetMs ?? 2000} ms)`,
      `ready median ${fmt(r.page.medianReadyMs, 0)} ms, first ${fmt(r.page.firstReadyMs, 0)} ms (layout ${fmt(r.page.medianLayoutMs, 0)} ms, first draw ${fmt(r.page.medianDrawMs, 0)} ms)`,
    ]);
  }
  if (r.api)
    rows.push([
      `UI's lineage request, ${r.trials} trials`,
      `cold ${fmt(r.api.coldMs, 0)} ms, warm ${fmt(r.api.warmMs, 0)} ms`,
    ]);
  if (r.interaction)
    rows.push([
      'UI zoom/pan frames',
      `median ${fmt(r.interaction.frameMsMedian, 1)} ms, p95 ${fmt(r.interaction.frameMsP95, 1)} ms; search and select ${r.interaction.searchAndSelectMs} ms`,
    ]);
  return rows.length ? rows : [['UI load and render', `\`${JSON.stringify(ui)}\``]];
}

function seriesText(series: [number, number][]): string {
  // Five points spread over the run are enough to see whether memory grows with the trials.
  const pick = [0, 0.25, 0.5, 0.75, 1].map((q) => series[Math.round(q * (series.length - 1))]!);
  return pick.map(([t, m]) => `${t} trials: ${m} MiB`).join(' → ');
}

/**
 * Events and size of every run from the visibility store; the latest run's history for what it
 * carried in, its largest strategy call and any failed workflow tasks.
 */
async function historySummary(
  c: BenchContext,
  campaignId: string,
  notes: string[],
): Promise<NonNullable<ScaleData['history']>> {
  const latest = (await c.client.workflow.getHandle(campaignId).describe()).runId;
  const infos = await runInfos(c.client, campaignId, latest).catch((err: unknown) => {
    notes.push(`runs not listed: ${String(err)}`);
    return [];
  });
  const summary: NonNullable<ScaleData['history']> = {
    runs: infos.length,
    eventsPerRun: infos.map((r) => r.events),
    maxEvents: infos.length ? Math.max(...infos.map((r) => r.events)) : 0,
    bytesPerRun: infos.map((r) => r.bytes),
    carriedBytes: [],
    maxStrategyInputBytes: 0,
    workflowTaskFailures: [],
  };
  try {
    const last = await runHistory(c.client, campaignId, latest);
    // The state carried in grows with the trials: the latest run carries the most.
    if (last.previousRunId) summary.carriedBytes.push(last.inputBytes);
    for (const a of last.activities) {
      if (a.type === 'proposeHypotheses')
        summary.maxStrategyInputBytes = Math.max(
          summary.maxStrategyInputBytes,
          JSON.stringify(a.input ?? null).length,
        );
    }
    summary.workflowTaskFailures.push(...(await workflowTaskFailures(c.client, campaignId)));
  } catch (err) {
    notes.push(`the latest run's history was not read: ${String(err)}`);
  }
  return summary;
}

const BENCH_TOKEN = 'bench-viewer-token-0000000000';

async function measureLineage(
  c: BenchContext,
  campaignId: string,
  lookups: number,
  notes: string[],
): Promise<NonNullable<ScaleData['lineage']>> {
  const trials = await c.allTrials(campaignId);
  const search = trials.filter((t) => t.kind === 'search');
  const sample = Array.from(
    { length: Math.min(lookups, search.length) },
    (_, k) => search[Math.floor(((k + 0.5) * search.length) / Math.min(lookups, search.length))]!,
  );
  let app: FastifyInstance | null = null;
  try {
    app = await buildApp({
      service: c.service(),
      mlflow: new MlflowClient({ trackingUri: c.mlflowUri }),
      tokens: new TokenTable([{ token: BENCH_TOKEN, name: 'bench', role: 'viewer' }]),
      config: { rateLimitPerMinute: 0 },
    });
  } catch (err) {
    notes.push(
      `lineage measured through the service layer: the HTTP app did not build (${String(err)})`,
    );
  }
  const timed = async (
    fn: () => Promise<unknown>,
  ): Promise<{ ms: number; value: unknown; error?: string }> => {
    const t0 = performance.now();
    try {
      const value = await fn();
      return { ms: performance.now() - t0, value };
    } catch (err) {
      return {
        ms: performance.now() - t0,
        value: null,
        error: err instanceof Error ? err.message : String(err),
      };
    }
  };
  const get = async (url: string) => {
    const res = await app!.inject({
      method: 'GET',
      url,
      headers: { authorization: `Bearer ${BENCH_TOKEN}` },
    });
    if (res.statusCode !== 200)
      throw new Error(`GET ${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
    return res.json() as unknown;
  };

  try {
    if (app) {
      const base = `/api/campaigns/${encodeURIComponent(campaignId)}`;
      const cold = await timed(() => get(`${base}/lineage`));
      const warm: number[] = [];
      for (let i = 0; i < 5; i++) warm.push((await timed(() => get(`${base}/lineage`))).ms);
      const nodes = (cold.value as { nodes?: unknown[] } | null)?.nodes?.length ?? null;
      const errors: string[] = cold.error ? [cold.error] : [];
      const trialMs: number[] = [];
      for (const t of sample) {
        const r = await timed(() => get(`${base}/trials/${encodeURIComponent(t.id)}`));
        if (r.error) errors.push(r.error);
        else trialMs.push(r.ms);
      }
      const pages = await timed(async () => {
        for (let offset = 0; ; offset += 1000) {
          const page = (await get(`${base}/trials?offset=${offset}&limit=1000`)) as {
            total: number;
            trials: unknown[];
          };
          if (page.trials.length === 0 || offset + page.trials.length >= page.total) break;
        }
      });
      if (pages.error) errors.push(pages.error);
      return {
        source: 'http',
        wholeTreeColdMs: cold.error ? null : round(cold.ms, 1),
        wholeTreeWarmMs: round(distribution(warm).p50, 1),
        nodes,
        trialMs: roundDistribution(distribution(trialMs), 1),
        trialErrors: errors.slice(0, 10),
        allPagesMs: pages.error ? null : round(pages.ms, 1),
      };
    }
    const errors: string[] = [];
    const trialMs: number[] = [];
    for (const t of sample) {
      const r = await timed(() => c.service().trial(campaignId, t.id));
      if (r.error) errors.push(r.error);
      else trialMs.push(r.ms);
    }
    const pages = await timed(() => c.allTrials(campaignId));
    return {
      source: 'service',
      wholeTreeColdMs: null,
      wholeTreeWarmMs: null,
      nodes: null,
      trialMs: roundDistribution(distribution(trialMs), 1),
      trialErrors: errors.slice(0, 10),
      allPagesMs: round(pages.ms, 1),
    };
  } finally {
    await app?.close();
  }
}

/** The campaign's trial runs in MLflow: every finished trial once, none twice. */
async function countRecords(
  c: BenchContext,
  campaignId: string,
  trialsDone: number,
  wallSeconds: number | null,
): Promise<NonNullable<ScaleData['records']>> {
  const status = await c.service().status(campaignId);
  const mlflow = new MlflowClient({ trackingUri: c.mlflowUri });
  const keys = new Map<string, number>();
  let runs = 0;
  for await (const run of mlflow.iterateRuns({
    experimentIds: [status.mlflowExperimentId!],
    filter: `tags."${TAG.campaignId}" = '${campaignId}'`,
    maxResults: 1000,
  })) {
    const key = run.data.tags[TAG.trialKey];
    if (key === undefined) continue; // the campaign's own run
    runs++;
    keys.set(key, (keys.get(key) ?? 0) + 1);
  }
  return {
    runs,
    trials: keys.size,
    duplicates: [...keys.values()].filter((n) => n > 1).length,
    missing: Math.max(0, trialsDone - keys.size),
    perSecond: wallSeconds ? round(runs / wallSeconds, 2) : null,
  };
}
