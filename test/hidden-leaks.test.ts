/**
 * Hidden values stay hidden from researchers and viewers by value, not only by name: a PI plants
 * hidden values (per-seed values, means, the hidden-gap shortfall) in a note, a clear-flag reason,
 * an idea title and a criteria reason, and a seed prints its own value in four formats. While the
 * campaign runs, no GET route of the app's route table and no event stream carries any of them
 * in any format to a researcher or a viewer; the PI reads every one. Then a value from the
 * finished campaign, pasted into a note of the next campaign on the same problem, is caught there.
 * A code campaign (weak-to-strong-code, bubblewrap) does the same for a source comment.
 *
 * Real Temporal, MLflow, worker and HTTP server.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import { isCodeExperiment } from '../experiments/code.js';
import { ExperimentRegistry, loadRegistry } from '../experiments/registry.js';
import { checkSandbox } from '../experiments/sandbox.js';
import type { ExperimentDefinition } from '../experiments/types.js';
import { createTestEnv, uniqueId, type TestEnv } from './support/env.js';
import { eventually } from './support/eventually.js';
import {
  HTTP_TOKENS,
  sseEvents,
  startTestServer,
  type HttpReply,
  type TestServer,
  type Who,
} from './support/http.js';

const HIDDEN = 'heldout_score';

/**
 * Score 10 - (x-1)^2; the hidden metric lies in [1.10, 1.20), where no PGR (at most 1 here) and
 * hardly any score falls, so a number found in a reply is the hidden one. Each seed prints its
 * hidden value in four formats before reporting it.
 */
const printer: ExperimentDefinition = {
  name: 'hidden-printer',
  description: 'A bowl whose seeds print their hidden value in four formats.',
  metrics: [
    { name: 'score', description: 'objective' },
    { name: HIDDEN, description: 'held out' },
  ],
  defaultTimeoutSeconds: 30,
  runner: {
    kind: 'command',
    argv: [
      'sh',
      '-c',
      [
        // Slow enough that the campaign is still running when the test pauses it.
        'sleep 1',
        `awk -v s="$GAPLAB_SEED" -v x="$GAPLAB_PARAM_X" 'BEGIN {`,
        '  h = 1.1 + (s % 10007) / 10007 * 0.09 + 0.0001 * (x + 5)',
        '  printf "epoch 20: held out %.4f (%.2f%%), %.3e, heldout=%.5f\\n", h, h * 100, h, h',
        '  printf "{\\"metrics\\": {\\"score\\": %.6f, \\"heldout_score\\": %.10f}}\\n", 10 - (x - 1) ^ 2, h',
        "}'",
      ].join('\n'),
    ],
  },
};

const spec = {
  title: 'Hidden printer',
  question: 'Where is the top of the bowl?',
  experiment: 'hidden-printer',
  space: [{ name: 'x', kind: 'float', low: -5, high: 5 }],
  baseline: { x: -4 },
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

/** Why code trials cannot run here (no bubblewrap), or null when they can. */
const noSandbox = await checkSandbox().then(
  () => null,
  (err: unknown) => (err as Error).message,
);

let env: TestEnv;
let http: TestServer;
const call = (...args: Parameters<TestServer['call']>) => http.call(...args);

beforeAll(async () => {
  const registry = await loadRegistry();
  const code = registry.get('weak-to-strong-code');
  env = await createTestEnv({ registry: ExperimentRegistry.of(printer, code) });
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

/**
 * Every GET URL of the app for one campaign: each route of the table with its parameters filled
 * in. GET /api/problems lists every problem of the shared server (others' included); the problem
 * itself is read through GET /api/problems/:problemId, which redacts the same way.
 */
function urlsOf(params: Record<string, string[]>): string[] {
  const urls: string[] = [];
  for (const route of getRoutes()) {
    if (CAMPAIGN_FREE.test(route) || route.endsWith('/events') || route === '/api/problems')
      continue;
    if (route === '/api/campaigns') {
      urls.push(`/api/campaigns?problemId=${params.problemId![0]}`);
      continue;
    }
    expect(route.includes('*'), `wildcard route ${route}: cover it`).toBe(false);
    let expanded = [route];
    for (const m of route.matchAll(/:(\w+)/g)) {
      const values = params[m[1]!];
      expect(values, `no test values for :${m[1]} of ${route}: cover the new route`).toBeDefined();
      expanded = expanded.flatMap((u) =>
        values!.map((v) => u.replace(`:${m[1]}`, encodeURIComponent(v))),
      );
    }
    urls.push(...expanded.map((u) => withQuery(route, u, params)));
    // The trial table is also served as CSV: read that shape too.
    if (route.endsWith('/table')) urls.push(...expanded.map((u) => `${u}?format=csv&sort=-pgr`));
  }
  return urls;
}

/** The query a route needs to answer at all: the comparison names the trials it compares. */
function withQuery(route: string, url: string, params: Record<string, string[]>): string {
  if (route.endsWith('/compare-trials'))
    return `${url}?ids=${(params.trialId ?? []).slice(0, 8).map(encodeURIComponent).join(',')}`;
  return url;
}

/** Reads a campaign's event stream for a while (trials replayed from the first) and returns it as text. */
async function eventText(campaignId: string, who: Who, trials: number): Promise<string> {
  const controller = new AbortController();
  const events: unknown[] = [];
  const timer = setTimeout(() => controller.abort(), 15_000);
  try {
    const res = await fetch(
      `${http.url}/api/campaigns/${encodeURIComponent(campaignId)}/events?since=0&token=${HTTP_TOKENS[who]}`,
      { signal: controller.signal },
    );
    expect(res.status).toBe(200);
    let seen = 0;
    for await (const e of sseEvents(res.body)) {
      events.push(e);
      if (e.event === 'trial' && ++seen >= trials) break;
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  expect(events.length).toBeGreaterThan(trials);
  return JSON.stringify(events);
}

/**
 * How a value may be written: fixed 4 and 5 decimals, a percent with 2 decimals, scientific with
 * 3, and in full. (Shorter roundings coincide too easily with visible numbers to test for.)
 */
function formats(v: number): string[] {
  return [v.toFixed(4), v.toFixed(5), `${(v * 100).toFixed(2)}%`, v.toExponential(3), String(v)];
}

/** The formats of `values` that `text` contains as whole numbers (not as part of a longer one). */
function found(text: string, values: Iterable<number>): string[] {
  const out: string[] = [];
  for (const v of values)
    for (const f of formats(v))
      if (new RegExp(`(?<![\\d.])${f.replace(/[.+%]/g, '\\$&')}(?!\\d)`).test(text)) out.push(f);
  return out;
}

/** Hidden values the PI reads: each trial's mean and each seed's value. */
async function hiddenValues(
  c: string,
  trialIds: string[],
  metric = HIDDEN,
): Promise<Map<string, number[]>> {
  const byTrial = new Map<string, number[]>();
  for (const id of trialIds) {
    const d = await eventually(async () => {
      const r = await call('pi', 'GET', `${c}/trials/${encodeURIComponent(id)}`);
      expect(r.status).toBe(200);
      if (r.json.trial.status !== 'failed') expect(r.json.seeds.length).toBeGreaterThan(0);
      return r;
    }, 60_000);
    const values: number[] = [];
    const mean = d.json.trial.metrics[metric];
    if (typeof mean === 'number') values.push(mean);
    for (const s of d.json.seeds as { metrics: Record<string, number | null> }[]) {
      const v = s.metrics[metric];
      if (typeof v === 'number') values.push(v);
    }
    byTrial.set(id, values);
  }
  return byTrial;
}

/** Pauses a campaign and waits until nothing of it runs. */
async function pauseAndSettle(c: string): Promise<void> {
  expect((await call('pi', 'POST', `${c}/pause`, {})).status).toBe(200);
  await eventually(async () => (await call('pi', 'GET', c)).json.paused === true, 60_000);
  await eventually(async () => (await call('pi', 'GET', c)).json.trialsRunning === 0, 120_000);
}

/** Reads every URL as researcher and viewer: none carries a planted value; returns the replies. */
async function expectNoLeaks(
  urls: string[],
  values: number[],
  codeOnly: (url: string) => boolean = () => false,
): Promise<Map<string, HttpReply>> {
  const replies = new Map<string, HttpReply>();
  for (const who of ['researcher', 'viewer'] as const)
    for (const url of urls) {
      const r = await call(who, 'GET', url);
      expect(
        codeOnly(url) ? [200, 404, 409] : [200, 409],
        `${who} GET ${url}: ${r.text.slice(0, 300)}`,
      ).toContain(r.status);
      expect(found(r.text, values), `${who} GET ${url}`).toEqual([]);
      replies.set(`${who} ${url}`, r);
    }
  return replies;
}

describe('hidden values planted in free text', () => {
  let problemId: string;
  let campaignId: string;
  let c: string;
  /** Every hidden value of the first campaign the PI reads. */
  const all: number[] = [];
  let planted: { note: string; reason: string; title: string; criteriaReason: string };
  let nextProblemValue: number;
  let near: { id: string; title: string };
  let off: { id: string; title: string };
  let first: { id: string; title: string }[];

  it('a PI plants values read from the running campaign in a note, a flag reason, a title and the problem audit', async () => {
    problemId = uniqueId('leak');
    expect(
      (await call('researcher', 'POST', '/api/problems', { ...spec, id: problemId })).status,
    ).toBe(201);
    const set = await call('pi', 'POST', `/api/problems/${problemId}/criteria`, { criteria });
    expect(set.status, set.text).toBe(201);
    const started = await call('researcher', 'POST', '/api/campaigns', {
      problemId,
      strategy: { name: 'random' },
      seed: 1,
      paused: true,
    });
    expect(started.status, started.text).toBe(201);
    campaignId = started.json.campaignId;
    c = `/api/campaigns/${encodeURIComponent(campaignId)}`;
    // Two ideas of people run first; then the random strategy's, until the pause.
    for (const [title, changes] of [
      ['near the top', { x: 0.5 }],
      ['a little off', { x: 2 }],
    ] as const)
      expect((await call('researcher', 'POST', `${c}/hypotheses`, { title, changes })).status).toBe(
        201,
      );
    expect((await call('researcher', 'POST', `${c}/resume`, {})).status).toBe(200);
    first = await eventually(async () => {
      const page = await call('pi', 'GET', `${c}/trials?limit=1000`);
      const t = page.json.trials.filter(
        (x: { title: string; status: string }) =>
          ['near the top', 'a little off'].includes(x.title) && x.status !== 'running',
      );
      expect(t.length).toBe(2);
      return t as { id: string; title: string }[];
    }, 120_000);
    await pauseAndSettle(c);
    const trials = (await call('pi', 'GET', `${c}/trials?limit=1000`)).json.trials as {
      id: string;
      kind: string;
    }[];
    const byTrial = await hiddenValues(
      c,
      trials.map((t) => t.id),
    );
    for (const v of byTrial.values()) all.push(...v);
    expect(all.length).toBeGreaterThanOrEqual(6);
    for (const v of all) expect(v).toBeGreaterThanOrEqual(1.1);

    // A trial the hidden gap flags (its held-out gain falls short of its score's): its shortfall,
    // as the PI reads it in the flag.
    near = first.find((t) => t.title === 'near the top')!;
    const detail = (await call('pi', 'GET', `${c}/trials/${encodeURIComponent(near.id)}`)).json;
    const gapFlag = (detail.summary?.flags ?? []).find(
      (f: { kind: string }) => f.kind === 'hidden_gap',
    );
    expect(gapFlag?.message, JSON.stringify(detail.summary?.flags)).toMatch(/by -?[\d.]+ PGR/);
    const shortfall = /by (-?[\d.]+) PGR/.exec(gapFlag.message)![1]!;

    const [seedA, seedB] = byTrial.get(near.id)!.slice(1);
    const other = first.find((t) => t.id !== near.id)!;
    const otherMean = byTrial.get(other.id)![0]!;
    planted = {
      // Per-seed values the note's payload knows nothing of, one with no leading zero's kin:
      // plain, percent with a space, and the shortfall.
      note: `student held-out on one seed was ${seedA!.toFixed(4)}, the other ${(seedB! * 100).toFixed(1)} %; shortfall ${shortfall}`,
      reason: `held-out ${otherMean.toExponential(3)} is fine for this split`,
      title: `retry what gave heldout=${seedB!.toFixed(5)}`,
      criteriaReason: `raise the bar: held-out reached ${(otherMean * 100).toFixed(2)}%`,
    };
    expect((await call('pi', 'POST', `${c}/notes`, { text: planted.note })).status).toBe(201);
    const cleared = await call(
      'pi',
      'POST',
      `${c}/trials/${encodeURIComponent(near.id)}/flags/hidden_gap/clear`,
      { reason: planted.reason },
    );
    expect(cleared.status, cleared.text).toBe(200);
    expect(
      (await call('pi', 'POST', `${c}/hypotheses`, { title: planted.title, changes: { x: 3 } }))
        .status,
    ).toBe(201);
    const v2 = await call('pi', 'POST', `/api/problems/${problemId}/criteria`, {
      criteria,
      reason: planted.criteriaReason,
    });
    expect(v2.status, v2.text).toBe(201);
    // The titled idea runs; the campaign is paused again with it done.
    expect((await call('pi', 'POST', `${c}/resume`, {})).status).toBe(200);
    await eventually(async () => {
      const page = await call('pi', 'GET', `${c}/trials?limit=1000`);
      return page.json.trials.some(
        (t: { title: string; status: string }) =>
          t.title === planted.title && t.status !== 'running',
      );
    }, 120_000);
    await pauseAndSettle(c);
    expect(await env.service.isRunning(campaignId)).toBe(true);
  });

  it('mid-campaign, no GET route and no event stream shows a researcher or a viewer any of them', async () => {
    const trials = (await call('pi', 'GET', `${c}/trials?limit=1000`)).json.trials as {
      id: string;
    }[];
    // The new trials' values count too (the titled idea's seeds).
    for (const v of (
      await hiddenValues(
        c,
        trials.map((t) => t.id),
      )
    ).values())
      all.push(...v);
    const planted4 = [...new Set(all)];
    const urls = urlsOf({
      campaignId: [campaignId],
      problemId: [problemId],
      trialId: trials.map((t) => t.id),
      ref: ['initial'],
    });
    expect(urls).toEqual(
      expect.arrayContaining([
        `${c}/notes`,
        `${c}/audit`,
        `/api/problems/${problemId}`,
        `${c}/trials/${encodeURIComponent(trials[0]!.id)}/diff`,
        `${c}/sources/initial`,
      ]),
    );
    const replies = await expectNoLeaks(urls, planted4, (u) => /\/sources\/|\/diff$/.test(u));

    // The planted texts arrive, with the values marked.
    const notes = replies.get(`researcher ${c}/notes`)!.json as { text: string }[];
    expect(notes.map((n) => n.text)).toContainEqual(
      expect.stringMatching(
        /^student held-out on one seed was hidden, the other hidden; shortfall hidden$/,
      ),
    );
    const audit = replies.get(`viewer ${c}/audit`)!.text;
    expect(audit).toContain('is fine for this split');
    expect(replies.get(`researcher /api/problems/${problemId}`)!.text).toContain(
      'raise the bar: held-out reached hidden',
    );
    expect(replies.get(`viewer ${c}/trials`)!.text).toContain('retry what gave heldout=hidden');
    // The seeds' log lines, in four formats each, reach them with every value marked.
    const titled = (await call('pi', 'GET', `${c}/trials?limit=1000`)).json.trials.find(
      (t: { title: string }) => t.title === planted.title,
    );
    const seeds = replies.get(`researcher ${c}/trials/${encodeURIComponent(titled.id)}`)!.json
      .seeds as { logTail?: string }[];
    expect(seeds.length).toBeGreaterThan(0);
    for (const s of seeds)
      expect(s.logTail).toContain('epoch 20: held out hidden (hidden), hidden, heldout=hidden');

    for (const who of ['researcher', 'viewer'] as const) {
      const text = await eventText(campaignId, who, trials.length);
      expect(found(text, planted4), `${who} events`).toEqual([]);
      expect(text).toContain('retry what gave heldout=hidden');
    }

    // The PI reads every one of them, on the same routes.
    const pi = async (url: string) => (await call('pi', 'GET', url)).text;
    expect(await pi(`${c}/notes`)).toContain(JSON.stringify(planted.note).slice(1, -1));
    expect(await pi(`${c}/audit`)).toContain(planted.reason);
    expect(await pi(`/api/problems/${problemId}`)).toContain(planted.criteriaReason);
    expect(await pi(`${c}/trials`)).toContain(planted.title);
    const piSeeds = JSON.parse(await pi(`${c}/trials/${encodeURIComponent(titled.id)}`)).seeds;
    for (const s of piSeeds)
      expect(s.logTail).toMatch(
        /held out 1\.\d{4} \(1\d\d\.\d\d%\), 1\.\d{3}e\+00, heldout=1\.\d{5}/,
      );
    expect(
      found(await eventText(campaignId, 'pi', trials.length), planted4).length,
    ).toBeGreaterThan(0);
    // A seed's value of the idea at x = 2: the next campaign, paused, runs only its baseline (x = -4).
    off = first.find((t) => t.id !== near.id)!;
    nextProblemValue = (await hiddenValues(c, [off.id])).get(off.id)![1]!;
  });

  it('a value of the finished campaign, pasted into a note of the next one on the problem, is caught', async () => {
    expect((await call('pi', 'POST', `${c}/stop`, { reason: 'done' })).status).toBe(200);
    await eventually(async () => !(await env.service.isRunning(campaignId)), 60_000);
    // Finished: everyone reads the first campaign's values now.
    await eventually(async () => {
      const r = await call('viewer', 'GET', `${c}/trials/${encodeURIComponent(off.id)}`);
      return found(r.text, [nextProblemValue]).length > 0;
    }, 60_000);

    const next = await call('researcher', 'POST', '/api/campaigns', {
      problemId,
      strategy: { name: 'random' },
      seed: 2,
      paused: true,
    });
    expect(next.status, next.text).toBe(201);
    const n = `/api/campaigns/${encodeURIComponent(next.json.campaignId)}`;
    const text = `last time held-out was ${nextProblemValue.toFixed(4)}, ${(nextProblemValue * 100).toFixed(2)}%`;
    expect((await call('researcher', 'POST', `${n}/notes`, { text })).status).toBe(201);
    for (const who of ['researcher', 'viewer'] as const) {
      const notes = await call(who, 'GET', `${n}/notes`);
      expect(notes.status).toBe(200);
      expect(notes.json.map((x: { text: string }) => x.text)).toContain(
        'last time held-out was hidden, hidden',
      );
    }
    expect((await call('pi', 'GET', `${n}/notes`)).text).toContain(text);
    expect((await call('pi', 'POST', `${n}/stop`, {})).status).toBe(200);
  });
});

describe('a hidden value in a source comment', () => {
  it.skipIf(noSandbox !== null)(
    noSandbox === null
      ? 'is withheld from the diff and the snapshot while the code campaign runs'
      : `skipped: code trials need a sandbox (${noSandbox})`,
    async () => {
      const registry = await loadRegistry();
      const e = registry.get('weak-to-strong-code');
      if (!isCodeExperiment(e) || !e.problem)
        throw new Error('weak-to-strong-code is no code experiment');
      const problemId = uniqueId('leak-code');
      const codeSpec = parseProblemSpec(readFileSync(e.problem.spec, 'utf8'), e.problem.spec);
      expect(
        (await call('researcher', 'POST', '/api/problems', { ...codeSpec, id: problemId })).status,
      ).toBe(201);
      const codeCriteria = parseCriteria(
        readFileSync(e.problem.criteria, 'utf8'),
        e.problem.criteria,
      );
      const set = await call('pi', 'POST', `/api/problems/${problemId}/criteria`, {
        criteria: {
          ...codeCriteria,
          // Five seeds: on two, t(1) is 12.7 and a keyed draw with a little spread puts the
          // baseline within noise of the optimum, which ends the campaign before the test acts.
          baseline: { kind: 'measure', configuration: 'baseline', seeds: 5 },
          seedsPerTrial: 2,
          budgets: { maxTrials: 5, concurrency: 2, maxWallSeconds: 1800 },
          verification: { topK: 0, seeds: 1 },
        },
      });
      expect(set.status, set.text).toBe(201);
      const started = await call('researcher', 'POST', '/api/campaigns', {
        problemId,
        strategy: { name: 'random' },
        seed: 4,
        paused: true,
      });
      expect(started.status, started.text).toBe(201);
      const campaignId = started.json.campaignId as string;
      const c = `/api/campaigns/${encodeURIComponent(campaignId)}`;
      // The baseline is measured while paused: its held-out accuracy is what the PI pastes.
      const baseline = await eventually(async () => {
        const page = await call('pi', 'GET', `${c}/trials?limit=1000`);
        const ref = page.json.trials.find(
          (x: { kind: string; status: string; metrics: Record<string, number> }) =>
            x.kind === 'reference' &&
            x.status === 'succeeded' &&
            typeof x.metrics.student_heldout_acc === 'number',
        );
        expect(ref).toBeDefined();
        return ref as { id: string; metrics: Record<string, number> };
      }, 300_000);
      const values = (await hiddenValues(c, [baseline.id], 'student_heldout_acc')).get(
        baseline.id,
      )!;
      // Held-out accuracies are near 0.7: plant one with four decimals, which no visible field of a
      // baseline-only campaign is likely to equal.
      const v = values[1] ?? values[0]!;
      const comment = `# baseline held-out accuracy: ${v.toFixed(4)} (${(v * 100).toFixed(2)}%)`;
      const first = Object.keys(e.code.initialSource)[0]!;
      const line = e.code.initialSource[first]!.split('\n').find((l) => l.trim().length > 0)!;
      const injected = await call('pi', 'POST', `${c}/hypotheses`, {
        title: 'same method, annotated',
        changes: {},
        edits: [
          { kind: 'search_replace', file: first, search: line, replace: `${comment}\n${line}` },
        ],
      });
      expect(injected.status, injected.text).toBe(201);
      expect((await call('pi', 'POST', `${c}/resume`, {})).status).toBe(200);
      const trial = await eventually(async () => {
        const page = await call('pi', 'GET', `${c}/trials?limit=1000`);
        const t = page.json.trials.find(
          (x: { title: string; sourceHash?: string }) =>
            x.title === 'same method, annotated' && x.sourceHash,
        );
        expect(t).toBeDefined();
        return t as { id: string; sourceHash: string };
      }, 300_000);
      expect((await call('pi', 'POST', `${c}/pause`, {})).status).toBe(200);
      const diffUrl = `${c}/trials/${encodeURIComponent(trial.id)}/diff`;
      const sourceUrl = `${c}/sources/${trial.sourceHash}`;
      // The PI reads the comment in both.
      const piDiff = await eventually(async () => {
        const r = await call('pi', 'GET', diffUrl);
        expect(r.status, r.text).toBe(200);
        return r;
      }, 120_000);
      expect(piDiff.json.diff).toContain(comment);
      const piSource = await eventually(async () => {
        const r = await call('pi', 'GET', sourceUrl);
        expect(r.status, r.text).toBe(200);
        return r;
      }, 120_000);
      expect(piSource.json.files[first]).toContain(comment);
      expect(await env.service.isRunning(campaignId)).toBe(true);
      for (const who of ['researcher', 'viewer'] as const) {
        const diff = await call(who, 'GET', diffUrl);
        expect(diff.status).toBe(200);
        expect(found(diff.text, [v]), `${who} diff`).toEqual([]);
        expect(diff.json.diff).toContain('# baseline held-out accuracy: hidden (hidden)');
        const source = await call(who, 'GET', sourceUrl);
        expect(source.status).toBe(200);
        expect(found(source.text, [v]), `${who} source`).toEqual([]);
        expect(source.json.files[first]).toContain('# baseline held-out accuracy: hidden (hidden)');
      }
      expect((await call('pi', 'POST', `${c}/stop`, { cancelRunning: true })).status).toBe(200);
    },
    900_000,
  );
});
