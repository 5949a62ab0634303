/**
 * The benchmark suite runs end to end at its tiny size against the shared Temporal and MLflow
 * servers and writes well-formed results. Numbers are not checked against targets: benchmarks
 * report, tests check that the reporting works.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runBenchmarks } from '../bench/run.js';
import { BENCHMARKS, readResults, type BenchResult } from '../bench/results.js';
import type { OverheadData } from '../bench/overhead.js';
import type { SlotsData } from '../bench/slots.js';
import type { QualityData } from '../bench/quality.js';
import type { ScaleData } from '../bench/scale.js';
import type { AgentData } from '../bench/agent.js';
import { FAILURE_RUNNERS, type FailuresData } from '../bench/failures.js';

let dir: string;
let results: BenchResult[];
const saved = { temporal: process.env.TEMPORAL_ADDRESS, mlflow: process.env.MLFLOW_TRACKING_URI };

beforeAll(async () => {
  // The suite uses running servers when both variables are set: the ones global-setup provides.
  process.env.TEMPORAL_ADDRESS = inject('temporalAddress');
  process.env.MLFLOW_TRACKING_URI = inject('mlflowUri');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gaplab-bench-'));
  results = await runBenchmarks({
    size: 'tiny',
    only: [...BENCHMARKS],
    resultsDir: dir,
    realModel: false,
    log: () => {},
  });
}, 600_000);

afterAll(() => {
  for (const [k, v] of [
    ['TEMPORAL_ADDRESS', saved.temporal],
    ['MLFLOW_TRACKING_URI', saved.mlflow],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const get = <T>(name: string) => results.find((r) => r.benchmark === name) as BenchResult<T>;

describe('npm run bench -- --size tiny', () => {
  it('runs every benchmark without error and writes one result file each plus RESULTS.md', () => {
    expect(results.map((r) => r.benchmark)).toEqual([...BENCHMARKS]);
    for (const r of results) expect(r.error, `${r.benchmark}: ${r.error}`).toBeUndefined();
    expect(
      readResults(dir)
        .map((r) => `${r.benchmark}-${r.size}`)
        .sort(),
    ).toEqual(BENCHMARKS.map((b) => `${b}-tiny`).sort());
    for (const r of results) {
      expect(r.environment.machine.cpus).toBeGreaterThan(0);
      expect(r.environment.versions.node).toMatch(/^v\d+/);
      expect(r.environment.versions.optuna).toBeTruthy();
    }
    const md = fs.readFileSync(path.join(dir, 'RESULTS.md'), 'utf8');
    for (const heading of [
      'Orchestration overhead',
      'Slot efficiency',
      'Search quality',
      'Scale',
      'Cost of the agent',
      'Failure-aware search',
    ])
      expect(md).toContain(heading);
    expect(md).not.toContain('_Not run yet._');
  });

  it('measures gaplab and Optuna side by side for overhead and slots', () => {
    const o = get<OverheadData>('overhead').data.rows;
    expect(o.filter((r) => r.runner === 'gaplab')).toHaveLength(4);
    expect(o.filter((r) => r.runner === 'optuna')).toHaveLength(4);
    for (const r of o) {
      expect(r.trials).toBe(get<OverheadData>('overhead').params.trials);
      expect(r.trialsPerSecond).toBeGreaterThan(0);
      expect(r.errors).toBe(0);
    }
    const s = get<SlotsData>('slots').data.rows;
    expect(s.map((r) => r.runner).sort()).toEqual(['gaplab', 'optuna']);
    for (const r of s) {
      expect(r.efficiency).toBeGreaterThan(0);
      expect(r.efficiency).toBeLessThanOrEqual(1.05);
    }
  });

  it('scores every quality runner on every problem', () => {
    const q = get<QualityData>('quality').data;
    const runners = new Set(q.summary.map((s) => `${s.problem}/${s.runner}`));
    for (const p of ['branin', 'hartmann6', 'mixed', 'weak-to-strong']) {
      for (const r of ['gaplab random', 'gaplab optuna:tpe', 'optuna tpe direct'])
        expect(runners.has(`${p}/${r}`), `${p}/${r}`).toBe(true);
    }
    for (const run of q.runs) {
      expect(run.trials).toBe(get<QualityData>('quality').params.budget);
      for (const v of Object.values(run.bestAt)) expect(v).toBeLessThanOrEqual(1 + 1e-9);
    }
  });

  it('follows one campaign across continue-as-new and reads its lineage back', () => {
    const d = get<ScaleData>('scale').data;
    expect(d.completed).toBe(true);
    expect(d.trialsDone).toBe(d.requested);
    expect(d.history!.runs).toBeGreaterThan(1);
    expect(d.memory.worker).toBeGreaterThan(0);
    expect(d.lineage!.trialMs.n).toBeGreaterThan(0);
    expect(d.lineage!.trialErrors).toEqual([]);
  });

  it('prices the agent per hypothesis from the fake Messages API, with caching no dearer than without', () => {
    const [fake] = get<AgentData>('agent').data.rows;
    expect(fake!.source).toBe('fake');
    expect(fake!.hypotheses).toBeGreaterThan(0);
    expect(fake!.promptTokensPerHypothesis).toBeGreaterThan(100);
    expect(fake!.dollarsPerHypothesis.withCaching).toBeLessThanOrEqual(
      fake!.dollarsPerHypothesis.withoutCaching,
    );
  });

  it('runs Optuna before and after and random on the crash-and-hang problem at equal budget', () => {
    const f = get<FailuresData>('failures');
    expect(f.data.runs.map((r) => r.runner).sort()).toEqual([...FAILURE_RUNNERS].sort());
    for (const r of f.data.runs) {
      expect(r.trials).toBe(f.params.budget);
      expect(r.share).toBeCloseTo((r.crash + r.hang) / r.trials, 3);
      expect(r.wastedSeconds).toBeLessThanOrEqual(r.computeSeconds);
      // Before: every hang waits out the full 2 s limit.
      if (r.runner === 'optuna tpe, before' && r.hang > 0) expect(r.hangTimeoutSeconds).toBe(2);
    }
  });
});
