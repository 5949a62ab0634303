/**
 * The hidden-gap check on the weak-to-strong code problem, with real candidates in the real
 * sandbox (bwrap, python3 subprocesses) on seeds 1-10, scored as a campaign scores a trial under
 * the problem's own criteria (experiments/weak-to-strong-code/criteria.yaml): the baseline is the
 * starting method measured on the same seeds. The hand-written method generalises to the shifted
 * held-out split and is not flagged; a method that leans on a feature that tracks the concept
 * only on the dev distribution is flagged `hidden_gap`.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceSnapshot } from '../domain/code.js';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import { hiddenGapMetricsOf, type EvaluationCriteria } from '../domain/schemas.js';
import { scoreTrial, type TrialScore } from '../domain/scoring.js';
import {
  isCodeExperiment,
  runCodeSeed,
  type CodeExperimentDefinition,
} from '../experiments/code.js';
import { loadRegistry } from '../experiments/registry.js';
import { checkSandbox } from '../experiments/sandbox.js';
import type { SeedResult } from '../domain/trial.js';

/**
 * Ten seeds, not the criteria's five: every run draws its data from this checkout's own harness
 * secret, and over 30 random secrets the dev overfitter's shortfall on five seeds fell to the
 * 0.25 threshold on two of them (0.25-0.46, at the weight it had then); on ten it stayed at 0.29
 * or more.
 */
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const FIXTURES = path.join(import.meta.dirname, 'fixtures/weak-to-strong-code');
const fixture = (file: string): SourceSnapshot => ({
  'method.py': readFileSync(path.join(FIXTURES, file), 'utf8'),
});

let tmp: string;
let def: CodeExperimentDefinition;
let criteria: EvaluationCriteria;
let baselineParams: Record<string, unknown>;
let baseline: SeedResult[];

async function seeds(name: string, source: SourceSnapshot, params = {}): Promise<SeedResult[]> {
  const out: SeedResult[] = [];
  for (const seed of SEEDS) {
    const r = await runCodeSeed(def, source, params, {
      seed,
      outDir: path.join(tmp, name, `seed-${seed}`),
      objective: criteria.metric,
    });
    expect(r.status, `${name} seed ${seed}: ${r.error ?? ''}`).toBe('succeeded');
    out.push({ seed, status: r.status, metrics: r.metrics, durationSeconds: r.durationSeconds });
  }
  return out;
}

const means = (rs: readonly SeedResult[]): Record<string, number> =>
  Object.fromEntries(
    Object.keys(rs[0]!.metrics).map((m) => [
      m,
      rs.reduce((s, r) => s + (r.metrics[m] as number), 0) / rs.length,
    ]),
  );

/** The trial's score as a campaign with the problem's criteria computes it. */
function score(rs: SeedResult[]): TrialScore {
  if (criteria.optimum.kind !== 'value') throw new Error('expected a numeric optimum');
  const b = means(baseline);
  return scoreTrial({
    seeds: rs,
    criteria,
    baselineScore: b[criteria.metric]!,
    optimumScore: criteria.optimum.value,
    baselineMetricMeans: b,
  });
}

beforeAll(async () => {
  await checkSandbox(); // throws naming what is missing: this test needs bubblewrap
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-hidden-gap-w2s-'));
  const e = (await loadRegistry()).get('weak-to-strong-code');
  if (!isCodeExperiment(e) || !e.problem)
    throw new Error('weak-to-strong-code is not a code experiment');
  def = e;
  criteria = parseCriteria(readFileSync(e.problem.criteria, 'utf8'), e.problem.criteria);
  baselineParams = parseProblemSpec(readFileSync(e.problem.spec, 'utf8'), e.problem.spec).baseline;
  baseline = await seeds('baseline', def.code.initialSource, baselineParams);
}, 300_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('hidden-gap check on weak-to-strong-code (seeds 1-10, real sandbox)', () => {
  it('the problem hides both held-out metrics and compares only held-out accuracy: the same units as the objective', () => {
    expect(criteria.metric).toBe('student_dev_acc');
    expect(criteria.hiddenMetrics).toEqual(['student_heldout_acc', 'pgr_heldout']);
    expect(hiddenGapMetricsOf(criteria)).toEqual(['student_heldout_acc']);
  });

  it('does not flag the hand-written method, which does better on held-out than dev promises', async () => {
    const s = score(await seeds('hand', fixture('sparse_relaxed_lasso.py')));
    expect(s.pgr!.mean).toBeGreaterThanOrEqual(0.9);
    expect(s.flags, JSON.stringify(s.flags)).toEqual([]);
  }, 300_000);

  it('flags a method that leans on a feature that tracks the concept only on dev', async () => {
    const rs = await seeds('overfitter', fixture('dev_overfitter.py'));
    const s = score(rs);
    // It does beat the weak supervisor on dev (a real gain there) ...
    expect(s.pgr!.mean).toBeGreaterThan(0.15);
    // ... and on the shifted held-out split it falls below it.
    expect(means(rs).pgr_heldout).toBeLessThan(0);
    const flag = s.flags.find((f) => f.kind === 'hidden_gap');
    expect(flag?.message, JSON.stringify(s.flags)).toMatch(
      /^hidden metric "student_heldout_acc" falls short of "student_dev_acc" by 0\.\d+ PGR/,
    );
  }, 300_000);
});
