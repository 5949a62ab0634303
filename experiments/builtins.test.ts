import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSpecAndCriteria } from '../domain/space.js';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import { paths, PROJECT_ROOT } from '../stack/paths.js';
import {
  BRANIN_MIN,
  branin,
  HARTMANN6_ARGMIN,
  HARTMANN6_MIN,
  hartmann6,
  mixed,
} from './benchmarks/functions.js';
import { loadRegistry, type ExperimentRegistry } from './registry.js';
import { runSeed } from './runner.js';
import { DEFAULT_PARAMS, runWeakToStrong } from './weak-to-strong/model.js';

let registry: ExperimentRegistry;
let tmp: string;
const hasPython = existsSync(paths.venvPython);

beforeAll(async () => {
  registry = await loadRegistry();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-builtins-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('built-in experiments', () => {
  it('are all registered', () => {
    expect(registry.names()).toEqual([
      'bin-packing',
      'branin',
      'branin-failures',
      'branin-noisy',
      'gaming-deterministic',
      'gaming-fragile',
      'gaming-frozen',
      'gaming-guess',
      'gaming-leak',
      'gaming-nohidden',
      'gaming-seeds',
      'hartmann6',
      'hartmann6-noisy',
      'mixed',
      'noisy-labels',
      'noop',
      'sklearn-digits',
      'sleep',
      'weak-to-strong',
      'weak-to-strong-code',
    ]);
    expect(registry.get('sklearn-digits').runner).toMatchObject({
      kind: 'command',
      argv: [paths.venvPython, path.join(PROJECT_ROOT, 'experiments/sklearn-digits/train.py')],
    });
  });

  it('ship problem specs and criteria that validate against the domain schemas and their experiment', async () => {
    const withProblems = registry.list().filter((e) => e.problem);
    expect(withProblems.map((e) => e.name)).toEqual([
      'bin-packing',
      'branin',
      'branin-failures',
      'hartmann6',
      'mixed',
      'noisy-labels',
      'sklearn-digits',
      'weak-to-strong',
      'weak-to-strong-code',
    ]);
    for (const e of withProblems) {
      const spec = parseProblemSpec(await readFile(e.problem!.spec, 'utf8'), e.problem!.spec);
      const criteria = parseCriteria(
        await readFile(e.problem!.criteria, 'utf8'),
        e.problem!.criteria,
      );
      expect(spec.experiment).toBe(e.name);
      expect(
        checkSpecAndCriteria(
          spec,
          criteria,
          e.metrics.map((m) => m.name),
        ),
      ).toEqual([]);
    }
  });

  it('the weak-to-strong criteria hide the held-out accuracy and aim at the ceiling', async () => {
    const e = registry.get('weak-to-strong');
    const criteria = parseCriteria(await readFile(e.problem!.criteria, 'utf8'));
    expect(criteria).toMatchObject({
      metric: 'student_dev_acc',
      direction: 'maximize',
      hiddenMetrics: ['student_heldout_acc'],
    });
    expect(criteria.baseline).toEqual({ kind: 'measure', configuration: 'baseline', seeds: 5 });
    const spec = parseProblemSpec(await readFile(e.problem!.spec, 'utf8'));
    // Ground-truth training is never something a hypothesis can ask for.
    expect(spec.space.map((p) => p.name)).not.toContain('train_on');
  });

  it('the weak-to-strong-code criteria withhold every held-out metric, and compare only the accuracy with the objective', async () => {
    const e = registry.get('weak-to-strong-code');
    const criteria = parseCriteria(await readFile(e.problem!.criteria, 'utf8'));
    const heldout = e.metrics.map((m) => m.name).filter((m) => m.includes('heldout'));
    expect(heldout.length).toBeGreaterThanOrEqual(2);
    expect([...criteria.hiddenMetrics].sort()).toEqual([...heldout].sort());
    expect(criteria.hiddenGapMetrics).toEqual(['student_heldout_acc']);
  });

  it('each function built-in runs its baseline and reports the objective', async () => {
    for (const e of registry.list().filter((x) => x.runner.kind === 'function' && x.problem)) {
      const spec = parseProblemSpec(await readFile(e.problem!.spec, 'utf8'));
      const criteria = parseCriteria(await readFile(e.problem!.criteria, 'utf8'));
      const r = await runSeed(e, spec.baseline, {
        seed: 1,
        outDir: path.join(tmp, e.name),
        objective: criteria.metric,
      });
      expect(r.status, `${e.name}: ${r.error}`).toBe('succeeded');
      expect(Number.isFinite(r.metrics[criteria.metric])).toBe(true);
    }
    // Runs every function built-in's baseline in turn (the weak-to-strong models train for real).
  }, 120_000);

  it('noop and sleep', async () => {
    const noop = await runSeed(
      registry.get('noop'),
      { x: 3 },
      { seed: 1, outDir: path.join(tmp, 'noop') },
    );
    expect(noop.metrics).toEqual({ value: 3 });
    const slept = await runSeed(
      registry.get('sleep'),
      { seconds: 0.05 },
      { seed: 1, outDir: path.join(tmp, 'sleep') },
    );
    expect(slept.metrics.slept_seconds).toBeGreaterThanOrEqual(0.045);
    const cancelled = new AbortController();
    setTimeout(() => cancelled.abort(), 50);
    const r = await runSeed(
      registry.get('sleep'),
      { seconds: 30 },
      { seed: 1, outDir: path.join(tmp, 'sleep2'), signal: cancelled.signal },
    );
    expect(r.status).toBe('cancelled');
    expect(r.durationSeconds).toBeLessThan(5);
  });

  it.runIf(hasPython)(
    'sklearn-digits runs with the venv python and reports progress and learning curves (skipped when the project venv is not installed)',
    async () => {
      const seen: number[] = [];
      const r = await runSeed(
        registry.get('sklearn-digits'),
        { model: 'mlp', hidden: 16, alpha: 0.0001, lr: 0.01, epochs: 5 },
        {
          seed: 2,
          outDir: path.join(tmp, 'digits'),
          objective: 'val_accuracy',
          onProgress: (p) => p.fraction !== undefined && seen.push(p.fraction),
        },
      );
      expect(r.status, r.logTail).toBe('succeeded');
      expect(r.metrics.val_accuracy).toBeGreaterThan(0.8);
      expect(r.metrics.test_accuracy).toBeGreaterThan(0.8);
      expect(seen.length).toBeGreaterThanOrEqual(3);
      // A learning curve per epoch: validation accuracy and training loss.
      expect(r.curves?.val_accuracy?.map(([step]) => step)).toEqual([1, 2, 3, 4, 5]);
      expect(r.curves?.train_loss).toHaveLength(5);
      const loss = r.curves!.train_loss!;
      expect(loss[4]![1]).toBeLessThan(loss[0]![1]);
      expect(r.metrics).not.toHaveProperty('train_loss');
      const bad = await runSeed(
        registry.get('sklearn-digits'),
        { model: 'forest' },
        { seed: 1, outDir: path.join(tmp, 'digits-bad'), objective: 'val_accuracy' },
      );
      expect(bad).toMatchObject({ status: 'failed', error: 'exited with code 2' });
      expect(bad.logTail).toContain("invalid param model: 'forest'");
    },
  );
});

describe('benchmark functions', () => {
  it('reach their known optima', () => {
    for (const [x1, x2] of [
      [-Math.PI, 12.275],
      [Math.PI, 2.275],
      [9.42478, 2.475],
    ] as const)
      expect(branin(x1, x2)).toBeCloseTo(BRANIN_MIN, 5);
    expect(hartmann6(HARTMANN6_ARGMIN)).toBeCloseTo(HARTMANN6_MIN, 4);
    expect(mixed({ family: 'b', order: 3, flag: true, x: 1.5, scale: 0.1 })).toBe(0);
    expect(mixed({ family: 'a', alpha: 0.3, flag: true, x: 1.5, scale: 0.1 })).toBeCloseTo(0.6);
  });

  it('noisy variants add seeded noise around the true value', async () => {
    const e = registry.get('branin-noisy');
    const a = await runSeed(e, { x1: 0, x2: 0 }, { seed: 1, outDir: path.join(tmp, 'bn') });
    const b = await runSeed(e, { x1: 0, x2: 0 }, { seed: 1, outDir: path.join(tmp, 'bn') });
    const c = await runSeed(e, { x1: 0, x2: 0 }, { seed: 2, outDir: path.join(tmp, 'bn') });
    expect(a.metrics.true_value).toBeCloseTo(branin(0, 0));
    expect(a.metrics.value).toBe(b.metrics.value);
    expect(a.metrics.value).not.toBe(c.metrics.value);
    expect(a.metrics.value).not.toBe(a.metrics.true_value);
  });

  it('reject parameters outside their domain', async () => {
    const r = await runSeed(
      registry.get('branin'),
      { x1: 50, x2: 0 },
      { seed: 1, outDir: path.join(tmp, 'b') },
    );
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/x1/);
  });
});

describe('weak-to-strong', () => {
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const seeds = [1, 2, 3];

  it('is deterministic per seed and fast', () => {
    const a = runWeakToStrong(DEFAULT_PARAMS, 4);
    const b = runWeakToStrong(DEFAULT_PARAMS, 4);
    expect({ ...a, train_seconds: 0 }).toEqual({ ...b, train_seconds: 0 });
    expect(a.train_seconds).toBeLessThan(2);
  });

  it('has a real gap: weak ~0.71, ceiling ~0.91, the naive student imitates the weak supervisor', () => {
    const runs = seeds.map((s) => runWeakToStrong(DEFAULT_PARAMS, s));
    expect(mean(runs.map((r) => r.weak_dev_acc))).toBeGreaterThan(0.65);
    expect(mean(runs.map((r) => r.weak_dev_acc))).toBeLessThan(0.76);
    expect(mean(runs.map((r) => r.ceiling_dev_acc))).toBeGreaterThan(0.89);
    expect(Math.abs(mean(runs.map((r) => r.pgr_dev)))).toBeLessThan(0.1);
    expect(mean(runs.map((r) => r.student_weak_agreement))).toBeGreaterThan(0.97);
  });

  it('methods move PGR over a wide range: early stopping ~0.6, bootstrapping higher', () => {
    const early = mean(
      seeds.map((s) => runWeakToStrong({ ...DEFAULT_PARAMS, lr: 0.01, epochs: 1 }, s).pgr_dev),
    );
    const boot = mean(
      seeds.map(
        (s) =>
          runWeakToStrong({ ...DEFAULT_PARAMS, method: 'bootstrap', lr: 0.1, epochs: 1 }, s)
            .pgr_dev,
      ),
    );
    const overfit = mean(
      seeds.map(
        (s) =>
          runWeakToStrong({ ...DEFAULT_PARAMS, method: 'bootstrap', lr: 0.3, epochs: 3 }, s)
            .pgr_dev,
      ),
    );
    expect(early).toBeGreaterThan(0.45);
    expect(boot).toBeGreaterThan(early);
    expect(overfit).toBeLessThan(0.4);
  });

  it('rejects unknown parameters with the name', async () => {
    const r = await runSeed(
      registry.get('weak-to-strong'),
      { methd: 'naive' },
      { seed: 1, outDir: path.join(tmp, 'w2s') },
    );
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/methd/);
  });
});

describe('experiments/run.ts (command line)', () => {
  const tsx = path.join(PROJECT_ROOT, 'node_modules/.bin/tsx');
  const cli = (...args: string[]) =>
    spawnSync(tsx, [path.join(PROJECT_ROOT, 'experiments/run.ts'), ...args, '--out', tmp], {
      encoding: 'utf8',
      cwd: PROJECT_ROOT,
      timeout: 60_000,
    });

  it('runs a built-in by name with params and seeds and prints the metrics', () => {
    const r = cli(
      'weak-to-strong',
      '--config',
      'baseline',
      '--params',
      '{"method":"bootstrap","lr":0.1,"epochs":1}',
      '--seeds',
      '1-2',
      '--quiet',
    );
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({ seed: 1, status: 'succeeded' });
    expect((lines[2] as { mean: Record<string, number> }).mean.pgr_dev).toBeGreaterThan(0.4);
  });

  it('exits non-zero for an unknown experiment, naming the registered ones', () => {
    const r = cli('no-such-thing');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      'unknown experiment "no-such-thing"; registered experiments: bin-packing, branin',
    );
  });
});
