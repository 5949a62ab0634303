/**
 * A pruned trial in a real campaign on the real services (Temporal, MLflow, a worker, bwrap):
 * a one-item-per-bin program proposed with `gaplab propose --patch` on the bin-packing built-in
 * (OpenEvolve layout, cascade threshold 0.6 at stage 1) ends as pruned at stage 1 with that
 * stage's score; its MLflow run says so in its tags, the trial table and the report show it, and
 * it is neither a failure, nor the best, nor verified.
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
import { diffSnapshots } from '../domain/code.js';
import { renderReportMarkdown } from '../domain/report.js';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import { isCodeExperiment } from '../experiments/code.js';
import { ExperimentRegistry, loadRegistry } from '../experiments/registry.js';
import { checkSandbox } from '../experiments/sandbox.js';
import { TAG } from '../records/names.js';
import { buildApp } from '../server/app.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';
import { testTokens, TOKENS } from './support/fake-service.js';

let env: TestEnv;
let app: FastifyInstance;
let campaignId: string;
let report: CampaignReport;

beforeAll(async () => {
  await checkSandbox(); // throws naming what is missing: this test needs bubblewrap
  const def = (await loadRegistry()).get('bin-packing');
  if (!isCodeExperiment(def) || !def.problem)
    throw new Error('bin-packing is not a code experiment');
  env = await createTestEnv({ registry: ExperimentRegistry.of(def) });
  app = await buildApp({
    service: env.service,
    mlflow: env.mlflow,
    tokens: testTokens(),
    config: { rateLimitPerMinute: 0, uiDir: '/nonexistent' },
  });
  const problemId = uniqueId('bin-packing-pruned');
  const spec = parseProblemSpec(readFileSync(def.problem.spec, 'utf8'), def.problem.spec);
  await env.service.submitProblem(researcher, { ...spec, id: problemId });
  const criteria = parseCriteria(readFileSync(def.problem.criteria, 'utf8'), def.problem.criteria);
  await env.service.setCriteria(
    pi,
    problemId,
    {
      ...criteria,
      baseline: { kind: 'measure', configuration: 'baseline', seeds: 2 },
      seedsPerTrial: 2,
      // The proposed idea is the only search trial.
      budgets: { maxTrials: 1, concurrency: 2, maxWallSeconds: 1800 },
      verification: { topK: 1, seeds: 2 },
    },
    'pruned trial test',
  );
  ({ campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 5,
    paused: true,
  }));
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  const initial = def.code.initialSource['initial_program.py'] as string;
  const START = '# EVOLVE-BLOCK-START\n';
  const onePerBin =
    initial.slice(0, initial.indexOf(START) + START.length) +
    'def pack(sizes, capacity, options):\n    return list(range(len(sizes)))\n\n\n' +
    initial.slice(initial.indexOf('# EVOLVE-BLOCK-END'));
  const patch = path.join(await mkdtemp(path.join(os.tmpdir(), 'gaplab-propose-')), 'one.diff');
  await writeFile(
    patch,
    diffSnapshots(def.code.initialSource, { 'initial_program.py': onePerBin }),
  );
  await promisify(execFile)(
    process.execPath,
    [
      path.join(import.meta.dirname, '..', 'bin', 'gaplab.mjs'),
      'propose',
      campaignId,
      '--patch',
      patch,
      '--title',
      'one item per bin',
    ],
    { env: { ...process.env, GAPLAB_URL: address, GAPLAB_TOKEN: TOKENS.pi } },
  );
  await env.service.resume(pi, campaignId);
  report = await env.service.result(campaignId);
}, 900_000);

afterAll(async () => {
  await app?.close();
  await env?.close();
});

describe('a trial a cascade stage stopped', () => {
  it('is recorded, shown and reported as pruned at stage 1, never as a failure or the best', async () => {
    const { trials } = await env.service.trials(campaignId, { limit: 100 });
    const t = trials.find((x) => x.title === 'one item per bin' && x.kind === 'search');
    expect(t, JSON.stringify(report.dropped)).toBeDefined();
    expect(t!.status, t!.failureReason ?? '').toBe('pruned');
    expect(t!.pruned?.stage).toBe(1);
    expect(t!.pruned!.score).toBeLessThan(0.6);
    expect(t!.failureReason ?? null).toBeNull();
    expect(t!.metrics).toMatchObject({ pruned: 1, cascade_stage: 1 });

    const run = await env.mlflow.getRun(t!.mlflowRunId!);
    expect(run.info.status).toBe('FINISHED');
    expect(run.data.tags[TAG.status]).toBe('pruned');
    expect(run.data.tags[TAG.prunedStage]).toBe('1');
    expect(Number(run.data.tags[TAG.prunedScore])).toBeCloseTo(t!.pruned!.score!, 12);

    const table = await app.inject({
      url: `/api/campaigns/${campaignId}/table?filter=${encodeURIComponent('status = pruned')}`,
      headers: { authorization: `Bearer ${TOKENS.researcher}` },
    });
    expect(table.statusCode, table.body).toBe(200);
    const rows = (table.json() as { rows: Record<string, unknown>[] }).rows;
    expect(rows.map((r) => r['id'])).toEqual([t!.id]);
    expect(rows[0]!['pruned']).toMatch(/^pruned at stage 1 \(score 0\.\d{3}\)$/);

    // What the trial page and the campaign page's trial table read.
    const auth = { authorization: `Bearer ${TOKENS.researcher}` };
    const page = await app.inject({
      url: `/api/campaigns/${campaignId}/trials/${t!.id}`,
      headers: auth,
    });
    expect(page.statusCode, page.body).toBe(200);
    const detail = page.json() as {
      trial: unknown;
      seeds: { status: string; pruned?: { stage: number } }[];
    };
    expect(detail.trial).toMatchObject({ status: 'pruned', pruned: t!.pruned });
    expect(detail.seeds.map((x) => [x.status, x.pruned?.stage])).toEqual([
      ['pruned', 1],
      ['pruned', 1],
    ]);
    const lineage = await app.inject({
      url: `/api/campaigns/${campaignId}/lineage`,
      headers: auth,
    });
    expect(lineage.statusCode, lineage.body).toBe(200);
    const node = (lineage.json() as { nodes: { id: string }[] }).nodes.find((n) => n.id === t!.id);
    expect(node).toMatchObject({ status: 'pruned', pruned: t!.pruned });

    expect(report.trials).toMatchObject({ total: 1, succeeded: 0, failed: 0, pruned: 1 });
    expect(report.best).toBeNull();
    expect(report.verification).toEqual([]);
    expect(report.failures?.failedTrials ?? 0).toBe(0);
    expect(renderReportMarkdown(report)).toContain('1 pruned by the cascade');
  });
});
