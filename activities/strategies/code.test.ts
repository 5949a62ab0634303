import { describe, expect, it } from 'vitest';
import { checkHypothesis } from './claude.js';
import { codePrompt, type CodeContext } from './code.js';
import { TriedSet } from './common.js';
import { TEST_SPACE, testView } from './testing.js';

const H2 = '2'.repeat(64);
const code: CodeContext = {
  interface: 'train(x) -> y',
  editable: ['method.py'],
  initial: { 'method.py': 'def train(x):\n    return 0\n' },
  sources: { [H2]: { 'method.py': 'def train(x):\n    return 2\n' } },
};
const view = testView(
  { name: 'claude', settings: { model: 'claude-haiku-4-5' } },
  {
    code: {},
    history: testView({ name: 'claude' }).history.map((t) =>
      t.id === 'T2'
        ? { ...t, sourceHash: H2 }
        : t.id === 'T3'
          ? { ...t, sourceHash: '3'.repeat(64) }
          : t,
    ),
  },
);
const wire = (
  edits: { file: string; search: string; replace: string }[],
  parentTrialId: string | null = null,
) => ({
  title: 't',
  rationale: 'r',
  parentTrialId,
  changes: [],
  expectedEffect: 'e',
  edits,
});
const check = (h: ReturnType<typeof wire>) =>
  checkHypothesis(view, h, new TriedSet(TEST_SPACE, view), 'x', code);

describe('checkHypothesis with edits', () => {
  it("accepts edits that apply to the parent's source, with no parameter change", () => {
    const r = check(wire([{ file: 'method.py', search: 'return 2', replace: 'return 3' }], 'T2'));
    expect(r.errors).toEqual([]);
    expect(r.proposal).toMatchObject({
      parentTrialId: 'T2',
      changes: {},
      edits: [
        { kind: 'search_replace', file: 'method.py', search: 'return 2', replace: 'return 3' },
      ],
    });
    // The same edits twice are not a parameter duplicate: the campaign checks source + params.
    const tried = new TriedSet(TEST_SPACE, view);
    const h = wire([{ file: 'method.py', search: 'return 0', replace: 'return 1' }]);
    expect(checkHypothesis(view, h, tried, 'a', code).proposal).toBeDefined();
    expect(checkHypothesis(view, h, tried, 'b', code).proposal).toBeDefined();
  });

  it('names why edits cannot be used, for the repair round', () => {
    expect(check(wire([{ file: 'method.py', search: 'return 2', replace: 'x' }])).errors).toEqual([
      expect.stringMatching(
        /^edits do not apply to the source of the baseline: method\.py: edit 1: .*search text/,
      ),
    ]);
    expect(check(wire([{ file: 'x.py', search: '', replace: 'y = 1' }])).errors).toEqual([
      'edits: x.py is not editable (editable: method.py)',
    ]);
    expect(
      check(wire([{ file: 'method.py', search: 'return', replace: 'x' }], 'T3')).errors[0],
    ).toMatch(/^edits: the source of T3 is not shown to you/);
    // Without a code context (not a code experiment, or the worker cannot read its sources).
    const none = checkHypothesis(
      view,
      wire([{ file: 'method.py', search: 'return', replace: 'x' }]),
      new TriedSet(TEST_SPACE, view),
      'x',
    );
    expect(none.errors).toEqual([
      'edits: this experiment has no editable source; leave edits empty',
    ]);
    expect(check(wire([])).errors).toEqual([
      'changes and edits: both empty (a hypothesis must change a parameter or the source)',
    ]);
  });
});

describe('codePrompt', () => {
  it('shows the interface, the starting source and the sources of the trials it names', () => {
    const text = codePrompt(view, code);
    expect(text).toContain('train(x) -> y');
    expect(text).toContain(
      '<source of="the baseline (the starting source)">\n=== method.py ===\ndef train(x):\n    return 0',
    );
    expect(text).toContain('<source of="T2">\n=== method.py ===\ndef train(x):\n    return 2');
    expect(text).not.toContain('of="T3"');
  });
});
