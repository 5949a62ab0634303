/** What a benchmark module provides to the runner (bench/run.ts) and to RESULTS.md. */
import type { BenchContext } from './context.js';
import type { BenchmarkName, BenchResult, Size } from './results.js';

/** Filled in as the benchmark goes, so a failure part-way still leaves the numbers it had. */
export interface BenchmarkOutput<T> {
  params: Record<string, unknown>;
  data: T;
  notes: string[];
}

export interface BenchmarkRunArgs<T> {
  size: Size;
  /** The running stack and worker; null for benchmarks with needsStack false. */
  ctx: BenchContext | null;
  out: BenchmarkOutput<T>;
  log: (line: string) => void;
  /** Run the Python peers too. @default true */
  peers: boolean;
  /** Call a real model when ANTHROPIC_API_KEY is set (agent cost). @default true */
  realModel: boolean;
}

export interface Benchmark<T = unknown> {
  name: BenchmarkName;
  title: string;
  /** Whether it runs campaigns (needs Temporal, MLflow and a worker). */
  needsStack: boolean;
  /** The empty data the output starts with. */
  initial(): T;
  run(args: BenchmarkRunArgs<T>): Promise<void>;
  /** The benchmark's section of RESULTS.md (without its heading). */
  render(result: BenchResult<T>): string;
}
