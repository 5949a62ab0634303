/**
 * A client for python/optuna_service.py: one long-lived Python process per worker, started on
 * first use, spoken to in JSON lines over stdin/stdout (no ports), one request at a time, and
 * restarted on the next request if it dies.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { Config, Param } from '../domain/schemas.js';
import { PROJECT_ROOT, paths } from './paths.js';

export type OptunaSampler = 'tpe' | 'gp' | 'cmaes' | 'random';

/** One finished trial as Optuna sees it. */
export interface OptunaHistoryEntry {
  /** Trial id: lets the service extend its cached study when the history it is sent is a window. */
  id?: string;
  params: Config;
  /** Objective value; null when the trial failed. */
  value: number | null;
  state: 'complete' | 'fail' | 'pruned';
  feasible: boolean;
}

export interface OptunaRequest {
  space: Param[];
  direction: 'maximize' | 'minimize';
  history: OptunaHistoryEntry[];
  sampler: OptunaSampler;
  seed: number;
  n: number;
  /** Cache key (the campaign id): the service extends its cached study while history only grows. */
  key?: string;
  /**
   * How failed entries are told to the sampler: `avoid` as infeasible (TPE, GP) or worst-value
   * (CMA-ES, random) trials, `ignore` as FAIL (skipped by every sampler). @default 'avoid'
   */
  failures?: 'avoid' | 'ignore';
}

export interface OptunaReply {
  configs: Config[];
  stats: { trials: number; reusedTrials: number; studyMs: number; sampleMs: number };
}

/** Optuna's importance evaluators the service offers (`optuna.importance`). */
export const IMPORTANCE_EVALUATORS = ['fanova', 'ped-anova'] as const;
export type ImportanceEvaluator = (typeof IMPORTANCE_EVALUATORS)[number];

export interface ImportanceRequest {
  space: Param[];
  direction: 'maximize' | 'minimize';
  history: OptunaHistoryEntry[];
  /** @default 'fanova' */
  evaluator?: ImportanceEvaluator;
  /** fANOVA's random forest seed. @default 0 */
  seed?: number;
}

export interface ImportanceReply {
  /** Parameter name to importance (they sum to 1); empty below three complete trials. */
  importances: Record<string, number>;
  /** Complete trials the evaluator read. */
  trials: number;
  evaluator: ImportanceEvaluator;
  ms: number;
}

export type OptunaErrorKind =
  'unavailable' | 'bad_request' | 'missing_dependency' | 'internal' | 'crashed' | 'timeout';

/**
 * Thrown when the Optuna service cannot answer. `permanent` kinds (no venv, a missing package,
 * a malformed request) cannot be fixed by retrying; `crashed`, `timeout` and `internal` may.
 */
export class OptunaServiceError extends Error {
  constructor(
    readonly kind: OptunaErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'OptunaServiceError';
  }

  get permanent(): boolean {
    return (
      this.kind === 'unavailable' ||
      this.kind === 'bad_request' ||
      this.kind === 'missing_dependency'
    );
  }
}

export interface OptunaServiceOptions {
  /** Python interpreter. @default paths.venvPython (the project venv) */
  python?: string;
  /** The service script. @default <project>/python/optuna_service.py */
  script?: string;
  /** Longest wait for one reply before the process is killed and restarted. @default 120_000 */
  requestTimeoutMs?: number;
  /** Receives the service's stderr lines (Python warnings, tracebacks). */
  onLog?: (line: string) => void;
}

interface Pending {
  id: number;
  resolve: (reply: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

const STDERR_TAIL = 4000;

export class OptunaService {
  private readonly python: string;
  private readonly script: string;
  private readonly timeoutMs: number;
  private readonly onLog: ((line: string) => void) | undefined;
  private child: ChildProcessWithoutNullStreams | undefined;
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private stderrTail = '';
  private closed = false;
  /** How many times a process was started; lets tests and logs see restarts. */
  starts = 0;

  constructor(options: OptunaServiceOptions = {}) {
    this.python = options.python ?? paths.venvPython;
    this.script = options.script ?? path.join(PROJECT_ROOT, 'python', 'optuna_service.py');
    this.timeoutMs = options.requestTimeoutMs ?? 120_000;
    this.onLog = options.onLog;
  }

  /** Suggests `n` configurations; requests are serialised, so callers may call concurrently. */
  suggest(request: OptunaRequest): Promise<OptunaReply> {
    return this.enqueue(async () => {
      const reply = await this.send({ op: 'suggest', ...request });
      return { configs: reply.configs as Config[], stats: reply.stats as OptunaReply['stats'] };
    });
  }

  /** Parameter importance by one of Optuna's evaluators over the history's complete trials. */
  importance(request: ImportanceRequest): Promise<ImportanceReply> {
    return this.enqueue(async () => {
      const reply = await this.send({ op: 'importance', ...request });
      return {
        importances: reply.importances as Record<string, number>,
        trials: Number(reply.trials),
        evaluator: reply.evaluator as ImportanceEvaluator,
        ms: Number(reply.ms),
      };
    });
  }

  /** Starts the process if needed and returns the Optuna version it runs. */
  ping(): Promise<string> {
    return this.enqueue(async () => String((await this.send({ op: 'ping' })).optuna));
  }

  /** The process id of the running service, if any. */
  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  /** Stops the process; later calls fail. */
  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private ensureStarted(): ChildProcessWithoutNullStreams {
    if (this.closed) throw new OptunaServiceError('unavailable', 'the Optuna service was closed');
    if (this.child && this.child.exitCode === null && this.child.signalCode === null)
      return this.child;
    if (!fs.existsSync(this.python)) {
      throw new OptunaServiceError(
        'unavailable',
        `the Optuna strategy needs the project's Python environment, but ${this.python} does not exist: run \`npx gaplab setup\``,
      );
    }
    if (!fs.existsSync(this.script)) {
      throw new OptunaServiceError(
        'unavailable',
        `the Optuna service script ${this.script} is missing`,
      );
    }
    this.stderrTail = '';
    const child = spawn(this.python, ['-u', this.script], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
    });
    this.starts += 1;
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => this.onReply(line));
    const errLines = readline.createInterface({ input: child.stderr });
    errLines.on('line', (line) => {
      this.stderrTail = (this.stderrTail + line + '\n').slice(-STDERR_TAIL);
      this.onLog?.(line);
    });
    child.on('error', (err) =>
      this.failPending(
        new OptunaServiceError('crashed', `the Optuna service could not run: ${err.message}`),
      ),
    );
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      const why = signal ? `signal ${signal}` : `exit code ${code}`;
      const tail = this.stderrTail.trim();
      this.failPending(
        new OptunaServiceError(
          'crashed',
          `the Optuna service stopped (${why})${tail ? `: ${tail.slice(-1000)}` : ''}`,
        ),
      );
    });
    // A write to a dead process must not become an unhandled 'error' event.
    child.stdin.on('error', () => undefined);
    this.child = child;
    return child;
  }

  private send(body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const child = this.ensureStarted();
    const id = this.nextId++;
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.failPending(
          new OptunaServiceError(
            'timeout',
            `the Optuna service did not answer within ${this.timeoutMs} ms`,
          ),
        );
        // The protocol is strictly in order: a late reply would answer the next request.
        child.kill('SIGKILL');
      }, this.timeoutMs);
      this.pending = {
        id,
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      child.stdin.write(JSON.stringify({ id, ...body }) + '\n');
    });
  }

  private onReply(line: string): void {
    const pending = this.pending;
    if (!pending) return;
    let reply: Record<string, unknown>;
    try {
      reply = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.failPending(
        new OptunaServiceError(
          'internal',
          `the Optuna service wrote a line that is not JSON: ${line.slice(0, 200)}`,
        ),
      );
      return;
    }
    if (reply.id !== pending.id) return;
    this.pending = undefined;
    if (reply.ok === true) pending.resolve(reply);
    else {
      const kind =
        (['bad_request', 'missing_dependency', 'internal'] as const).find(
          (k) => k === reply.kind,
        ) ?? 'internal';
      pending.reject(new OptunaServiceError(kind, String(reply.error ?? 'unknown error')));
    }
  }

  private failPending(err: OptunaServiceError): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(err);
  }
}
