/** Benchmark result files (bench/results/<benchmark>-<size>.json) and markdown helpers. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Environment } from './environment.js';

export const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
export const RESULTS_MD = fileURLToPath(new URL('./RESULTS.md', import.meta.url));

export const SIZES = ['tiny', 'quick', 'full'] as const;
export type Size = (typeof SIZES)[number];

export const BENCHMARKS = ['overhead', 'slots', 'quality', 'scale', 'agent', 'failures'] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

export interface BenchResult<T = unknown> {
  benchmark: BenchmarkName;
  size: Size;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  environment: Environment;
  /** What was run (trial counts, concurrency, seeds...). */
  params: Record<string, unknown>;
  /** The numbers; their shape belongs to the benchmark. */
  data: T;
  /** Caveats worth reading next to the numbers. */
  notes: string[];
  /** Set when the benchmark failed part-way; `data` then holds what it had. */
  error?: string;
}

export const resultFile = (dir: string, benchmark: BenchmarkName, size: Size): string =>
  path.join(dir, `${benchmark}-${size}.json`);

export function writeResult(dir: string, result: BenchResult): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = resultFile(dir, result.benchmark, result.size);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

/** Every result file in `dir`, parsed (files that do not parse are skipped). */
export function readResults(dir: string): BenchResult[] {
  if (!fs.existsSync(dir)) return [];
  const out: BenchResult[] = [];
  for (const f of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    try {
      const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as BenchResult;
      if (
        (BENCHMARKS as readonly string[]).includes(r.benchmark) &&
        (SIZES as readonly string[]).includes(r.size)
      )
        out.push(r);
    } catch {
      // not a result file
    }
  }
  return out;
}

/** For each benchmark, the result of the largest size present (full over quick over tiny). */
export function pickLargest(results: readonly BenchResult[]): Map<BenchmarkName, BenchResult> {
  const out = new Map<BenchmarkName, BenchResult>();
  for (const r of results) {
    const cur = out.get(r.benchmark);
    if (
      !cur ||
      SIZES.indexOf(r.size) > SIZES.indexOf(cur.size) ||
      (r.size === cur.size && r.finishedAt > cur.finishedAt)
    )
      out.set(r.benchmark, r);
  }
  return out;
}

// ---- markdown -----------------------------------------------------------------------------

export function table(
  headers: readonly string[],
  rows: readonly (readonly (string | number | null | undefined)[])[],
): string {
  const cell = (v: string | number | null | undefined) =>
    v === null || v === undefined || (typeof v === 'number' && !Number.isFinite(v))
      ? '–'
      : String(v);
  const numeric = (v: string | number | null | undefined) =>
    typeof v === 'number' ||
    v === null ||
    v === undefined ||
    /^(–|[-+]?[\d.,]+(x|%| s| ms| MiB)?)$/.test(v);
  const align = headers.map((_, i) => (rows.every((r) => numeric(r[i])) ? '---:' : '---'));
  return [
    `| ${headers.join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

/** A number with `digits` significant decimals, or '–'. */
export function fmt(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

export const pct = (x: number | null | undefined, digits = 1): string =>
  x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(digits)}%`;

export const mib = (bytes: number | null | undefined): string =>
  bytes === null || bytes === undefined || !bytes ? '–' : `${Math.round(bytes / 2 ** 20)} MiB`;

/** "a / b" as "1.23x" (how many times a is b). */
export const ratio = (
  a: number | null | undefined,
  b: number | null | undefined,
  digits = 2,
): string =>
  a === null ||
  a === undefined ||
  b === null ||
  b === undefined ||
  !Number.isFinite(a) ||
  !Number.isFinite(b) ||
  b === 0
    ? '–'
    : `${(a / b).toFixed(digits)}x`;
