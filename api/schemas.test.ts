import { describe, expect, it } from 'vitest';
import type { Trial } from '../domain/schemas.js';
import { LineageNode, TrialRecord, recordOfSummary, toLineageNode } from './schemas.js';

const est = (mean: number, ciLow = mean - 0.1, ciHigh = mean + 0.1) => ({
  mean,
  stderr: 0.05,
  n: 3,
  ciLow,
  ciHigh,
});

/** A trial with one parameter of every kind (the conditional `momentum` is on: optimizer sgd). */
const trial: Trial = {
  id: 't0003',
  index: 3,
  hypothesisId: 'h-3',
  kind: 'search',
  parentTrialId: 'baseline',
  title: 'sgd',
  rationale: 'momentum helps',
  expectedEffect: 'a higher score',
  author: { kind: 'human', name: 'Pat PI' },
  params: { lr: 0.01, layers: 3, optimizer: 'sgd', batch: 32, use_cache: false, momentum: 0.9 },
  changes: { optimizer: 'sgd', momentum: 0.9 },
  seeds: [1, 2, 3],
  status: 'succeeded',
  metrics: { score: 1.5 },
  objective: est(1.5),
  pgr: est(0.4, -Infinity),
  feasible: false,
  flags: [{ kind: 'high_variance', message: 'noisy' }],
  trust: 'under_review',
  computeSeconds: 4,
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:04.000Z',
};

describe('the record of a trial the workflow holds', () => {
  it('keeps parameter values typed: numbers, strings and booleans, never stringified', () => {
    const r = TrialRecord.parse(recordOfSummary(trial));
    expect(r.params).toEqual(trial.params);
    expect(r.params.use_cache).toBe(false);
    expect(r.params.batch).toBe(32);
    const { momentum: _, ...adam } = trial.params;
    expect(
      recordOfSummary({ ...trial, params: { ...adam, optimizer: 'adam' } }).params,
    ).not.toHaveProperty('momentum');
  });

  it('carries expected effect, feasibility and PGR as an Estimate (non-finite bounds null)', () => {
    const r = recordOfSummary(trial, ['heldout']);
    expect(r).toMatchObject({
      expectedEffect: 'a higher score',
      feasible: false,
      hiddenMetrics: ['heldout'],
    });
    expect(r.pgr).toEqual({ mean: 0.4, stderr: 0.05, n: 3, ciLow: null, ciHigh: 0.5 });
    const { expectedEffect: _said, ...unsaid } = trial;
    expect(recordOfSummary(unsaid).expectedEffect).toBe('');
  });

  it('gives a lineage node that names its parent parentTrialId', () => {
    const n = LineageNode.parse(toLineageNode(recordOfSummary(trial)));
    expect(n).toMatchObject({ id: 't0003', parentTrialId: 'baseline', pgr: 0.4, ciLow: null });
  });
});
