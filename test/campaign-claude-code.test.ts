/**
 * A Claude-strategy campaign on the built-in code problem, on a real worker (Temporal, MLflow,
 * bwrap) with the agent's replies scripted in the local fake Messages API: one reply carries the
 * hand-written method (a test fixture no agent sees) as an edit, and an edit that does not apply.
 * The good edit resolves to a stored snapshot, runs in the sandbox and reaches PGR >= 0.9; the
 * other is sent back for repair with the reason; MLflow keeps the diff.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentName, TAG } from '../activities/recording.js';
import type { CampaignReport } from '../api/schemas.js';
import { diffSnapshots, hashSnapshot } from '../domain/code.js';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import { isCodeExperiment, type CodeExperimentDefinition } from '../experiments/code.js';
import { ExperimentRegistry, loadRegistry } from '../experiments/registry.js';
import { checkSandbox } from '../experiments/sandbox.js';
import {
  createClaudeTestEnv,
  pi,
  researcher,
  uniqueId,
  type ClaudeTestEnv,
} from './support/env.js';

const HAND_WRITTEN = readFileSync(
  new URL('./fixtures/weak-to-strong-code/sparse_relaxed_lasso.py', import.meta.url),
  'utf8',
);

let env: ClaudeTestEnv;
let def: CodeExperimentDefinition;
let problemId: string;
let campaignId: string;
let report: CampaignReport;

beforeAll(async () => {
  await checkSandbox(); // throws naming what is missing: this test needs bubblewrap
  const e = (await loadRegistry()).get('weak-to-strong-code');
  if (!isCodeExperiment(e) || !e.problem)
    throw new Error('weak-to-strong-code is not a code experiment');
  def = e;
  env = await createClaudeTestEnv({ registry: ExperimentRegistry.of(e), sdkRetries: 0 });
  problemId = uniqueId('w2s-code-claude');
  await env.service.submitProblem(researcher, {
    ...parseProblemSpec(readFileSync(e.problem.spec, 'utf8'), e.problem.spec),
    id: problemId,
  });
  await env.service.setCriteria(
    pi,
    problemId,
    {
      ...parseCriteria(readFileSync(e.problem.criteria, 'utf8'), e.problem.criteria),
      // See test/code-hypotheses.test.ts: the hidden-gap rule would hold the method for review.
      hiddenMetrics: [],
      budgets: { maxTrials: 2, concurrency: 5, maxWallSeconds: 1800, maxDollars: 5 },
      verification: { topK: 1, seeds: 5 },
    },
    'claude code test',
  );
  const initial = def.code.initialSource['method.py']!;
  const hyp = (title: string, search: string, replace: string) => ({
    title,
    rationale: `because ${title}`,
    parentTrialId: null,
    changes: [],
    expectedEffect: 'higher student_dev_acc',
    edits: [{ file: 'method.py', search, replace }],
  });
  env.fake.script({
    kind: 'json',
    body: {
      hypotheses: [
        hyp('sparse relaxed lasso', initial, HAND_WRITTEN),
        hyp('misquoted', 'this line is not in method.py', 'pass'),
      ],
      insight: 'the starting method imitates the weak supervisor',
    },
  });
  // The repair round: nothing new.
  env.fake.script({ kind: 'json', body: { hypotheses: [], insight: '' } });
  ({ campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'claude', settings: { agents: 1, hypothesesPerAgent: 2, maxTokens: 4096 } },
    seed: 5,
  }));
  report = await env.service.result(campaignId);
}, 900_000);

afterAll(async () => {
  await env?.close();
});

describe('a Claude-strategy campaign on a code experiment', () => {
  it("runs the agent's good edit in the sandbox: PGR >= 0.9, verified", async () => {
    const { trials } = await env.service.trials(campaignId, { limit: 100 });
    const t = trials.find((x) => x.kind === 'search' && x.title === 'sparse relaxed lasso');
    expect(t, JSON.stringify(report.dropped)).toBeDefined();
    expect(t!.status, t!.failureReason).toBe('succeeded');
    expect(t!.author.kind).toBe('agent');
    expect(t!.sourceHash).toBe(hashSnapshot({ 'method.py': HAND_WRITTEN }));
    expect(t!.pgr!.mean).toBeGreaterThanOrEqual(0.9);
    expect(report.verdict?.verdict, report.verdict?.reasons.join('; ')).toBe('verified');
  });

  it('sends the edit that does not apply back for repair, with the reason', () => {
    const d = report.dropped.find((x) => x.title === 'misquoted');
    expect(d?.reason).toMatch(
      /edits do not apply to the source of the baseline: method\.py: edit 1/,
    );
  });

  it("keeps the agent's diff in MLflow", async () => {
    const experimentId = (await env.mlflow.getExperimentByName(experimentName(problemId)))!
      .experimentId;
    const runs = await env.mlflow.searchAllRuns({ experimentIds: [experimentId] });
    const run = runs.find(
      (r) =>
        r.data.tags[TAG.title] === 'sparse relaxed lasso' &&
        r.data.tags[TAG.trialKind] === 'search',
    )!;
    expect(await env.mlflow.downloadArtifactText(run.info.runId, 'diff.patch')).toBe(
      diffSnapshots(def.code.initialSource, { 'method.py': HAND_WRITTEN }),
    );
  });
});
