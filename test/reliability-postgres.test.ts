/**
 * PostgreSQL as a real option: MLflow on a PostgreSQL cluster of its own stack (own ports and
 * folder under the state folder), a campaign recorded into it through the shared Temporal.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TAG, experimentName } from '../records/names.js';
import { Stack } from '../stack/index.js';
import { findPostgres } from '../stack/install.js';
import { STATE_DIR } from '../stack/paths.js';
import { PostgresCluster } from '../stack/postgres.js';
import { freePort } from '../stack/process.js';
import { quadraticCriteria, quadraticSpec, testRegistry } from './support/quadratic.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';

const pgBin = await findPostgres();
let stack: Stack;
let env: TestEnv | undefined;

function clusterOf(s: Stack): PostgresCluster {
  return new PostgresCluster({
    dir: path.join(s.dir, 'postgres'),
    host: s.host,
    port: s.postgresPort,
    binDir: pgBin!,
  });
}

beforeAll(async () => {
  if (!pgBin) return;
  stack = new Stack({
    dir: path.join(STATE_DIR, `reliability-postgres-${process.pid}`),
    temporalPort: await freePort(),
    mlflowPort: await freePort(),
    postgresPort: await freePort(),
    postgres: true,
  });
  await stack.upMlflow();
  // This stack's MLflow has users of its own: its service account, not the shared stack's
  // (which the suite's setup may have put in the environment), records the campaign.
  const service = stack.mlflowCredentials();
  if (service) {
    process.env.MLFLOW_TRACKING_USERNAME = service.username;
    process.env.MLFLOW_TRACKING_PASSWORD = service.password;
  }
}, 300_000);
afterAll(async () => {
  await env?.close();
  if (stack) {
    await stack.down();
    // A root run from a folder the postgres user cannot reach keeps the cluster elsewhere.
    if (pgBin) fs.rmSync(clusterOf(stack).location, { recursive: true, force: true });
    fs.rmSync(stack.dir, { recursive: true, force: true });
  }
});

describe.skipIf(!pgBin)('MLflow on PostgreSQL (skipped when PostgreSQL is not installed)', () => {
  it('records a campaign into PostgreSQL: every trial once, no SQLite file', async () => {
    env = await createTestEnv({ registry: testRegistry(), mlflowUri: stack.mlflowUri });
    const problemId = uniqueId('pg');
    await env.service.submitProblem(researcher, { ...quadraticSpec, id: problemId });
    await env.service.setCriteria(pi, problemId, {
      ...quadraticCriteria,
      budgets: { maxTrials: 6, concurrency: 3 },
      verification: { topK: 1, seeds: 2 },
    });
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      seed: 2,
    });
    const report = await env.service.result(campaignId);
    expect(report.trials.total).toBe(6);

    const exp = (await env.mlflow.getExperimentByName(experimentName(problemId)))!;
    const runs = await env.mlflow.searchAllRuns({ experimentIds: [exp.experimentId] });
    const trialIds = runs
      .filter((r) => r.data.tags[TAG.kind] === 'trial')
      .map((r) => r.data.tags[TAG.trialId]);
    expect(new Set(trialIds).size).toBe(trialIds.length);
    expect(trialIds.length).toBeGreaterThanOrEqual(6);

    // The runs are rows in PostgreSQL, and MLflow wrote no SQLite database.
    const cluster = clusterOf(stack);
    const count = execFileSync(
      'psql',
      [
        '-h',
        stack.host,
        '-p',
        String(stack.postgresPort),
        '-U',
        'gaplab',
        '-d',
        'mlflow',
        '-tAc',
        `select count(*) from runs where experiment_id = ${Number(exp.experimentId)}`,
      ],
      { env: { ...process.env, PGPASSWORD: cluster.password() }, encoding: 'utf8' },
    );
    expect(Number(count.trim())).toBe(runs.length);
    expect(fs.existsSync(path.join(stack.dir, 'data', 'mlflow.db'))).toBe(false);
  });
});
