/**
 * The benchmark suite: `npm run bench -- [--size tiny|quick|full] [--only overhead,slots,...]`.
 *
 * Starts a fresh stack of its own (Temporal and MLflow under <state>/bench-stack, ports 37233
 * and 35050) unless TEMPORAL_ADDRESS and MLFLOW_TRACKING_URI name running servers, and one
 * gaplab worker in a child process; runs each benchmark and its peers; writes
 * bench/results/<benchmark>-<size>.json and renders bench/RESULTS.md from every result there.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { BenchContext } from './context.js';
import { environment } from './environment.js';
import { renderResults } from './report.js';
import {
  BENCHMARKS,
  RESULTS_DIR,
  RESULTS_MD,
  SIZES,
  writeResult,
  type BenchmarkName,
  type BenchResult,
  type Size,
} from './results.js';
import { SUITE } from './registry.js';
import type { BenchmarkOutput } from './suite.js';

export interface RunOptions {
  size: Size;
  only: BenchmarkName[];
  /** Where result files go. @default bench/results */
  resultsDir?: string;
  /** Where the markdown goes; null to skip it. @default bench/RESULTS.md */
  markdown?: string | null;
  /** Run the Python peers. @default true */
  peers?: boolean;
  /** Measure the agent on a real model when ANTHROPIC_API_KEY is set. @default true */
  realModel?: boolean;
  inProcessWorker?: boolean;
  keepStack?: boolean;
  log?: (line: string) => void;
}

/** Runs the chosen benchmarks; returns their results (also written to `resultsDir`). */
export async function runBenchmarks(opts: RunOptions): Promise<BenchResult[]> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const resultsDir = opts.resultsDir ?? RESULTS_DIR;
  const chosen = SUITE.filter((b) => opts.only.includes(b.name));
  const env = await environment();
  log(
    `[bench] size ${opts.size}: ${chosen.map((b) => b.name).join(', ')} on ${env.machine.cpus}x ${env.machine.cpuModel} (load ${env.machine.loadAverage})`,
  );
  let ctx: BenchContext | null = null;
  const results: BenchResult[] = [];
  try {
    if (chosen.some((b) => b.needsStack)) {
      ctx = await BenchContext.create({
        log,
        ...(opts.inProcessWorker ? { inProcessWorker: true } : {}),
        ...(opts.keepStack ? { keepStack: true } : {}),
      });
    }
    for (const bench of chosen) {
      const out: BenchmarkOutput<unknown> = { params: {}, data: bench.initial(), notes: [] };
      const startedAt = new Date().toISOString();
      const t0 = performance.now();
      let error: string | undefined;
      try {
        await bench.run({
          size: opts.size,
          ctx,
          out,
          log,
          peers: opts.peers ?? true,
          realModel: opts.realModel ?? true,
        });
      } catch (err) {
        error = err instanceof Error ? (err.stack ?? err.message) : String(err);
        log(`[bench] ${bench.name} failed: ${error}`);
      }
      const result: BenchResult = {
        benchmark: bench.name,
        size: opts.size,
        startedAt,
        finishedAt: new Date().toISOString(),
        durationSeconds: Math.round((performance.now() - t0) / 100) / 10,
        environment: { ...env, date: startedAt, machine: { ...env.machine } },
        params: out.params,
        data: out.data,
        notes: out.notes,
        ...(error ? { error } : {}),
      };
      const file = writeResult(resultsDir, result);
      log(`[bench] ${bench.name}: ${result.durationSeconds} s -> ${file}`);
      results.push(result);
    }
  } finally {
    await ctx?.close();
  }
  if (opts.markdown !== null) {
    // Results written elsewhere (a test, a trial run) get their markdown next to them.
    const md =
      opts.markdown ?? (opts.resultsDir ? path.join(resultsDir, 'RESULTS.md') : RESULTS_MD);
    fs.writeFileSync(md, renderResults(resultsDir));
    log(`[bench] wrote ${md}`);
  }
  return results;
}

function parseCli(argv: string[]): RunOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string', default: 'quick' },
      only: { type: 'string' },
      'results-dir': { type: 'string' },
      'no-peers': { type: 'boolean', default: false },
      'no-real-model': { type: 'boolean', default: false },
      'in-process-worker': { type: 'boolean', default: false },
      'keep-stack': { type: 'boolean', default: false },
      postgres: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(
      [
        'npm run bench -- [options]',
        `  --size ${SIZES.join('|')}        how big (default quick; full fits 30 min on 2 cores)`,
        `  --only ${BENCHMARKS.join(',')}   a subset (default all)`,
        '  --results-dir DIR               where result files go (default bench/results)',
        '  --no-peers                      skip the Python peers',
        '  --no-real-model                 never call the real Claude API (it is called when ANTHROPIC_API_KEY is set)',
        '  --in-process-worker             run the worker in this process (default: a child process)',
        '  --keep-stack                    leave the bench stack running',
        "  --postgres                      the bench stack's MLflow on PostgreSQL (gaplab setup --postgres) instead of SQLite",
        'TEMPORAL_ADDRESS and MLFLOW_TRACKING_URI (both) use running servers instead of a fresh stack.',
      ].join('\n'),
    );
    process.exit(0);
  }
  // The bench stack reads it (stack/index.ts): MLflow's records go to a PostgreSQL cluster.
  if (values.postgres) process.env.GAPLAB_POSTGRES = '1';
  const size = values.size as Size;
  if (!SIZES.includes(size))
    throw new Error(`--size: expected ${SIZES.join(', ')}, got "${values.size}"`);
  const only = (
    values.only
      ? values.only
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [...BENCHMARKS]
  ) as BenchmarkName[];
  const unknown = only.filter((n) => !(BENCHMARKS as readonly string[]).includes(n));
  if (unknown.length > 0)
    throw new Error(
      `--only: unknown benchmark ${unknown.join(', ')} (known: ${BENCHMARKS.join(', ')})`,
    );
  return {
    size,
    only,
    ...(values['results-dir'] ? { resultsDir: values['results-dir'] } : {}),
    peers: !values['no-peers'],
    realModel: !values['no-real-model'],
    inProcessWorker: values['in-process-worker'] ?? false,
    keepStack: values['keep-stack'] ?? false,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runBenchmarks(parseCli(process.argv.slice(2)))
    .then((results) => {
      const failed = results.filter((r) => r.error);
      process.exit(failed.length > 0 ? 1 : 0);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
}
