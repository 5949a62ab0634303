/**
 * Strategy views for tests: a small weak-to-strong-like problem with conditional parameters,
 * a few trials (with a hidden metric present before stripping) and a notebook.
 */
import type { Param } from '../../domain/schemas.js';
import {
  StrategyConfig,
  type StrategyConfigInput,
  type StrategyView,
  type TrialView,
} from '../../domain/strategy.js';

export const TEST_SPACE: Param[] = [
  {
    name: 'lr',
    kind: 'float',
    low: 1e-4,
    high: 1,
    log: true,
    description: 'learning rate of the student',
  },
  { name: 'epochs', kind: 'int', low: 1, high: 50, log: false },
  { name: 'optimizer', kind: 'categorical', choices: ['sgd', 'adam'] },
  {
    name: 'momentum',
    kind: 'float',
    low: 0,
    high: 0.99,
    log: false,
    condition: { parent: 'optimizer', values: ['sgd'] },
  },
  { name: 'aux_loss', kind: 'boolean', description: 'auxiliary confidence loss' },
  {
    name: 'aux_weight',
    kind: 'float',
    low: 0,
    high: 1,
    log: false,
    condition: { parent: 'aux_loss', values: [true] },
  },
];

export const TEST_BASELINE = {
  lr: 0.01,
  epochs: 10,
  optimizer: 'sgd',
  momentum: 0.9,
  aux_loss: false,
};

/** Names and values that must never reach a strategy. */
export const HIDDEN = ['heldout_acc'] as const;
export const HIDDEN_VALUES = [0.7312983, 0.8127461, 0.6659137];

export function testTrials(): TrialView[] {
  return [
    {
      id: 'T1',
      parentTrialId: null,
      title: 'higher learning rate',
      author: 'claude/explore',
      params: { ...TEST_BASELINE, lr: 0.05 },
      status: 'succeeded',
      metrics: { dev_acc: 0.71, heldout_acc: HIDDEN_VALUES[0]! },
      objective: 0.71,
      pgr: { mean: 0.2, ciLow: 0.1, ciHigh: 0.3 },
      feasible: true,
    },
    {
      id: 'T2',
      parentTrialId: 'T1',
      title: 'adam on top of T1',
      author: 'claude/exploit',
      params: { lr: 0.05, epochs: 10, optimizer: 'adam', aux_loss: false },
      status: 'succeeded',
      metrics: { dev_acc: 0.78, heldout_acc: HIDDEN_VALUES[1]! },
      objective: 0.78,
      pgr: { mean: 0.45, ciLow: 0.38, ciHigh: 0.52 },
      feasible: true,
    },
    {
      id: 'T3',
      parentTrialId: 'T2',
      title: 'aux loss',
      author: 'claude/exploit',
      params: { lr: 0.05, epochs: 10, optimizer: 'adam', aux_loss: true, aux_weight: 0.5 },
      status: 'failed',
      metrics: { heldout_acc: HIDDEN_VALUES[2]! },
      pgr: null,
      feasible: true,
      // Free text from a log may quote what it should not; the prompt must redact it.
      failureReason: `NaN loss at epoch 3 (heldout_acc=${HIDDEN_VALUES[2]})`,
    },
  ];
}

export function testView(
  strategy: StrategyConfigInput,
  overrides: Partial<StrategyView> = {},
): StrategyView {
  return {
    campaignId: 'c-test',
    iteration: 3,
    count: 4,
    seed: 1234,
    problem: {
      id: 'w2s-small',
      title: 'Weak-to-strong (small)',
      question:
        'How much of the gap between the weak supervisor and the strong ceiling can a student recover?',
      context:
        'The student is trained on weak labels only. Early stopping and auxiliary confidence losses are known to matter.',
      experiment: 'weak-to-strong',
      experimentDescription: 'Trains a student on weak labels and reports dev accuracy.',
      space: TEST_SPACE,
      baseline: TEST_BASELINE,
    },
    objective: { metric: 'dev_acc', direction: 'maximize' },
    visibleMetrics: [
      { name: 'dev_acc', description: 'student accuracy on the dev split' },
      { name: 'heldout_acc', description: 'student accuracy on the held-out split' },
    ],
    baselineScore: 0.65,
    optimumScore: 0.9,
    targetPgr: 0.9,
    constraints: [],
    history: testTrials(),
    leader: 'T2',
    notebook: [
      {
        kind: 'human',
        author: 'pi',
        text: `Do not look at heldout_acc; last check gave ${HIDDEN_VALUES[1]}.`,
        at: '2026-01-01T00:00:00Z',
      },
      {
        kind: 'insight',
        author: 'claude/explore',
        text: 'Higher learning rates help up to a point.',
        at: '2026-01-01T01:00:00Z',
      },
    ],
    budgetLeft: { trials: 40, dollars: 5 },
    strategy: StrategyConfig.parse(strategy),
    ...overrides,
  };
}
