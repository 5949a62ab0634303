/** The campaign state's side of code hypotheses: hashes only, duplicates by source, drops with reasons. */
import { describe, expect, it } from 'vitest';
import { campaignInput, quadCriteria } from '../../test/support/quadratic.js';
import type { StrategyResult } from '../../domain/strategy.js';
import { failureTypeOf } from '../../domain/failure-types.js';
import { carriedOf, searchingState } from '../../test/support/searching-state.js';
import type { CampaignInput } from '../types.js';

const H1 = 'a'.repeat(64);
const H2 = 'b'.repeat(64);
const INITIAL = 'c'.repeat(64);

const input = (code: boolean): CampaignInput => {
  const i = campaignInput({
    criteria: quadCriteria({ budgets: { maxTrials: 100, concurrency: 2 } }),
  });
  return { ...i, experiment: { ...i.experiment, ...(code ? { code: true } : {}) } };
};
const result = (proposals: StrategyResult['proposals']): StrategyResult => ({
  proposals,
  dropped: [],
  notes: [],
  dollars: 0,
  authors: [],
});
const edit = [{ kind: 'search_replace' as const, file: 'method.py', search: 'a', replace: 'b' }];
const proposal = (title: string, x: number, extra: object = {}) => ({
  title,
  rationale: '',
  parentTrialId: null,
  changes: { x },
  expectedEffect: '',
  ...extra,
});

describe('campaign state: code hypotheses', () => {
  it('refuses edits on an experiment without source, naming `edits` (a person gets InvalidInput)', () => {
    const s = searchingState(input(false), {});
    s.proposals.accept(result([proposal('code', 1, { edits: edit })]), 0);
    expect(s.context.data.proposals.counts).toMatchObject({ dropped: 1, queued: 0 });
    expect(s.context.data.proposals.counts.byCause).toMatchObject({ invalid: 1 });
    expect(s.context.data.dropped.at(-1)?.reason).toMatch(
      /^edits: experiment quadratic is not a code experiment/,
    );
    let err: unknown;
    try {
      s.queue.validateHumanProposal(proposal('code', 1, { edits: edit }));
    } catch (e) {
      err = e;
    }
    expect(failureTypeOf(err)).toBe('InvalidInput');
    expect(String(err)).toMatch(/edits:/);
  });

  it('queues hashes only, drops edits that did not resolve, and treats a configuration as source + params', () => {
    const s = searchingState(input(true), {});
    s.proposals.accept(
      result([
        proposal('first', 1, { edits: edit }),
        proposal('same source and params', 1, { edits: edit }),
        proposal('same params, other source', 1, { edits: edit }),
        proposal('does not apply', 2, { edits: edit }),
        proposal('initial source, same params', 1),
      ]),
      0,
      [
        { hash: H1, parentHash: INITIAL },
        { hash: H1, parentHash: INITIAL },
        { hash: H2, parentHash: INITIAL },
        { error: 'edits do not apply: method.py: edit 1: the search text does not occur' },
        undefined,
      ],
    );
    expect(s.context.data.proposals.counts).toMatchObject({ queued: 3, duplicate: 1, dropped: 1 });
    expect(s.context.data.dropped.find((d) => d.title === 'does not apply')?.reason).toMatch(
      /edits do not apply/,
    );
    const req = s.queue.nextTrialRequest()!;
    expect(req.hypothesis).toMatchObject({ sourceHash: H1, parentSourceHash: INITIAL });
    expect(req.hypothesis).not.toHaveProperty('edits');
    expect(JSON.stringify(s.trials.carry())).not.toContain('search_replace');

    // A child that changes parameters only runs its parent's source.
    const trial = s.trials.finish(
      req,
      req.seeds.map((seed) => ({
        seed,
        status: 'succeeded' as const,
        metrics: { score: 1 },
        durationSeconds: 1,
      })),
      '2026-01-01T00:00:00Z',
      '2026-01-01T00:00:01Z',
    );
    expect(trial.sourceHash).toBe(H1);
    s.proposals.accept(result([{ ...proposal('knob on code', 3), parentTrialId: trial.id }]), 0);
    const child = carriedOf(s).queue.find((h) => h.title === 'knob on code');
    expect(child).toMatchObject({ sourceHash: H1, parentSourceHash: H1, params: { x: 3 } });
  });
});
