import { describe, expect, it } from 'vitest';
import { applyChanges } from '../../../domain/space.js';
import { TriedSet } from '../common.js';
import { countSlack, estimateCallCost } from './cost.js';
import { checkHypothesis } from './hypothesis.js';
import { planAgents } from './plan.js';
import { validateReply } from './reply.js';
import { TEST_SPACE, testView } from '../../../test/support/strategy-views.js';

const view = (settings: Record<string, unknown>, overrides = {}) =>
  testView({ name: 'claude', settings: { model: 'claude-sonnet-4-5', ...settings } }, overrides);
const wire = (changes: Record<string, unknown>, parentTrialId: string | null = null) => ({
  title: 't',
  rationale: 'r',
  parentTrialId,
  changes: Object.entries(changes).map(([param, value]) => ({
    param,
    value: value as string | number | boolean,
  })),
  expectedEffect: 'e',
});

describe('planAgents', () => {
  it('gives each agent its quota, capped by the count asked', () => {
    expect(
      planAgents(view({ agents: 2, hypothesesPerAgent: 2 }, { count: 4 })).map((a) => a.count),
    ).toEqual([2, 2]);
    expect(
      planAgents(view({ agents: 3, hypothesesPerAgent: 2 }, { count: 10 })).map((a) => a.count),
    ).toEqual([2, 2, 2]);
  });

  it('rotates which agents speak when the count is smaller than the team', () => {
    const speakers = [0, 1, 2, 3].map(
      (iteration) => planAgents(view({ agents: 4 }, { count: 1, iteration }))[0]!.name,
    );
    expect(new Set(speakers).size).toBe(4);
  });
});

describe('checkHypothesis', () => {
  const v = view({});
  const check = (h: ReturnType<typeof wire>) =>
    checkHypothesis(v, h, new TriedSet(TEST_SPACE, v), 'x');

  it('accepts a valid change relative to a parent trial, spelled out fully', () => {
    const r = check(wire({ optimizer: 'sgd', epochs: 12 }, 'T2'));
    expect(r.errors).toEqual([]);
    // momentum becomes active: its value is filled from the baseline and written into the changes.
    expect(r.proposal!.changes).toEqual({ optimizer: 'sgd', epochs: 12, momentum: 0.9 });
    expect(applyChanges(TEST_SPACE, v.history[1]!.params, r.proposal!.changes)).toMatchObject({
      lr: 0.05,
      momentum: 0.9,
    });
  });

  it('names each problem', () => {
    expect(check(wire({ lr: 0.2 }, 'nope')).errors[0]).toMatch(
      /parentTrialId "nope" is not a finished trial/,
    );
    expect(check(wire({})).errors).toEqual([
      'changes: empty (a hypothesis must change at least one parameter)',
    ]);
    expect(check(wire({ epochs: 2.5 })).errors).toEqual(['epochs: expected an integer, got 2.5']);
    expect(check(wire({ aux_weight: 0.2 })).errors[0]).toMatch(/aux_weight: parameter is inactive/);
    expect(check(wire({ lr: 0.05 })).errors[0]).toMatch(/duplicate of trial T1/);
    expect(check(wire({ __proto__: 1 } as Record<string, unknown>)).errors).not.toEqual([]);
  });

  it('reads "baseline" as the baseline parent', () => {
    expect(check(wire({ epochs: 12 }, 'baseline')).proposal!.parentTrialId).toBeNull();
  });
});

describe('estimateCallCost', () => {
  it('is zero for other strategies and grows with agents and max tokens', () => {
    expect(estimateCallCost(testView({ name: 'random' })).maxDollars).toBe(0);
    const one = estimateCallCost(view({ agents: 1, maxTokens: 1000 }, { count: 1 }));
    const two = estimateCallCost(view({ agents: 2, maxTokens: 1000 }, { count: 2 }));
    const big = estimateCallCost(view({ agents: 1, maxTokens: 8000 }, { count: 1 }));
    expect(one.calls).toBe(1);
    expect(two.maxDollars).toBeGreaterThan(one.maxDollars);
    expect(big.maxDollars).toBeGreaterThan(one.maxDollars + 2 * 7000 * 15e-6 - 1e-9);
    expect(() => estimateCallCost(view({ model: 'nope' }))).toThrow(/no price is known/);
  });
});

describe('validateReply', () => {
  const usage = { input_tokens: 10, output_tokens: 5 };
  const ok = JSON.stringify({ hypotheses: [], insight: 'i' });
  const text = (t: string) => [{ type: 'text' as const, text: t, citations: null }];
  const kinds = (m: Record<string, unknown>) =>
    validateReply(m as never, 100).problems.map((p) => p.kind);

  it('accepts a complete reply', () => {
    const r = validateReply({ content: text(ok), usage, stop_reason: 'end_turn' } as never, 100);
    expect(r.problems).toEqual([]);
    expect(r.output).toEqual({ hypotheses: [], insight: 'i' });
  });

  it('names each way a reply is unusable, in words a person reads', () => {
    expect(kinds({ content: text(ok), stop_reason: 'end_turn' })).toEqual(['usage']);
    expect(kinds({ content: text(ok), usage: { input_tokens: -1, output_tokens: 2 } })).toEqual([
      'usage',
    ]);
    expect(
      kinds({ content: [{ type: 'tool_use', id: 'x', name: 'n', input: {} }], usage }),
    ).toEqual(['wrong_content']);
    expect(
      kinds({ content: text('{"hypotheses": [{"ti'), usage, stop_reason: 'max_tokens' }),
    ).toEqual(['truncated']);
    expect(kinds({ content: text(''), usage, stop_reason: 'refusal' })).toEqual(['refusal']);
    expect(kinds({ content: text('I think x = 1 is best.'), usage })).toEqual(['prose']);
    expect(kinds({ content: text('{"ideas": []}'), usage })).toEqual(['schema']);
    const all = validateReply({ content: text('{"ideas": []}') } as never, 100);
    // A usage problem does not void the content, a content problem does.
    expect(all.output).toBeUndefined();
    for (const p of all.problems) expect(p.message).not.toMatch(/TypeError|undefined|Error|parse/);
  });

  it('bounds a counted prompt with a small slack', () => {
    expect(countSlack(1000)).toBeGreaterThan(1000);
    expect(countSlack(1000)).toBeLessThan(1200);
  });
});

describe('planAgents after an outage', () => {
  it('gives agents whose call failed their quota first', () => {
    const base = view({ agents: 3, hypothesesPerAgent: 1 }, { count: 1, iteration: 0 });
    const first = planAgents(base)[0]!.name;
    const other = planAgents({ ...base, retryAgents: ['claude/mechanism'] });
    expect(first).not.toBe('claude/mechanism');
    expect(other.map((a) => a.name)).toEqual(['claude/mechanism']);
  });
});
