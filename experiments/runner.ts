/**
 * Runs one seed of a registered experiment and turns whatever happens into a SeedRunResult:
 * experiment failures (crash, hang, garbage, missing metric) are results, never exceptions.
 *
 * Command experiments run without a shell, in their own process group, so a timeout or a
 * cancellation kills every process they started. Their output is kept to files and to a bounded
 * in-memory tail; a flood of output or a line without end cannot exhaust the worker's memory.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CurveBuilder } from '../domain/curves.js';
import { Pruned, type Config } from '../domain/schemas.js';
import type {
  CommandRunner,
  ProcessGroupGuard,
  ExperimentDefinition,
  FunctionRunner,
  ProgressUpdate,
  RunContext,
  SeedRunResult,
} from './types.js';

export interface RunSeedOptions {
  seed: number;
  /** Folder for params.json, metrics.json and logs; created if missing. */
  outDir: string;
  /** @default the definition's defaultTimeoutSeconds */
  timeoutSeconds?: number;
  /** Aborting it cancels the run (status `cancelled`, process group killed). */
  signal?: AbortSignal;
  onProgress?: (p: ProgressUpdate) => void;
  /** A metric that must be reported for the seed to count as succeeded. */
  objective?: string;
  /** Time between SIGTERM and SIGKILL of the process group. @default 5 */
  killGraceSeconds?: number;
  /** Lines kept per stream for the log tail. @default 200 */
  tailLines?: number;
  /** Bytes kept per stream for the log tail. @default 65536 */
  tailBytes?: number;
  /** Longest stdout line parsed; longer ones are dropped from parsing and truncated in the tail. @default 1048576 */
  maxLineBytes?: number;
  /** Bytes written to each log file; the rest is dropped with a note. @default 67108864 */
  maxLogFileBytes?: number;
  /** Told about each command's process group while it lives, so it can die with the worker. */
  guard?: ProcessGroupGuard;
}

export type { ProcessGroupGuard } from './types.js';

/**
 * Keeps the last lines of a stream within a line and a byte budget, and splits chunks into
 * lines without ever buffering more than `maxLine` bytes of an unfinished line.
 */
export class LineTail {
  private readonly lines: string[] = [];
  private bytes = 0;
  private partial = '';
  private overlong = false;
  private dropped = 0;

  constructor(
    private readonly maxLines: number,
    private readonly maxBytes: number,
    private readonly maxLine: number,
    private readonly onLine: (line: string) => void = () => {},
  ) {}

  push(chunk: string): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl === -1) break;
      this.take(chunk.slice(start, nl), true);
      start = nl + 1;
    }
    if (start < chunk.length) this.take(chunk.slice(start), false);
  }

  /** Flushes an unfinished last line. */
  end(): void {
    if (this.partial || this.overlong) this.finishLine();
  }

  private take(piece: string, complete: boolean): void {
    if (!this.overlong) {
      if (this.partial.length + piece.length > this.maxLine) {
        // Keep only the head of an overlong line: enough for the tail, nothing to parse.
        this.partial = (
          this.partial + piece.slice(0, Math.max(0, this.maxLine - this.partial.length))
        ).slice(0, this.maxLine);
        this.overlong = true;
      } else {
        this.partial += piece;
      }
    }
    if (complete) this.finishLine();
  }

  private finishLine(): void {
    const line = this.partial.endsWith('\r') ? this.partial.slice(0, -1) : this.partial;
    if (this.overlong) {
      this.add(`${line.slice(0, 2000)}… [line longer than ${this.maxLine} bytes, truncated]`);
    } else {
      this.onLine(line);
      this.add(line.length > 4000 ? `${line.slice(0, 4000)}… [truncated]` : line);
    }
    this.partial = '';
    this.overlong = false;
  }

  private add(line: string): void {
    this.lines.push(line);
    this.bytes += line.length + 1;
    while (
      this.lines.length > this.maxLines ||
      (this.bytes > this.maxBytes && this.lines.length > 1)
    ) {
      this.bytes -= (this.lines.shift() as string).length + 1;
      this.dropped++;
    }
  }

  text(): string {
    return (
      (this.dropped ? `[${this.dropped} earlier lines not kept]\n` : '') + this.lines.join('\n')
    );
  }

  get lineCount(): number {
    return this.lines.length;
  }
}

/** Metric values must be finite numbers; anything else is reported as an invalid metric. */
function mergeMetrics(into: Record<string, number>, from: unknown, invalid: Set<string>): void {
  if (from === null || typeof from !== 'object' || Array.isArray(from)) return;
  for (const [k, v] of Object.entries(from as Record<string, unknown>)) {
    if (typeof v === 'number' && Number.isFinite(v)) {
      into[k] = v;
      invalid.delete(k);
    } else {
      invalid.add(k);
    }
  }
}

/** JSON has no NaN or Infinity, but Python's json.dumps writes them: read them as non-finite. */
function parseJsonLenient(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return JSON.parse(text.replace(/(?<=[:,[]\s*)-?(?:NaN|Infinity)(?=\s*[,}\]])/g, 'null'));
  }
}

/** Turns a param name into an environment variable suffix: `aux.weight` -> `AUX_WEIGHT`. */
export function paramEnvName(name: string): string {
  return `GAPLAB_PARAM_${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

/**
 * The only worker variables an experiment inherits, besides the names its definition declares
 * (`passEnv`): a worker's environment holds database URLs, cloud keys and agent sockets that an
 * experiment has no business seeing, and a deny-list never keeps up with them.
 */
export const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'] as const;

/** The environment a command experiment runs with: allow-listed, never the worker's whole one. */
export function childEnv(
  runner: CommandRunner,
  params: Config,
  seed: number,
  outDir: string,
  from: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const k of [...INHERITED_ENV, ...(runner.passEnv ?? [])])
    if (from[k] !== undefined && !k.startsWith('GAPLAB_')) env[k] = from[k];
  Object.assign(env, runner.env ?? {});
  for (const [k, v] of Object.entries(params)) env[paramEnvName(k)] = String(v);
  env.GAPLAB_PARAMS_FILE = path.join(outDir, 'params.json');
  env.GAPLAB_SEED = String(seed);
  env.GAPLAB_OUTPUT_DIR = outDir;
  env.GAPLAB_METRICS_FILE = path.join(outDir, 'metrics.json');
  // Progress lines are only useful if they arrive while the run is going.
  env.PYTHONUNBUFFERED = '1';
  return env;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the whole group is gone already.
  }
}

/** State letter and process group of a process from /proc (Linux); undefined when unknown. */
export function procState(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/**
 * True while any process of the group is alive. Zombies do not count: a killed grandchild
 * whose parent is gone waits for init to reap it, sometimes for a while.
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true; // no /proc: trust kill(0)
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const st = procState(Number(e));
    if (st && st.pgrp === pgid && st.state !== 'Z' && st.state !== 'X') return true;
  }
  return false;
}

function combinedTail(out: LineTail, err: LineTail): string {
  const parts: string[] = [];
  if (out.lineCount) parts.push(`--- stdout (last lines) ---\n${out.text()}`);
  if (err.lineCount) parts.push(`--- stderr (last lines) ---\n${err.text()}`);
  return parts.join('\n');
}

function finish(
  status: SeedRunResult['status'],
  metrics: Record<string, number>,
  started: number,
  extra: {
    [K in 'error' | 'logTail' | 'stdoutPath' | 'stderrPath' | 'pruned' | 'curves']?:
      SeedRunResult[K] | undefined;
  },
): SeedRunResult {
  const r: SeedRunResult = {
    status,
    metrics,
    durationSeconds: (performance.now() - started) / 1000,
  };
  for (const [k, v] of Object.entries(extra))
    if (v !== undefined && v !== '') (r as unknown as Record<string, unknown>)[k] = v;
  return r;
}

/** The failure reason when the objective is missing or invalid; undefined when it is fine. */
function objectiveProblem(
  objective: string | undefined,
  metrics: Record<string, number>,
  invalid: Set<string>,
): string | undefined {
  if (objective === undefined || objective in metrics) return undefined;
  if (invalid.has(objective)) return `objective metric "${objective}" is not a finite number`;
  const reported = Object.keys(metrics);
  return `objective metric "${objective}" was not reported (reported: ${reported.length ? reported.join(', ') : 'none'})`;
}

async function runCommand(
  runner: CommandRunner,
  params: Config,
  opts: RunSeedOptions,
  timeoutSeconds: number,
): Promise<SeedRunResult> {
  const started = performance.now();
  const { outDir, seed } = opts;
  const maxFile = opts.maxLogFileBytes ?? 64 * 1024 * 1024;
  const metricsFile = path.join(outDir, 'metrics.json');
  const stdoutPath = path.join(outDir, 'stdout.log');
  const stderrPath = path.join(outDir, 'stderr.log');
  await rm(metricsFile, { force: true });
  await writeFile(path.join(outDir, 'params.json'), `${JSON.stringify(params, null, 2)}\n`);
  if (opts.signal?.aborted)
    return finish('cancelled', {}, started, { error: 'cancelled before start' });

  const metrics: Record<string, number> = {};
  const invalid = new Set<string>();
  const curves = new CurveBuilder();
  const onStdoutLine = (line: string): void => {
    const t = line.trim();
    if (!t.startsWith('{') || !t.endsWith('}')) return;
    let msg: unknown;
    try {
      msg = parseJsonLenient(t);
    } catch {
      return; // a log line that happens to look like JSON
    }
    if (msg === null || typeof msg !== 'object') return;
    const m = msg as { metrics?: unknown; progress?: unknown; message?: unknown; step?: unknown };
    const update: ProgressUpdate = {};
    if (m.step !== undefined) {
      // A point of the learning curves: not merged into the seed's metrics.
      if (curves.add(m.step, m.metrics)) update.step = m.step as number;
    } else if (m.metrics !== undefined) {
      const fresh: Record<string, number> = {};
      mergeMetrics(fresh, m.metrics, invalid);
      Object.assign(metrics, fresh);
      if (Object.keys(fresh).length) update.metrics = fresh;
    }
    if (typeof m.progress === 'number' && Number.isFinite(m.progress))
      update.fraction = Math.min(1, Math.max(0, m.progress));
    if (typeof m.message === 'string') update.message = m.message.slice(0, 1000);
    if (Object.keys(update).length) opts.onProgress?.(update);
  };
  const tailLines = opts.tailLines ?? 200;
  const tailBytes = opts.tailBytes ?? 64 * 1024;
  const maxLine = opts.maxLineBytes ?? 1024 * 1024;
  const outTail = new LineTail(tailLines, tailBytes, maxLine, onStdoutLine);
  const errTail = new LineTail(tailLines, tailBytes, maxLine);

  const [cmd, ...args] = runner.argv as [string, ...string[]];
  let child;
  try {
    child = spawn(cmd, args, {
      cwd: runner.cwd,
      env: childEnv(runner, params, seed, outDir),
      detached: true, // own process group: a kill reaches everything it started
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    return finish('failed', {}, started, {
      error: `could not start ${cmd}: ${(err as Error).message}`,
    });
  }

  const files: WriteStream[] = [];
  const pump = (stream: Readable, file: string, tail: LineTail): Promise<void> => {
    const sink = createWriteStream(file);
    files.push(sink);
    let written = 0;
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      tail.push(chunk);
      if (written >= maxFile) return;
      const buf = Buffer.from(chunk, 'utf8');
      const room = maxFile - written;
      const ok = sink.write(buf.length <= room ? buf : buf.subarray(0, room));
      written += Math.min(buf.length, room);
      if (written >= maxFile)
        sink.write(
          `\n[gaplab: log file limit of ${maxFile} bytes reached; further output not kept]\n`,
        );
      // Let the child block on a full pipe rather than buffer its flood in our memory.
      if (!ok) {
        stream.pause();
        sink.once('drain', () => stream.resume());
      }
    });
    return new Promise((resolve) => {
      stream.once('close', () => {
        tail.end();
        resolve();
      });
    });
  };
  const stdoutDone = pump(child.stdout, stdoutPath, outTail);
  const stderrDone = pump(child.stderr, stderrPath, errTail);

  let reason: 'timeout' | 'cancelled' | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const pid = child.pid;
  if (pid !== undefined) opts.guard?.register(pid);
  const terminate = (why: 'timeout' | 'cancelled'): void => {
    if (reason || pid === undefined) return;
    reason = why;
    killGroup(pid, 'SIGTERM');
    killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), (opts.killGraceSeconds ?? 5) * 1000);
  };
  const timer = setTimeout(() => terminate('timeout'), timeoutSeconds * 1000);
  const onAbort = (): void => terminate('cancelled');
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const exit = await new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    spawnError?: Error;
  }>((resolve) => {
    child.once('error', (err) => resolve({ code: null, signal: null, spawnError: err }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timer);
  opts.signal?.removeEventListener('abort', onAbort);
  // Whatever the main process left behind in its group goes with it; this also closes pipes a
  // stray grandchild still holds, so the output streams can end.
  if (pid !== undefined && groupAlive(pid)) {
    killGroup(pid, 'SIGTERM');
    const grace = Math.min(opts.killGraceSeconds ?? 5, 2) * 1000;
    const deadline = Date.now() + grace;
    while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    killGroup(pid, 'SIGKILL');
  }
  if (pid !== undefined) opts.guard?.release(pid);
  if (killTimer) clearTimeout(killTimer);
  // A process that escaped the group (setsid) may still hold our pipes: stop waiting for it.
  const streamsClosed = Promise.all([stdoutDone, stderrDone]);
  const closeTimer = setTimeout(
    () => {
      child.stdout.destroy();
      child.stderr.destroy();
    },
    exit.spawnError ? 0 : 5000,
  );
  await streamsClosed;
  clearTimeout(closeTimer);
  await Promise.all(files.map((f) => new Promise<void>((resolve) => f.end(resolve))));

  let metricsFileError: string | undefined;
  try {
    const text = await readFile(metricsFile, 'utf8');
    try {
      const parsed = parseJsonLenient(text);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
        metricsFileError = 'metrics file is not a JSON object';
      else mergeMetrics(metrics, parsed, invalid);
    } catch {
      metricsFileError = 'metrics file is not valid JSON';
    }
  } catch {
    // No metrics file: stdout lines are the protocol then.
  }

  const logTail = combinedTail(outTail, errTail);
  const base = { logTail, stdoutPath, stderrPath, curves: curves.result() };
  if (exit.spawnError)
    return finish('failed', metrics, started, {
      ...base,
      error: `could not start ${cmd}: ${exit.spawnError.message}`,
    });
  if (reason === 'cancelled')
    return finish('cancelled', metrics, started, { ...base, error: 'cancelled' });
  if (reason === 'timeout')
    return finish('failed', metrics, started, {
      ...base,
      error: `timed out after ${timeoutSeconds} s (process group killed)`,
    });
  if (exit.signal)
    return finish('failed', metrics, started, {
      ...base,
      error: `killed by signal ${exit.signal}`,
    });
  if (exit.code !== 0)
    return finish('failed', metrics, started, { ...base, error: `exited with code ${exit.code}` });
  if (metricsFileError)
    return finish('failed', metrics, started, { ...base, error: metricsFileError });
  const missing = objectiveProblem(opts.objective, metrics, invalid);
  if (missing) return finish('failed', metrics, started, { ...base, error: missing });
  return finish('succeeded', metrics, started, base);
}

const noop = (): void => {};

async function runFunction(
  runner: FunctionRunner,
  params: Config,
  opts: RunSeedOptions,
  timeoutSeconds: number,
): Promise<SeedRunResult> {
  const started = performance.now();
  if (opts.signal?.aborted)
    return finish('cancelled', {}, started, { error: 'cancelled before start' });
  const controller = new AbortController();
  let reason: 'timeout' | 'cancelled' | undefined;
  const stop = (why: 'timeout' | 'cancelled'): void => {
    if (reason) return;
    reason = why;
    controller.abort(
      new Error(why === 'timeout' ? `timed out after ${timeoutSeconds} s` : 'cancelled'),
    );
  };
  const onAbort = (): void => stop('cancelled');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: NodeJS.Timeout | undefined;
  // A function that ignores its signal cannot be killed; the race at least frees the caller.
  const stopped = new Promise<'stopped'>((resolve) => {
    controller.signal.addEventListener('abort', () => resolve('stopped'), { once: true });
    timer = setTimeout(() => stop('timeout'), timeoutSeconds * 1000);
  });
  const progressMetrics: Record<string, number> = {};
  const invalid = new Set<string>();
  let pruned: Pruned | undefined;
  const curves = new CurveBuilder();
  const ctx: RunContext = {
    seed: opts.seed,
    outDir: opts.outDir,
    signal: controller.signal,
    progress: (p: ProgressUpdate): void => {
      // With a step, the metrics are a point of the learning curves, not merged.
      if (p.step !== undefined) curves.add(p.step, p.metrics);
      else if (p.metrics) mergeMetrics(progressMetrics, p.metrics, invalid);
      opts.onProgress?.(p);
    },
    prune: (stage, score) => {
      pruned = Pruned.parse({ stage, score: Number.isFinite(score) ? score : null });
    },
    ...(opts.guard ? { guard: opts.guard } : {}),
  };
  try {
    const run = runner.run(params, ctx);
    const outcome = await Promise.race([run, stopped]);
    if (outcome === 'stopped' || reason) {
      // The run's grace to stop what it started (a harness's process group, a sandbox) before
      // the seed ends, as a command's group is gone before its seed ends; then it is left.
      const grace = (opts.killGraceSeconds ?? 5) * 1000 + 1000;
      await Promise.race([run.then(noop, noop), sleep(grace, undefined, { ref: false })]);
      throw controller.signal.reason;
    }
    const metrics = { ...progressMetrics };
    mergeMetrics(metrics, outcome, invalid);
    if (pruned) return finish('pruned', metrics, started, { pruned, curves: curves.result() });
    const missing = objectiveProblem(opts.objective, metrics, invalid);
    return missing
      ? finish('failed', metrics, started, { error: missing, curves: curves.result() })
      : finish('succeeded', metrics, started, { curves: curves.result() });
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    if (reason === 'cancelled')
      return finish('cancelled', progressMetrics, started, {
        error: 'cancelled',
        curves: curves.result(),
      });
    if (reason === 'timeout')
      return finish('failed', progressMetrics, started, {
        error: `timed out after ${timeoutSeconds} s`,
        curves: curves.result(),
      });
    return finish('failed', progressMetrics, started, {
      error: `${e.name}: ${e.message}`,
      logTail: e.stack ?? '',
      curves: curves.result(),
    });
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Runs one seed. Never throws for an experiment's failure (the result says `failed` with the
 * reason and the log tail); throws only for a caller's mistake (bad options).
 */
export async function runSeed(
  def: ExperimentDefinition,
  params: Config,
  opts: RunSeedOptions,
): Promise<SeedRunResult> {
  const timeoutSeconds = opts.timeoutSeconds ?? def.defaultTimeoutSeconds;
  if (!(timeoutSeconds > 0))
    throw new RangeError(`timeoutSeconds must be > 0, got ${timeoutSeconds}`);
  if (!Number.isInteger(opts.seed))
    throw new RangeError(`seed must be an integer, got ${opts.seed}`);
  await mkdir(opts.outDir, { recursive: true });
  return def.runner.kind === 'command'
    ? runCommand(def.runner, params, opts, timeoutSeconds)
    : runFunction(def.runner, params, opts, timeoutSeconds);
}
