/**
 * A Claude-strategy campaign on the built-in code problem, on a real worker (Temporal, MLflow,
 * bwrap) with the agent's replies scripted in the local fake Messages API. The first reply
 * carries the hand-written method (a test fixture no agent sees) as an edit, an edit that does
 * not apply and one that does not compile; the repair round answers with a method that tries to
 * read the harness's source (where the ground truth lives). The good edit resolves to a stored
 * snapshot, runs in the sandbox and reaches PGR >= 0.9, its diff in MLflow; the two broken edits
 * go back for repair with their reasons, recorded in the proposal audit; the snooping method
 * ends failed with the sandbox's reason, which the agents' next prompt shows redacted. A person's
 * idea that does not compile is refused with the compiler's error and kept as dropped.
 *
 * The campaign's problem id starts with `w2s-code-claude` (its MLflow experiment is named after
 * it), so a later test or a person can find it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentName, TAG } from '../records/names.js';
import type { CampaignReport } from '../api/schemas.js';
import { diffSnapshots, hashSnapshot } from '../domain/code.js';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import { isCodeExperiment, type CodeExperimentDefinition } from '../experiments/code.js';
import { ExperimentRegistry, loadRegistry } from '../experiments/registry.js';
import { buildAgentMessage } from '../activities/strategies/claude/prompt.js';
import { testView } from './support/strategy-views.js';
import { checkSandbox } from '../experiments/sandbox.js';
import { PROJECT_ROOT } from '../stack/paths.js';
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
let humanRefused: unknown;

const HARNESS = `${PROJECT_ROOT}/experiments/weak-to-strong-code/harness.ts`;
/** A method that reads the harness's source (the labels are computed there) before answering. */
const SNOOP = `import numpy as np


def train(features, weak_labels, unlabelled_features, params, rng):
    with open(${JSON.stringify(HARNESS)}) as f:
        f.read()
    return np.full(len(unlabelled_features), 0.5)
`;

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
      // The good edit and the snooping one; the broken ones never reach a trial.
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
        hyp('unclosed', '    b = 0.0\n', '    b = (0.0\n'),
      ],
      insight: 'the starting method imitates the weak supervisor',
    },
  });
  // The repair round: a method that tries to read the ground truth.
  env.fake.script({
    kind: 'json',
    body: { hypotheses: [hyp('read the harness', initial, SNOOP)], insight: '' },
  });
  ({ campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'claude', settings: { agents: 1, hypothesesPerAgent: 2, maxTokens: 4096 } },
    seed: 5,
  }));
  // A person's idea that applies but does not compile.
  try {
    await env.service.inject(pi, campaignId, {
      title: 'person: unclosed parenthesis',
      changes: {},
      edits: [
        {
          kind: 'search_replace',
          file: 'method.py',
          search: '    b = 0.0\n',
          replace: '    b = (0.0\n',
        },
      ],
    });
  } catch (err) {
    humanRefused = err;
  }
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
    expect(
      report.verdict?.verdict,
      `${report.verdict?.headline}; ${report.verdict?.reasons.join('; ')}; best ${report.best?.id}; ` +
        `${t!.id} flags ${JSON.stringify(t!.flags)} pgr ${JSON.stringify(t!.pgr)}`,
    ).toBe('verified');
  });

  it('sends the edits that do not apply or do not compile back for repair, with the reasons, and records them', () => {
    const notApply = /edits do not apply to the source of the baseline: method\.py: edit 1/;
    const notCompile =
      /edits apply to the source of the baseline but the result does not compile: method\.py line \d+: SyntaxError: '\(' was never closed/;
    // The repair request carries both reasons.
    const calls = env.fake.messageRequests();
    const repair = calls.find((c) =>
      JSON.stringify(c.body.messages.at(-1)).includes('does not compile'),
    );
    expect(repair, `${calls.length} calls`).toBeDefined();
    const asked = JSON.stringify(repair!.body.messages.at(-1));
    expect(asked).toMatch(notApply);
    expect(asked).toMatch(notCompile);
    // The proposal audit keeps each with its fate, cause and reason.
    const recent = report.proposals!.recent;
    const rec = (title: string) => recent.find((r) => r.title === title);
    expect(rec('misquoted')).toMatchObject({ fate: 'repaired', cause: 'invalid' });
    expect(rec('misquoted')!.reason).toMatch(notApply);
    expect(rec('unclosed')).toMatchObject({ fate: 'repaired', cause: 'invalid' });
    expect(rec('unclosed')!.reason).toMatch(notCompile);
    expect(report.proposals!.counts.byCause['invalid']).toBeGreaterThanOrEqual(2);
    // The good edit and the snooping one were queued and run.
    expect(rec('sparse relaxed lasso')?.fate).toBe('run');
    expect(rec('read the harness')?.fate).toBe('run');
  });

  it("refuses a person's idea that does not compile, with the compiler's error, and keeps it as dropped", () => {
    expect(String(humanRefused)).toMatch(
      /edits do not compile: method\.py line \d+: SyntaxError: '\(' was never closed/,
    );
    const d = report.dropped.find((x) => x.title === 'person: unclosed parenthesis');
    expect(d?.reason).toMatch(/edits do not compile: method\.py line \d+/);
  });

  it("ends the method that reads the harness's source as a failed trial with the sandbox's reason; agents see it redacted", async () => {
    const { trials } = await env.service.trials(campaignId, { limit: 100 });
    const t = trials.find((x) => x.kind === 'search' && x.title === 'read the harness');
    expect(t, JSON.stringify(report.dropped)).toBeDefined();
    expect(t!.status).toBe('failed');
    expect(t!.failureReason).toMatch(
      /candidate exited with code 1: FileNotFoundError: \[Errno 2\] No such file or directory/,
    );
    expect(t!.failureReason).toContain('(method.py line 5, in train)');
    // What an agent is shown of it: the reason without the host path.
    const line = buildAgentMessage(
      {
        ...testView({ name: 'claude' }),
        history: [
          {
            ...testView({ name: 'claude' }).history[0]!,
            status: 'failed',
            failureReason: t!.failureReason!,
          },
        ],
      },
      { name: 'claude/explore', direction: 'Go wide.', count: 1 },
    );
    expect(line).toMatch(/No such file or directory: '…\/harness\.ts'/);
    expect(line).not.toContain(PROJECT_ROOT);
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
