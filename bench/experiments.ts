/**
 * The experiments and problems the benchmarks run: the built-in `noop` and `sleep` experiments
 * (orchestration overhead, slot efficiency) and the problems with known optima (search quality).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { EvaluationCriteriaInput, Param, ProblemSpecInput } from '../domain/schemas.js';
import { loadRegistry, type ExperimentRegistry } from '../experiments/registry.js';

/** Experiments every benchmark needs; a registry without them cannot run the suite. */
export const REQUIRED_EXPERIMENTS = [
  'noop',
  'sleep',
  'branin',
  'hartmann6',
  'mixed',
  'weak-to-strong',
] as const;

let registry: Promise<ExperimentRegistry> | undefined;

/** The built-in registry (loaded once per process), checked for the experiments the suite runs. */
export function benchRegistry(): Promise<ExperimentRegistry> {
  registry ??= loadRegistry().then((r) => {
    const missing = REQUIRED_EXPERIMENTS.filter((n) => !r.has(n));
    if (missing.length > 0)
      throw new Error(
        `the benchmarks need the built-in experiments ${missing.join(', ')} (experiments/)`,
      );
    return r;
  });
  return registry;
}

/** A problem spec and criteria as the service takes them. */
export interface BenchProblem {
  spec: ProblemSpecInput;
  criteria: EvaluationCriteriaInput;
}

/**
 * A problem over the noop or sleep experiment: one float `x` the value echoes, baseline 0 and
 * optimum 1 given as numbers (no reference trial), one seed per trial, no verification: every
 * trial the campaign runs is one of the `trials` search trials.
 */
export function overheadProblem(
  id: string,
  experiment: 'noop' | 'sleep',
  trials: number,
  concurrency: number,
): BenchProblem {
  return {
    spec: {
      id,
      title: `Benchmark: ${trials} ${experiment} trials at concurrency ${concurrency}`,
      question: 'How fast does the orchestrator run trials that do nothing?',
      experiment,
      space: [{ name: 'x', kind: 'float', low: 0, high: 1 }],
      baseline: { x: 0 },
    },
    criteria: {
      metric: 'value',
      direction: 'maximize',
      baseline: { kind: 'value', value: 0 },
      optimum: { kind: 'value', value: 1 },
      seedsPerTrial: 1,
      // Never reached (one seed gives an unbounded interval): the campaign runs its whole budget.
      targetPgr: 1,
      budgets: { maxTrials: trials, concurrency },
      verification: { topK: 0, seeds: 1 },
    },
  };
}

/** A search-quality problem: the experiment's shipped space and baseline, criteria for the benchmark. */
export interface QualityProblem {
  name: string;
  experiment: string;
  /** The objective metric and its direction. */
  metric: string;
  direction: 'maximize' | 'minimize';
  /** The known optimum (or the human-set ceiling for weak-to-strong). */
  optimum: number;
  space: Param[];
  baseline: ProblemSpecInput['baseline'];
}

/** The problems of the search-quality benchmark, read from the experiments' problem files. */
export async function qualityProblems(names: readonly string[]): Promise<QualityProblem[]> {
  const reg = await benchRegistry();
  const out: QualityProblem[] = [];
  for (const name of names) {
    const e = reg.get(name);
    if (!e.problem) throw new Error(`experiment ${name} ships no problem spec`);
    const spec = parseYaml(await readFile(e.problem.spec, 'utf8')) as {
      space: Param[];
      baseline: ProblemSpecInput['baseline'];
    };
    const criteria = parseYaml(await readFile(e.problem.criteria, 'utf8')) as {
      metric: string;
      direction: 'maximize' | 'minimize';
      optimum: { kind: string; value?: number };
    };
    if (criteria.optimum.kind !== 'value' || criteria.optimum.value === undefined) {
      throw new Error(
        `${path.basename(e.problem.criteria)}: the benchmark needs a numeric optimum`,
      );
    }
    out.push({
      name,
      experiment: name,
      metric: criteria.metric,
      direction: criteria.direction,
      optimum: criteria.optimum.value,
      space: spec.space,
      baseline: spec.baseline,
    });
  }
  return out;
}

/**
 * The campaign for one quality run: one seed per trial (the functions are deterministic, and
 * weak-to-strong is compared on common seeds), baseline measured on the campaign's seed,
 * concurrency 1 so the strategy sees every result before it proposes again.
 */
export function qualityCampaignProblem(
  id: string,
  p: QualityProblem,
  budget: number,
  concurrency = 1,
): BenchProblem {
  return {
    spec: {
      id,
      title: `Benchmark: search quality on ${p.name}`,
      question: `Optimise ${p.metric} of ${p.experiment}.`,
      experiment: p.experiment,
      space: p.space,
      baseline: p.baseline,
    },
    criteria: {
      metric: p.metric,
      direction: p.direction,
      baseline: { kind: 'measure', configuration: 'baseline', seeds: 1 },
      optimum: { kind: 'value', value: p.optimum },
      seedsPerTrial: 1,
      targetPgr: 1,
      budgets: { maxTrials: budget, concurrency },
      verification: { topK: 0, seeds: 1 },
    },
  };
}
