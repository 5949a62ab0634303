/**
 * The Optuna strategy through the real Python service in the project venv: valid suggestions in a
 * conditional space, reproducibility, failed trials, process lifecycle, and search quality
 * (TPE beats random on Hartmann6 at equal budget).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applyChanges, findDuplicate, validateConfig } from '../domain/space.js';
import { createStrategyActivities } from '../activities/strategies/index.js';
import { OptunaService, OptunaServiceError } from '../stack/optuna-service.js';
import { toOptunaHistory } from '../activities/strategies/optuna.js';
import { HIDDEN, TEST_BASELINE, TEST_SPACE, testView } from './support/strategy-views.js';
import {
  bestSoFar,
  hartmann6,
  hartmann6Problem,
  simulateSearch,
} from '../bench/strategy-quality.js';
import { eventually } from './support/eventually.js';

const services: OptunaService[] = [];
function service(options: ConstructorParameters<typeof OptunaService>[0] = {}): OptunaService {
  const s = new OptunaService(options);
  services.push(s);
  return s;
}

afterAll(async () => {
  await Promise.all(services.map((s) => s.close()));
});

const hidden = [...HIDDEN];
const tpeView = (overrides = {}) =>
  testView({ name: 'optuna', settings: { sampler: 'tpe' } }, overrides);

describe('optuna strategy', () => {
  const shared = service();
  const acts = createStrategyActivities({ optuna: shared });

  it('suggests valid, new configurations in a conditional space, with failed trials in the history', async () => {
    const view = tpeView({ count: 6 });
    expect(view.history.some((t) => t.status === 'failed')).toBe(true);
    const r = await acts.proposeHypotheses(view, hidden);
    expect(r.fatalError).toBeUndefined();
    expect(r.proposals).toHaveLength(6);
    expect(r.authors).toEqual(Array(6).fill('optuna:tpe'));
    const tried = view.history.map((t) => t.params);
    for (const p of r.proposals) {
      expect(p.parentTrialId).toBeNull();
      const config = applyChanges(TEST_SPACE, TEST_BASELINE, p.changes);
      expect(validateConfig(TEST_SPACE, config)).toEqual([]);
      expect('momentum' in config).toBe(config.optimizer === 'sgd');
      expect('aux_weight' in config).toBe(config.aux_loss === true);
      expect(findDuplicate(TEST_SPACE, config, tried)).toBeNull();
    }
  });

  it('maps the history: failures without a value, cancelled trials left out', () => {
    const history = tpeView().history;
    const mapped = toOptunaHistory([...history, { ...history[0]!, id: 'C', status: 'cancelled' }]);
    expect(mapped.map((h) => [h.state, h.value])).toEqual([
      ['complete', 0.71],
      ['complete', 0.78],
      ['fail', null],
    ]);
  });

  it('gives the same suggestions for the same seed and history, in any process', async () => {
    const view = tpeView({ count: 3, seed: 99 });
    const a = await acts.proposeHypotheses(view, hidden);
    const b = await acts.proposeHypotheses(view, hidden);
    const fresh = await createStrategyActivities({ optuna: service() }).proposeHypotheses(
      view,
      hidden,
    );
    const other = await acts.proposeHypotheses({ ...view, seed: 100 }, hidden);
    expect(b.proposals).toEqual(a.proposals);
    expect(fresh.proposals).toEqual(a.proposals);
    expect(other.proposals).not.toEqual(a.proposals);
  });

  it('suggests from a cached, growing study exactly what a fresh process suggests', async () => {
    const problem = hartmann6Problem();
    const cachedActs = createStrategyActivities({ optuna: service() });
    // 24 trials through the cached path (one study per campaign, extended each iteration)...
    await simulateSearch(cachedActs, problem, {
      strategy: { name: 'optuna', settings: { sampler: 'tpe' } },
      seed: 5,
      budget: 24,
      batch: 4,
    });
    // ...then the same sequence with a fresh process per iteration must match it trial by trial.
    const a = await simulateSearch(cachedActs, problem, {
      strategy: { name: 'optuna', settings: { sampler: 'tpe' } },
      seed: 6,
      budget: 24,
      batch: 4,
    });
    const fresh: number[] = [];
    const b = await simulateSearch(
      {
        ...cachedActs,
        proposeHypotheses: async (view, hiddenNames) => {
          const s = service();
          const r = await createStrategyActivities({ optuna: s }).proposeHypotheses(
            view,
            hiddenNames,
          );
          fresh.push(s.starts);
          await s.close();
          return r;
        },
      },
      problem,
      { strategy: { name: 'optuna', settings: { sampler: 'tpe' } }, seed: 6, budget: 24, batch: 4 },
    );
    expect(fresh).toHaveLength(6);
    expect(b).toEqual(a);
  });

  it('accepts infeasible trials (as constraints for TPE)', async () => {
    const view = tpeView({ count: 3 });
    const history = view.history.map((t, i) => ({ ...t, feasible: i !== 1 }));
    const r = await acts.proposeHypotheses({ ...view, history }, hidden);
    expect(r.fatalError).toBeUndefined();
    expect(r.proposals).toHaveLength(3);
  });

  it('answers concurrent callers in order, one request at a time', async () => {
    const sizes = [1, 2, 3, 4, 5];
    const base = {
      space: TEST_SPACE,
      direction: 'maximize' as const,
      history: toOptunaHistory(tpeView().history),
      sampler: 'tpe' as const,
    };
    const replies = await Promise.all(sizes.map((n, i) => shared.suggest({ ...base, seed: i, n })));
    expect(replies.map((r) => r.configs.length)).toEqual(sizes);
  });

  it('reports malformed requests as permanent errors', async () => {
    const err = await shared
      .suggest({
        space: TEST_SPACE,
        direction: 'maximize',
        history: [],
        sampler: 'tpe',
        seed: 1,
        n: 0,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OptunaServiceError);
    expect((err as OptunaServiceError).kind).toBe('bad_request');
    expect((err as OptunaServiceError).permanent).toBe(true);
    expect((err as Error).message).toMatch(/^n: /);
  });

  it('restarts the process when it dies', async () => {
    const s = service();
    await s.ping();
    const pid = s.pid!;
    expect(s.starts).toBe(1);
    process.kill(pid, 'SIGKILL');
    // Once the service has seen its process go (a request before that fails as crashed).
    await eventually(async () => s.pid === undefined, 30_000, 20);
    const version = await s.ping();
    expect(version).toMatch(/^\d+\.\d+/);
    expect(s.starts).toBe(2);
    expect(s.pid).not.toBe(pid);
  });

  it('kills and reports a service that does not answer in time', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'optuna-hang-'));
    const script = path.join(dir, 'hang.py');
    fs.writeFileSync(script, 'import time\ntime.sleep(60)\n');
    const s = service({ script, requestTimeoutMs: 300 });
    const err = await s.ping().catch((e: unknown) => e);
    expect((err as OptunaServiceError).kind).toBe('timeout');
    expect((err as OptunaServiceError).permanent).toBe(false);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('returns a fatal error naming the setup command when the venv is missing', async () => {
    const missing = createStrategyActivities({
      optuna: service({ python: '/nonexistent/venv/bin/python' }),
    });
    const r = await missing.proposeHypotheses(tpeView(), hidden);
    expect(r.fatalError).toMatch(/npx gaplab setup/);
    expect(r.proposals).toEqual([]);
  });

  it('runs the other samplers or names the missing package', async () => {
    for (const sampler of ['random', 'gp', 'cmaes'] as const) {
      const r = await acts.proposeHypotheses(
        testView({ name: 'optuna', settings: { sampler } }, { count: 2 }),
        hidden,
      );
      if (r.fatalError) {
        expect(sampler).not.toBe('random');
        expect(r.fatalError).toMatch(sampler === 'gp' ? /"torch"/ : /"cmaes"/);
      } else {
        expect(r.proposals).toHaveLength(2);
        expect(r.authors[0]).toBe(`optuna:${sampler}`);
      }
    }
  });

  it('TPE beats random search on Hartmann6 at equal budget', async () => {
    expect(hartmann6([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])).toBeCloseTo(
      -3.32237,
      4,
    );
    const problem = hartmann6Problem();
    const seeds = [1, 2, 3];
    const best = async (strategy: Parameters<typeof simulateSearch>[2]['strategy']) => {
      const out: number[] = [];
      for (const seed of seeds)
        out.push(
          bestSoFar(
            await simulateSearch(acts, problem, { strategy, seed, budget: 48, batch: 4 }),
            'minimize',
          ).at(-1)!,
        );
      return out.reduce((s, x) => s + x, 0) / out.length;
    };
    const tpe = await best({ name: 'optuna', settings: { sampler: 'tpe' } });
    const random = await best({ name: 'random' });
    // Minimisation: lower is better.
    expect(tpe).toBeLessThan(random - 0.3);
  });
});
