/**
 * The bin-packing built-in (OpenEvolve layout, evaluator as the harness) in a real campaign on
 * the real services (Temporal, MLflow, a worker, bwrap): the hand-written method (best fit
 * decreasing with bin emptying, a test fixture no agent sees) proposed with `gaplab propose
 * --patch` against the starting program is verified on fresh seeds.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CampaignReport } from '../api/schemas.js';
import { diffSnapshots, hashSnapshot } from '../domain/code.js';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import { isCodeExperiment, type CodeExperimentDefinition } from '../experiments/code.js';
import { ExperimentRegistry, loadRegistry } from '../experiments/registry.js';
import { checkSandbox } from '../experiments/sandbox.js';
import { buildApp } from '../server/app.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';
import { testTokens, TOKENS } from './support/fake-service.js';

const HAND_WRITTEN = readFileSync(
  new URL('./fixtures/bin-packing/best_fit_decreasing.py', import.meta.url),
  'utf8',
);

let env: TestEnv;
let app: FastifyInstance;
let def: CodeExperimentDefinition;
let campaignId: string;
let report: CampaignReport;
let proposeOutput: string;

beforeAll(async () => {
  await checkSandbox(); // throws naming what is missing: this test needs bubblewrap
  const e = (await loadRegistry()).get('bin-packing');
  if (!isCodeExperiment(e) || !e.problem) throw new Error('bin-packing is not a code experiment');
  def = e;
  env = await createTestEnv({ registry: ExperimentRegistry.of(e) });
  app = await buildApp({
    service: env.service,
    mlflow: env.mlflow,
    tokens: testTokens(),
    config: { rateLimitPerMinute: 0, uiDir: '/nonexistent' },
  });
  const problemId = uniqueId('bin-packing');
  const spec = parseProblemSpec(readFileSync(e.problem.spec, 'utf8'), e.problem.spec);
  await env.service.submitProblem(researcher, { ...spec, id: problemId });
  const criteria = parseCriteria(readFileSync(e.problem.criteria, 'utf8'), e.problem.criteria);
  await env.service.setCriteria(
    pi,
    problemId,
    {
      ...criteria,
      // The proposed idea is the only search trial; its verification and the fresh baseline run.
      budgets: { maxTrials: 1, concurrency: 2, maxWallSeconds: 1800 },
      verification: { topK: 1, seeds: 5 },
    },
    'bin-packing test',
  );
  ({ campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 5,
    paused: true,
  }));
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const patch = path.join(await mkdtemp(path.join(os.tmpdir(), 'gaplab-propose-')), 'bfd.diff');
  await writeFile(
    patch,
    diffSnapshots(def.code.initialSource, { 'initial_program.py': HAND_WRITTEN }),
  );
  const cli = await promisify(execFile)(
    process.execPath,
    [
      path.join(import.meta.dirname, '..', 'bin', 'gaplab.mjs'),
      'propose',
      campaignId,
      '--patch',
      patch,
      '--title',
      'best fit decreasing',
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

describe('bin packing, OpenEvolve layout, in a campaign', () => {
  it('verifies the hand-written method proposed with `gaplab propose --patch`', async () => {
    expect(proposeOutput).toMatch(/^proposed h\d+: best fit decreasing$/m);
    const { trials } = await env.service.trials(campaignId, { limit: 100 });
    const t = trials.find((x) => x.title === 'best fit decreasing' && x.kind === 'search');
    expect(t, JSON.stringify(report.dropped)).toBeDefined();
    expect(t!.status, t!.failureReason).toBe('succeeded');
    expect(t!.sourceHash).toBe(hashSnapshot({ 'initial_program.py': HAND_WRITTEN }));
    expect(t!.metrics).toMatchObject({ pruned: 0, cascade_stage: 2, valid: 1 });
    expect(t!.pgr!.mean).toBeGreaterThanOrEqual(0.9);
    expect(report.verdict?.verdict, report.verdict?.reasons.join('; ')).toBe('verified');
  });
});
