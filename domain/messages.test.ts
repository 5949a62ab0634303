/** The words people read when what they sent is refused: one message per mistake. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ACTION_WORDS, PERMISSIONS, refusalText } from '../api/permissions.js';
import { didYouMean, mergeTypoIssues } from './messages.js';
import { ValidationError } from './errors.js';
import { parseCriteria, parseProblemSpec } from './parse.js';
import { formatIssues } from './parse.js';

function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ValidationError) return formatIssues(e.issues);
    throw e;
  }
  throw new Error('expected a ValidationError');
}

describe('validation messages', () => {
  it('a typo in a key is one message, with the key it meant', () => {
    const spec = { question: 'q', title: 'a' };
    const S = z.object({ question: z.string(), title: z.string() }).strict();
    const r = S.safeParse({ quesiton: spec.question, title: spec.title });
    const issues = mergeTypoIssues(
      r.error!.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
    );
    expect(issues).toEqual([
      { path: '', message: 'unknown key "quesiton": did you mean "question"?' },
    ]);
  });

  it('a typo in a problem spec file is one message naming the field in the file', () => {
    const spec = {
      id: 'typo',
      title: 'A typo',
      quesiton: 'Where is the top?',
      experiment: 'quadratic',
      space: { x: { type: 'float', low: -5, high: 5 } },
      baseline: { x: 0 },
    };
    const issues = issuesOf(() => parseProblemSpec(spec, 'problem.yaml'));
    expect(issues).toContainEqual({
      path: '(root)',
      message: 'unknown key "quesiton": did you mean "question"?',
    });
    expect(issues.filter((i) => i.path === 'question')).toEqual([]);
  });

  it('a wrong choice lists the valid ones and the closest', () => {
    const issues = issuesOf(() =>
      parseCriteria(
        {
          metric: 'score',
          direction: 'maximise',
          baseline: { kind: 'meaure', configuration: 'baseline', seeds: 2 },
          optimum: { kind: 'value', value: 1 },
        },
        'criteria.yaml',
      ),
    );
    expect(issues).toContainEqual({
      path: 'direction',
      message: 'must be one of "maximize", "minimize", not "maximise" (did you mean "maximize"?)',
    });
    expect(issues).toContainEqual({
      path: 'baseline.kind',
      message: expect.stringMatching(
        /^must be one of .*"measure".*, not "meaure" \(did you mean "measure"\?\)$/,
      ),
    });
  });

  it('a missing field says it is required, and a wrong type what came', () => {
    const S = z.object({ seeds: z.number(), name: z.string() });
    const r = S.safeParse({ seeds: 'five' });
    expect(r.error!.issues.map((i) => i.message)).toEqual([
      'expected a number, got text "five"',
      'required: text',
    ]);
  });

  it('suggests only close words', () => {
    expect(didYouMean('maxDolars', ['maxDollars', 'maxTrials'])).toBe('maxDollars');
    expect(didYouMean('budget', ['budgets', 'baseline'])).toBe('budgets');
    expect(didYouMean('zzz', ['budgets', 'baseline'])).toBeUndefined();
  });
});

describe('refusals by role', () => {
  it('say which role may do it and who the person is', () => {
    expect(
      refusalText(PERMISSIONS.stop, ACTION_WORDS.stop, { name: 'Rae', role: 'researcher' }),
    ).toBe('only a PI can stop a campaign (you are signed in as Rae, a researcher)');
    expect(
      refusalText(PERMISSIONS.startCampaign, ACTION_WORDS.startCampaign, {
        name: 'Vic',
        role: 'viewer',
      }),
    ).toBe('only a researcher or a PI can start a campaign (you are signed in as Vic, a viewer)');
  });
});
