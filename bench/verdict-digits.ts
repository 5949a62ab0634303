/**
 * Review flags and the best's interval on the shipped sklearn-digits problem, before and after
 * the statistics an adversary cannot move: one real campaign (Optuna TPE, the shipped problem
 * and criteria, a real worker on Temporal and MLflow), then every search trial's seed results
 * (its MLflow `trial.json`) scored twice on the same data:
 *
 * - before: the hidden-gap flag on the point estimate, the pooled standard-error floor over every
 *   succeeded search trial (flagged ones included);
 * - after: the hidden-gap flag on its interval (paired with the baseline per seed), the floor over
 *   eligible trials only (what the campaign itself now does).
 *
 *     TEMPORAL_ADDRESS=127.0.0.1:7233 MLFLOW_TRACKING_URI=http://127.0.0.1:5050 \
 *       npx tsx bench/verdict-digits.ts [--trials 20] [--seed 11] [--write]
 *
 * `--write` replaces its section of bench/RESULTS.md. Flags from verification (fresh seeds) are
 * not part of either column: both score the search trials only.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { formatEstimate } from '../domain/format.js';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import { trialPgr, type PairedBaseline } from '../domain/pgr.js';
import type { Estimate, EvaluationCriteria, SeedResult } from '../domain/schemas.js';
import { scoreTrial, type PerSeedValues } from '../domain/scoring.js';
import { pooledVariance } from '../domain/stats.js';
import { trustState } from '../domain/trust.js';
import { loadRegistry } from '../experiments/registry.js';
import { MlflowClient } from '../mlflow-ts-client/index.js';
import { GaplabService } from '../server/service.js';
import { startWorker } from '../worker/index.js';
import { dataConverter } from '../temporal/data-converter.js';
import type { TrialSummary } from '../workflows/types.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_MD = path.join(ROOT, 'bench/RESULTS.md');
const SECTION_START =
  '<!-- verdict-digits: written by `npx tsx bench/verdict-digits.ts --write` -->';
const SECTION_END = '<!-- /verdict-digits -->';
const actor = { name: 'bench', role: 'pi' as const };

interface Scored {
  id: string;
  flags: string[];
  pgr: Estimate | null;
  eligible: boolean;
}

/** Scores every search trial under one set of rules. */
function scoreAll(
  rules: 'before' | 'after',
  trials: { t: TrialSummary; seeds: SeedResult[] }[],
  criteria: EvaluationCriteria,
  baseline: {
    mean: number;
    stderr: number;
    n: number;
    metrics: Record<string, number>;
    bySeed: PerSeedValues;
  },
  optimum: number,
): Scored[] {
  const after = rules === 'after';
  const flagged = trials.map(({ t, seeds }) => {
    const s = scoreTrial({
      seeds,
      criteria,
      baselineScore: baseline,
      optimumScore: optimum,
      baselineMetricMeans: baseline.metrics,
      ...(after ? { baselineBySeed: baseline.bySeed } : {}),
      options: { hiddenGapInterval: after },
    });
    return { t, seeds, s };
  });
  const map = new Map<number, number>();
  const vals = baseline.bySeed.values[criteria.metric] ?? [];
  baseline.bySeed.seeds.forEach((seed, i) => {
    const v = vals[i];
    if (typeof v === 'number') map.set(seed, v);
  });
  const paired: PairedBaseline = { ...baseline, bySeed: map };
  const scoresOf = (t: TrialSummary, seeds: SeedResult[]) =>
    t.seeds.map((seed) => {
      const r = seeds.find((x) => x.seed === seed);
      const v = r?.status === 'succeeded' ? r.metrics[criteria.metric] : undefined;
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    });
  const perSeed = (x: (typeof flagged)[number]) =>
    trialPgr({
      seeds: x.t.seeds,
      scores: scoresOf(x.t, x.seeds),
      baseline: paired,
      optimum,
      confidence: criteria.confidence,
      oneSeedReferenceUnbounded: after,
    }).perSeed;
  const ok = flagged.filter((x) => x.s.status === 'succeeded');
  const pool = after ? ok.filter((x) => x.s.feasible && trustState(x.s.flags) === 'eligible') : ok;
  const floor = pooledVariance(pool.map(perSeed));
  return flagged.map((x) => {
    const pgr =
      x.s.status === 'succeeded'
        ? trialPgr({
            seeds: x.t.seeds,
            scores: scoresOf(x.t, x.seeds),
            baseline: paired,
            optimum,
            confidence: criteria.confidence,
            floor,
            oneSeedReferenceUnbounded: after,
          }).estimate
        : null;
    return {
      id: x.t.id,
      flags: x.s.flags.map((f) => f.kind),
      pgr,
      eligible: x.s.status === 'succeeded' && x.s.feasible && trustState(x.s.flags) === 'eligible',
    };
  });
}

function best(scored: Scored[]): Scored | null {
  let b: Scored | null = null;
  for (const s of scored) if (s.eligible && s.pgr && (!b || s.pgr.ciLow > b.pgr!.ciLow)) b = s;
  return b;
}

/**
 * Replaces (or appends) this benchmark's section of RESULTS.md and keeps it in
 * bench/results/verdict-digits.standalone.md, which `npm run bench` appends when it renders
 * RESULTS.md (bench/report.ts).
 */
function writeSection(section: string): void {
  const md = readFileSync(RESULTS_MD, 'utf8');
  const a = md.indexOf(SECTION_START);
  const z = md.indexOf(SECTION_END);
  const next =
    a >= 0 && z > a
      ? md.slice(0, a) + section + md.slice(z + SECTION_END.length)
      : `${md.trimEnd()}\n\n${section}\n`;
  writeFileSync(RESULTS_MD, next);
  writeFileSync(path.join(ROOT, 'bench/results/verdict-digits.standalone.md'), `${section}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      trials: { type: 'string', default: '20' },
      seed: { type: 'string', default: '11' },
      write: { type: 'boolean', default: false },
    },
  });
  const temporalAddress = process.env.TEMPORAL_ADDRESS;
  const mlflowUri = process.env.MLFLOW_TRACKING_URI;
  if (!temporalAddress || !mlflowUri)
    throw new Error('set TEMPORAL_ADDRESS and MLFLOW_TRACKING_URI (a running gaplab stack)');
  const started = Date.now();
  const registry = await loadRegistry();
  const taskQueue = `bench-verdict-${process.pid}`;
  const worker = await startWorker({
    temporalAddress,
    mlflowUri,
    taskQueue,
    registry,
    workDir: path.join(os.tmpdir(), 'gaplab-bench-verdict', taskQueue),
    shutdownGraceSeconds: 1,
  });
  const connection = await Connection.connect({ address: temporalAddress });
  const client = new Client({ connection, namespace: 'default', dataConverter });
  const service = new GaplabService({ client, registry, taskQueue });
  const mlflow = new MlflowClient({ trackingUri: mlflowUri });
  try {
    const dir = path.join(ROOT, 'experiments/sklearn-digits');
    const specFile = path.join(dir, 'problem.yaml');
    const criteriaFile = path.join(dir, 'criteria.yaml');
    const spec = parseProblemSpec(readFileSync(specFile, 'utf8'), specFile);
    const shipped = parseCriteria(readFileSync(criteriaFile, 'utf8'), criteriaFile);
    const problemId = `sklearn-digits-bench-${Date.now().toString(36)}`;
    await service.submitProblem(actor, { ...spec, id: problemId });
    const trialsBudget = Number(values.trials);
    await service.setCriteria(
      actor,
      problemId,
      { ...shipped, budgets: { ...shipped.budgets, maxTrials: trialsBudget } },
      'verdict bench',
    );
    const { campaignId } = await service.startCampaign(actor, {
      problemId,
      strategy: { name: 'optuna', settings: { sampler: 'tpe' } },
      seed: Number(values.seed),
    });
    const report = await service.result(campaignId);
    const { trials } = await service.trials(campaignId, { limit: 100_000 });
    const criteria = (await service.getProblem(problemId)).criteria.at(-1)!.criteria;
    const withSeeds = async (t: TrialSummary) => {
      const text = await mlflow.downloadArtifactText(t.mlflowRunId!, 'trial.json');
      return { t, seeds: (JSON.parse(text) as { seeds: SeedResult[] }).seeds };
    };
    const search = await Promise.all(
      trials.filter((t) => t.kind === 'search' && t.mlflowRunId).map(withSeeds),
    );
    const base = await withSeeds(trials.find((t) => t.id === 'baseline')!);
    const bySeed: PerSeedValues = {
      seeds: base.seeds.map((s) => s.seed),
      values: Object.fromEntries(
        [criteria.metric, ...criteria.hiddenMetrics].map((m) => [
          m,
          base.seeds.map((s) =>
            s.status === 'succeeded' && Number.isFinite(s.metrics[m]) ? s.metrics[m]! : null,
          ),
        ]),
      ),
    };
    const baseline = {
      mean: base.t.objective!.mean,
      stderr: base.t.objective!.stderr,
      n: base.t.objective!.n,
      metrics: base.t.metrics,
      bySeed,
    };
    const optimum = report.optimumScore!;
    const rows = (['before', 'after'] as const).map((rules) => {
      const scored = scoreAll(rules, search, criteria, baseline, optimum);
      const held = scored.filter((s) => s.flags.length > 0);
      const hidden = held.filter((s) => s.flags.includes('hidden_gap'));
      const b = best(scored);
      return { rules, n: scored.length, held: held.length, hidden: hidden.length, b, scored };
    });
    // The best of "after", under each rule set: its interval moved only by the rules.
    const afterBest = rows[1]!.b;
    const sameTrial = (rules: 'before' | 'after') =>
      rows.find((r) => r.rules === rules)!.scored.find((s) => s.id === afterBest?.id)?.pgr ?? null;
    const lines = [
      SECTION_START,
      '## Verdict statistics on sklearn-digits (Optuna TPE)',
      '',
      `_run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${((Date.now() - started) / 1000).toFixed(0)} s; ${os.cpus().length}x ${os.cpus()[0]?.model ?? 'cpu'}; campaign ${campaignId}, seed ${values.seed}, ${trialsBudget} trials, the shipped problem and criteria_`,
      '',
      '    TEMPORAL_ADDRESS=... MLFLOW_TRACKING_URI=... npx tsx bench/verdict-digits.ts --trials 20 --write',
      '',
      "The same seed results (each search trial's MLflow `trial.json`) scored with the rules before and after the change; verification flags are left out of both.",
      '',
      "| rules | search trials | held for review | of them hidden_gap | best | best's PGR | same trial's PGR |",
      '| --- | ---: | ---: | ---: | --- | --- | --- |',
      ...rows.map(
        (r) =>
          `| ${r.rules} | ${r.n} | ${r.held} | ${r.hidden} | ${r.b?.id ?? '—'} | ${formatEstimate(r.b?.pgr)} | ${afterBest ? `${afterBest.id}: ${formatEstimate(sameTrial(r.rules))}` : '—'} |`,
      ),
      '',
      `The live campaign (after): ${report.underReview?.length ?? 0} search trial(s) under review at its end (verification flags included), best ${report.best?.id ?? '—'} ${formatEstimate(report.best?.pgr)}, verdict: ${report.verdict?.label ?? report.verdict?.verdict ?? '—'}.`,
      SECTION_END,
    ];
    const section = lines.join('\n');
    console.log(section);
    console.log(
      JSON.stringify(
        rows.map((r) => ({
          rules: r.rules,
          held: r.scored.filter((s) => s.flags.length).map((s) => ({ id: s.id, flags: s.flags })),
        })),
      ),
    );
    if (values.write) writeSection(section);
  } finally {
    await worker.shutdown();
    await connection.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
