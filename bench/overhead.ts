/**
 * 1. Orchestration overhead: N no-op trials (the experiment returns at once) through the full
 * path — random strategy activity, campaign workflow, experiment activity, MLflow recording —
 * at concurrency 1 and 8, MLflow recording on and off. Side by side, in the same run: Optuna's
 * ask/tell loop with SQLite storage and per-trial MLflow recording doing the same no-op trials.
 */
import { overheadProblem } from './experiments.js';
import { runPeer } from './peers.js';
import type { OptunaTrialsOutput } from './peers.js';
import type { BenchResult, Size } from './results.js';
import { fmt, ratio, table } from './results.js';
import { experimentTimings, workflowRuns, workMs } from './history.js';
import {
  distribution,
  round,
  roundDistribution,
  slotOverheads,
  type Distribution,
} from './stats.js';
import type { Benchmark } from './suite.js';

const PRESETS: Record<Size, { trials: number; concurrency: number[]; peerMlflowTrials: number }> = {
  tiny: { trials: 6, concurrency: [1, 8], peerMlflowTrials: 6 },
  quick: { trials: 100, concurrency: [1, 8], peerMlflowTrials: 50 },
  // Optuna's per-trial MLflow recording runs at ~3 trials/s: 100 trials measure it well enough.
  full: { trials: 200, concurrency: [1, 8], peerMlflowTrials: 100 },
};

export interface OverheadRow {
  runner: 'gaplab' | 'optuna';
  concurrency: number;
  mlflow: boolean;
  trials: number;
  wallSeconds: number;
  trialsPerSecond: number;
  /**
   * Slot time each trial costs beyond its experiment (from its experiment being scheduled to the
   * next one scheduled on the same slot, minus the experiment's run time), ms.
   */
  overheadMs: Distribution;
  /**
   * gaplab: the experiment activity from scheduled to completed (server event times) minus the
   * experiment's run time. Optuna: ask + tell (+ MLflow recording), ms.
   */
  latencyMs: Distribution;
  errors: number;
}

export interface OverheadData {
  rows: OverheadRow[];
}

export const overhead: Benchmark<OverheadData> = {
  name: 'overhead',
  title: '1. Orchestration overhead (no-op trials)',
  needsStack: true,
  initial: () => ({ rows: [] }),

  async run({ size, ctx, out, log, peers }) {
    const { trials, concurrency, peerMlflowTrials } = PRESETS[size];
    out.params = {
      trials,
      concurrency,
      peerMlflowTrials,
      experiment: 'noop',
      strategy: 'random',
      seedsPerTrial: 1,
      verification: 'none',
    };
    const c = ctx!;
    for (const conc of concurrency) {
      for (const mlflow of [true, false]) {
        log(
          `[overhead] gaplab: ${trials} no-op trials, concurrency ${conc}, MLflow ${mlflow ? 'on' : 'off'}`,
        );
        const run = await c.runCampaign(
          overheadProblem('', 'noop', trials, conc),
          `noop-c${conc}`,
          { name: 'random' },
          { mlflow },
        );
        const search = run.trials.filter((t) => t.kind === 'search');
        const seeds = experimentTimings(await workflowRuns(c.client, run.campaignId));
        const intervals = seeds.map((a) => ({
          start: a.scheduledMs,
          end: a.closedMs ?? a.scheduledMs,
          work: workMs(a),
        }));
        const wallSeconds = run.wallMs / 1000;
        out.data.rows.push({
          runner: 'gaplab',
          concurrency: conc,
          mlflow,
          trials: search.length,
          wallSeconds: round(wallSeconds),
          trialsPerSecond: round(search.length / wallSeconds, 2),
          overheadMs: roundDistribution(distribution(slotOverheads(intervals)), 1),
          latencyMs: roundDistribution(
            distribution(intervals.map((i) => i.end - i.start - i.work)),
            1,
          ),
          errors: search.filter((t) => t.status !== 'succeeded').length,
        });
      }
    }
    if (!peers) return;
    for (const conc of concurrency) {
      for (const mlflow of [true, false]) {
        const n = mlflow ? Math.min(trials, peerMlflowTrials) : trials;
        log(
          `[overhead] Optuna ask/tell + SQLite: ${n} no-op trials, ${conc} threads, MLflow ${mlflow ? 'on' : 'off'}`,
        );
        const r = await runPeer<OptunaTrialsOutput>('optuna_trials.py', [
          '--trials',
          String(n),
          '--concurrency',
          String(conc),
          '--name',
          `bench-optuna-noop-${c.runTag}-c${conc}-${mlflow ? 'mlflow' : 'plain'}`,
          ...(mlflow ? ['--mlflow-uri', c.mlflowUri] : []),
        ]);
        out.data.rows.push(peerRow(r, conc, mlflow));
      }
    }
    out.notes.push(
      "The Optuna peer records each trial in MLflow with the same calls as optuna-integration's MLflowCallback (not installed in the venv): create run, log metric, log params, set tags, end run, under one lock.",
      'gaplab records a trial with more MLflow calls (create run, data, artifact trial.json, close run), several trials to one recording activity, in the background: the campaign waits for all records only at its end.',
      'gaplab runs short seeds of a random search several to a slot (workflows/README.md, "Throughput"): one experiment activity per batch. A batched seed starts when the one before it ended, by the worker clock; the round trip between batches falls on the first seed of the next batch. Overhead columns count per seed; the mean is in the JSON.',
      `Optuna with MLflow recording runs ${Math.min(trials, peerMlflowTrials)} trials (its rate is steady); every other row runs ${trials}.`,
    );
  },

  render(result: BenchResult<OverheadData>) {
    const rows = result.data.rows;
    const peerOf = (r: OverheadRow) =>
      rows.find(
        (p) => p.runner === 'optuna' && p.concurrency === r.concurrency && p.mlflow === r.mlflow,
      );
    const body = table(
      [
        'runner',
        'concurrency',
        'MLflow',
        'trials',
        'wall s',
        'trials/s',
        'overhead p50 ms',
        'mean',
        'p95',
        'p99',
        'latency p50 ms',
        'p95',
        'p99',
        'throughput vs Optuna',
      ],
      rows.map((r) => [
        r.runner,
        r.concurrency,
        r.mlflow ? 'on' : 'off',
        r.trials,
        fmt(r.wallSeconds, 1),
        fmt(r.trialsPerSecond, 1),
        fmt(r.overheadMs.p50, 1),
        fmt(r.overheadMs.mean, 1),
        fmt(r.overheadMs.p95, 1),
        fmt(r.overheadMs.p99, 1),
        fmt(r.latencyMs.p50, 1),
        fmt(r.latencyMs.p95, 1),
        fmt(r.latencyMs.p99, 1),
        r.runner === 'gaplab' ? ratio(r.trialsPerSecond, peerOf(r)?.trialsPerSecond) : '',
      ]),
    );
    return [
      'Overhead = slot time a trial costs beyond its experiment (from its start to the next start on the same slot). ' +
        'Latency = gaplab: experiment scheduled → completed (Temporal event times; a batched seed: its start → its end on the worker, the last one → the batch completed); Optuna: ask → tell (+ MLflow); both minus the experiment itself.',
      '',
      body,
    ].join('\n');
  },
};

function peerRow(r: OptunaTrialsOutput, concurrency: number, mlflow: boolean): OverheadRow {
  const ms = (s: number) => s * 1000;
  return {
    runner: 'optuna',
    concurrency,
    mlflow,
    trials: r.trials,
    wallSeconds: round(r.wallSeconds),
    trialsPerSecond: round(r.trials / r.wallSeconds, 2),
    overheadMs: roundDistribution(
      distribution(
        slotOverheads(
          r.records.map((x) => ({
            start: ms(x.start),
            end: ms(x.end),
            work: ms(x.objEnd - x.objStart),
            slot: x.slot,
          })),
        ),
      ),
      1,
    ),
    latencyMs: roundDistribution(
      distribution(r.records.map((x) => ms(x.end - x.start - (x.objEnd - x.objStart)))),
      1,
    ),
    errors: r.errorCount,
  };
}
