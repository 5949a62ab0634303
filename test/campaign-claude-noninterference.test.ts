/**
 * Noninterference for the research agent: what it is sent depends on visible data only. The same
 * Claude campaign runs twice on a real worker and Temporal, the real SDK against the scripted
 * fake Messages API, with identical visible results and different hidden values: in the second
 * run every hidden value moves, one trial falls short on the hidden split (a `hidden_gap` flag
 * holds it for review), a failed trial's error quotes its hidden score, and a person's note quotes
 * the baseline's. Every request the fake receives (count_tokens and messages, the repair round
 * included) is byte-identical across the two runs.
 *
 * The same on the built-in weak-to-strong problems (the function experiment, and the code
 * experiment with the agent's edit running in the sandbox), with the experiments' own harness:
 * each checkout draws its own harness key, so the data differ from machine to machine, but both
 * runs of a pair share the key and the campaign seed, so their visible results are equal. The
 * second run moves every hidden value and holds one trial for a hidden gap.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentDefinition } from '../experiments/types.js';
import { ExperimentRegistry, loadRegistry } from '../experiments/registry.js';
import { defineCodeExperiment, isCodeExperiment } from '../experiments/code.js';
import { checkSandbox } from '../experiments/sandbox.js';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import { LEFT_OUT } from '../domain/strategy.js';
import { quadratic, quadraticCriteria, quadraticSpec } from './support/quadratic.js';
import type { FakeAnthropic, FakeReply, Json, RecordedRequest } from './support/fake-anthropic.js';
import {
  createClaudeTestEnv,
  pi,
  researcher,
  uniqueId,
  type ClaudeTestEnv,
} from './support/env.js';
import { eventually } from './support/eventually.js';

const MODEL = 'claude-haiku-4-5';

/** Deterministic noise in [-1, 1), as the quadratic fixture computes it. */
function noise(seed: number): number {
  let x = (seed * 2654435761) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 2246822507) >>> 0;
  x ^= x >>> 13;
  return (x / 2 ** 32) * 2 - 1;
}
const score = (x: number, y: number, seed: number) =>
  10 - (x - 1) ** 2 - (y + 2) ** 2 + 0.05 * noise(seed);

/** How the hidden metric of a run is made from the visible score (set before each campaign). */
let hiddenOf: (x: number, y: number, visible: number) => number = (_x, _y, v) => v - 0.1;

/** The bowl with a held-out score the test controls; x = 0.5 fails quoting its hidden score. */
const bowl: ExperimentDefinition = {
  ...quadratic,
  name: 'quadratic-hidden',
  runner: {
    kind: 'function',
    run(params, ctx) {
      const x = Number(params.x);
      const y = Number(params.y);
      return Promise.resolve().then(() => {
        const visible = score(x, y, ctx.seed);
        if (x === 0.5)
          throw new Error(
            `diverged; heldout_score was ${hiddenOf(x, y, visible)} (Heldout Score ${hiddenOf(x, y, visible).toFixed(3)})`,
          );
        return { score: visible, heldout_score: hiddenOf(x, y, visible), cost: Math.abs(x) };
      });
    },
  },
};

/** What the agent proposes at each iteration (the first one after a repair round). */
const PLAN: Record<number, { x: number; y: number; title: string }> = {
  1: { x: -2, y: 1, title: 'move towards the centre' },
  2: { x: -1, y: 2, title: 'a smaller step' }, // held for a hidden gap in the second run
  3: { x: 0, y: 0, title: 'closer still' },
  4: { x: 0.5, y: -1, title: 'a step that fails' },
  5: { x: 1.5, y: -1, title: 'past the centre' },
};

const proposal = (iteration: number, parent: string | null) => {
  const p = PLAN[iteration] ?? { x: 2, y: -3, title: `idea ${iteration}` };
  return {
    title: p.title,
    rationale: `iteration ${iteration}`,
    parentTrialId: parent,
    changes: [
      { param: 'x', value: p.x },
      { param: 'y', value: p.y },
    ],
    expectedEffect: 'a higher score',
  };
};

/** The scripted agent: a reply computed from the request alone, so both runs get the same. */
const agent: FakeReply = (req: RecordedRequest) => {
  const first = String(req.body?.messages?.[0]?.content ?? '');
  const iteration = Number(/Iteration (\d+)\./.exec(first)?.[1] ?? 0);
  const parent = /Best so far: (\S+) with/.exec(first)?.[1] ?? null;
  const repair = (req.body?.messages?.length ?? 1) > 1;
  if (iteration === 1 && !repair)
    return {
      kind: 'json',
      body: {
        hypotheses: [{ ...proposal(1, null), changes: [{ param: 'x', value: 99 }] }],
        insight: 'x far out first',
      },
    };
  return {
    kind: 'json',
    body: { hypotheses: [proposal(iteration, parent)], insight: `learned at ${iteration}` },
  };
};

let fake: FakeAnthropic;
let env: ClaudeTestEnv;

/**
 * How a built-in experiment's hidden metrics are moved in a run (set before each campaign): the
 * experiment, the trial's parameters and the metrics its harness computed.
 */
let moveHidden: (
  params: Record<string, unknown>,
  metrics: Record<string, number>,
) => Record<string, number> = (_p, m) => m;

/** A built-in experiment whose hidden metrics pass through `moveHidden`; visible ones untouched. */
function withMovedHidden(def: ExperimentDefinition): ExperimentDefinition {
  if (isCodeExperiment(def)) {
    const { runner: _runner, ...rest } = def;
    return defineCodeExperiment({
      ...rest,
      code: {
        ...def.code,
        evaluate: async (source, params, ctx) =>
          moveHidden(params, await def.code.evaluate(source, params, ctx)),
      },
    });
  }
  const runner = def.runner;
  if (runner.kind !== 'function') throw new Error(`${def.name} is not a function experiment`);
  return {
    ...def,
    runner: {
      kind: 'function',
      run: async (params, ctx) => moveHidden(params, await runner.run(params, ctx)),
    },
  };
}

let w2s: ExperimentDefinition;
let w2sCode: ExperimentDefinition;

beforeAll(async () => {
  const builtins = await loadRegistry();
  w2s = withMovedHidden(builtins.get('weak-to-strong'));
  w2sCode = withMovedHidden(builtins.get('weak-to-strong-code'));
  env = await createClaudeTestEnv({
    registry: ExperimentRegistry.of(bowl, w2s, w2sCode),
    sdkRetries: 0,
  });
  fake = env.fake;
});
afterAll(async () => {
  await env?.close();
});

/** One campaign with the given hidden metric; the request bodies it sent, and its trials. */
async function runCampaign(name: string) {
  fake.clear();
  fake.script(...Array.from({ length: 30 }, () => agent));
  const problemId = uniqueId(name);
  await env.service.submitProblem(researcher, {
    ...quadraticSpec,
    id: problemId,
    experiment: bowl.name,
  });
  await env.service.setCriteria(pi, problemId, {
    ...quadraticCriteria,
    budgets: { maxTrials: 6, concurrency: 2, maxDollars: 2 },
    verification: { topK: 1, seeds: 2 },
  });
  const first = fake.requests.length;
  // Paused until the baseline is measured, so every call sees the same finished trials.
  const { campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: {
      name: 'claude',
      settings: { model: MODEL, agents: 1, hypothesesPerAgent: 1, maxTokens: 1024 },
    },
    seed: 11,
    paused: true,
  });
  const baseline = await eventually(async () => {
    const { trials } = await env.service.trials(campaignId, { limit: 10 });
    return trials.find((t) => t.id === 'baseline' && t.status === 'succeeded');
  }, 60_000);
  const h = baseline.metrics.heldout_score!;
  await env.service.addNote(pi, campaignId, `the baseline's heldout_score is ${h.toFixed(4)}`);
  await env.service.resume(researcher, campaignId);
  const report = await env.service.result(campaignId);
  const requests = fake.requests.slice(first);
  const { trials } = await env.service.trials(campaignId, { kind: 'search', limit: 100 });
  return { report, requests, trials, baselineHidden: h };
}

const bodies = (rs: RecordedRequest[]) => rs.map((r) => `${r.path} ${r.raw}`);

describe('noninterference: what the agent is sent depends on visible data only', () => {
  it('sends byte-identical requests when only hidden values differ, a hidden-gap trial included', async () => {
    hiddenOf = (_x, _y, v) => v - 0.1;
    const a = await runCampaign('ni-a');
    // Every hidden value moves; the second trial falls short on the hidden split.
    hiddenOf = (x, y, v) => (x === -1 && y === 2 ? v - 20 : v - 0.37);
    const b = await runCampaign('ni-b');

    expect(a.report.stopReason).toBe('max_trials');
    expect(b.report.stopReason).toBe('max_trials');
    expect(b.baselineHidden).not.toBe(a.baselineHidden);
    const flags = (t: (typeof a.trials)[number]) => t.flags.map((f) => f.kind);
    const heldA = a.trials.find((t) => t.params.x === -1)!;
    const heldB = b.trials.find((t) => t.params.x === -1)!;
    expect(flags(heldA)).not.toContain('hidden_gap');
    expect(flags(heldB)).toContain('hidden_gap');
    expect(heldB.trust).toBe('under_review');
    expect(b.trials.find((t) => t.params.x === 0.5)?.status).toBe('failed');

    // The calls made: each of the 6 trials' proposal, one repair round, each call counted first.
    const messages = (rs: RecordedRequest[]) => rs.filter((r) => r.path === '/v1/messages');
    expect(messages(a.requests)).toHaveLength(7);
    expect(a.requests).toHaveLength(14);
    const repair = messages(a.requests).find((r) => (r.body as Json).messages.length === 3);
    expect(repair?.raw).toContain('<problems>');
    // The held trial is in the later prompts like any other trial, and what named a hidden
    // metric (the failure text, the note) is cut the same way in both runs.
    const last = messages(b.requests).at(-1)!.raw;
    expect(last).toContain(heldB.id);
    expect(last).toContain('diverged;');
    expect(last).toContain(LEFT_OUT);
    expect(last).not.toMatch(/INFEASIBLE|under review|hidden_gap/);

    expect(bodies(b.requests)).toEqual(bodies(a.requests));
  });
});

/** A hypothesis as the scripted agent writes it. */
interface Planned {
  title: string;
  changes?: Record<string, unknown>;
  /** method.py replaced whole (code experiments). */
  source?: string;
}

/**
 * One campaign of the claude strategy on a built-in problem, one trial at a time (so every call
 * sees the same finished trials), the agent proposing `plan[i - 1]` at iteration i, always from
 * the baseline. A PI notes the baseline's hidden value once it is measured.
 */
async function runBuiltin(def: ExperimentDefinition, plan: Planned[], name: string) {
  const problem = def.problem!;
  const initial = isCodeExperiment(def) ? def.code.initialSource['method.py']! : '';
  const reply: FakeReply = (req: RecordedRequest) => {
    const first = String(req.body?.messages?.[0]?.content ?? '');
    const iteration = Number(/Iteration (\d+)\./.exec(first)?.[1] ?? 0);
    const p = plan[iteration - 1] ?? plan.at(-1)!;
    return {
      kind: 'json',
      body: {
        hypotheses: [
          {
            title: p.title,
            rationale: `iteration ${iteration}`,
            parentTrialId: null,
            changes: Object.entries(p.changes ?? {}).map(([param, value]) => ({ param, value })),
            expectedEffect: 'a higher dev accuracy',
            ...(p.source
              ? { edits: [{ file: 'method.py', search: initial, replace: p.source }] }
              : {}),
          },
        ],
        insight: `learned at ${iteration}`,
      },
    };
  };
  fake.clear();
  fake.script(...Array.from({ length: 12 }, () => reply));
  const problemId = uniqueId(name);
  await env.service.submitProblem(researcher, {
    ...parseProblemSpec(readFileSync(problem.spec, 'utf8'), problem.spec),
    id: problemId,
  });
  const criteria = parseCriteria(readFileSync(problem.criteria, 'utf8'), problem.criteria);
  await env.service.setCriteria(pi, problemId, {
    ...criteria,
    // Never reached: a verification on the way would run on secret seeds of its own.
    targetPgr: 5,
    // No wall-clock budget: the prompt would show the seconds left, which differ run to run.
    budgets: { maxTrials: plan.length, concurrency: 1, maxDollars: 2 },
    verification: { topK: 0, seeds: 1 },
  });
  const first = fake.requests.length;
  const { campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: {
      name: 'claude',
      settings: { model: MODEL, agents: 1, hypothesesPerAgent: 1, maxTokens: 4096 },
    },
    seed: 11,
    paused: true,
  });
  const baseline = await eventually(async () => {
    const { trials } = await env.service.trials(campaignId, { limit: 10 });
    return trials.find((t) => t.id === 'baseline' && t.status === 'succeeded');
  }, 300_000);
  const h = baseline.metrics.student_heldout_acc!;
  await env.service.addNote(
    pi,
    campaignId,
    `the baseline's student_heldout_acc is ${h.toFixed(4)}`,
  );
  await env.service.resume(researcher, campaignId);
  const report = await env.service.result(campaignId);
  const requests = fake.requests.slice(first);
  const { trials } = await env.service.trials(campaignId, { kind: 'search', limit: 100 });
  return { report, requests, trials, baselineHidden: h };
}

/**
 * Runs `def` twice: first with every hidden value a little lower, then with them lower by
 * another amount and the trial `held` picks far short on the hidden split; checks the hidden-gap
 * flag holds that trial in the second run only and that the agent was sent the same bytes.
 */
async function pair(
  def: ExperimentDefinition,
  plan: Planned[],
  held: (p: Record<string, unknown>) => boolean,
) {
  const HIDDEN = ['student_heldout_acc', 'pgr_heldout'];
  const WALL_TIMES = ['train_seconds', 'candidate_seconds'];
  const shift =
    (by: (p: Record<string, unknown>) => number) =>
    (p: Record<string, unknown>, m: Record<string, number>) =>
      Object.fromEntries(
        Object.entries(m).map(([k, v]) => [
          k,
          // Wall times are visible and differ from run to run whatever the hidden values: pinned.
          HIDDEN.includes(k) ? v - by(p) : WALL_TIMES.includes(k) ? 0.25 : v,
        ]),
      );
  moveHidden = shift(() => 0.003);
  const a = await runBuiltin(def, plan, `ni-${def.name}-a`);
  moveHidden = shift((p) => (held(p) ? 0.25 : 0.011));
  const b = await runBuiltin(def, plan, `ni-${def.name}-b`);
  moveHidden = (_p, m) => m;

  for (const r of [a, b]) {
    expect(r.report.stopReason, JSON.stringify(r.report.dropped)).toBe('max_trials');
    expect(r.trials.map((t) => `${t.id} ${t.status} ${t.failureReason ?? ''}`)).toEqual(
      r.trials.map((t) => `${t.id} succeeded `),
    );
  }
  expect(b.baselineHidden).not.toBe(a.baselineHidden);
  // Visible results equal, hidden ones not.
  const visibleOf = (t: (typeof a.trials)[number]) => [t.id, t.metrics.student_dev_acc, t.pgr];
  expect(b.trials.map(visibleOf)).toEqual(a.trials.map(visibleOf));
  const flags = (t: (typeof a.trials)[number]) => t.flags.map((f) => f.kind);
  const heldA = a.trials.find((t) => held(t.params))!;
  const heldB = b.trials.find((t) => held(t.params))!;
  expect(flags(heldA)).not.toContain('hidden_gap');
  expect(flags(heldB)).toContain('hidden_gap');
  expect(heldB.trust).toBe('under_review');

  const messages = (rs: RecordedRequest[]) => rs.filter((r) => r.path === '/v1/messages');
  expect(messages(a.requests)).toHaveLength(plan.length);
  // The last call is made as the last trial starts: every trial before it is finished and shown.
  const last = messages(b.requests).at(-1)!.raw;
  expect(last).toContain(heldB.id);
  expect(last).not.toMatch(/INFEASIBLE|under review|hidden_gap/);
  for (const r of b.requests) expect(r.raw).not.toMatch(/student_heldout_acc|pgr_heldout/);
  // Where the two runs' requests first differ, with the text around it (null: byte-identical).
  const ra = bodies(a.requests).join('\n');
  const rb = bodies(b.requests).join('\n');
  let i = 0;
  while (i < ra.length && ra[i] === rb[i]) i++;
  const around = (x: string) => x.slice(Math.max(0, i - 300), i + 200);
  expect(i < Math.max(ra.length, rb.length) ? { a: around(ra), b: around(rb) } : null).toBeNull();
  expect(bodies(b.requests)).toEqual(bodies(a.requests));
}

describe('noninterference on the built-in weak-to-strong problems', () => {
  it('weak-to-strong: byte-identical requests when only hidden values differ, a hidden-gap trial included', async () => {
    await pair(
      w2s,
      [
        { title: 'the auxiliary confidence loss', changes: { method: 'aux_conf' } },
        { title: 'naive with a smaller step', changes: { method: 'naive', lr: 0.3 } },
        { title: 'confidence filtering', changes: { method: 'conf_filter' } },
        { title: 'bootstrapping', changes: { method: 'bootstrap' } },
      ],
      (p) => p.method === 'naive' && p.lr === 0.3,
    );
  }, 900_000);

  it('weak-to-strong-code: byte-identical requests when only hidden values differ, an edit in the sandbox and a hidden-gap trial included', async () => {
    await checkSandbox(); // throws naming what is missing: this test needs bubblewrap
    const handWritten = readFileSync(
      new URL('./fixtures/weak-to-strong-code/sparse_relaxed_lasso.py', import.meta.url),
      'utf8',
    );
    await pair(
      w2sCode,
      [
        { title: 'sparse relaxed lasso', source: handWritten },
        { title: 'early stopping', changes: { lr: 0.01, epochs: 20 } },
        { title: 'a little longer', changes: { lr: 0.01, epochs: 40 } },
        { title: 'a larger step', changes: { lr: 0.02, epochs: 30 } },
      ],
      (p) => p.lr === 0.01 && p.epochs === 20,
    );
  }, 1_500_000);
});
