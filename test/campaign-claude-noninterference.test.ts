/**
 * Noninterference for the research agent: what it is sent depends on visible data only. The same
 * Claude campaign runs twice on a real worker and Temporal, the real SDK against the scripted
 * fake Messages API, with identical visible results and different hidden values: in the second
 * run every hidden value moves, one trial falls short on the hidden split (a `hidden_gap` flag
 * holds it for review), a failed trial's error quotes its hidden score, and a person's note quotes
 * the baseline's. Every request the fake receives (count_tokens and messages, the repair round
 * included) is byte-identical across the two runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExperimentDefinition } from '../experiments/types.js';
import { ExperimentRegistry } from '../experiments/registry.js';
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

beforeAll(async () => {
  env = await createClaudeTestEnv({ registry: ExperimentRegistry.of(bowl), sdkRetries: 0 });
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
