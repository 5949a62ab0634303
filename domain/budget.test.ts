import { describe, expect, it } from 'vitest';
import {
  BudgetLedger,
  canStartTrial,
  elapsedSeconds,
  emptyLedger,
  exhausted,
  initialStagnation,
  isStagnant,
  remaining,
  stagnated,
  stepStagnation,
  StopReason,
} from './budget.js';
import { Budgets, Stagnation } from './schemas.js';

const t0 = 1_700_000_000_000;
const ledger = (over: Partial<BudgetLedger> = {}): BudgetLedger => ({
  ...emptyLedger(t0),
  ...over,
});

describe('budgets', () => {
  const budgets = Budgets.parse({
    maxTrials: 10,
    maxIterations: 5,
    concurrency: 2,
    maxWallSeconds: 3600,
    maxDollars: 5,
    maxComputeSeconds: 1000,
  });

  it('reports what is left, never negative, only for budgets that are set', () => {
    expect(
      remaining(
        budgets,
        ledger({ trialsStarted: 4, iterations: 2, dollars: 1.25, computeSeconds: 1200 }),
        t0 + 600_000,
      ),
    ).toEqual({
      trials: 6,
      iterations: 3,
      dollars: 3.75,
      computeSeconds: 0,
      wallSeconds: 3000,
    });
    expect(remaining(Budgets.parse({ maxTrials: 3 }), ledger(), t0)).toEqual({ trials: 3 });
  });

  it('counts the time run up to now, and up to the end once finished, budget or not', () => {
    const noWall = Budgets.parse({ maxTrials: 3 });
    const left = { wallSeconds: null };
    const running = {
      phase: 'running' as const,
      ledger: ledger(),
      budgets: noWall,
      remaining: left,
    };
    expect(elapsedSeconds(running, t0 + 90_000)).toBe(90);
    const ended = { ...running, phase: 'finished' as const, endedAtMs: t0 + 586_000 };
    expect(elapsedSeconds(ended, t0 + 90_000_000)).toBe(586);
    // A finished status without its end (an older server): dated by its wall budget's rest.
    expect(
      elapsedSeconds(
        { ...running, phase: 'finished', budgets, remaining: { wallSeconds: 3000 } },
        t0 + 90_000_000,
      ),
    ).toBe(600);
  });

  it('names the budget that ran out', () => {
    expect(exhausted(budgets, ledger(), t0)).toBeNull();
    expect(exhausted(budgets, ledger({ trialsStarted: 10 }), t0)).toBe('max_trials');
    expect(exhausted(budgets, ledger({ iterations: 5 }), t0)).toBe('max_iterations');
    expect(exhausted(budgets, ledger(), t0 + 3_600_000)).toBe('deadline');
    expect(exhausted(budgets, ledger(), t0 + 3_599_999)).toBeNull();
    expect(exhausted(budgets, ledger({ dollars: 5 }), t0)).toBe('max_dollars');
    expect(exhausted(budgets, ledger({ computeSeconds: 1000.5 }), t0)).toBe('max_compute');
    // Several at once: the deadline wins.
    expect(exhausted(budgets, ledger({ trialsStarted: 10, dollars: 9 }), t0 + 4_000_000)).toBe(
      'deadline',
    );
  });

  it('a zero dollar budget stops only after a spend', () => {
    const zero = Budgets.parse({ maxDollars: 0 });
    expect(exhausted(zero, ledger(), t0)).toBeNull();
    expect(exhausted(zero, ledger({ dollars: 0.001 }), t0)).toBe('max_dollars');
  });

  it('starts trials only within budget and concurrency', () => {
    expect(canStartTrial(budgets, ledger({ trialsStarted: 3, trialsFinished: 2 }), t0)).toBe(true);
    expect(canStartTrial(budgets, ledger({ trialsStarted: 4, trialsFinished: 2 }), t0)).toBe(false);
    expect(canStartTrial(budgets, ledger({ trialsStarted: 10, trialsFinished: 10 }), t0)).toBe(
      false,
    );
  });

  it('the ledger and stop reasons are schemas', () => {
    expect(BudgetLedger.parse(JSON.parse(JSON.stringify(ledger({ dollars: 1 }))))).toEqual(
      ledger({ dollars: 1 }),
    );
    expect(StopReason.options).toContain('stagnation');
    expect(StopReason.safeParse('bored').success).toBe(false);
  });
});

describe('stagnation', () => {
  const rule = Stagnation.parse({ iterations: 3, minImprovement: 0.05 });
  it('stops after N iterations without an improvement of at least minImprovement', () => {
    expect(stagnated([0.1, 0.12, 0.13, 0.14], rule)).toBe(true); // +0.02, +0.03 (vs 0.1), +0.04 (vs 0.1)
    expect(stagnated([0.1, 0.12, 0.13, 0.16], rule)).toBe(false); // 0.16 - 0.1 = 0.06 counts: small steps add up
    expect(stagnated([0.1, 0.12, 0.13], rule)).toBe(false);
  });
  it('counts iterations without any qualifying trial', () => {
    expect(stagnated([null, null, null], rule)).toBe(true);
    expect(stagnated([null, null, 0.2, 0.2], rule)).toBe(false);
  });
  it('a zero minimum still needs a strict improvement', () => {
    const zero = Stagnation.parse({ iterations: 2, minImprovement: 0 });
    expect(stagnated([0.5, 0.5, 0.5], zero)).toBe(true);
    expect(stagnated([0.5, 0.5, 0.50001], zero)).toBe(false);
  });
  it('steps incrementally with the same result', () => {
    let s = initialStagnation;
    for (const v of [0.1, 0.12, 0.13, 0.14]) s = stepStagnation(s, v, rule.minImprovement);
    expect(s).toEqual({ best: 0.1, since: 3 });
    expect(isStagnant(s, rule)).toBe(true);
  });
});
