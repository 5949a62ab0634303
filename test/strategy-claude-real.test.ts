/**
 * The Claude strategy against the real API, on the built-in weak-to-strong problem and on its
 * code version (the agent writes edits to the method). Needs
 * ANTHROPIC_API_KEY (and honours ANTHROPIC_BASE_URL and GAPLAB_TEST_CLAUDE_MODEL); skipped with
 * the reason in its title otherwise. Costs a few cents.
 */
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ProblemSpec } from '../domain/schemas.js';
import { applyChanges, validateConfig } from '../domain/space.js';
import { StrategyConfig, type StrategyView } from '../domain/strategy.js';
import { createSourceActivities, SourceStore } from '../activities/sources.js';
import { createStrategyActivities } from '../activities/strategies/index.js';
import { loadRegistry } from '../experiments/registry.js';
import { PROJECT_ROOT } from '../stack/paths.js';

const key = process.env.ANTHROPIC_API_KEY;
const model = process.env.GAPLAB_TEST_CLAUDE_MODEL ?? 'claude-haiku-4-5';
const title = key
  ? `real Claude model (${model}) proposes valid hypotheses for weak-to-strong`
  : 'real Claude model (skipped: ANTHROPIC_API_KEY not set)';

const codeTitle = key
  ? `real Claude model (${model}) writes edits to the weak-to-strong-code method that apply and compile`
  : 'real Claude model writes code edits (skipped: ANTHROPIC_API_KEY not set)';

function weakToStrongView(): StrategyView {
  const raw = YAML.parse(
    fs.readFileSync(
      path.join(PROJECT_ROOT, 'experiments', 'weak-to-strong', 'problem.yaml'),
      'utf8',
    ),
  );
  const spec = ProblemSpec.parse(raw);
  const first = { ...spec.baseline, epochs: 20 };
  const firstConfig = applyChanges(spec.space, spec.baseline, { epochs: 20 });
  return {
    campaignId: 'real-claude-test',
    iteration: 1,
    count: 2,
    seed: 1,
    problem: {
      id: spec.id,
      title: spec.title,
      question: spec.question,
      context: spec.context,
      experiment: spec.experiment,
      experimentDescription:
        'Trains the student on weak labels on 5 seeds and reports dev accuracy.',
      space: spec.space,
      baseline: spec.baseline,
    },
    objective: { metric: 'student_dev_acc', direction: 'maximize' },
    visibleMetrics: [{ name: 'student_dev_acc', description: 'student accuracy on the dev split' }],
    baselineScore: 0.71,
    optimumScore: 0.915,
    targetPgr: 0.8,
    constraints: [],
    history: [
      {
        id: 'T1',
        parentTrialId: null,
        title: 'early stopping at 20 epochs',
        author: 'human',
        params: firstConfig,
        status: 'succeeded',
        metrics: { student_dev_acc: 0.752, student_heldout_acc: 0.7491 },
        objective: 0.752,
        pgr: { mean: 0.2, ciLow: 0.15, ciHigh: 0.25 },
        feasible: true,
      },
    ],
    notebook: [
      {
        kind: 'human',
        author: 'pi',
        text: `Early stopping helps a bit (${JSON.stringify(first)}).`,
        at: new Date().toISOString(),
      },
    ],
    budgetLeft: { trials: 50, dollars: 1 },
    strategy: StrategyConfig.parse({
      name: 'claude',
      settings: { model, agents: 1, hypothesesPerAgent: 2, maxTokens: 2048 },
    }),
  };
}

describe('claude strategy, real API', () => {
  it.skipIf(!key)(title, async () => {
    const view = weakToStrongView();
    const acts = createStrategyActivities({
      anthropic: () => new Anthropic(),
      claude: { maxRetries: 3, timeoutMs: 120_000 },
    });
    const r = await acts.proposeHypotheses(view, ['student_heldout_acc']);
    expect(r.fatalError).toBeUndefined();
    expect(r.proposals.length).toBeGreaterThanOrEqual(1);
    expect(r.dollars).toBeGreaterThan(0);
    expect(r.dollars).toBeLessThan(0.5);
    for (const p of r.proposals) {
      const parent = p.parentTrialId
        ? view.history.find((t) => t.id === p.parentTrialId)!.params
        : view.problem.baseline;
      expect(
        validateConfig(view.problem.space, applyChanges(view.problem.space, parent, p.changes)),
      ).toEqual([]);
    }
    expect(r.notes.some((n) => n.kind === 'insight')).toBe(true);
  });
});

describe('claude strategy on a code experiment, real API', () => {
  it.skipIf(!key)(
    codeTitle,
    async () => {
      const raw = YAML.parse(
        fs.readFileSync(
          path.join(PROJECT_ROOT, 'experiments', 'weak-to-strong-code', 'problem.yaml'),
          'utf8',
        ),
      );
      const spec = ProblemSpec.parse(raw);
      const registry = await loadRegistry();
      const tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-claude-real-code-'));
      try {
        const store = new SourceStore({ cacheDir: tmp });
        const base = weakToStrongView();
        const view: StrategyView = {
          ...base,
          campaignId: 'real-claude-code-test',
          count: 2,
          problem: {
            ...base.problem,
            id: spec.id,
            title: spec.title,
            question: spec.question,
            context: spec.context,
            experiment: spec.experiment,
            experimentDescription: registry.get(spec.experiment).description,
            space: spec.space,
            baseline: spec.baseline,
          },
          baselineScore: 0.71,
          optimumScore: 0.915,
          history: [],
          notebook: [],
          code: {},
          strategy: StrategyConfig.parse({
            name: 'claude',
            settings: { model, agents: 1, hypothesesPerAgent: 2, maxTokens: 8192 },
          }),
        };
        const acts = createStrategyActivities({
          anthropic: () => new Anthropic(),
          claude: { maxRetries: 3, timeoutMs: 300_000 },
          code: { registry, store },
        });
        const r = await acts.proposeHypotheses(view, ['student_heldout_acc', 'pgr_heldout']);
        expect(r.fatalError).toBeUndefined();
        const withEdits = r.proposals.filter((p) => p.edits && p.edits.length > 0);
        expect(withEdits.length, JSON.stringify(r.dropped)).toBeGreaterThanOrEqual(1);
        expect(r.dollars).toBeLessThan(0.5);
        // What the agent wrote resolves to a source of the experiment that compiles.
        const { resolveSource } = createSourceActivities({ registry, store });
        for (const p of withEdits)
          expect(
            await resolveSource({ experiment: spec.experiment, edits: p.edits! }),
            p.title,
          ).toMatchObject({ ok: true });
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    },
    600_000,
  );
});
