/**
 * What MLflow's authentication and the hidden record cost the recording of trials: trial records
 * per second through the recording activity (recordTrials, RECORD_PARALLEL lanes) against a fresh
 * MLflow of the stack's own, without auth, with auth, and with auth and a hidden metric (a second
 * run per trial in the campaign's hidden experiment). Prints a markdown table.
 *
 *     npx tsx bench/mlflow-auth.ts [--trials 200] [--port 35050] [--write]
 *
 * `--write` keeps the table in bench/results/mlflow-auth.standalone.md (bench/RESULTS.md shows it).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createRecordingActivities } from '../activities/recording.js';
import type { Trial } from '../domain/schemas.js';
import { MlflowClient } from '../mlflow-ts-client/index.js';
import { Stack } from '../stack/index.js';
import { PROJECT_ROOT, STATE_DIR } from '../stack/paths.js';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '200' },
    port: { type: 'string', default: '35050' },
    write: { type: 'boolean', default: false },
  },
});
const TRIALS = Number(values.trials);
const PORT = Number(values.port);

function trial(i: number): Trial {
  const t = new Date().toISOString();
  return {
    id: `t${String(i).padStart(4, '0')}`,
    index: i,
    hypothesisId: `h${i}`,
    kind: 'search',
    parentTrialId: 'baseline',
    title: `trial ${i}`,
    rationale: 'bench',
    author: { kind: 'strategy', name: 'random' },
    params: { x: i / TRIALS, y: -1 },
    changes: { x: i / TRIALS },
    seeds: [1, 2],
    status: 'succeeded',
    metrics: { score: 8 + i / TRIALS, heldout: 7.9 + i / TRIALS },
    objective: { mean: 8, stderr: 0.1, n: 2, ciLow: 7.8, ciHigh: 8.2 },
    pgr: { mean: 0.5, stderr: 0.05, n: 2, ciLow: 0.4, ciHigh: 0.6 },
    feasible: true,
    flags: [],
    trust: 'eligible',
    computeSeconds: 2,
    startedAt: t,
    finishedAt: t,
  };
}

const seeds = [1, 2].map((seed) => ({
  seed,
  status: 'succeeded' as const,
  metrics: { score: 8, heldout: 7.9 },
  durationSeconds: 1,
  logTail: `seed ${seed} done`,
}));

async function measure(auth: boolean, hidden: boolean): Promise<number> {
  const dir = path.join(STATE_DIR, `bench-mlflow-auth-${auth ? 'on' : 'off'}`);
  const stack = new Stack({ dir, mlflowPort: PORT, temporalPort: 1, mlflowAuth: auth });
  await stack.down();
  fs.rmSync(path.join(dir, 'data'), { recursive: true, force: true });
  await stack.upMlflow();
  try {
    const mlflow = new MlflowClient({
      trackingUri: stack.mlflowUri,
      credentials: stack.mlflowCredentials() ?? null,
    });
    const rec = createRecordingActivities({ mlflow });
    const campaignId = `bench-${auth}-${hidden}`;
    const experimentId = await mlflow.getOrCreateExperiment(`gaplab/${campaignId}`);
    const parent = await mlflow.createRun({ experimentId, runName: campaignId });
    const t0 = performance.now();
    for (let i = 0; i < TRIALS; i += 20)
      await rec.recordTrials({
        campaignId,
        problemId: campaignId,
        experimentId,
        parentRunId: parent.info.runId,
        hiddenMetrics: hidden ? ['heldout'] : [],
        items: Array.from({ length: Math.min(20, TRIALS - i) }, (_, k) => ({
          trial: trial(i + k),
          seeds,
        })),
      });
    return TRIALS / ((performance.now() - t0) / 1000);
  } finally {
    await stack.down();
  }
}

const rows: string[] = [];
for (const [auth, hidden] of [
  [false, false],
  [true, false],
  [true, true],
] as const) {
  const rate = await measure(auth, hidden);
  rows.push(
    `| ${auth ? 'on' : 'off'} | ${hidden ? 'yes' : 'no'} | ${TRIALS} | ${rate.toFixed(1)} |`,
  );
  console.log(rows.at(-1));
}
const section = [
  '<!-- mlflow-auth: written by `npx tsx bench/mlflow-auth.ts --write` -->',
  '',
  "## MLflow's authentication and the hidden record",
  '',
  `_${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)} at the end; \`npx tsx bench/mlflow-auth.ts --trials ${TRIALS} --write\`_`,
  '',
  "Trial records per second through the recording activity (recordTrials, 20 trials a call, 4 in parallel, 2 seeds each) on a fresh MLflow of the stack: without authentication, with it (basic auth, per-experiment permissions, the password check cached a minute), and with a hidden metric (a second run per trial in the campaign's hidden experiment).",
  '',
  '| MLflow auth | hidden metric | trials | trial records/s |',
  '| --- | --- | ---: | ---: |',
  ...rows,
  '',
  '<!-- /mlflow-auth -->',
].join('\n');
console.log(section);
if (values.write)
  fs.writeFileSync(
    path.join(PROJECT_ROOT, 'bench/results/mlflow-auth.standalone.md'),
    `${section}\n`,
  );
