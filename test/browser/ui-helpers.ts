/**
 * Browser tests of the web UI: the real API server (startServer) over the real service, worker,
 * Temporal and MLflow, and Debian's headless Chromium driven by playwright-core. Also seeds large
 * lineages straight into MLflow, encoded by the trial codec as recording writes them (the
 * benchmark uses it).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { encodeTrial } from '../../records/trial-codec.js';
import { experimentName, TAG } from '../../records/names.js';
import type { FlagKind, Trial } from '../../domain/schemas.js';
import { trustState } from '../../domain/trust.js';
import type { MlflowClient } from '../../mlflow-ts-client/index.js';
import { TokenTable, type TokenEntry } from '../../server/auth.js';
import type { ApiService } from '../../server/context.js';
import { startServer, type RunningServer } from '../../server/server.js';
import type { LineageTimings } from '../../ui/src/lib/lineage-timings.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Debian's Chromium (apt-get install chromium); CHROMIUM_PATH overrides. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = path.join(ROOT, 'test-results', 'screenshots');

/** Thrown when no Chromium is installed: the browser tests cannot run without one. */
export class ChromiumMissingError extends Error {
  constructor(readonly executable: string) {
    super(
      `headless Chromium not found at ${executable}: install it with "apt-get install -y chromium" (or set CHROMIUM_PATH)`,
    );
    this.name = 'ChromiumMissingError';
  }
}

export const UI_TOKENS: Record<'pi' | 'researcher' | 'viewer', TokenEntry> = {
  pi: { token: 'ui-test-pi-token-000000000000', name: 'Pat PI', role: 'pi' },
  researcher: {
    token: 'ui-test-researcher-token-0000',
    name: 'Rae Researcher',
    role: 'researcher',
  },
  viewer: { token: 'ui-test-viewer-token-00000000', name: 'Vic Viewer', role: 'viewer' },
};

/**
 * Builds the UI into a fresh folder (each test file its own, so parallel files never race on
 * ui/dist) and returns the folder.
 */
export async function buildUi(): Promise<string> {
  const outDir = mkdtempSync(path.join(os.tmpdir(), 'gaplab-ui-'));
  const { build } = await import('vite');
  // vitest sets NODE_ENV=test, which would bundle React's development build (and JSX for it).
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      configFile: path.join(ROOT, 'ui', 'vite.config.ts'),
      mode: 'production',
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true, sourcemap: false },
    });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  return outDir;
}

export interface UiServer {
  server: RunningServer;
  url: string;
  uiDir: string;
  close(): Promise<void>;
}

/** The real API server on a free loopback port, serving a fresh UI build, with one token per role. */
export async function startUiServer(opts: {
  service: ApiService;
  mlflow: MlflowClient;
  temporalAddress: string;
  mlflowUri: string;
  taskQueue?: string;
  uiDir?: string;
}): Promise<UiServer> {
  const uiDir = opts.uiDir ?? (await buildUi());
  const server = await startServer({
    env: {},
    config: {
      host: '127.0.0.1',
      port: 0,
      temporalAddress: opts.temporalAddress,
      mlflowUri: opts.mlflowUri,
      uiDir,
      rateLimitPerMinute: 0,
      logLevel: 'silent',
      sseIntervalMs: 300,
      lineageTtlMs: 300,
      ...(opts.taskQueue ? { taskQueue: opts.taskQueue } : {}),
    },
    service: opts.service,
    mlflow: opts.mlflow,
    tokens: new TokenTable(Object.values(UI_TOKENS)),
    print: () => {},
  });
  return {
    server,
    url: server.url,
    uiDir,
    async close() {
      await server.close();
      if (!opts.uiDir) rmSync(uiDir, { recursive: true, force: true });
    },
  };
}

/** Launches headless Chromium; fails with a clear message when it is not installed. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) throw new ChromiumMissingError(CHROMIUM_PATH);
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface SignedIn {
  context: BrowserContext;
  page: Page;
  /** Browser console errors and failed requests seen so far (a test asserts none). */
  problems: string[];
}

/** A fresh browser context (its own sessionStorage) signed in through the sign-in form. */
export async function signIn(
  browser: Browser,
  baseUrl: string,
  role: keyof typeof UI_TOKENS,
): Promise<SignedIn> {
  const context = await browser.newContext({
    viewport: { width: 1440, height: 960 },
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    // 4xx answers the test provokes on purpose show up as console errors of the fetch; keep the rest.
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text()))
      problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  await page.goto(`${baseUrl}/`);
  await page.getByLabel('Token').fill(UI_TOKENS[role].token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('role').filter({ hasText: role }).waitFor();
  return { context, page, problems };
}

/**
 * The page's globals that code run in the browser (page.evaluate) touches. Node code has no DOM
 * library, so a callback names them through this: `(globalThis as unknown as PageGlobals)`.
 */
export interface PageGlobals {
  sessionStorage: { getItem(key: string): string | null };
  localStorage: { readonly length: number };
  document: {
    styleSheets: Iterable<{ href: string | null; cssRules: { readonly length: number } }>;
  };
  /** Set by the lineage page once its first frame is drawn. */
  __gaplabLineage?: LineageTimings;
  /** A mark a test leaves on a document to see whether the page reloaded. */
  __mark?: number;
}

/** The lineage page's render timings; fails when the page has not drawn yet. */
export async function lineageTimings(page: Page): Promise<LineageTimings> {
  const t = await page.evaluate(() => (globalThis as unknown as PageGlobals).__gaplabLineage);
  if (!t) throw new Error('the lineage page has not reported its timings');
  return t;
}

/** Saves a full-page screenshot to test-results/screenshots/<name>.png and returns the path. */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  // From the top: a full-page capture scrolled down draws the sticky top bar mid-page.
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: file, fullPage });
  return file;
}

// ---- lineage seeded straight into MLflow --------------------------------------------------------

export interface SeedLineageOptions {
  problemId: string;
  campaignId: string;
  /** Trials in the campaign, the baseline included. */
  trials: number;
  /** @default 1 */
  seed?: number;
  /** Requests to MLflow at once. @default 8 */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Deterministic PRNG (mulberry32) so a seeded lineage is the same every time. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SeededTrial {
  id: string;
  parentId: string | null;
  title: string;
  expectedEffect: string;
  pgr: number | null;
  status: 'succeeded' | 'failed';
  flags: FlagKind[];
}

/**
 * The shape of a real agentic search: each trial builds on an earlier one, good ones more often,
 * PGR drifts up along good branches; some trials fail, a few are flagged.
 */
export function planLineage(n: number, seed = 1): SeededTrial[] {
  const rand = rng(seed);
  const trials: SeededTrial[] = [
    {
      id: 'baseline',
      parentId: null,
      title: 'Baseline configuration',
      expectedEffect: '',
      pgr: 0,
      status: 'succeeded',
      flags: [],
    },
  ];
  const good: number[] = [0];
  const ideas = [
    'lower learning rate',
    'early stopping',
    'confidence loss',
    'bootstrapping',
    'wider student',
    'label smoothing',
    'more epochs',
    'dropout',
    'mixup',
    'warm restarts',
  ];
  for (let i = 1; i < n; i++) {
    const parentIndex =
      rand() < 0.7 && good.length > 0
        ? good[Math.floor(rand() * good.length)]!
        : Math.floor(rand() * i);
    const parent = trials[parentIndex]!;
    const failed = rand() < 0.06;
    const base = parent.pgr ?? 0;
    const pgr = failed ? null : Math.max(-0.6, Math.min(1.15, base + (rand() - 0.42) * 0.18));
    const flags: FlagKind[] =
      pgr !== null && pgr > 1.05 ? ['pgr_above_one'] : rand() < 0.01 ? ['high_variance'] : [];
    const id = `t${String(i + 1).padStart(4, '0')}`;
    trials.push({
      id,
      parentId: parent.id,
      title: `${ideas[i % ideas.length]} #${i}`,
      expectedEffect: `${ideas[i % ideas.length]} lifts PGR by about ${(0.01 * (i % 9)).toFixed(2)}`,
      pgr,
      status: failed ? 'failed' : 'succeeded',
      flags,
    });
    if (pgr !== null && pgr >= base) good.push(i);
    if (good.length > 400) good.splice(0, good.length - 400);
  }
  return trials;
}

/** Retries a request MLflow refused under load (its database pool runs dry when busy). */
async function retry<T>(fn: () => Promise<T>, attempts = 6): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 500 * 2 ** i));
    }
  }
}

async function pool<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** The trial a planned lineage node stands for, as the campaign would have kept it. */
function trialOf(t: SeededTrial, i: number, start: number): Trial {
  const ci = 0.04 + ((i * 7919) % 100) / 1000;
  const at = new Date(start + i * 1000).toISOString();
  const flags = t.flags.map((kind) => ({ kind, message: '' }));
  return {
    id: t.id,
    index: i,
    hypothesisId: `h-${t.id}`,
    kind: t.id === 'baseline' ? 'reference' : 'search',
    parentTrialId: t.parentId,
    title: t.title,
    ...(t.expectedEffect ? { expectedEffect: t.expectedEffect } : {}),
    rationale: `Try ${t.title} on top of ${t.parentId ?? 'nothing'}.`,
    author:
      i % 3 === 2
        ? { kind: 'human', name: 'Rae Researcher' }
        : { kind: 'agent', name: i % 3 === 0 ? 'agent-1' : 'agent-2' },
    params: { lr: 0.001 * (1 + (i % 10)), epochs: 5 + (i % 7) },
    changes: {},
    seeds: [1, 2],
    status: t.status,
    metrics: t.pgr === null ? {} : { score: 0.6 + 0.3 * t.pgr, heldout: 0.58 + 0.3 * t.pgr },
    objective: null,
    pgr:
      t.pgr === null
        ? null
        : { mean: t.pgr, stderr: ci / 2, n: 2, ciLow: t.pgr - ci, ciHigh: t.pgr + ci },
    feasible: t.status === 'succeeded',
    flags,
    trust: trustState(flags),
    computeSeconds: 3,
    ...(t.status === 'failed' ? { failureReason: 'exit code 1' } : {}),
    startedAt: at,
    finishedAt: at,
  };
}

/**
 * Writes a finished campaign with `trials` trial runs into MLflow: a parent run tagged
 * gaplab.kind=campaign, and one nested run per trial with the tags, params and metrics the trial
 * codec encodes (records/trial-codec.ts, as recording writes them). Returns the plan written.
 */
export async function seedLineage(
  mlflow: MlflowClient,
  opts: SeedLineageOptions,
): Promise<SeededTrial[]> {
  const plan = planLineage(opts.trials, opts.seed ?? 1);
  const experimentId = await mlflow.getOrCreateExperiment(experimentName(opts.problemId), {
    tags: { [TAG.problemId]: opts.problemId },
  });
  const start = Date.now() - opts.trials * 1000;
  const parent = await mlflow.createRun({
    experimentId,
    runName: opts.campaignId,
    startTime: start,
    tags: {
      [TAG.kind]: 'campaign',
      [TAG.campaignId]: opts.campaignId,
      [TAG.problemId]: opts.problemId,
      [TAG.strategy]: 'claude',
      [TAG.criteriaVersion]: '1',
      [TAG.hiddenMetrics]: 'heldout',
    },
  });
  const parentRunId = parent.info.runId;
  let done = 0;
  await pool(plan, opts.concurrency ?? 8, async (t, i) => {
    const run = encodeTrial({
      campaignId: opts.campaignId,
      problemId: opts.problemId,
      trial: trialOf(t, i, start),
      seeds: [],
      hiddenMetrics: ['heldout'],
    });
    const created = await retry(() =>
      mlflow.createRun({
        experimentId,
        parentRunId,
        runName: run.runName,
        startTime: run.startTime,
        tags: { ...run.identityTags, ...run.tags },
      }),
    );
    // The hidden metric on the trial's own run, as a finished campaign's readers see it once the
    // hidden values are merged in (recording writes them to a hidden run: mlflow-access.ts).
    const metrics = [...run.metrics, ...(run.hidden?.metrics ?? [])];
    await retry(() => mlflow.logBatch(created.info.runId, { metrics, params: run.params }));
    // Without the trial.json artifact and the final status update recording adds: readers decode
    // the trial from its tags (gaplab.status says how it ended), and two requests per run fewer
    // make seeding 10,000 trials several times faster.
    done++;
    if (done % 250 === 0) opts.onProgress?.(done, plan.length);
  });
  await mlflow.updateRun(parentRunId, { status: 'FINISHED', endTime: start + opts.trials * 1000 });
  return plan;
}

/** Whether MLflow already holds a finished seeded campaign with this many trial runs. */
export async function seededTrials(
  mlflow: MlflowClient,
  problemId: string,
  campaignId: string,
): Promise<number> {
  const exp = await mlflow.getExperimentByName(experimentName(problemId));
  if (!exp) return 0;
  const parents = await mlflow.searchRuns({
    experimentIds: [exp.experimentId],
    filter: `tags.\`${TAG.campaignId}\` = '${campaignId}' and tags.\`${TAG.kind}\` = 'campaign' and attributes.status = 'FINISHED'`,
    maxResults: 10,
  });
  if (parents.runs.length === 0) return 0;
  const runs = await mlflow.searchAllRuns({
    experimentIds: [exp.experimentId],
    filter: `tags.\`${TAG.campaignId}\` = '${campaignId}' and tags.\`${TAG.kind}\` = 'trial'`,
  });
  return runs.length;
}
