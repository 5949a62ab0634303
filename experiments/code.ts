/**
 * Code experiments: the method itself is the thing under test. The definition declares editable
 * source implementing a documented interface and a trusted harness. The harness owns the data
 * and the ground truth, gives the candidate only what the interface allows, runs it in the
 * sandbox (sandbox.ts), and computes every metric itself from the candidate's outputs: nothing a
 * candidate prints or writes can set a metric.
 *
 * To the rest of the worker a code experiment is a function experiment that runs its starting
 * source (so baselines, registries and activities need nothing new); `runCodeSeed` runs any
 * other source snapshot of it, which is what a code hypothesis resolves to.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { SourceSnapshot } from '../domain/code.js';
import type { Config } from '../domain/schemas.js';
import { paths, PROJECT_ROOT } from '../stack/paths.js';
import { runSeed, type RunSeedOptions } from './runner.js';
import {
  runSandboxed,
  SandboxUnavailableError,
  type SandboxLimits,
  type SandboxOptions,
  type SandboxResult,
} from './sandbox.js';
import type { ExperimentDefinition, RunContext, SeedRunResult } from './types.js';
import { KeyedRng, streamKey } from './lib/keyed.js';
import { harnessSecret, keyIdOf } from './lib/secret.js';

/** What a harness gets to run one source for one seed. */
export interface CodeRunContext extends RunContext {
  /** Sandbox settings (bwrap path, unprivileged uid) from the worker. */
  sandbox?: SandboxOptions;
  /**
   * The harness's random stream for `purpose` (data, ground truth, training order...): keyed by
   * the deployment's harness secret, the experiment and the seed (lib/keyed.ts), so a candidate
   * cannot replay it. Draw everything random in the harness from it, never from the seed.
   */
  random(purpose: string): KeyedRng;
  /**
   * The key of `random(purpose)`'s stream (lib/keyed.ts streamKey), for a harness in another
   * process that draws the same stream itself (python-harness.ts); never the secret.
   */
  streamKey(purpose: string): Buffer;
  /**
   * The seed the candidate gets for its own randomness: drawn from the keyed stream under its
   * own purpose, so it reveals neither the harness's seed nor its data. The same for every run
   * of this seed under this secret.
   */
  candidateSeed: number;
  /** Which harness secret the data came from (lib/secret.ts keyIdOf). */
  harnessKeyId: string;
}

/** Options of a code seed beyond runSeed's. */
export interface CodeSeedOptions {
  sandbox?: SandboxOptions;
  /** The harness secret. @default the deployment's (lib/secret.ts harnessSecret) */
  harnessSecret?: Uint8Array;
}

/** Purpose of the stream the candidate's seed is drawn from. */
const CANDIDATE_SEED_PURPOSE = 'candidate-seed';

/** The code context for one seed: the function context plus the keyed streams and the sandbox. */
function codeContext(experiment: string, ctx: RunContext, opts: CodeSeedOptions): CodeRunContext {
  const key = opts.harnessSecret ?? harnessSecret().key;
  const random = (purpose: string): KeyedRng =>
    new KeyedRng(key, { experiment, seed: ctx.seed, purpose });
  return {
    ...ctx,
    ...(opts.sandbox ? { sandbox: opts.sandbox } : {}),
    random,
    streamKey: (purpose: string) => streamKey(key, { experiment, seed: ctx.seed, purpose }),
    candidateSeed: random(CANDIDATE_SEED_PURPOSE).seed53(),
    harnessKeyId: keyIdOf(key),
  };
}

/** The code part of a code experiment's definition. */
export interface CodeSpec {
  language: 'python';
  /** The interface the candidate implements, for people and agents (Markdown). */
  interface: string;
  /** Files an edit may change; a candidate snapshot holds exactly these. */
  editable: string[];
  /** The starting source: what the baseline runs. */
  initialSource: SourceSnapshot;
  /**
   * The trusted harness: runs `source` for one seed in the sandbox and returns the metrics it
   * computed. A candidate's failure is thrown as CandidateError; a missing sandbox as
   * SandboxUnavailableError.
   */
  evaluate(
    source: SourceSnapshot,
    params: Config,
    ctx: CodeRunContext,
  ): Promise<Record<string, number>>;
  /**
   * Checks that a source compiles, without running any of it: the error (file, line, message)
   * or undefined. Edits whose result does not compile are refused before they are queued. For
   * `language: python`, {@link compilePython} runs first and this hook only if it passes.
   */
  compile?(source: SourceSnapshot): Promise<string | undefined>;
}

/** Checks the code section of a definition loaded from experiment.ts. */
export const CodeSpecSchema = z.object({
  language: z.literal('python'),
  interface: z.string().min(1).max(20_000),
  editable: z.array(z.string().min(1)).min(1).max(32),
  initialSource: SourceSnapshot,
  evaluate: z.custom<CodeSpec['evaluate']>((f) => typeof f === 'function', 'must be a function'),
  compile: z
    .custom<NonNullable<CodeSpec['compile']>>((f) => typeof f === 'function', 'must be a function')
    .optional(),
});

export type CodeExperimentDefinition = ExperimentDefinition & {
  code: CodeSpec;
  /** Sandbox settings every source of this experiment runs with (runCodeSeed's default). */
  sandbox?: SandboxOptions;
};

export function isCodeExperiment(def: ExperimentDefinition): def is CodeExperimentDefinition {
  return 'code' in def && typeof (def as { code?: unknown }).code === 'object';
}

/** Thrown when a candidate fails: crash, limit, timeout, bad output. Its stack is the candidate's log tail. */
export class CandidateError extends Error {
  override readonly name = 'CandidateError';
  constructor(
    readonly reason: string,
    readonly logTail = '',
  ) {
    super(reason);
    // The runner keeps an error's stack as the seed's log tail: make that the candidate's output.
    this.stack = logTail ? `${reason}\n${logTail}` : reason;
  }
}

/** Thrown when a snapshot does not fit the experiment's editable files. */
export class InvalidSourceError extends Error {
  override readonly name = 'InvalidSourceError';
}

/** Validates a candidate snapshot against the experiment: the editable files, nothing else. */
export function checkSource(spec: CodeSpec, source: unknown): SourceSnapshot {
  const parsed = SourceSnapshot.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidSourceError(
      `invalid source: ${issue ? `${issue.path.join('/') || '(snapshot)'}: ${issue.message}` : ''}`,
    );
  }
  const extra = Object.keys(parsed.data).filter((f) => !spec.editable.includes(f));
  if (extra.length)
    throw new InvalidSourceError(
      `invalid source: ${extra.join(', ')} not editable (editable: ${spec.editable.join(', ')})`,
    );
  const missing = spec.editable.filter((f) => !Object.hasOwn(parsed.data, f));
  if (missing.length) throw new InvalidSourceError(`invalid source: missing ${missing.join(', ')}`);
  return parsed.data;
}

// ---------------------------------------------------------------------------------------------
// Compile check
// ---------------------------------------------------------------------------------------------

/** Longest compile error kept (file, line, message and the offending line). */
export const COMPILE_ERROR_CHARS = 600;
/** Seconds a compile check may take; a source that takes longer is refused. */
export const COMPILE_TIMEOUT_SECONDS = 15;

/**
 * Compiles every file of a snapshot read from stdin (JSON name -> base64 of the exact bytes the
 * sandbox is given) and runs none of it: `compile()` only parses and builds bytecode. Compiling
 * the bytes, not a decoded text, is what the import in the sandbox does (importlib reads the file
 * and compiles its bytes), so a coding declaration counts here exactly as it counts there.
 * A declaration other than UTF-8 is refused: the diff people and agents read is the UTF-8 text,
 * and `# coding: utf-7` would run code that reads as a comment. So is a carriage return that does
 * not end a "\r\n": Python ends a line there, the diff does not. Memory and CPU are capped in
 * case a source makes the compiler itself work hard. Prints the first error as JSON, or null.
 */
const COMPILE_PY = `
import base64, codecs, json, re, resource, sys
for limit, value in ((resource.RLIMIT_AS, 1 << 30), (resource.RLIMIT_CPU, 10)):
    try:
        resource.setrlimit(limit, (value, value))
    except Exception:
        pass
# PEP 263, as the tokenizer reads it, on line 1 or 2 (both always checked: stricter than Python).
COOKIE = re.compile(rb"^[ \\t\\f]*#.*?coding[:=][ \\t]*([-\\w.]+)")
def is_utf8(name):
    n = name.decode("ascii").lower().replace("_", "-")
    if n == "utf-8" or n.startswith("utf-8-"):
        return True
    try:
        return codecs.lookup(n).name == "utf-8"
    except LookupError:
        return False
def report(name, line, kind, msg, text=b""):
    print(json.dumps({"file": name, "line": line, "type": kind, "msg": msg, "text": text.decode("utf-8", "replace").strip()[:200]}))
    sys.exit(0)
files = json.loads(sys.stdin.buffer.read().decode("utf-8"))
for name in sorted(files):
    if not name.endswith(".py"):
        continue
    data = base64.b64decode(files[name])
    body = data[3:] if data.startswith(b"\\xef\\xbb\\xbf") else data
    for i, line in enumerate(re.split(rb"\\r\\n|\\r|\\n", body, maxsplit=2)[:2]):
        m = COOKIE.match(line)
        if m and not is_utf8(m.group(1)):
            report(name, i + 1, "CodingError", "coding declaration %r refused: source files must be UTF-8 (declare utf-8 or nothing)" % m.group(1).decode("ascii"), line)
    cr = re.search(rb"\\r(?!\\n)", data)
    if cr:
        report(name, data.count(b"\\n", 0, cr.start()) + 1, "LineEndError", "a carriage return that is not part of \\\\r\\\\n ends a line for Python but not in the diff: use \\\\n line ends")
    try:
        compile(data, name, "exec", dont_inherit=True)
    except SyntaxError as e:
        print(json.dumps({"file": name, "line": e.lineno, "type": type(e).__name__, "msg": str(e.msg), "text": (e.text or "").strip()[:200]}))
        sys.exit(0)
    except (ValueError, MemoryError, RecursionError, OverflowError) as e:
        print(json.dumps({"file": name, "line": None, "type": type(e).__name__, "msg": str(e)[:300], "text": ""}))
        sys.exit(0)
print("null")
`;

/** The bytes a source file is written as for the sandbox, and compile-checked as. */
export function sourceBytes(text: string): Buffer {
  return Buffer.from(text, 'utf8');
}

/** The interpreter candidates run with inside the sandbox, so the check accepts what runs. */
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/**
 * Whether a Python snapshot compiles, without importing or running it (see COMPILE_PY): the
 * first error as `method.py line 3: SyntaxError: invalid syntax ("return x +")`, redacted of host
 * paths, or undefined. A worker without python3 cannot check: the sandboxed run then reports.
 */
export function compilePython(source: SourceSnapshot): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, ['-I', '-S', '-B', '-c', COMPILE_PY], {
      cwd: os.tmpdir(),
      env: { LANG: 'C.UTF-8', PYTHONIOENCODING: 'utf-8' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, COMPILE_TIMEOUT_SECONDS * 1000);
    child.stdout.on('data', (b: Buffer) => void (out.length < 10_000 && (out += b.toString())));
    child.stderr.on('data', (b: Buffer) => void (err.length < 10_000 && (err += b.toString())));
    child.stdin.on('error', () => undefined); // the child may exit before reading everything
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code !== 'ENOENT') console.warn(`gaplab: compile check not run: ${e.message}`);
      resolve(undefined);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const done = (text: string) => resolve(redactHostText(text).slice(0, COMPILE_ERROR_CHARS));
      if (timedOut) return done(`the compile check timed out after ${COMPILE_TIMEOUT_SECONDS} s`);
      let e: { file: string; line: number | null; type: string; msg: string; text: string } | null;
      try {
        e = JSON.parse(out.trim().split('\n').pop() ?? '') as typeof e;
      } catch {
        return done(
          `the compile check failed (exit ${code}): ${err.trim().split('\n').pop()?.slice(0, 300) ?? ''}`,
        );
      }
      if (!e) return resolve(undefined);
      const where = e.line ? `${e.file} line ${e.line}` : e.file;
      done(`${where}: ${e.type}: ${e.msg}${e.text ? ` (${JSON.stringify(e.text)})` : ''}`);
    });
    const encoded: Record<string, string> = {};
    for (const [file, text] of Object.entries(source))
      encoded[file] = sourceBytes(text).toString('base64');
    child.stdin.end(JSON.stringify(encoded));
  });
}

/**
 * The experiment's compile check for a snapshot: Python's for `language: python`, then the
 * experiment's own hook when it has one. Returns the error (already redacted) or undefined.
 */
export async function compileCheck(
  spec: CodeSpec,
  source: SourceSnapshot,
): Promise<string | undefined> {
  // Python's own check always runs: a hook may check more, never let a coding declaration by.
  if (spec.language === 'python') {
    const e = await compilePython(source);
    if (e !== undefined) return e;
  }
  if (spec.compile) {
    const e = await spec.compile(source);
    return e === undefined ? undefined : redactHostText(e).slice(0, COMPILE_ERROR_CHARS);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Redaction of failure text
// ---------------------------------------------------------------------------------------------

/** Absolute paths that are the sandbox's own (what a candidate sees) or the system's. */
const SHOWN_PATH = /^\/(input|opt\/gaplab|usr|lib|lib64|bin|tmp\/?$|proc\/self|dev\/null)(\/|$)/;
const SECRET_PATTERNS: [RegExp, string][] = [
  [/\bsk-ant-[\w-]+/g, '[secret]'],
  [/\b(?:sk|rk|pk)-[A-Za-z0-9_-]{16,}/g, '[secret]'],
  [/\bAKIA[0-9A-Z]{16}\b/g, '[secret]'],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, '[secret]'],
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 [secret]'],
  [
    /\b([A-Za-z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?))(["']?\s*[:=]\s*["']?)[^\s"',;)]+/gi,
    '$1$2[secret]',
  ],
];

/**
 * Failure text as an agent or a person outside the worker may see it: host paths (the project,
 * the state folder, home and temporary folders, anything outside the sandbox's own paths) cut
 * to their last part, and anything that looks like a key or token replaced. The sandbox's paths
 * (/input/candidate/method.py...) are kept: they are what the candidate sees.
 */
export function redactHostText(text: string): string {
  let out = text;
  for (const [re, to] of SECRET_PATTERNS) out = out.replace(re, to);
  for (const name of [
    'ANTHROPIC_API_KEY',
    'MLFLOW_TRACKING_TOKEN',
    'MLFLOW_TRACKING_PASSWORD',
    'AWS_SECRET_ACCESS_KEY',
    'GAPLAB_HARNESS_SECRET',
  ]) {
    const v = process.env[name];
    if (v && v.length >= 8) out = out.split(v).join('[secret]');
  }
  // A host path has two parts or more (`/work/main/x`); `</notebook>` or `/tmp` is not one.
  return out.replace(/(?<![\w:/.~<-])(\/[\w.@+~-]+){2,}\/?/g, (p) =>
    SHOWN_PATH.test(p) ? p : `…/${p.replace(/\/$/, '').split('/').pop()}`,
  );
}

/** Builds a code experiment: a function experiment whose run is the harness on the starting source. */
export function defineCodeExperiment(
  def: Omit<ExperimentDefinition, 'runner'> & { code: CodeSpec; sandbox?: SandboxOptions },
): CodeExperimentDefinition {
  const { sandbox } = def;
  checkSource(def.code, def.code.initialSource);
  return {
    ...def,
    runner: {
      kind: 'function',
      run: (params, ctx) =>
        def.code.evaluate(
          def.code.initialSource,
          params,
          codeContext(def.name, ctx, sandbox ? { sandbox } : {}),
        ),
    },
  };
}

/**
 * Runs one seed of a code experiment with the given source (a code hypothesis's snapshot).
 * Like runSeed it never throws for the candidate's failure: the result is `failed` with the
 * reason. An invalid source or a missing sandbox is also a failed seed naming the problem.
 */
export async function runCodeSeed(
  def: CodeExperimentDefinition,
  source: SourceSnapshot,
  params: Config,
  opts: RunSeedOptions & CodeSeedOptions,
): Promise<SeedRunResult> {
  const { sandbox: given, harnessSecret: key, ...seedOpts } = opts;
  const sandbox = given ?? def.sandbox;
  const checked = checkSource(def.code, source);
  const codeOpts: CodeSeedOptions = {
    ...(sandbox ? { sandbox } : {}),
    ...(key ? { harnessSecret: key } : {}),
  };
  return runSeed(
    {
      ...def,
      runner: {
        kind: 'function',
        run: (p, ctx) => def.code.evaluate(checked, p, codeContext(def.name, ctx, codeOpts)),
      },
    },
    params,
    seedOpts,
  );
}

// ---------------------------------------------------------------------------------------------
// Python candidates
// ---------------------------------------------------------------------------------------------

/** Where candidates find numpy: the project venv's site-packages, shown read-only. */
export const SANDBOX_SITE_PACKAGES = '/opt/gaplab/site-packages';

/**
 * Data that packages ship, hidden from candidates (an empty folder is shown in their place):
 * a built-in problem on scikit-learn's bundled datasets keeps their labels as its ground truth,
 * and a candidate that could load the same rows would read the answers off them.
 */
export const HIDDEN_PACKAGE_DATA = [
  'sklearn/datasets/data',
  'sklearn/datasets/descr',
  'sklearn/datasets/images',
];

async function venvSitePackages(): Promise<string> {
  const lib = path.join(paths.venv, 'lib');
  let entries: string[] = [];
  try {
    entries = await readdir(lib);
  } catch {
    // no venv
  }
  const py = entries.find((e) => /^python3\.\d+$/.test(e));
  const site = py ? path.join(lib, py, 'site-packages') : undefined;
  if (!site || !existsSync(site))
    throw new SandboxUnavailableError(
      `the project's Python environment (${paths.venv}) with numpy is missing`,
    );
  return site;
}

export interface PythonCandidateRun {
  source: SourceSnapshot;
  /** The trusted driver script (run as /input/driver.py). */
  driver: string;
  /** Input files the harness shows the candidate (name -> bytes), under /input. */
  inputs: Record<string, Uint8Array | string>;
  limits?: Partial<SandboxLimits>;
  signal?: AbortSignal;
  sandbox?: SandboxOptions;
}

/**
 * The tripwire against monkeypatching (tamper_guard.py), written beside every driver as
 * /input/gaplab_guard.py: a driver snapshots the loaded modules' functions before it imports the
 * candidate and fails the run naming any the candidate replaced.
 */
export const TAMPER_GUARD_MODULE = 'gaplab_guard.py';
let tamperGuard: string | undefined;
/** The tripwire's source, read once, from the project's folder (the built CLI runs from dist/). */
export const tamperGuardSource = (): string =>
  (tamperGuard ??= readFileSync(path.join(PROJECT_ROOT, 'experiments', 'tamper_guard.py'), 'utf8'));

/**
 * Inputs live under the system's temporary folder, whatever the worker's folders are: the
 * unprivileged sandbox user must be able to reach them (and nothing else of the worker's).
 */
const INPUTS_ROOT = path.join(os.tmpdir(), 'gaplab-sandbox-inputs');

async function writeInputs(run: PythonCandidateRun): Promise<string> {
  await mkdir(INPUTS_ROOT, { recursive: true, mode: 0o711 });
  await chmod(INPUTS_ROOT, 0o711); // traversable, not listable
  const dir = await mkdtemp(path.join(INPUTS_ROOT, 'run-'));
  await chmod(dir, 0o755);
  for (const [name, data] of Object.entries(run.inputs)) {
    const target = path.join(dir, name);
    if (path.dirname(target) !== dir)
      await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
    await writeFile(target, data, { mode: 0o644 });
  }
  await writeFile(path.join(dir, 'driver.py'), run.driver, { mode: 0o644 });
  await writeFile(path.join(dir, TAMPER_GUARD_MODULE), tamperGuardSource(), { mode: 0o644 });
  const candidateDir = path.join(dir, 'candidate');
  await mkdir(candidateDir, { mode: 0o755 });
  for (const [file, text] of Object.entries(run.source)) {
    const target = path.join(candidateDir, file);
    for (let d = path.dirname(target); d !== candidateDir; d = path.dirname(d))
      await mkdir(d, { recursive: true, mode: 0o755 });
    await writeFile(target, sourceBytes(text), { mode: 0o644 });
  }
  return dir;
}

const pythonChecked = new Map<string, Promise<void>>();

/** Proves once per process that python3 can import numpy inside the sandbox. */
function checkPython(site: string, sandbox: SandboxOptions | undefined): Promise<void> {
  const key = JSON.stringify([site, sandbox ?? {}]);
  let p = pythonChecked.get(key);
  if (!p) {
    p = runSandboxed({
      argv: ['/usr/bin/python3', '-B', '-s', '-c', 'import numpy'],
      readOnly: [{ source: site, target: SANDBOX_SITE_PACKAGES }],
      env: { PYTHONPATH: SANDBOX_SITE_PACKAGES },
      limits: { wallSeconds: 30 },
      ...(sandbox ? { sandbox } : {}),
    }).then((r) => {
      if (r.outcome === 'exited' && r.exitCode === 0) return;
      throw new SandboxUnavailableError(
        `python3 with numpy does not run inside the sandbox (${r.reason ?? 'failed'}: ${r.stderr.trim().split('\n').pop()?.slice(0, 300) ?? ''})`,
      );
    });
    p.catch(() => pythonChecked.delete(key));
    pythonChecked.set(key, p);
  }
  return p;
}

/**
 * Runs a Python candidate: writes the inputs, the trusted driver and the source to a fresh
 * folder shown read-only at /input, shows the project's site-packages read-only at
 * /opt/gaplab/site-packages, and runs the system's `python3 /input/driver.py` in the sandbox.
 * Returns the raw result; the harness decides what it means.
 *
 * @throws SandboxUnavailableError when bwrap, python3 or numpy is not usable in the sandbox
 */
export async function runPythonCandidate(run: PythonCandidateRun): Promise<SandboxResult> {
  const site = await venvSitePackages();
  await checkPython(site, run.sandbox);
  const inputDir = await writeInputs(run);
  const empty = path.join(inputDir, 'empty');
  await mkdir(empty, { mode: 0o755 });
  const hidden = HIDDEN_PACKAGE_DATA.filter((d) => existsSync(path.join(site, d))).map((d) => ({
    source: empty,
    target: path.posix.join(SANDBOX_SITE_PACKAGES, d),
  }));
  try {
    return await runSandboxed({
      argv: ['/usr/bin/python3', '-B', '-s', '/input/driver.py'],
      readOnly: [
        { source: inputDir, target: '/input' },
        { source: site, target: SANDBOX_SITE_PACKAGES },
        ...hidden,
      ],
      env: { PYTHONPATH: SANDBOX_SITE_PACKAGES },
      ...(run.limits ? { limits: run.limits } : {}),
      ...(run.signal ? { signal: run.signal } : {}),
      ...(run.sandbox ? { sandbox: run.sandbox } : {}),
    });
  } finally {
    await rm(inputDir, { recursive: true, force: true });
  }
}

/** The candidate's failure, from a sandbox result, or undefined when it exited 0. */
export function candidateFailure(r: SandboxResult): CandidateError | undefined {
  if (r.outcome === 'exited' && r.exitCode === 0) return undefined;
  const tail = [
    r.stderr.trim() && `--- stderr ---\n${r.stderr.trimEnd()}`,
    r.stdout.trim() && `--- stdout ---\n${r.stdout.trimEnd()}`,
  ]
    .filter(Boolean)
    .join('\n');
  const last = lastErrorLine(r.stderr);
  const at = candidateFrame(r.stderr);
  const reason = `candidate ${r.reason ?? 'failed'}${last ? `: ${last}` : ''}${last && at ? ` (${at})` : ''}`;
  return new CandidateError(reason.slice(0, 1000), tail.slice(-16_384));
}

/** The exception line of a Python traceback, e.g. `MemoryError` or `OSError: [Errno 101] ...`. */
function lastErrorLine(stderr: string): string | undefined {
  const lines = stderr.trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = (lines[i] as string).trim();
    if (/^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b/.test(l)) return l.slice(0, 300);
  }
  return undefined;
}

/** Where in the candidate's own files a traceback ends, e.g. `method.py line 12, in train`. */
function candidateFrame(stderr: string): string | undefined {
  const frames = [
    ...stderr.matchAll(/File "\/input\/candidate\/([^"]+)", line (\d+)(?:, in ([\w<>.]+))?/g),
  ];
  const f = frames.at(-1);
  return f ? `${f[1]} line ${f[2]}${f[3] ? `, in ${f[3]}` : ''}` : undefined;
}
