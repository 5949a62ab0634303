/**
 * Honest results still verify under the verdict's rules: Branin (deterministic: every seed
 * gives the same value) searched by Optuna with the shipped problem and criteria, on a real
 * worker with real Temporal, MLflow and Optuna. Its verification runs on secret seeds, says
 * fresh seeds could not test the result, and still finds a real improvement.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import { verdictLabel } from '../domain/verdict.js';
import { loadRegistry } from '../experiments/registry.js';
import { renderReportMarkdown } from '../domain/report.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';

const dir = fileURLToPath(new URL('../experiments/benchmarks/', import.meta.url));
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ registry: await loadRegistry() });
});
afterAll(async () => {
  await env?.close();
});

it('Branin with Optuna: the best is verified on secret seeds, the target shown as set', async () => {
  const specFile = path.join(dir, 'branin.problem.yaml');
  const criteriaFile = path.join(dir, 'branin.criteria.yaml');
  const problemId = uniqueId('branin-verdict');
  await env.service.submitProblem(researcher, {
    ...parseProblemSpec(readFileSync(specFile, 'utf8'), specFile),
    id: problemId,
  });
  const shipped = parseCriteria(readFileSync(criteriaFile, 'utf8'), criteriaFile);
  await env.service.setCriteria(pi, problemId, {
    ...shipped,
    budgets: { ...shipped.budgets, maxTrials: 24 },
  });
  const { campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'optuna', settings: { sampler: 'tpe' } },
    seed: 5,
  });
  const report = await env.service.result(campaignId);
  const v = report.verdict!;
  expect(v.trialId).toBe(report.best?.id);
  expect(v.verdict).toBe('verified');
  expect(v.checks).toMatchObject({ heldUp: true, realImprovement: true, seedInsensitive: true });
  expect(v.checks?.seeds).toMatchObject({
    requested: 5,
    succeeded: 5,
    failed: 0,
    source: 'secret',
  });
  // The stop reason never contradicts the verdict.
  if (report.stopReason === 'target_verified') expect(v.checks?.metTarget).toBe(true);
  else expect(verdictLabel(v).text).toMatch(/^verified/);
  const md = renderReportMarkdown(report);
  expect(md).toContain('| target PGR | 0.999 |');
  expect(md).toContain('fresh seeds could not test the result');
});
