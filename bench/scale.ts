/**
 * 4. Scale: one campaign of N instant trials (10,000 in the full run) through the full path:
 * wall time, peak memory of the worker, this process (service and API), the Temporal server and
 * MLflow; events per workflow run (continue-as-new keeps each history bounded) and the size of the
 * state each run carries; the lineage API's latency over the whole campaign; and, when
 * bench/ui-render.ts is present, the UI's load and render time.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { MlflowClient } from '../mlflow-ts-client/index.js';
import { buildApp } from '../server/app.js';
import { TokenTable } from '../server/auth.js';
import type { CampaignTiming } from '../workflows/types.js';
import { pi, type BenchContext } from './context.js';
import { overheadProblem } from './experiments.js';
import { workflowRuns, type RunHistory } from './history.js';
import { fmt, mib, table, type BenchResult, type Size } from './results.js';
import { distribution, round, roundDistribution, type Distribution } from './stats.js';
import type { Benchmark } from './suite.js';

const PRESETS: Record<Size, { trials: number; concurrency: number; timing?: CampaignTiming; timeoutMs: number; lookups: number }> = {
  // A small event limit makes even the tiny run continue-as-new a few times.
  tiny: { trials: 40, concurrency: 8, timing: { historyEventLimit: 150 }, timeoutMs: 120_000, lookups: 5 },
  quick: { trials: 1000, concurrency: 8, timeoutMs: 600_000, lookups: 20 },
  full: { trials: 10_000, concurrency: 8, timeoutMs: 1_200_000, lookups: 50 },
};

export interface ScaleData {
  requested: number;
  concurrency: number;
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
    /** Bytes of the state carried into each run (continue-as-new input). */
    carriedBytes: number[];
    /** Largest strategy call input (the view with the whole history), bytes. */
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
}

interface UiRenderModule {
  /** bench/ui-render.ts (written separately): measures the UI's load and render time. */
  measureUiRender?: (opts: { baseUrl?: string; app?: FastifyInstance; campaignId: string; problemId: string }) => Promise<unknown>;
}

const UI_RENDER = fileURLToPath(new URL('./ui-render.ts', import.meta.url));

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
    const preset = PRESETS[size];
    const c = ctx!;
    const d = out.data;
    d.requested = preset.trials;
    d.concurrency = preset.concurrency;
    out.params = { trials: preset.trials, concurrency: preset.concurrency, experiment: 'noop', strategy: 'random', mlflow: true, historyEventLimit: preset.timing?.historyEventLimit ?? 'default' };

    const service = c.service(true, preset.timing);
    const problemId = c.problemId('scale');
    const problem = overheadProblem(problemId, 'noop', preset.trials, preset.concurrency);
    await service.submitProblem(pi, { ...problem.spec, id: problemId });
    await service.setCriteria(pi, problemId, problem.criteria, 'benchmark');

    const sampler = await c.memorySampler(500);
    log(`[scale] ${preset.trials} instant trials at concurrency ${preset.concurrency}`);
    const t0 = performance.now();
    const { campaignId } = await service.startCampaign(pi, { problemId, strategy: { name: 'random' } });
    let finished = false;
    const result = service.result(campaignId).finally(() => (finished = true));
    const deadline = Date.now() + preset.timeoutMs;
    let lastLog = 0;
    while (!finished && Date.now() < deadline) {
      await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 2000))]);
      const status = await service.status(campaignId).catch(() => null);
      if (status) d.trialsDone = status.trialsDone;
      d.workerMemorySeries.push([d.trialsDone, Math.round((await c.worker.rss().catch(() => 0)) / 2 ** 20)]);
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        log(`[scale] ${d.trialsDone}/${preset.trials} trials, ${Math.round((performance.now() - t0) / 1000)} s`);
      }
    }
    const peaks = sampler.stop();
    d.memory = { worker: peaks.worker ?? 0, client: peaks.client ?? 0, temporal: peaks.temporal ?? null, mlflow: peaks.mlflow ?? null };

    let runs: RunHistory[] = [];
    try {
      runs = await workflowRuns(c.client, campaignId);
    } catch (err) {
      out.notes.push(`history not read: ${String(err)}`);
    }
    d.history = historySummary(runs);
    if (finished) {
      const report = await result;
      d.completed = true;
      d.stopReason = report.stopReason;
      d.trialsDone = report.trials.total;
      d.wallSeconds = round((performance.now() - t0) / 1000, 2);
      d.trialsPerSecond = round(report.trials.total / d.wallSeconds, 2);
    } else {
      d.history.workflowTaskFailures.push(...(await workflowTaskFailures(c, campaignId)));
      await c.client.workflow.getHandle(campaignId).terminate('benchmark timeout').catch(() => undefined);
      throw new Error(
        `the campaign did not finish in ${preset.timeoutMs / 1000} s (${d.trialsDone} of ${preset.trials} trials)` +
          (d.history.workflowTaskFailures.length ? `; workflow task failures: ${d.history.workflowTaskFailures[0]}` : ''),
      );
    }

    log('[scale] lineage API');
    d.lineage = await measureLineage(c, campaignId, preset.lookups, out.notes);

    if (existsSync(UI_RENDER)) {
      log('[scale] UI load and render (bench/ui-render.ts)');
      try {
        const mod = (await import(pathToFileURL(UI_RENDER).href)) as UiRenderModule;
        d.ui = mod.measureUiRender ? await mod.measureUiRender({ campaignId, problemId }) : 'bench/ui-render.ts exports no measureUiRender';
      } catch (err) {
        d.ui = `failed: ${err instanceof Error ? err.message : String(err)}`;
      }
    } else {
      out.notes.push('UI load/render time: bench/ui-render.ts is not present, not measured.');
    }
  },

  render(result: BenchResult<ScaleData>) {
    const d = result.data;
    const h = d.history;
    const l = d.lineage;
    const rows: [string, string][] = [
      ['trials', `${d.trialsDone} of ${d.requested} at concurrency ${d.concurrency}${d.completed ? `, stop reason ${d.stopReason}` : ' (did not finish)'}`],
      ['wall time', d.wallSeconds === null ? '–' : `${fmt(d.wallSeconds, 1)} s (${fmt(d.trialsPerSecond, 1)} trials/s)`],
      ['peak memory: worker', mib(d.memory.worker)],
      ['peak memory: bench process (service + API)', mib(d.memory.client)],
      ['peak memory: Temporal server', mib(d.memory.temporal)],
      ['peak memory: MLflow server', mib(d.memory.mlflow)],
      ['worker memory over the run', d.workerMemorySeries.length ? seriesText(d.workerMemorySeries) : '–'],
    ];
    if (h) {
      rows.push(
        ['workflow runs (continue-as-new)', String(h.runs)],
        ['history events per run', `max ${h.maxEvents}; ${h.eventsPerRun.join(', ')}`],
        ['state carried per run', h.carriedBytes.length ? `max ${fmt(Math.max(...h.carriedBytes) / 1024, 0)} KiB` : '–'],
        ['largest strategy call input', `${fmt(h.maxStrategyInputBytes / 1024, 0)} KiB`],
      );
      if (h.workflowTaskFailures.length) rows.push(['workflow task failures', h.workflowTaskFailures.slice(0, 3).join('; ')]);
    }
    if (l) {
      rows.push(
        [`lineage, whole tree (${l.source})`, `cold ${fmt(l.wholeTreeColdMs, 0)} ms, warm ${fmt(l.wholeTreeWarmMs, 0)} ms, ${l.nodes ?? '–'} nodes`],
        [`one trial with its lineage (${l.source})`, `p50 ${fmt(l.trialMs.p50, 0)} ms, p95 ${fmt(l.trialMs.p95, 0)} ms over ${l.trialMs.n} trials${l.trialErrors.length ? `; ${l.trialErrors.length} errors` : ''}`],
        ['all trials, page by page', l.allPagesMs === null ? '–' : `${fmt(l.allPagesMs, 0)} ms`],
      );
    }
    rows.push(['UI load and render', d.ui === null ? '–' : typeof d.ui === 'string' ? d.ui : `\`${JSON.stringify(d.ui)}\``]);
    return table(['measure', 'value'], rows);
  },
};

function seriesText(series: [number, number][]): string {
  // Five points spread over the run are enough to see whether memory grows with the trials.
  const pick = [0, 0.25, 0.5, 0.75, 1].map((q) => series[Math.round(q * (series.length - 1))]!);
  return pick.map(([t, m]) => `${t} trials: ${m} MiB`).join(' → ');
}

function historySummary(runs: RunHistory[]): NonNullable<ScaleData['history']> {
  let maxStrategyInputBytes = 0;
  for (const r of runs) {
    for (const a of r.activities) {
      if (a.type === 'proposeHypotheses') maxStrategyInputBytes = Math.max(maxStrategyInputBytes, JSON.stringify(a.input ?? null).length);
    }
  }
  const eventsPerRun = runs.map((r) => r.events);
  return {
    runs: runs.length,
    eventsPerRun,
    maxEvents: eventsPerRun.length ? Math.max(...eventsPerRun) : 0,
    carriedBytes: runs.slice(1).map((r) => r.inputBytes),
    maxStrategyInputBytes,
    workflowTaskFailures: [],
  };
}

/** Failure messages of failed workflow tasks in the latest run (why a campaign is stuck). */
async function workflowTaskFailures(c: BenchContext, campaignId: string): Promise<string[]> {
  try {
    const history = await c.client.workflow.getHandle(campaignId).fetchHistory();
    const msgs = new Set<string>();
    for (const e of history.events ?? []) {
      const f = e.workflowTaskFailedEventAttributes;
      if (f) msgs.add(`${String(f.cause ?? '')}: ${f.failure?.message ?? ''}`.slice(0, 500));
    }
    return [...msgs];
  } catch (err) {
    return [`could not read the history: ${String(err)}`];
  }
}

async function measureLineage(c: BenchContext, campaignId: string, lookups: number, notes: string[]): Promise<NonNullable<ScaleData['lineage']>> {
  const trials = await c.allTrials(campaignId);
  const search = trials.filter((t) => t.kind === 'search');
  const sample = Array.from({ length: Math.min(lookups, search.length) }, (_, k) => search[Math.floor(((k + 0.5) * search.length) / Math.min(lookups, search.length))]!);
  let app: FastifyInstance | null = null;
  try {
    app = await buildApp({
      service: c.service(),
      mlflow: new MlflowClient({ trackingUri: c.mlflowUri }),
      tokens: new TokenTable([]),
      config: { rateLimitPerMinute: 0 },
    });
  } catch (err) {
    notes.push(`lineage measured through the service layer: the HTTP app did not build (${String(err)})`);
  }
  const timed = async (fn: () => Promise<unknown>): Promise<{ ms: number; value: unknown; error?: string }> => {
    const t0 = performance.now();
    try {
      const value = await fn();
      return { ms: performance.now() - t0, value };
    } catch (err) {
      return { ms: performance.now() - t0, value: null, error: err instanceof Error ? err.message : String(err) };
    }
  };
  const get = async (url: string) => {
    const res = await app!.inject({ method: 'GET', url });
    if (res.statusCode !== 200) throw new Error(`GET ${url}: ${res.statusCode} ${res.body.slice(0, 200)}`);
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
          const page = (await get(`${base}/trials?offset=${offset}&limit=1000`)) as { total: number; trials: unknown[] };
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
