/**
 * Code experiments whose trusted harness is a command (Python with the gaplab_harness SDK, or any
 * language speaking its protocol), declared in an `experiment.yaml` with `kind: code`.
 *
 * The harness command is registered with the experiment when the worker starts (its argv comes
 * from the folder's experiment.yaml, never from a problem spec) and runs on the worker, outside
 * the sandbox, once per seed. It owns the data and the ground truth. It never runs candidate code
 * itself: it asks the worker to, over a channel of JSON lines (its fd 3 to the worker, the answers
 * on its fd 4), and the worker runs each call in the same sandbox as every code experiment
 * (`runPythonCandidate`, sandbox.ts), with the SDK's trusted driver. What the harness gets back is
 * the candidate's raw result bytes, which the SDK decodes as untrusted data (no pickle, bounded).
 *
 * Requests (one JSON object a line; one answer a line, in order):
 *
 * - `{"op":"stream","purpose":p}` -> `{"key":hex}`: the key of the keyed stream
 *   (lib/keyed.ts streamKey) of this experiment, seed and purpose. The harness never sees the
 *   deployment's secret or the seed.
 * - `{"op":"run","dir":"call-N","files":[...],"limits":{...}}` -> `{"failure":reason|null,
 *   "stdout","stderr","seconds"}`: runs the candidate on the files the harness wrote in its
 *   scratch folder; the result channel's bytes are left in `call-N/result.bin`.
 * - `{"op":"failed","reason":r}`: the harness refused a candidate's output; the seed fails with
 *   this reason unless the harness goes on and reports.
 * - `{"op":"report","metrics":{...}}`: metrics, merged; only these become the seed's metrics.
 * - `{"op":"prune","stage":n,"score":x|null}`: the seed ends as pruned at cascade stage n (the
 *   candidate scored x there, below the stage's threshold) with the metrics reported.
 *
 * What the harness prints is kept in the seed's folder as a log, never parsed.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable, Writable } from 'node:stream';
import type { Config } from '../domain/schemas.js';
import type { SourceSnapshot } from '../domain/code.js';
import { PROJECT_ROOT } from '../stack/paths.js';
import {
  CandidateError,
  candidateFailure,
  runPythonCandidate,
  type CodeRunContext,
  type CodeSpec,
} from './code.js';
import { groupAlive } from './runner.js';
import type { SandboxLimits } from './sandbox.js';

/** The SDK's folder: put on the harness's PYTHONPATH, so it works without an install too. */
export const HARNESS_SDK_DIR = path.join(PROJECT_ROOT, 'python', 'harness');
/** The trusted driver every candidate call runs in the sandbox. */
export const SANDBOX_DRIVER = path.join(HARNESS_SDK_DIR, 'gaplab_harness', 'sandbox_driver.py');

/** Environment variables of the worker a harness inherits (as a command experiment's). */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
/** Bytes of input files one candidate call may be given in all. */
export const MAX_CALL_INPUT_BYTES = 1024 ** 3;
/** Characters of the candidate's stdout and stderr sent back to the harness per call. */
const LOG_TAIL_CHARS = 16_384;
/** Time between SIGTERM and SIGKILL of the harness's process group. */
const KILL_GRACE_MS = 2000;
/** Bytes of harness output kept for the failure reason. */
const HARNESS_TAIL_CHARS = 16_384;

/** The ceilings of one candidate call, from the experiment.yaml's `sandbox:`. */
export type HarnessLimits = Pick<SandboxLimits, 'cpuSeconds' | 'memoryBytes' | 'wallSeconds'>;

export interface CommandHarness {
  /** The experiment's name: part of every keyed stream's label. */
  experiment: string;
  /** Resolved argv of the trusted harness (registered with the experiment). */
  argv: string[];
  /** Working directory (the experiment's folder). */
  cwd: string;
  env?: Record<string, string>;
  passEnv?: string[];
  /** What a call may use at most; a harness asking for more gets these. */
  limits: HarnessLimits;
}

type Request =
  | { op: 'stream'; purpose: string }
  | { op: 'run'; dir: string; files: string[]; limits?: Partial<Record<string, number>> }
  | { op: 'failed'; reason: string }
  | { op: 'report'; metrics: Record<string, number> }
  | { op: 'prune'; stage: number; score: number | null };

const tail = (s: string, n: number) => (s.length > n ? s.slice(-n) : s);

/** A harness's scratch file name: `call-N/name` or `call-N/files/name`, nothing else. */
function scratchFile(scratch: string, dir: string, name: string): string {
  if (!/^call-\d+$/.test(dir)) throw new Error(`bad call folder ${JSON.stringify(dir)}`);
  if (!/^(files\/)?[\w][\w.-]*$/.test(name))
    throw new Error(`bad file name ${JSON.stringify(name)}`);
  return path.join(scratch, dir, name);
}

/** Builds the `evaluate` of a code experiment whose harness is `harness`. */
export function commandHarnessEvaluate(harness: CommandHarness): CodeSpec['evaluate'] {
  return (source, params, ctx) => runHarness(harness, source, params, ctx);
}

async function runHarness(
  harness: CommandHarness,
  source: SourceSnapshot,
  params: Config,
  ctx: CodeRunContext,
): Promise<Record<string, number>> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'gaplab-harness-'));
  const contextFile = path.join(scratch, 'context.json');
  await writeFile(
    contextFile,
    JSON.stringify({
      experiment: harness.experiment,
      params,
      candidateSeed: ctx.candidateSeed,
      harnessKeyId: ctx.harnessKeyId,
      scratch,
    }),
    { mode: 0o600 },
  );
  const driver = readFileSync(SANDBOX_DRIVER, 'utf8');
  const env: Record<string, string> = {};
  for (const k of [...INHERITED_ENV, ...(harness.passEnv ?? [])]) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  Object.assign(env, harness.env ?? {}, {
    PYTHONPATH: HARNESS_SDK_DIR,
    PYTHONUNBUFFERED: '1',
    GAPLAB_HARNESS_CONTEXT: contextFile,
    GAPLAB_HARNESS_RPC: '3,4',
  });
  const metrics: Record<string, number> = {};
  let pruned: { stage: number; score: number | null } | undefined;
  let failure: CandidateError | undefined;
  let calls = 0;
  const child = spawn(harness.argv[0] as string, harness.argv.slice(1), {
    cwd: harness.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
    detached: true, // its own process group: killed whole on cancellation
  });
  const pgid = child.pid;
  // Supervised like a command experiment's group: the worker's guard kills it if the worker
  // dies, and whatever is left of it when the harness exits is killed before it is released.
  if (pgid !== undefined) ctx.guard?.register(pgid);
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      if (pgid !== undefined) process.kill(-pgid, sig);
    } catch {
      // already gone
    }
  };
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    if (killTimer) return;
    killGroup('SIGTERM');
    killTimer = setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
  };
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

  let out = '';
  let err = '';
  const logOut = path.join(ctx.outDir, 'harness-stdout.log');
  const logErr = path.join(ctx.outDir, 'harness-stderr.log');
  (child.stdout as Readable).on('data', (b: Buffer) => {
    out = tail(out + b.toString(), HARNESS_TAIL_CHARS);
    void appendFile(logOut, b).catch(() => undefined);
  });
  (child.stderr as Readable).on('data', (b: Buffer) => {
    err = tail(err + b.toString(), HARNESS_TAIL_CHARS);
    void appendFile(logErr, b).catch(() => undefined);
  });
  const requests = child.stdio[3] as Readable;
  const replies = child.stdio[4] as Writable;
  replies.on('error', () => undefined); // the harness may exit without reading

  const handle = async (req: Request): Promise<unknown> => {
    switch (req.op) {
      case 'stream': {
        if (typeof req.purpose !== 'string' || !req.purpose || req.purpose.length > 200)
          throw new Error('purpose must be a string of 1 to 200 characters');
        return { key: ctx.streamKey(req.purpose).toString('hex') };
      }
      case 'report': {
        for (const [k, v] of Object.entries(req.metrics ?? {})) {
          if (typeof v !== 'number' || !Number.isFinite(v))
            throw new Error(`metric ${k}: not a finite number`);
          metrics[k] = v;
        }
        return { ok: true };
      }
      case 'failed':
        failure = new CandidateError(String(req.reason).slice(0, 1000));
        return { ok: true };
      case 'prune': {
        if (!Number.isInteger(req.stage) || req.stage < 1)
          throw new Error('stage must be an integer of at least 1');
        if (req.score !== null && (typeof req.score !== 'number' || !Number.isFinite(req.score)))
          throw new Error('score must be a finite number or null');
        pruned = { stage: req.stage, score: req.score };
        return { ok: true };
      }
      case 'run': {
        ctx.signal.throwIfAborted(); // no new sandbox once the seed is stopped
        calls++;
        const inputs: Record<string, Uint8Array> = {};
        let total = 0;
        for (const name of req.files ?? []) {
          const file = scratchFile(scratch, req.dir, name);
          total += (await stat(file)).size;
          if (total > MAX_CALL_INPUT_BYTES)
            throw new Error(`inputs of one call exceed ${MAX_CALL_INPUT_BYTES} bytes`);
          inputs[name] = await readFile(file);
        }
        const asked = req.limits ?? {};
        const limits: Partial<SandboxLimits> = {};
        for (const k of ['cpuSeconds', 'memoryBytes', 'wallSeconds'] as const) {
          const v = asked[k];
          limits[k] =
            typeof v === 'number' && v > 0 ? Math.min(v, harness.limits[k]) : harness.limits[k];
        }
        const r = await runPythonCandidate({
          source,
          driver,
          inputs,
          limits,
          signal: ctx.signal,
          ...(ctx.sandbox ? { sandbox: ctx.sandbox } : {}),
        });
        const sep = `--- call ${calls} ---\n`;
        await appendFile(path.join(ctx.outDir, 'candidate-stdout.log'), sep + r.stdout);
        await appendFile(path.join(ctx.outDir, 'candidate-stderr.log'), sep + r.stderr);
        const f = candidateFailure(r);
        if (f) failure = f;
        else await writeFile(scratchFile(scratch, req.dir, 'result.bin'), r.result);
        return {
          failure: f ? f.reason : null,
          stdout: tail(r.stdout, LOG_TAIL_CHARS),
          stderr: tail(r.stderr, LOG_TAIL_CHARS),
          seconds: r.durationSeconds,
        };
      }
      default:
        throw new Error(`unknown op ${JSON.stringify((req as { op?: unknown }).op)}`);
    }
  };

  // One request at a time, answered in order (the SDK waits for each answer).
  let chain: Promise<void> = Promise.resolve();
  createInterface({ input: requests, crlfDelay: Infinity }).on('line', (line) => {
    chain = chain.then(async () => {
      let reply: unknown;
      try {
        reply = await handle(JSON.parse(line) as Request);
      } catch (e) {
        if ((e as Error).name === 'SandboxUnavailableError') throw e;
        reply = { error: (e as Error).message };
      }
      replies.write(`${JSON.stringify(reply)}\n`);
    });
    chain.catch(() => onAbort());
  });

  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>(
      (resolve, reject) => {
        child.on('error', reject);
        child.on('exit', (c, s) => resolve([c, s]));
      },
    );
    // What the harness left in its group goes with it; then its pipes close.
    if (pgid !== undefined && groupAlive(pgid)) {
      killGroup('SIGTERM');
      const deadline = Date.now() + KILL_GRACE_MS;
      while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
      killGroup('SIGKILL');
    }
    await Promise.race([closed, sleep(2000)]);
    await chain; // rethrows a missing sandbox
    ctx.signal.throwIfAborted();
    if (code === 0) {
      if (failure && Object.keys(metrics).length === 0) throw failure;
      if (pruned) ctx.prune?.(pruned.stage, pruned.score);
      ctx.progress({ fraction: 1 });
      return metrics;
    }
    // An uncaught CandidateFailed (or a refused output) is the candidate's failure, not the harness's.
    if (failure) throw new CandidateError(failure.reason, failure.stack ?? '');
    const last = err.trim().split('\n').pop() ?? '';
    const e = new Error(
      `harness ${signal ? `killed by ${signal}` : `exited with code ${code}`}${last ? `: ${last.slice(0, 300)}` : ''}`,
    );
    e.stack = `${e.message}\n--- harness stderr ---\n${err}\n--- harness stdout ---\n${out}`;
    throw e;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    killGroup('SIGKILL'); // anything it left behind
    if (killTimer) clearTimeout(killTimer);
    if (pgid !== undefined) ctx.guard?.release(pgid);
    await rm(scratch, { recursive: true, force: true });
  }
}

const BLOCK_START = /^[ \t]*#[ \t]*EVOLVE-BLOCK-START\b/;
const BLOCK_END = /^[ \t]*#[ \t]*EVOLVE-BLOCK-END\b/;

/** The lines outside EVOLVE-BLOCKs (markers included), with their line numbers; null if unbalanced. */
function outsideBlocks(text: string): { line: number; text: string }[] | null {
  const out: { line: number; text: string }[] = [];
  let inside = false;
  text.split('\n').forEach((l, i) => {
    if (!inside && BLOCK_START.test(l)) inside = true;
    else if (inside && BLOCK_END.test(l)) inside = false;
    else if (inside) return;
    out.push({ line: i + 1, text: l });
  });
  return inside ? null : out;
}

/** Whether a file's starting source marks EVOLVE-BLOCKs (OpenEvolve's layout). */
export function hasEvolveBlocks(text: string): boolean {
  return text.split('\n').some((l) => BLOCK_START.test(l));
}

/**
 * OpenEvolve's rule, enforced: in files whose starting source marks EVOLVE-BLOCKs, only the text
 * between the markers may change. Returns the refusal (file and line) or undefined.
 */
export function evolveBlockError(
  initial: SourceSnapshot,
  source: SourceSnapshot,
): string | undefined {
  for (const [file, start] of Object.entries(initial)) {
    if (!hasEvolveBlocks(start)) continue;
    const before = outsideBlocks(start);
    const after = outsideBlocks(Object.hasOwn(source, file) ? (source[file] as string) : '');
    if (!before) continue;
    if (!after) return `${file}: an EVOLVE-BLOCK-START has no EVOLVE-BLOCK-END`;
    const n = Math.max(before.length, after.length);
    for (let i = 0; i < n; i++)
      if (before[i]?.text !== after[i]?.text)
        return `${file} line ${after[i]?.line ?? after.at(-1)?.line ?? 1}: edits outside the EVOLVE-BLOCK-START/END regions are refused`;
  }
  return undefined;
}
