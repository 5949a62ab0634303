/**
 * Hidden metrics stay hidden from people while a campaign runs: researchers and viewers cannot
 * read hidden values through any route of the API, the event stream included; PIs can; everyone
 * can once the campaign has finished. The routes are enumerated from the app's own route table,
 * so a new route that could carry a hidden value fails here until it is covered.
 *
 * Also strict input end to end: unknown keys and repeated keys are refused naming the key by the
 * API, the CLI's document reader and the problem workflow's criteria update.
 *
 * Real Temporal, MLflow, worker and HTTP server.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { readDocument } from '../cli/commands.js';
import { ExperimentRegistry } from '../experiments/registry.js';
import type { ExperimentDefinition } from '../experiments/types.js';
import w2s from '../experiments/weak-to-strong/experiment.js';
import { problemWorkflowId, setCriteriaUpdate } from '../workflows/problem.js';
import { createTestEnv, pi, uniqueId, type TestEnv } from './support/env.js';
import { eventually } from './support/eventually.js';
import {
  HTTP_TOKENS,
  sseEvents,
  startTestServer,
  type TestServer,
  type Who,
} from './support/http.js';

const HIDDEN = 'heldout_score';

/** Distinctive hidden values (long decimals unrelated to the visible ones), and a crash that prints one. */
const echo: ExperimentDefinition = {
  name: 'hidden-echo',
  description: 'A bowl whose hidden metric has distinctive values; crash=true fails printing one.',
  metrics: [
    { name: 'score', description: 'objective' },
    { name: HIDDEN, description: 'held out' },
  ],
  defaultTimeoutSeconds: 30,
  runner: {
    kind: 'function',
    async run(params, ctx) {
      const x = Number(params.x);
      const heldout = 0.618034 + 0.0001234567 * ctx.seed + 0.001 * x;
      // Slow enough that the campaign is still running when the test pauses it.
      await sleep(1000, undefined, { signal: ctx.signal });
      if (params.crash === true) throw new Error(`diverged: ${HIDDEN}=${heldout} at the end`);
      return { score: 10 - (x - 1) ** 2, [HIDDEN]: heldout };
    },
  },
};

const spec = {
  title: 'Hidden echo',
  question: 'Where is the top of the bowl?',
  experiment: 'hidden-echo',
  space: [
    { name: 'x', kind: 'float', low: -5, high: 5 },
    { name: 'crash', kind: 'boolean' },
  ],
  baseline: { x: -4, crash: false },
};

const criteria = {
  metric: 'score',
  direction: 'maximize',
  baseline: { kind: 'measure', configuration: 'baseline', seeds: 2 },
  optimum: { kind: 'value', value: 10 },
  seedsPerTrial: 2,
  hiddenMetrics: [HIDDEN],
  targetPgr: 5,
  budgets: { maxTrials: 40, concurrency: 2 },
  verification: { topK: 0, seeds: 1 },
};

let env: TestEnv;
let http: TestServer;
const call = (...args: Parameters<TestServer['call']>) => http.call(...args);

beforeAll(async () => {
  env = await createTestEnv({ registry: ExperimentRegistry.of(echo, w2s) });
  http = await startTestServer(env, { sseIntervalMs: 200, lineageTtlMs: 200 });
});
afterAll(async () => {
  await http?.close();
  await env?.close();
});

/** Every GET route of the app under /api, from fastify's route table. */
function getRoutes(): string[] {
  const tree = http.server.app.printRoutes({ commonPrefix: false });
  const stack: { depth: number; path: string }[] = [];
  const out: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (.+?) \(([^)]+)\)$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    while (stack.length && stack.at(-1)!.depth >= depth) stack.pop();
    const full = (stack.at(-1)?.path ?? '') + m[2]!;
    stack.push({ depth, path: full });
    if (m[3]!.split(', ').includes('GET')) out.push(full);
  }
  return out.filter((r) => r.startsWith('/api/'));
}

/** Routes that carry nothing of any campaign (the service itself and its documentation). */
const CAMPAIGN_FREE = /^\/api\/(docs|(health|ready|me|config|experiments|openapi\.json)$)/;

/** Reads an SSE stream for a while and returns its events. */
async function readEvents(url: string, untilTrials: number, ms = 15_000) {
  const controller = new AbortController();
  const events: { event: string; data: any }[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    const res = await fetch(url, { signal: controller.signal });
    expect(res.status).toBe(200);
    for await (const e of sseEvents(res.body)) {
      events.push({ event: e.event, data: e.data });
      if (events.filter((x) => x.event === 'trial').length >= untilTrials) break;
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return events;
}

/** Where a response still carries a hidden value: a metrics record with the hidden key, a non-empty hiddenPgr. */
function structuralLeaks(v: unknown, at = '$'): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => structuralLeaks(x, `${at}[${i}]`));
  if (typeof v !== 'object' || v === null) return [];
  const o = v as Record<string, unknown>;
  const leaks: string[] = [];
  if (typeof o.metrics === 'object' && o.metrics !== null && HIDDEN in o.metrics)
    leaks.push(`${at}.metrics.${HIDDEN}`);
  if (typeof o.hiddenPgr === 'object' && o.hiddenPgr && Object.keys(o.hiddenPgr).length > 0)
    leaks.push(`${at}.hiddenPgr`);
  for (const [k, x] of Object.entries(o)) leaks.push(...structuralLeaks(x, `${at}.${k}`));
  return leaks;
}

describe('hidden values of a running campaign', () => {
  let problemId: string;
  let campaignId: string;
  let trialIds: string[];
  /** Every hidden value the PI can read, as text. */
  const needles = new Set<string>();

  it('runs a campaign with hidden values; the PI reads them', async () => {
    problemId = uniqueId('hidden');
    expect(
      (await call('researcher', 'POST', '/api/problems', { ...spec, id: problemId })).status,
    ).toBe(201);
    const set = await call('pi', 'POST', `/api/problems/${problemId}/criteria`, { criteria });
    expect(set.status, set.text).toBe(201);
    expect(set.json.criteria.hiddenMetricsVisibility).toBe('pi-until-finished');
    const started = await call('researcher', 'POST', '/api/campaigns', {
      problemId,
      strategy: { name: 'random' },
      seed: 1,
    });
    expect(started.status, started.text).toBe(201);
    campaignId = started.json.campaignId;
    const c = `/api/campaigns/${encodeURIComponent(campaignId)}`;

    // The baseline is measured (its hidden values with it) before people's hypotheses run.
    await eventually(async () => {
      const s = await call('pi', 'GET', c);
      expect(s.json.baselineScore).not.toBeNull();
      return true;
    }, 60_000);
    for (const [title, changes] of [
      ['near the top', { x: 0.5 }],
      ['crash on purpose', { x: 1.5, crash: true }],
    ] as const) {
      const r = await call('researcher', 'POST', `${c}/hypotheses`, { title, changes });
      expect(r.status, r.text).toBe(201);
    }
    await call('researcher', 'POST', `${c}/notes`, { text: 'looking at the bowl' });

    // The injected ones run next; then the campaign is paused: it keeps running, starts nothing new.
    await eventually(async () => {
      const page = await call('pi', 'GET', `${c}/trials?limit=1000`);
      return page.json.trials.some((t: { title: string }) => t.title === 'crash on purpose');
    }, 90_000);
    expect((await call('researcher', 'POST', `${c}/pause`, {})).status).toBe(200);
    await eventually(async () => (await call('pi', 'GET', c)).json.paused === true, 60_000);
    // Trials that had started finish (a seed takes a second); nothing starts after them.
    await eventually(async () => (await call('pi', 'GET', c)).json.trialsRunning === 0, 90_000);

    // Every trial so far.
    const trials = await eventually(async () => {
      const page = await call('pi', 'GET', `${c}/trials?limit=1000`);
      expect(page.json.trials.length).toBeGreaterThanOrEqual(3);
      return page.json.trials as {
        id: string;
        metrics: Record<string, number | null>;
        failureReason: string | null;
      }[];
    }, 90_000);
    trialIds = trials.map((t) => t.id);
    expect(await env.service.isRunning(campaignId)).toBe(true);

    for (const t of trials) {
      const d = await call('pi', 'GET', `${c}/trials/${encodeURIComponent(t.id)}`);
      expect(d.status).toBe(200);
      for (const s of d.json.seeds as { metrics: Record<string, number | null> }[]) {
        const v = s.metrics[HIDDEN];
        if (typeof v === 'number') needles.add(String(v));
      }
      const mean = t.metrics[HIDDEN];
      if (typeof mean === 'number') needles.add(String(mean));
    }
    const crashed = trials.find((t) => t.failureReason?.includes(HIDDEN));
    expect(crashed?.failureReason, 'the crash prints a hidden value').toMatch(/heldout_score=\d/);
    needles.add(/heldout_score=([\d.]+)/.exec(crashed!.failureReason!)![1]!);
    // The PI sees hidden values: means and per-seed values.
    expect(
      trials.filter((t) => typeof t.metrics[HIDDEN] === 'number').length,
    ).toBeGreaterThanOrEqual(2);
    expect(needles.size).toBeGreaterThanOrEqual(3);
    for (const n of needles) expect(n.replace(/\D/g, '').length).toBeGreaterThanOrEqual(6);
  });

  it('researchers and viewers cannot read them through any GET route of the app; PIs can', async () => {
    const routes = getRoutes();
    // The table is the app's own: these must be in it, or the enumeration is broken.
    expect(routes).toEqual(
      expect.arrayContaining([
        '/api/campaigns/:campaignId/trials/:trialId',
        '/api/campaigns/:campaignId/events',
        '/api/problems/:problemId/compare',
      ]),
    );
    const params: Record<string, string[]> = {
      campaignId: [campaignId],
      problemId: [problemId],
      trialId: trialIds,
      // A source snapshot: this campaign is not a code experiment, so the code routes answer
      // 404 (checked below, bodies included, like every other route).
      ref: ['initial'],
    };
    const codeOnly = (url: string) => /\/sources\/|\/diff$/.test(url);
    const urls: string[] = [];
    // Every problem on the shared server is listed by GET /api/problems (slow here, and about
    // others' problems): its response schema shows it has no place for a metric value at all.
    const doc = (await call('viewer', 'GET', '/api/openapi.json')).json;
    const expand = (v: unknown, seen: Set<string> = new Set()): unknown => {
      if (Array.isArray(v)) return v.map((x) => expand(x, seen));
      if (typeof v !== 'object' || v === null) return v;
      const ref = (v as { $ref?: string }).$ref;
      if (ref) {
        if (seen.has(ref)) return {};
        return expand(doc.components.schemas[ref.split('/').pop()!], new Set([...seen, ref]));
      }
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expand(x, seen)]));
    };
    const problemsSchema = JSON.stringify(expand(doc.paths['/api/problems'].get.responses['200']));
    expect(problemsSchema).toContain('criteria');
    expect(problemsSchema).not.toMatch(/"(hiddenPgr|failureReason|logTail|withheld)"/);
    // Its only `metrics` are the experiment's metric descriptions (an array), never values.
    const metricsTypes = [...problemsSchema.matchAll(/"metrics":\{"type":"(\w+)"/g)].map(
      (m) => m[1],
    );
    expect(metricsTypes.length).toBeGreaterThan(0);
    expect(metricsTypes.every((t) => t === 'array')).toBe(true);
    expect(problemsSchema.match(/"metrics":/g)!.length).toBe(metricsTypes.length);
    for (const route of routes) {
      if (CAMPAIGN_FREE.test(route) || route.endsWith('/events') || route === '/api/problems')
        continue;
      if (route === '/api/campaigns') {
        urls.push(`/api/campaigns?problemId=${problemId}`);
        continue;
      }
      let expanded = [route];
      for (const m of route.matchAll(/:(\w+)/g)) {
        const values = params[m[1]!];
        expect(
          values,
          `no test values for :${m[1]} of ${route}: cover the new route`,
        ).toBeDefined();
        expanded = expanded.flatMap((u) =>
          values!.map((v) => u.replace(`:${m[1]}`, encodeURIComponent(v))),
        );
      }
      expect(route.includes('*'), `wildcard route ${route}: cover it`).toBe(false);
      if (route.endsWith('/compare-trials')) {
        // The comparison names the trials it compares.
        const ids = trialIds.slice(0, 8).map(encodeURIComponent).join(',');
        urls.push(...expanded.map((u) => `${u}?ids=${ids}`));
        continue;
      }
      urls.push(...expanded);
      // The trial table is also served as CSV: read that shape too.
      if (route.endsWith('/table')) urls.push(...expanded.map((u) => `${u}?format=csv&sort=-pgr`));
    }
    urls.push(`/api/campaigns/${encodeURIComponent(campaignId)}/report?format=markdown`);
    expect(urls.length).toBeGreaterThanOrEqual(12);

    for (const who of ['researcher', 'viewer'] as const) {
      for (const url of urls) {
        const r = await call(who, 'GET', url);
        expect(
          codeOnly(url) ? [200, 404, 409] : [200, 409],
          `${who} GET ${url}: ${r.text.slice(0, 300)}`,
        ).toContain(r.status);
        for (const n of needles) expect(r.text, `${who} GET ${url} carries ${n}`).not.toContain(n);
        expect(structuralLeaks(r.json), `${who} GET ${url}`).toEqual([]);
      }
      // The clear shape: the hidden metric is listed as withheld, with no value.
      const page = await call(
        who,
        'GET',
        `/api/campaigns/${encodeURIComponent(campaignId)}/trials`,
      );
      for (const t of page.json.trials) expect(t.withheld).toEqual([HIDDEN]);
      // Per-seed results come from the trial's MLflow record, written in the background: wait
      // for it.
      const detail = await eventually(async () => {
        const d = await call(
          who,
          'GET',
          `/api/campaigns/${encodeURIComponent(campaignId)}/trials/${encodeURIComponent(trialIds[0]!)}`,
        );
        expect(
          d.json.seeds.length,
          `${trialIds[0]}: ${d.json.trial?.status}, run ${d.json.trial?.mlflowRunId}`,
        ).toBeGreaterThan(0);
        return d;
      }, 60_000);
      expect(detail.json.trial.withheld).toEqual([HIDDEN]);
      expect(detail.json.seeds.length).toBeGreaterThan(0);
      for (const s of detail.json.seeds) expect(Object.keys(s.metrics)).toEqual(['score']);
    }

    // PIs read them on the same routes.
    const piPage = await call(
      'pi',
      'GET',
      `/api/campaigns/${encodeURIComponent(campaignId)}/trials`,
    );
    expect([...needles].some((n) => piPage.text.includes(n))).toBe(true);
    expect(structuralLeaks(piPage.json).length).toBeGreaterThan(0);
  });

  it('nor through the event stream, which carries them to PIs', async () => {
    const url = (who: Who) =>
      `${http.url}/api/campaigns/${encodeURIComponent(campaignId)}/events?since=0&token=${HTTP_TOKENS[who]}`;
    const [researcherEvents, viewerEvents, piEvents] = await Promise.all([
      readEvents(url('researcher'), trialIds.length),
      readEvents(url('viewer'), trialIds.length),
      readEvents(url('pi'), trialIds.length),
    ]);
    for (const events of [researcherEvents, viewerEvents]) {
      const trials = events.filter((e) => e.event === 'trial');
      expect(trials.length).toBe(trialIds.length);
      expect(events.some((e) => e.event === 'status')).toBe(true);
      const text = JSON.stringify(events);
      for (const n of needles) expect(text).not.toContain(n);
      expect(structuralLeaks(events)).toEqual([]);
      for (const t of trials) expect(t.data.withheld).toEqual([HIDDEN]);
    }
    const piTrials = piEvents.filter((e) => e.event === 'trial');
    expect(piTrials.length).toBe(trialIds.length);
    expect(piTrials.some((t) => typeof t.data.metrics[HIDDEN] === 'number')).toBe(true);
  });

  it('everyone reads them once the campaign has finished', async () => {
    const c = `/api/campaigns/${encodeURIComponent(campaignId)}`;
    expect((await call('pi', 'POST', `${c}/stop`, { reason: 'done looking' })).status).toBe(200);
    await eventually(async () => {
      expect(await env.service.isRunning(campaignId)).toBe(false);
      return true;
    }, 60_000);
    const page = await eventually(async () => {
      const p = await call('viewer', 'GET', `${c}/trials`);
      expect(p.json.trials.some((t: { metrics: object }) => HIDDEN in t.metrics)).toBe(true);
      return p;
    }, 30_000);
    expect(page.json.trials.every((t: { withheld?: string[] }) => t.withheld === undefined)).toBe(
      true,
    );
  });
});

describe('strict input end to end', () => {
  const problemId = uniqueId('strict');

  it('the API refuses unknown keys in specs, criteria and bodies, naming the key', async () => {
    const stray = await call('researcher', 'POST', '/api/problems', {
      ...spec,
      id: problemId,
      contxt: 'typo',
    });
    expect(stray.status).toBe(400);
    expect(stray.json.message).toContain('"contxt"');
    expect(
      (await call('researcher', 'POST', '/api/problems', { ...spec, id: problemId })).status,
    ).toBe(201);

    const typo = await call('pi', 'POST', `/api/problems/${problemId}/criteria`, {
      criteria: { ...criteria, budgets: { maxTrials: 5, maxDolars: 1 } },
    });
    expect(typo.status).toBe(400);
    expect(typo.json.issues).toEqual([
      expect.objectContaining({
        path: 'criteria.budgets',
        message: expect.stringContaining('maxDolars'),
      }),
    ]);
    const body = await call('researcher', 'POST', '/api/campaigns', {
      problemId,
      strategy: { name: 'random' },
      sed: 3,
    });
    expect(body.status).toBe(400);
    expect(body.json.message).toContain('"sed"');
  });

  it('the API refuses repeated YAML keys, naming the key', async () => {
    const yaml = `${stringify({ criteria })}reason: one\nreason: two\n`;
    const r = await call(
      'pi',
      'POST',
      `/api/problems/${problemId}/criteria`,
      yaml,
      'application/yaml',
    );
    expect(r.status).toBe(400);
    expect(r.json.message).toBe('body: duplicate key reason');
  });

  it('a spec exposing ground-truth training is refused at the field', async () => {
    const w2sSpec = readDocument(path.resolve('experiments/weak-to-strong/problem.yaml')) as {
      space: unknown[];
    };
    const r = await call('researcher', 'POST', '/api/problems', {
      ...w2sSpec,
      id: uniqueId('w2s-gt'),
      space: [
        ...w2sSpec.space,
        { name: 'train_on', kind: 'categorical', choices: ['weak', 'ground_truth'] },
      ],
    });
    expect(r.status).toBe(400);
    // The space names it; the baseline and configurations lack a value for it, and say so too.
    expect(r.json.issues.map((i: { path: string }) => i.path)).toContain('space.11.name');
    expect(r.json.message).toContain('no parameter "train_on"');
  });

  it("the CLI's reader refuses repeated keys in YAML and JSON files", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gaplab-strict-'));
    const yamlFile = path.join(dir, 'criteria.yaml');
    await writeFile(yamlFile, 'metric: score\nbudgets:\n  maxTrials: 3\n  maxTrials: 30\n');
    expect(() => readDocument(yamlFile)).toThrow(/budgets: duplicate key maxTrials/);
    const jsonFile = path.join(dir, 'spec.json');
    await writeFile(jsonFile, '{"id": "a", "title": "x", "id": "b"}');
    expect(() => readDocument(jsonFile)).toThrow(/\(root\): duplicate key id/);
  });

  it("the problem workflow's criteria update refuses unknown keys too", async () => {
    const handle = env.client.workflow.getHandle(problemWorkflowId(problemId));
    const err = await handle
      .executeUpdate(setCriteriaUpdate, {
        args: [
          {
            actor: pi,
            criteria: { ...criteria, budgets: { maxTrials: 5, maxDolars: 1 } } as never,
          },
        ],
      })
      .then(
        () => null,
        (e: unknown) => e as Error & { cause?: Error },
      );
    expect(`${err?.message} ${err?.cause?.message}`).toMatch(
      /criteria\.budgets: unknown key "maxDolars": did you mean "maxDollars"\?/,
    );
    const ok = await handle.executeUpdate(setCriteriaUpdate, {
      args: [{ actor: pi, criteria: criteria as never }],
    });
    expect(ok.version).toBe(1);
  });
});
