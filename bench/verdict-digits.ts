/**
 * Review flags and the best's interval on the shipped sklearn-digits problem under three sets of
 * rules: one real campaign (Optuna TPE, the shipped problem and criteria, a real worker on
 * Temporal and MLflow), then every search trial's seed results (its hidden record's
 * `trial.json`, which has the hidden metric) scored three times on the same data:
 *
 * - point: the hidden-gap flag on the point estimate, the pooled standard-error floor over every
 *   succeeded search trial (flagged ones included), as first shipped;
 * - interval: the hidden-gap flag on its interval (paired with the baseline per seed), the floor
 *   over eligible trials only;
 * - floored: as interval, with the shortfall's per-seed variance floored by the pooled per-seed
 *   PGR variance of the trials finished before it, the pool leaving out trials by visible flags
 *   only and frozen trials (what the campaign itself now does).
 *
 *     TEMPORAL_ADDRESS=127.0.0.1:7233 MLFLOW_TRACKING_URI=http://127.0.0.1:5050 \
 *       npx tsx bench/verdict-digits.ts [--trials 20] [--seed 11] [--write] [--campaign <id>]
 *
 * `--campaign` scores a finished campaign of this benchmark again instead of running one (with
 * `--task-queue`, the queue it ran on, printed below); `--live-before` adds the live counts of a
 * campaign run before the change.
 * `--write` replaces its section of bench/RESULTS.md. Flags from verification (fresh seeds) are
 * not part of any column: they score the search trials only; the live line counts them.
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
import { trustState, visibleFlags } from '../domain/trust.js';
import { hiddenExperimentName, TAG } from '../records/names.js';
import { loadRegistry } from '../experiments/registry.js';
import { MlflowClient } from '../mlflow-ts-client/index.js';
import { GaplabService } from '../server/service.js';
import { startWorker } from '../worker/index.js';
import { dataConverter } from '../temporal/data-converter.js';
import type { CampaignReport, TrialSummary } from '../workflows/types.js';

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

type Rules = 'point' | 'interval' | 'floored';

/** Scores every search trial under one set of rules, in the order they ran. */
function scoreAll(
  rules: Rules,
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
  const strict = rules !== 'point';
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
  const perSeedOf = (t: TrialSummary, seeds: SeedResult[]) =>
    trialPgr({
      seeds: t.seeds,
      scores: scoresOf(t, seeds),
      baseline: paired,
      optimum,
      confidence: criteria.confidence,
      oneSeedReferenceUnbounded: strict,
    }).perSeed;
  // The floored rules' pool as the campaign keeps it: trials eligible on visible data, frozen
  // ones (identical per-seed PGR) left out, in the order the trials ran.
  const pool: number[][] = [];
  const flagged = [...trials]
    .sort((a, b) => a.t.index - b.t.index)
    .map(({ t, seeds }) => {
      const floor = rules === 'floored' ? pooledVariance(pool) : null;
      const s = scoreTrial({
        seeds,
        criteria,
        baselineScore: baseline,
        optimumScore: optimum,
        baselineMetricMeans: baseline.metrics,
        ...(strict ? { baselineBySeed: baseline.bySeed } : {}),
        ...(floor ? { pgrFloor: floor } : {}),
        options: { hiddenGapInterval: strict },
      });
      const per = perSeedOf(t, seeds);
      if (
        s.status === 'succeeded' &&
        s.feasible &&
        trustState(visibleFlags(s.flags)) === 'eligible' &&
        !(per.length >= 2 && per.every((x) => x === per[0]))
      )
        pool.push(per);
      return { t, seeds, s };
    });
  const ok = flagged.filter((x) => x.s.status === 'succeeded');
  const eligible = (x: (typeof flagged)[number]) =>
    x.s.status === 'succeeded' && x.s.feasible && trustState(x.s.flags) === 'eligible';
  const inPool =
    rules === 'point'
      ? ok
      : rules === 'interval'
        ? ok.filter(eligible)
        : ok.filter((x) => {
            const per = perSeedOf(x.t, x.seeds);
            return (
              x.s.feasible &&
              trustState(visibleFlags(x.s.flags)) === 'eligible' &&
              !(per.length >= 2 && per.every((v) => v === per[0]))
            );
          });
  const floor = pooledVariance(inPool.map((x) => perSeedOf(x.t, x.seeds)));
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
            oneSeedReferenceUnbounded: strict,
          }).estimate
        : null;
    return {
      id: x.t.id,
      flags: x.s.flags.map((f) => f.kind),
      pgr,
      eligible: eligible(x),
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

/** A live campaign's own count of trials held for review at its end, verification flags included. */
function liveLine(what: string, campaignId: string, r: CampaignReport): string {
  const held = (r.underReview ?? [])
    .map((u) => `${u.trialId} (${u.flags.map((f) => f.kind).join(', ')})`)
    .join(', ');
  return `${what}: campaign ${campaignId}, ${r.underReview?.length ?? 0} of ${r.trials.total} search trials held for review at its end${held ? `: ${held}` : ''}; best ${r.best?.id ?? '—'} ${formatEstimate(r.best?.pgr)}, verdict: ${r.verdict?.label ?? r.verdict?.verdict ?? '—'}.`;
}

/** One campaign of Optuna TPE on the shipped problem and criteria, `trials` search trials. */
async function runCampaign(service: GaplabService, trials: number, seed: string): Promise<string> {
  const dir = path.join(ROOT, 'experiments/sklearn-digits');
  const specFile = path.join(dir, 'problem.yaml');
  const criteriaFile = path.join(dir, 'criteria.yaml');
  const spec = parseProblemSpec(readFileSync(specFile, 'utf8'), specFile);
  const shipped = parseCriteria(readFileSync(criteriaFile, 'utf8'), criteriaFile);
  const problemId = `sklearn-digits-bench-${Date.now().toString(36)}`;
  await service.submitProblem(actor, { ...spec, id: problemId });
  await service.setCriteria(
    actor,
    problemId,
    { ...shipped, budgets: { ...shipped.budgets, maxTrials: trials } },
    'verdict bench',
  );
  const { campaignId } = await service.startCampaign(actor, {
    problemId,
    strategy: { name: 'optuna', settings: { sampler: 'tpe' } },
    seed: Number(seed),
  });
  return campaignId;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      trials: { type: 'string', default: '20' },
      seed: { type: 'string', default: '11' },
      write: { type: 'boolean', default: false },
      campaign: { type: 'string' },
      'live-before': { type: 'string' },
      /** The task queue the campaigns ran on (a finished workflow is read through a worker of its queue). */
      'task-queue': { type: 'string' },
    },
  });
  const temporalAddress = process.env.TEMPORAL_ADDRESS;
  const mlflowUri = process.env.MLFLOW_TRACKING_URI;
  if (!temporalAddress || !mlflowUri)
    throw new Error('set TEMPORAL_ADDRESS and MLFLOW_TRACKING_URI (a running gaplab stack)');
  const started = Date.now();
  const registry = await loadRegistry();
  const taskQueue = values['task-queue'] ?? `bench-verdict-${process.pid}`;
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
    const trialsBudget = Number(values.trials);
    const campaignId = values.campaign ?? (await runCampaign(service, trialsBudget, values.seed));
    const report = await service.result(campaignId);
    const problemId = report.problem.id;
    const { trials } = await service.trials(campaignId, { limit: 100_000 });
    const criteria = (await service.getProblem(problemId)).criteria.at(-1)!.criteria;
    // The hidden record's trial.json: the trial's own run withholds the hidden metric.
    const withSeeds = async (t: TrialSummary) => {
      const run = await mlflow.getRun(t.mlflowRunId!);
      const text = await mlflow.downloadArtifactText(
        run.data.tags[TAG.hiddenRunId] ?? t.mlflowRunId!,
        'trial.json',
      );
      const seeds = (JSON.parse(text) as { seeds: SeedResult[] }).seeds;
      if (!seeds.some((x) => criteria.hiddenMetrics.some((m) => m in x.metrics)))
        throw new Error(
          `${t.id}: trial.json has no hidden metric (${hiddenExperimentName(campaignId)})`,
        );
      return { t, seeds };
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
    const before = values['live-before'] ? await service.result(values['live-before']) : null;
    const rows = (['point', 'interval', 'floored'] as const).map((rules) => {
      const scored = scoreAll(rules, search, criteria, baseline, optimum);
      const held = scored.filter((s) => s.flags.length > 0);
      const hidden = held.filter((s) => s.flags.includes('hidden_gap'));
      const b = best(scored);
      return { rules, n: scored.length, held: held.length, hidden: hidden.length, b, scored };
    });
    // The best of "floored", under each rule set: its interval moved only by the rules.
    const afterBest = rows[2]!.b;
    const sameTrial = (rules: Rules) =>
      rows.find((r) => r.rules === rules)!.scored.find((s) => s.id === afterBest?.id)?.pgr ?? null;
    const lines = [
      SECTION_START,
      '## Verdict statistics on sklearn-digits (Optuna TPE)',
      '',
      `_run of ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${((Date.now() - started) / 1000).toFixed(0)} s; ${os.cpus().length}x ${os.cpus()[0]?.model ?? 'cpu'}; campaign ${campaignId}, ${report.trials.total} search trials, the shipped problem and criteria_`,
      '',
      '    TEMPORAL_ADDRESS=... MLFLOW_TRACKING_URI=... npx tsx bench/verdict-digits.ts --trials 20 --write',
      '',
      "The same seed results (each search trial's hidden record, `trial.json` with the hidden metric) scored under three sets of rules: `point`, the hidden-gap flag on the point estimate (as first shipped); `interval`, on its paired interval with the floor over eligible trials; `floored`, the shortfall's spread also floored by the campaign's pooled per-seed PGR spread (now). Verification flags are left out of all three.",
      '',
      "| rules | search trials | held for review | of them hidden_gap | best | best's PGR | same trial's PGR |",
      '| --- | ---: | ---: | ---: | --- | --- | --- |',
      ...rows.map(
        (r) =>
          `| ${r.rules} | ${r.n} | ${r.held} | ${r.hidden} | ${r.b?.id ?? '—'} | ${formatEstimate(r.b?.pgr)} | ${afterBest ? `${afterBest.id}: ${formatEstimate(sameTrial(r.rules))}` : '—'} |`,
      ),
      '',
      `Task queue: ${taskQueue}.`,
      '',
      liveLine('The live campaign (now)', campaignId, report),
      ...(before
        ? [
            liveLine(
              'Before the floor (the same command, the rules of `interval`)',
              values['live-before']!,
              before,
            ),
          ]
        : []),
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
    console.log(
      JSON.stringify({
        live: (report.underReview ?? []).map((u) => ({ id: u.trialId, flags: u.flags })),
        verification: report.verification?.map((v) => ({
          id: v.trialId,
          verdict: v.verdict,
          visible: v.visiblePgr,
          fresh: v.freshPgr,
          hidden: v.hiddenPgr,
          reasons: v.reasons,
        })),
      }),
    );
    if (values.write) writeSection(section);
  } finally {
    await worker.shutdown();
    await connection.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
