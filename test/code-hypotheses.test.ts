/**
 * Code hypotheses end to end on the real services (Temporal, MLflow, a worker, bwrap, python3):
 * a person proposes the hand-written weak-to-strong method (a test fixture no agent sees) with
 * `gaplab propose --patch` against the baseline's source, and injects an edit that does not
 * apply. The first
 * resolves to a content-addressed snapshot, runs in the sandbox on 5 seeds, reaches PGR >= 0.9
 * and holds on verification; the second is refused and dropped with the reason. MLflow keeps
 * the snapshot and the diff, and the trial record read back from MLflow shows both.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { experimentName, TAG } from '../records/names.js';
import { sourceArtifactPath } from '../records/names.js';
import { decodeTrial } from '../records/trial-codec.js';
import { diffSnapshots, hashSnapshot } from '../domain/code.js';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import { TrialsPage, type CampaignReport } from '../api/schemas.js';
import { buildApp } from '../server/app.js';
import type { Run } from '../mlflow-ts-client/index.js';
import { isCodeExperiment, type CodeExperimentDefinition } from '../experiments/code.js';
import { ExperimentRegistry, loadRegistry } from '../experiments/registry.js';
import { checkSandbox } from '../experiments/sandbox.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';
import { auth, testTokens, TOKENS } from './support/fake-service.js';
import { quadraticCriteria, quadraticSpec, testRegistry } from './support/quadratic.js';

const HAND_WRITTEN = readFileSync(
  new URL('./fixtures/weak-to-strong-code/sparse_relaxed_lasso.py', import.meta.url),
  'utf8',
);

let env: TestEnv;
let app: FastifyInstance;
let def: CodeExperimentDefinition;
let problemId: string;
let campaignId: string;
let report: CampaignReport;
let refused: unknown;
let handHash: string;
let proposeOutput: string;

beforeAll(async () => {
  await checkSandbox(); // throws naming what is missing: this test needs bubblewrap
  const registry = await loadRegistry();
  const e = registry.get('weak-to-strong-code');
  if (!isCodeExperiment(e) || !e.problem)
    throw new Error('weak-to-strong-code is not a code experiment');
  def = e;
  // The built-in code experiment beside the quadratic one (an experiment without source).
  env = await createTestEnv({ registry: ExperimentRegistry.of(e, ...testRegistry().list()) });
  app = await buildApp({
    service: env.service,
    mlflow: env.mlflow,
    tokens: testTokens(),
    config: { rateLimitPerMinute: 0, uiDir: '/nonexistent' },
  });
  problemId = uniqueId('w2s-code');
  const spec = parseProblemSpec(readFileSync(e.problem.spec, 'utf8'), e.problem.spec);
  await env.service.submitProblem(researcher, { ...spec, id: problemId });
  const criteria = parseCriteria(readFileSync(e.problem.criteria, 'utf8'), e.problem.criteria);
  await env.service.setCriteria(
    pi,
    problemId,
    {
      ...criteria,
      // The injected idea is the only search trial; its verification and the fresh baseline run.
      budgets: { maxTrials: 1, concurrency: 5, maxWallSeconds: 1800 },
      verification: { topK: 1, seeds: 5 },
    },
    'code hypotheses test',
  );
  ({ campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 3,
    // Paused until both ideas are in, so the strategy is not asked first.
    paused: true,
  }));
  const hand = { 'method.py': HAND_WRITTEN };
  handHash = hashSnapshot(hand);
  try {
    await env.service.inject(pi, campaignId, {
      title: 'edit that does not apply',
      changes: {},
      edits: [
        {
          kind: 'search_replace',
          file: 'method.py',
          search: 'this line is not in method.py',
          replace: 'pass',
        },
      ],
    });
  } catch (err) {
    refused = err;
  }
  // The hand-written method, proposed by a person through the command line as a patch file.
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const patch = path.join(await mkdtemp(path.join(os.tmpdir(), 'gaplab-propose-')), 'lasso.diff');
  await writeFile(patch, diffSnapshots(def.code.initialSource, hand));
  // Asynchronously: the API answering it runs in this process.
  const cli = await promisify(execFile)(
    process.execPath,
    [
      path.join(import.meta.dirname, '..', 'bin', 'gaplab.mjs'),
      'propose',
      campaignId,
      '--patch',
      patch,
      '--title',
      'sparse relaxed lasso',
      '--rationale',
      'keep the one salient direction, refit without penalty, threshold by the prior',
    ],
    { env: { ...process.env, GAPLAB_URL: address, GAPLAB_TOKEN: TOKENS.pi } },
  );
  proposeOutput = `${cli.stdout}${cli.stderr}`;
  await env.service.resume(pi, campaignId);
  report = await env.service.result(campaignId);
}, 900_000);

afterAll(async () => {
  await app?.close();
  await env?.close();
});

async function trialRuns(): Promise<Run[]> {
  const experimentId = (await env.mlflow.getExperimentByName(experimentName(problemId)))!
    .experimentId;
  const runs = await env.mlflow.searchAllRuns({ experimentIds: [experimentId] });
  return runs;
}

describe('a code hypothesis proposed by a person', () => {
  it('runs the hand-written method (`gaplab propose --patch`) in the sandbox and reaches PGR >= 0.9, verified', async () => {
    expect(proposeOutput).toMatch(/^proposed h\d+: sparse relaxed lasso$/m);
    const { trials } = await env.service.trials(campaignId, { limit: 100 });
    const t = trials.find((x) => x.title === 'sparse relaxed lasso');
    expect(t, JSON.stringify(report.dropped)).toBeDefined();
    expect(t!.status, t!.failureReason).toBe('succeeded');
    expect(t!.sourceHash).toBe(handHash);
    expect(t!.parentSourceHash).toBe(hashSnapshot(def.code.initialSource));
    expect(t!.pgr!.mean).toBeGreaterThanOrEqual(0.9);
    // On the shifted held-out split too (the harness's own PGR there).
    expect(t!.metrics['pgr_heldout']).toBeGreaterThanOrEqual(0.9);
    expect(report.best?.id, JSON.stringify({ best: report.best, flags: t!.flags })).toBe(t!.id);
    expect(report.verdict?.verdict, report.verdict?.reasons.join('; ')).toBe('verified');
    expect(report.verdict?.freshPgr?.mean).toBeGreaterThanOrEqual(0.9);
    // Its verification re-ran the same source.
    const v = trials.find((x) => x.kind === 'verification' && x.parentTrialId === t!.id);
    expect(v?.sourceHash).toBe(handHash);
  });

  it('refuses an edit that does not apply, and the campaign keeps it as dropped with the reason', () => {
    expect(String(refused)).toMatch(/edits do not apply: method\.py: edit 1: .*search text/);
    const dropped = report.dropped.find((d) => d.title === 'edit that does not apply');
    expect(dropped?.reason).toMatch(/edits do not apply/);
  });

  it('shows the source hash and the diff on the trial record the API reads from MLflow', async () => {
    const res = await app.inject({
      url: `/api/campaigns/${campaignId}/trials?limit=100`,
      headers: auth('viewer'),
    });
    expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
    const page = TrialsPage.parse(res.json());
    expect(page.source).toBe('mlflow');
    const t = page.trials.find((x) => x.title === 'sparse relaxed lasso' && x.kind === 'search');
    expect(t?.sourceHash).toBe(handHash);
    expect(t?.diff).toBe(diffSnapshots(def.code.initialSource, { 'method.py': HAND_WRITTEN }));
  });

  it('keeps the snapshot on the campaign run, and the source and diff on the trial run', async () => {
    const runs = await trialRuns();
    const parent = runs.find((r) => r.data.tags[TAG.kind] === 'campaign')!;
    const stored = await env.mlflow.downloadArtifactText(
      parent.info.runId,
      sourceArtifactPath(handHash),
    );
    expect(JSON.parse(stored)).toEqual({ 'method.py': HAND_WRITTEN });
    const run = runs.find(
      (r) =>
        r.data.tags[TAG.kind] === 'trial' &&
        r.data.tags[TAG.title] === 'sparse relaxed lasso' &&
        r.data.tags[TAG.trialKind] === 'search',
    )!;
    const diff = await env.mlflow.downloadArtifactText(run.info.runId, 'diff.patch');
    expect(diff).toBe(diffSnapshots(def.code.initialSource, { 'method.py': HAND_WRITTEN }));
    expect(await env.mlflow.downloadArtifactText(run.info.runId, 'source/method.py')).toBe(
      HAND_WRITTEN,
    );
    const record = decodeTrial(run);
    expect(record.sourceHash).toBe(handHash);
    expect(record.diff).toBe(diff);
  });
});

describe('edits on an experiment without source', () => {
  it('are refused when proposed, with HTTP 400 naming `edits`', async () => {
    const quad = uniqueId('quad-edits');
    await env.service.submitProblem(researcher, { ...quadraticSpec, id: quad });
    await env.service.setCriteria(
      pi,
      quad,
      { ...quadraticCriteria, budgets: { maxTrials: 1, concurrency: 1 } },
      'test',
    );
    const started = await env.service.startCampaign(researcher, {
      problemId: quad,
      strategy: { name: 'random' },
      seed: 1,
    });
    const res = await app.inject({
      method: 'POST',
      url: `/api/campaigns/${started.campaignId}/hypotheses`,
      headers: auth('pi'),
      payload: {
        title: 'rewrite the objective',
        changes: {},
        edits: [{ kind: 'search_replace', file: 'objective.py', search: 'a', replace: 'b' }],
      },
    });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().message).toMatch(/^edits: experiment quadratic is not a code experiment/);
    await env.service.result(started.campaignId);
  });
});
