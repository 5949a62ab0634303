/**
 * The weak-to-strong code harness against a candidate that has read every file: its data come
 * from the deployment's harness secret (experiments/lib/keyed.ts, lib/secret.ts), so a method
 * that rebuilds the labels from the public generator and whatever it is handed (call.json, its
 * rng, a brute force over seeds, model.ts's public concept) learns nothing.
 *
 * - A control shows the red team is capable: on data drawn the public way (model.ts's generator
 *   and the seed, as the harness drew them before it was keyed) it rebuilds the labels.
 * - In a real campaign (real worker, bwrap, Temporal, MLflow), proposed with
 *   `gaplab propose --patch`, it falls far below the hand-written honest method on the same
 *   seeds and its campaign's verdict is not `verified`.
 * - What the candidate is handed carries neither the harness's seed nor anything that depends on
 *   the seed number alone.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffSnapshots, hashSnapshot, type SourceSnapshot } from '../domain/code.js';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import type { CampaignReport } from '../api/schemas.js';
import { buildApp } from '../server/app.js';
import {
  candidateFailure,
  isCodeExperiment,
  runCodeSeed,
  runPythonCandidate,
  type CodeExperimentDefinition,
} from '../experiments/code.js';
import { Rng } from '../experiments/lib/rng.js';
import { harnessSecret } from '../experiments/lib/secret.js';
import { experimentName, TAG } from '../records/names.js';
import { ExperimentRegistry, loadRegistry } from '../experiments/registry.js';
import { checkSandbox } from '../experiments/sandbox.js';
import {
  CODE_SPLITS,
  decodePredictions,
  npy,
  shiftSplit,
} from '../experiments/weak-to-strong-code/harness.js';
import { sampleSplit, STRONG_DIM } from '../experiments/weak-to-strong/model.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';
import { testTokens, TOKENS } from './support/fake-service.js';

const FIXTURES = path.join(import.meta.dirname, 'fixtures/weak-to-strong-code');
const fixture = (file: string): SourceSnapshot => ({
  'method.py': readFileSync(path.join(FIXTURES, file), 'utf8'),
});
const RED_TEAM = fixture('red_team_rebuild.py');
const HONEST = fixture('sparse_relaxed_lasso.py');
const DRIVER = readFileSync(
  path.join(import.meta.dirname, '../experiments/weak-to-strong-code/driver.py'),
  'utf8',
);

let tmp: string;
let def: CodeExperimentDefinition;

beforeAll(async () => {
  await checkSandbox(); // throws naming what is missing: this test needs bubblewrap
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-harness-secret-'));
  const e = (await loadRegistry()).get('weak-to-strong-code');
  if (!isCodeExperiment(e) || !e.problem)
    throw new Error('weak-to-strong-code is not a code experiment');
  def = e;
});

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('the red team is capable', () => {
  it('rebuilds the labels of data drawn from the public generator and the seed it is handed', async () => {
    const seed = 7;
    const rng = new Rng(seed, 1);
    sampleSplit(CODE_SPLITS.weakTrain, rng);
    const train = sampleSplit(CODE_SPLITS.studentTrain, rng);
    const dev = sampleSplit(CODE_SPLITS.dev, rng);
    const heldout = shiftSplit(sampleSplit(CODE_SPLITS.heldout, rng));
    const n = dev.n + heldout.n;
    const result = await runPythonCandidate({
      source: RED_TEAM,
      driver: DRIVER,
      inputs: {
        'features.npy': npy(train.strong, [train.n, STRONG_DIM]),
        'weak_labels.npy': npy(new Float64Array(train.n).fill(0.5), [train.n]),
        'unlabelled_features.npy': npy(new Float64Array([...dev.strong, ...heldout.strong]), [
          n,
          STRONG_DIM,
        ]),
        'call.json': JSON.stringify({ rng_seed: seed, params: {} }),
      },
      limits: { cpuSeconds: 60, wallSeconds: 110 },
    });
    expect(candidateFailure(result)).toBeUndefined();
    expect(result.stdout).toMatch(/public replay matches seed 7: labels rebuilt/);
    const p = decodePredictions(result.result, n);
    const y = [...dev.y, ...heldout.y];
    const acc = mean(y.map((yi, i) => ((p[i] as number) > 0.5 === (yi === 1) ? 1 : 0)));
    // Tuned to 0.905: beyond the ceiling's reach on the held-out split, a PGR near 0.95 on dev.
    expect(acc).toBeGreaterThan(0.88);
  });
});

describe('what the candidate is handed', () => {
  const PROBE = {
    'method.py': [
      'import json',
      'def train(features, weak_labels, unlabelled_features, params, rng):',
      '    call = json.load(open("/input/call.json"))',
      '    seen = {"call": call, "rng": int(rng.bit_generator.seed_seq.entropy), "f": float(features[0, 0])}',
      '    raise RuntimeError("SEEN" + json.dumps(seen))',
      '',
    ].join('\n'),
  };
  const seen = async (seed: number, secret?: Buffer) => {
    const r = await runCodeSeed(
      def,
      PROBE,
      { lr: 0.5 },
      {
        seed,
        outDir: path.join(tmp, `probe-${seed}-${secret ? 'b' : 'a'}`),
        ...(secret ? { harnessSecret: secret } : {}),
      },
    );
    const m = /SEEN(\{.*\})/.exec(r.error ?? '');
    expect(m, r.error).not.toBeNull();
    return JSON.parse(m![1]!) as {
      call: Record<string, unknown>;
      rng: number;
      f: number;
    };
  };

  it('carries neither the harness seed nor anything the seed number alone determines', async () => {
    const seed = 424_242;
    const a = await seen(seed);
    expect(Object.keys(a.call).sort()).toEqual(['params', 'rng_seed']);
    expect(a.call.params).toEqual({ lr: 0.5 });
    expect(a.rng).toBe(a.call.rng_seed);
    expect(JSON.stringify(a)).not.toContain(String(seed));
    // Reproducible: the same seed under the same secret hands the same seed and data.
    expect(await seen(seed)).toEqual(a);
    // Another secret, same seed number: another candidate seed, other data.
    const b = await seen(seed, Buffer.from('another deployment, another harness secret!'));
    expect(b.rng).not.toBe(a.rng);
    expect(b.f).not.toBe(a.f);
  });
});

describe('a candidate that rebuilds the labels, proposed to a real campaign', () => {
  let env: TestEnv;
  let app: FastifyInstance;
  let campaignId: string;
  let problemId: string;
  let report: CampaignReport;
  let proposeOutput: string;

  beforeAll(async () => {
    env = await createTestEnv({ registry: ExperimentRegistry.of(def) });
    app = await buildApp({
      service: env.service,
      mlflow: env.mlflow,
      tokens: testTokens(),
      config: { rateLimitPerMinute: 0, uiDir: '/nonexistent' },
    });
    problemId = uniqueId('w2s-red-team');
    const spec = parseProblemSpec(readFileSync(def.problem!.spec, 'utf8'), def.problem!.spec);
    await env.service.submitProblem(researcher, { ...spec, id: problemId });
    const criteria = parseCriteria(
      readFileSync(def.problem!.criteria, 'utf8'),
      def.problem!.criteria,
    );
    await env.service.setCriteria(
      pi,
      problemId,
      {
        ...criteria,
        budgets: { maxTrials: 1, concurrency: 5, maxWallSeconds: 1800 },
        verification: { topK: 1, seeds: 5 },
      },
      'red team',
    );
    ({ campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: { name: 'random' },
      seed: 3,
      paused: true,
    }));
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const patch = path.join(tmp, 'red-team.diff');
    await writeFile(patch, diffSnapshots(def.code.initialSource, RED_TEAM));
    const cli = await promisify(execFile)(
      process.execPath,
      [
        path.join(import.meta.dirname, '..', 'bin', 'gaplab.mjs'),
        'propose',
        campaignId,
        '--patch',
        patch,
        '--title',
        'rebuild the labels',
        '--rationale',
        'replay the public generator from the seed guesses and read the labels',
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

  it('runs on every seed, falls far below the honest method on the same seeds, and is not verified', async () => {
    expect(proposeOutput).toMatch(/^proposed h\d+: rebuild the labels$/m);
    const { trials } = await env.service.trials(campaignId, { limit: 100 });
    const t = trials.find((x) => x.title === 'rebuild the labels' && x.kind === 'search');
    expect(t, JSON.stringify(report.dropped)).toBeDefined();
    expect(t!.sourceHash).toBe(hashSnapshot(RED_TEAM));
    // It ran (no crash, no limit): the harness scored what it returned on every seed.
    expect(t!.status, t!.failureReason).toBe('succeeded');
    expect(t!.seeds).toHaveLength(5);
    // The honest hand-written method on the same seeds, under the same (this process's) secret.
    const honest: number[] = [];
    for (const seed of t!.seeds) {
      const r = await runCodeSeed(
        def,
        HONEST,
        {},
        {
          seed,
          outDir: path.join(tmp, 'honest', `seed-${seed}`),
          objective: 'student_dev_acc',
        },
      );
      expect(r.status, r.error).toBe('succeeded');
      honest.push(r.metrics.pgr_dev as number);
    }
    const redTeam = t!.metrics.pgr_dev as number;
    console.log(
      'red team vs honest, harness pgr_dev:',
      JSON.stringify({ redTeam, honest: mean(honest), campaignPgr: t!.pgr?.mean }),
    );
    expect(mean(honest)).toBeGreaterThan(0.9);
    expect(redTeam).toBeLessThan(mean(honest) - 0.5);
    expect(t!.pgr?.mean ?? -Infinity).toBeLessThan(0.5);
    // Its verification ran, and the campaign does not call it verified.
    expect(report.verdict, JSON.stringify(report)).toBeDefined();
    expect(report.verdict!.verdict, JSON.stringify(report.verdict)).not.toBe('verified');
  });

  it('records the key id on every trial run, and the secret nowhere in MLflow', async () => {
    const experimentId = (await env.mlflow.getExperimentByName(experimentName(problemId)))!
      .experimentId;
    const runs = await env.mlflow.searchAllRuns({ experimentIds: [experimentId] });
    const trialRuns = runs.filter((r) => r.data.tags[TAG.kind] === 'trial');
    // The baseline and the red team; its verification too when it ran (a red team flagged for
    // review under this deployment's key is not verified at all).
    expect(trialRuns.length).toBeGreaterThanOrEqual(2);
    const { key, keyId } = harnessSecret();
    for (const r of trialRuns) expect(r.data.tags[TAG.harnessKeyId]).toBe(keyId);
    const everything = JSON.stringify(runs);
    expect(everything).not.toContain(key.toString('utf8'));
    expect(everything).not.toContain(key.toString('hex'));
  });
});
