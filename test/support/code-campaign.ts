/**
 * A campaign on a built-in code problem with one idea proposed by a person through the CLI,
 * `gaplab propose --patch`, on the real services (Temporal, MLflow, a worker, bwrap): the problem's
 * spec and criteria are submitted as shipped, with a budget of one search trial (the proposed
 * idea), and the campaign runs to its result.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import type { CampaignReport } from '../../api/schemas.js';
import { diffSnapshots, type SourceSnapshot } from '../../domain/code.js';
import { parseCriteria, parseProblemSpec } from '../../domain/parse.js';
import type { EvaluationCriteria } from '../../domain/schemas.js';
import { isCodeExperiment, type CodeExperimentDefinition } from '../../experiments/code.js';
import { ExperimentRegistry, loadRegistry } from '../../experiments/registry.js';
import { checkSandbox } from '../../experiments/sandbox.js';
import { buildApp } from '../../server/app.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './env.js';
import { testTokens, TOKENS } from './fake-service.js';

export interface ProposedPatchCampaign {
  env: TestEnv;
  def: CodeExperimentDefinition;
  campaignId: string;
  /** What `gaplab propose` printed (stdout and stderr). */
  proposeOutput: string;
  report: CampaignReport;
  close(): Promise<void>;
}

/**
 * Runs the campaign: `source` (the proposed method, whole files) is sent as a unified diff
 * against the starting source with `gaplab propose <campaign> --patch <file> --title <title>`
 * while the campaign is paused; then it resumes and runs to its result. The shipped criteria
 * get a budget of one search trial and a verification of the top trial on 5 fresh seeds;
 * `criteria` overrides any of them.
 */
export async function runProposedPatchCampaign(opts: {
  experiment: string;
  source: SourceSnapshot;
  title: string;
  criteria?: Partial<EvaluationCriteria>;
}): Promise<ProposedPatchCampaign> {
  await checkSandbox(); // throws naming what is missing: these campaigns need bubblewrap
  const e = (await loadRegistry()).get(opts.experiment);
  if (!isCodeExperiment(e) || !e.problem)
    throw new Error(`${opts.experiment} is not a code experiment with a problem`);
  const env = await createTestEnv({ registry: ExperimentRegistry.of(e) });
  let app: FastifyInstance | undefined;
  const close = async () => {
    await app?.close();
    await env.close();
  };
  try {
    app = await buildApp({
      service: env.service,
      mlflow: env.mlflow,
      tokens: testTokens(),
      config: { rateLimitPerMinute: 0, uiDir: '/nonexistent' },
    });
    const problemId = uniqueId(opts.experiment);
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
        ...opts.criteria,
      },
      `${opts.experiment} test`,
    );
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      seed: 5,
      paused: true,
    });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const patch = path.join(await mkdtemp(path.join(os.tmpdir(), 'gaplab-propose-')), 'idea.diff');
    await writeFile(patch, diffSnapshots(e.code.initialSource, opts.source));
    const cli = await promisify(execFile)(
      process.execPath,
      [
        path.join(import.meta.dirname, '..', '..', 'bin', 'gaplab.mjs'),
        'propose',
        campaignId,
        '--patch',
        patch,
        '--title',
        opts.title,
      ],
      { env: { ...process.env, GAPLAB_URL: address, GAPLAB_TOKEN: TOKENS.pi } },
    );
    await env.service.resume(pi, campaignId);
    const report = await env.service.result(campaignId);
    return {
      env,
      def: e,
      campaignId,
      proposeOutput: `${cli.stdout}${cli.stderr}`,
      report,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
