/**
 * The jail every candidate (code written by an agent or a person) runs in: bubblewrap (bwrap).
 *
 * What the candidate gets: a read-only system (/usr and its /bin, /lib symlinks), fresh /proc and
 * /dev, the read-only folders the harness chose to show it (its inputs, the Python packages),
 * a writable scratch folder of its own (/work, a size-limited tmpfs that never touches the
 * worker's disk) and a size-limited /tmp. Everything else is absent: the project, the state
 * folder, other trials, the harness's labels, /etc, /root, /home, the network (own network,
 * PID, IPC, UTS, cgroup and user namespaces), the worker's environment (--clearenv), further
 * user namespaces. Around bwrap (jail.ts): a cgroup of its own (memory counting shared memory,
 * memfd and tmpfs; pids; CPU quota; CPU seconds of all its processes), a seccomp filter, a host
 * uid of its own per concurrent sandbox, and scratch tmpfs with an inode limit (root workers).
 * Inside, prlimit sets the per-process limits as a second wall: CPU seconds, address space,
 * processes (RLIMIT_NPROC, counted in the sandbox's own user namespace), open files, file size.
 * Output is capped by the reader; a wall-clock timeout kills the whole sandbox (its PID
 * namespace dies with bwrap, and its cgroup is killed whole).
 *
 * A worker running as root starts bwrap as a pool uid (setpriv), because RLIMIT_NPROC does not
 * bind processes whose real user is root and because nothing keyed by uid may be shared.
 *
 * No sandbox, no candidate: when bwrap, the seccomp filter or a cgroup is missing, or the jail
 * fails its self-test, `checkSandbox` and `runSandboxed` throw SandboxUnavailableError naming
 * what is missing. Nothing here ever runs a candidate without the jail (a cgroup may be waived
 * only by GAPLAB_SANDBOX_WITHOUT_CGROUP=1).
 */
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { promisify } from 'node:util';
import { reachableBy } from '../stack/access.js';
import {
  LAUNCHER,
  NO_CGROUP_ENV,
  SandboxCgroup,
  UID_BASE,
  cgroupLayout,
  leaseUid,
  releaseUid,
  scratchPoints,
  seccompFilter,
} from './jail.js';

const execFileAsync = promisify(execFile);

/** Resource limits of one sandboxed run. */
export interface SandboxLimits {
  /**
   * CPU seconds: of the whole sandbox (the worker reads its cgroup's usage and kills it past
   * them) and of each process (RLIMIT_CPU; SIGXCPU, then SIGKILL). @default 60
   */
  cpuSeconds: number;
  /** CPU cores the sandbox may use at once (cgroup CPU quota). @default 1 */
  cpus: number;
  /**
   * Memory in bytes: of the whole sandbox (cgroup: every process, shared memory, memfd, scratch
   * tmpfs, swap) and address space per process (RLIMIT_AS). @default 2 GiB
   */
  memoryBytes: number;
  /**
   * Processes and threads: RLIMIT_NPROC (counted inside the sandbox) and the cgroup's pids
   * limit (plus bwrap's own two). @default 64
   */
  processes: number;
  /** Open files per process (RLIMIT_NOFILE). @default 256 */
  openFiles: number;
  /** Largest file a process may write (RLIMIT_FSIZE). @default 64 MiB */
  fileBytes: number;
  /** Size of each writable tmpfs (/work and /tmp). @default 256 MiB */
  scratchBytes: number;
  /** Files and folders each writable tmpfs may hold (root workers: tmpfs nr_inodes). @default 16384 */
  scratchInodes: number;
  /** stdout + stderr bytes read before the sandbox is killed. @default 8 MiB */
  outputBytes: number;
  /** Bytes accepted on the result channel (fd 3) before the sandbox is killed. @default 64 MiB */
  resultBytes: number;
  /** Wall-clock seconds before the whole sandbox is killed. @default 60 */
  wallSeconds: number;
}

export const DEFAULT_LIMITS: SandboxLimits = {
  cpuSeconds: 60,
  cpus: 1,
  memoryBytes: 2 * 1024 ** 3,
  processes: 64,
  openFiles: 256,
  fileBytes: 64 * 1024 ** 2,
  scratchBytes: 256 * 1024 ** 2,
  scratchInodes: 16_384,
  outputBytes: 8 * 1024 ** 2,
  resultBytes: 64 * 1024 ** 2,
  wallSeconds: 60,
};

/** A host folder shown read-only inside the sandbox. */
export interface ReadOnlyMount {
  source: string;
  /** Absolute path inside the sandbox (e.g. /input). */
  target: string;
}

export interface SandboxRunOptions {
  /** Command inside the sandbox; resolved against PATH=/usr/bin:/bin there. */
  argv: string[];
  readOnly?: ReadOnlyMount[];
  /** Environment inside, on top of a minimal one (PATH, HOME=/work, TMPDIR, LANG, 1-thread BLAS). */
  env?: Record<string, string>;
  limits?: Partial<SandboxLimits>;
  /** Aborting it kills the sandbox (outcome `cancelled`). */
  signal?: AbortSignal;
  /** Bytes of stdout/stderr kept as the tail. @default 65536 */
  tailBytes?: number;
  sandbox?: SandboxOptions;
}

export interface SandboxOptions {
  /** @default GAPLAB_BWRAP, else bwrap on PATH, else /usr/bin/bwrap */
  bwrapPath?: string;
  /**
   * User and group bwrap runs as when the worker is root.
   * @default a uid of its own per concurrent sandbox, from the pool at UID_BASE (jail.ts)
   */
  uid?: number;
  gid?: number;
  /**
   * Ceilings on whatever limits a harness asks for (the lower wins): what a worker or an
   * experiment's operator allows its candidates at most.
   */
  maxLimits?: Partial<SandboxLimits>;
}

export interface SandboxResult {
  /**
   * - `exited`: the command ended by itself (see exitCode / signal);
   * - `timeout`, `cancelled`: the sandbox was killed from outside;
   * - `output-limit`, `result-limit`: it wrote more than it may and was killed;
   * - `cpu-limit`: its processes together used more CPU seconds than it may, and it was killed.
   */
  outcome: 'exited' | 'timeout' | 'cancelled' | 'output-limit' | 'result-limit' | 'cpu-limit';
  exitCode: number | null;
  /** Signal that ended the command inside the sandbox, when known (SIGKILL, SIGXCPU, ...). */
  signal: string | null;
  /** A one-line reason when the run did not exit 0 by itself. */
  reason?: string;
  stdout: string;
  stderr: string;
  /** What the command wrote on fd 3, the result channel. */
  result: Buffer;
  durationSeconds: number;
}

/** Thrown when no sandbox can be made here; the message names what is missing and how to get it. */
export class SandboxUnavailableError extends Error {
  override readonly name = 'SandboxUnavailableError';
  constructor(readonly missing: string) {
    super(`code experiments need a bubblewrap sandbox: ${missing}; run "gaplab setup"`);
  }
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where bwrap is, or undefined. */
export function findBwrap(explicit?: string): string | undefined {
  if (explicit !== undefined) return isExecutable(explicit) ? explicit : undefined;
  const candidates = [
    process.env.GAPLAB_BWRAP,
    ...(process.env.PATH ?? '').split(':').map((d) => (d ? path.join(d, 'bwrap') : undefined)),
    '/usr/bin/bwrap',
  ];
  for (const c of candidates) if (c && isExecutable(c)) return c;
  return undefined;
}

/** The system part of the jail: /usr read-only and the top-level links or folders into it. */
function systemMounts(): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const top of ['bin', 'sbin', 'lib', 'lib32', 'lib64']) {
    const p = `/${top}`;
    try {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(p), p);
      else if (st.isDirectory()) args.push('--ro-bind', p, p);
    } catch {
      // absent on this system
    }
  }
  return args;
}

const BASE_ENV: Record<string, string> = {
  PATH: '/usr/bin:/bin',
  HOME: '/work',
  TMPDIR: '/tmp',
  LANG: 'C.UTF-8',
  PYTHONDONTWRITEBYTECODE: '1',
  PYTHONUNBUFFERED: '1',
  // BLAS threads count against the process limit and multiply memory: one is enough here.
  OPENBLAS_NUM_THREADS: '1',
  OMP_NUM_THREADS: '1',
  MKL_NUM_THREADS: '1',
};

/** What the worker prepared around bwrap for one run (see jail.ts). */
export interface JailParts {
  /** Host folders where the launcher mounted the scratch tmpfs (else bwrap makes them, no inode limit). */
  scratch?: { work: string; tmp: string };
  /** fd on which bwrap reads the seccomp program. */
  seccompFd?: number;
}

/** The bwrap argv for one run (exported for tests and for the record of what a candidate got). */
export function bwrapArgs(
  argv: readonly string[],
  limits: SandboxLimits,
  readOnly: readonly ReadOnlyMount[] = [],
  env: Record<string, string> = {},
  jail: JailParts = {},
): string[] {
  for (const m of readOnly)
    if (!path.isAbsolute(m.target) || m.target.split('/').includes('..'))
      throw new RangeError(`sandbox mount target must be an absolute path: ${m.target}`);
  const args = [
    '--unshare-all',
    '--unshare-user',
    '--disable-userns',
    '--die-with-parent',
    '--new-session',
    '--hostname',
    'sandbox',
    '--clearenv',
    ...systemMounts(),
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    ...(jail.scratch
      ? ['--bind', jail.scratch.work, '/work', '--bind', jail.scratch.tmp, '/tmp']
      : [
          '--size',
          String(limits.scratchBytes),
          '--tmpfs',
          '/work',
          '--size',
          String(limits.scratchBytes),
          '--tmpfs',
          '/tmp',
        ]),
    ...(jail.seccompFd !== undefined ? ['--seccomp', String(jail.seccompFd)] : []),
    ...readOnly.flatMap((m) => ['--ro-bind', m.source, m.target]),
    // bwrap builds / and /dev on unbounded tmpfs: freeze them, or a candidate could fill memory.
    '--remount-ro',
    '/dev',
    '--remount-ro',
    '/',
    '--chdir',
    '/work',
  ];
  for (const [k, v] of Object.entries({ ...BASE_ENV, ...env })) args.push('--setenv', k, v);
  args.push(
    '--',
    '/usr/bin/prlimit',
    // SIGXCPU at the soft limit (a clear reason), SIGKILL a second later for a process that ignores it.
    `--cpu=${Math.ceil(limits.cpuSeconds)}:${Math.ceil(limits.cpuSeconds) + 1}`,
    `--as=${Math.floor(limits.memoryBytes)}`,
    `--nproc=${Math.floor(limits.processes)}`,
    `--nofile=${Math.floor(limits.openFiles)}`,
    `--fsize=${Math.floor(limits.fileBytes)}`,
    '--core=0',
    '--',
    ...argv,
  );
  return args;
}

/** Keeps the last `max` bytes of a stream and counts all of them. */
class ByteTail {
  private chunks: Buffer[] = [];
  private kept = 0;
  total = 0;
  constructor(private readonly max: number) {}
  push(b: Buffer): void {
    this.total += b.length;
    this.chunks.push(b);
    this.kept += b.length;
    while (this.kept - (this.chunks[0]?.length ?? 0) >= this.max) {
      this.kept -= (this.chunks.shift() as Buffer).length;
    }
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    const tail = all.length > this.max ? all.subarray(all.length - this.max) : all;
    return (
      (this.total > tail.length ? '[... earlier output dropped]\n' : '') + tail.toString('utf8')
    );
  }
}

const SIGNAL_REASON: Record<string, string> = {
  SIGXCPU: 'CPU time limit reached',
  SIGXFSZ: 'file size limit reached',
  SIGKILL: 'killed (SIGKILL: CPU time or a limit)',
  SIGSEGV: 'crashed (SIGSEGV)',
  SIGABRT: 'aborted (SIGABRT)',
  SIGSYS: 'killed (SIGSYS: a system call of another architecture, refused by seccomp)',
};

const SIGNALS_BY_NUMBER: Record<number, string> = {
  6: 'SIGABRT',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  15: 'SIGTERM',
  24: 'SIGXCPU',
  25: 'SIGXFSZ',
  31: 'SIGSYS',
};

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Who reads the mount sources: the given uid, else any uid of the pool (none owns a file), when
 * the worker is root; the worker itself otherwise.
 */
function readerIdentity(opts: SandboxOptions | undefined): { uid?: number; gid?: number } {
  if (!isRoot()) return {};
  const uid = opts?.uid ?? UID_BASE;
  return { uid, gid: opts?.gid ?? uid };
}

/**
 * Where read-only folders the sandbox user cannot reach are mirrored (see `reachableSource`):
 * a root-owned 0711 folder under the system's temporary folder.
 */
export const MIRROR_ROOT = path.join(os.tmpdir(), 'gaplab-sandbox-mirror');

const mirrors = new Map<string, Promise<string>>();

/**
 * Removes mirrors whose source folder is gone (a deleted checkout or venv): hard links would
 * otherwise keep its files on disk. Each mirror records its source in `<mirror>.source`.
 */
async function pruneMirrors(): Promise<void> {
  let entries: string[] = [];
  try {
    entries = readdirSync(MIRROR_ROOT);
  } catch {
    return;
  }
  for (const e of entries.filter((n) => n.endsWith('.source'))) {
    const file = path.join(MIRROR_ROOT, e);
    try {
      if (existsSync(readFileSync(file, 'utf8'))) continue;
      // Asynchronously: a venv mirror is 25,000 files, and the worker keeps serving meanwhile.
      await rm(file.slice(0, -'.source'.length), { recursive: true, force: true });
      await rm(file, { force: true });
    } catch {
      // another worker pruned it
    }
  }
}

/**
 * A path of `source` that the sandbox's user can read. bwrap runs as that user and opens its
 * bind sources itself, so a folder inside a private checkout (a root-owned 0700 folder such as
 * /root or `mktemp -d`) is out of its reach. Such a folder is mirrored once per content under
 * MIRROR_ROOT: hard links when it is on the same file system (`cp -al`, a second for a venv's
 * 25,000 files), a copy otherwise. The mirror's name carries the source's path and change time,
 * so a reinstalled venv gets a fresh mirror and concurrent workers share a finished one.
 */
export function reachableSource(source: string, uid: number, gid: number): Promise<string> {
  if (reachableBy(source, uid, [gid])) return Promise.resolve(source);
  const real = realpathSync(source);
  const st = statSync(real);
  const key = createHash('sha256')
    .update(`${real}\0${st.ctimeMs}\0${st.mtimeMs}`)
    .digest('hex')
    .slice(0, 24);
  let p = mirrors.get(key);
  if (!p) {
    p = (async () => {
      mkdirSync(MIRROR_ROOT, { recursive: true, mode: 0o711 });
      const root = lstatSync(MIRROR_ROOT);
      if (!root.isDirectory() || root.uid !== process.getuid?.())
        throw new SandboxUnavailableError(
          `${MIRROR_ROOT} is not a folder of this user's, so ${source} cannot be shown to the sandbox`,
        );
      chmodSync(MIRROR_ROOT, 0o711);
      const target = path.join(MIRROR_ROOT, key);
      try {
        if (lstatSync(target).isDirectory()) return target;
      } catch {
        // not mirrored yet
      }
      await pruneMirrors();
      const partial = `${target}.${process.pid}.${randomBytes(4).toString('hex')}`;
      try {
        try {
          await execFileAsync('cp', ['-al', real, partial]);
        } catch {
          rmSync(partial, { recursive: true, force: true });
          await execFileAsync('cp', ['-a', real, partial]);
        }
        chmodSync(partial, 0o755);
        writeFileSync(`${target}.source`, real, { mode: 0o600 });
        try {
          renameSync(partial, target);
        } catch {
          // Another worker finished the same mirror first: use it.
          rmSync(partial, { recursive: true, force: true });
        }
      } catch (err) {
        rmSync(partial, { recursive: true, force: true });
        throw new SandboxUnavailableError(
          `${source} is out of the sandbox user's reach and could not be mirrored under ${MIRROR_ROOT} (${(err as Error).message.split('\n')[0]})`,
        );
      }
      return target;
    })();
    p.catch(() => mirrors.delete(key));
    mirrors.set(key, p);
  }
  return p;
}

/** Runs a command in a fresh sandbox. Never runs it unsandboxed: throws SandboxUnavailableError. */
export async function runSandboxed(opts: SandboxRunOptions): Promise<SandboxResult> {
  const bwrap = await checkSandbox(opts.sandbox);
  const id = readerIdentity(opts.sandbox);
  const readOnly =
    id.uid === undefined || !opts.readOnly
      ? opts.readOnly
      : await Promise.all(
          opts.readOnly.map(async (m) => ({
            ...m,
            source: await reachableSource(m.source, id.uid as number, id.gid as number),
          })),
        );
  const r = await runBwrap(bwrap, { ...opts, ...(readOnly ? { readOnly } : {}) }, await seccomp());
  if (!r.started)
    throw new SandboxUnavailableError(
      `bubblewrap could not set up the sandbox (${r.stderr.trim().split('\n').pop()?.slice(0, 300) ?? 'no output'})`,
    );
  return r;
}

/** The compiled seccomp filter, or SandboxUnavailableError. */
async function seccomp(): Promise<Buffer> {
  try {
    return await seccompFilter();
  } catch (e) {
    throw new SandboxUnavailableError((e as Error).message);
  }
}

/** A cgroup for one sandbox; undefined only under the documented opt-out. */
function sandboxCgroup(limits: SandboxLimits): SandboxCgroup | undefined {
  if (process.env[NO_CGROUP_ENV] === '1') return undefined;
  try {
    return SandboxCgroup.create({
      memoryBytes: limits.memoryBytes,
      // bwrap's own two processes (outside and pid 1 inside) come on top of the candidate's.
      pids: limits.processes + 2,
      cpus: limits.cpus,
    });
  } catch (e) {
    throw new SandboxUnavailableError(
      `${(e as Error).message}; candidates never run without one (${NO_CGROUP_ENV}=1 lets a host that cannot give cgroups run them bounded by per-process limits only)`,
    );
  }
}

/** The harness's limits over the defaults, each no higher than its ceiling. */
export function effectiveLimits(
  asked: Partial<SandboxLimits> = {},
  ceilings: Partial<SandboxLimits> = {},
): SandboxLimits {
  const limits: SandboxLimits = { ...DEFAULT_LIMITS, ...asked };
  for (const [k, v] of Object.entries(ceilings) as [keyof SandboxLimits, number][])
    if (typeof v === 'number' && v < limits[k]) limits[k] = v;
  return limits;
}

const MiB = (n: number): string => `${Math.round(n / 1024 ** 2)} MiB`;

async function runBwrap(
  bwrap: string,
  opts: SandboxRunOptions,
  filter: Buffer,
): Promise<SandboxResult & { started: boolean }> {
  const limits = effectiveLimits(opts.limits, opts.sandbox?.maxLimits);
  const root = isRoot();
  const cg = sandboxCgroup(limits);
  let uid: number | undefined;
  try {
    uid = root ? (opts.sandbox?.uid ?? leaseUid()) : undefined;
  } catch (e) {
    await cg?.remove();
    throw new SandboxUnavailableError((e as Error).message);
  }
  const leased = root && opts.sandbox?.uid === undefined ? uid : undefined;
  const gid = uid === undefined ? undefined : (opts.sandbox?.gid ?? uid);
  let scratch: JailParts['scratch'];
  try {
    scratch = root ? scratchPoints() : undefined;
  } catch (e) {
    await cg?.remove();
    if (leased !== undefined) releaseUid(leased);
    throw new SandboxUnavailableError((e as Error).message);
  }
  // bwrap reports the command's pid on fd 4 once the jail is built: no report, no jail.
  const args = [
    '--json-status-fd',
    '4',
    ...bwrapArgs(opts.argv, limits, opts.readOnly, opts.env, {
      ...(scratch ? { scratch } : {}),
      seccompFd: 5,
    }),
  ];
  const procs = cg?.procsFiles ?? [];
  const tmpfs = (): string =>
    `size=${Math.floor(limits.scratchBytes)},nr_inodes=${Math.floor(limits.scratchInodes)},mode=0700,uid=${uid},gid=${gid},nosuid,nodev`;
  const mounts = scratch ? [tmpfs(), scratch.work, tmpfs(), scratch.tmp] : [];
  // The launcher joins the cgroup and mounts scratch before bwrap exists: every process of the
  // sandbox is born inside its limits. As root it drops to the sandbox's uid with setpriv.
  const launch = [
    '/bin/sh',
    '-c',
    LAUNCHER,
    'gaplab-sandbox',
    String(procs.length),
    ...procs,
    String(mounts.length / 2),
    ...mounts,
    ...(root
      ? ['/usr/bin/setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--']
      : []),
    bwrap,
    ...args,
  ];
  const [command, ...commandArgs] = root
    ? ['/usr/bin/unshare', '--mount', '--propagation', 'private', ...launch]
    : launch;
  const started = performance.now();
  const tailBytes = opts.tailBytes ?? 64 * 1024;
  const out = new ByteTail(tailBytes);
  const err = new ByteTail(tailBytes);
  const result: Buffer[] = [];
  let resultBytes = 0;
  return new Promise((resolve) => {
    let killedFor: SandboxResult['outcome'] | undefined;
    const child = spawn(command as string, commandArgs, {
      // Own process group; bwrap itself sees no worker variable either.
      detached: true,
      env: { PATH: '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    });
    const kill = (why: SandboxResult['outcome']): void => {
      killedFor ??= why;
      // --die-with-parent and the PID namespace take every process inside with bwrap; the
      // cgroup takes anything else.
      if (child.pid !== undefined)
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      void cg?.kill();
    };
    const timer = setTimeout(() => kill('timeout'), limits.wallSeconds * 1000);
    // CPU seconds of the whole group: RLIMIT_CPU binds each process alone.
    const cpuWatch = cg
      ? setInterval(() => {
          const used = cg.cpuSeconds();
          if (used !== undefined && used > limits.cpuSeconds) kill('cpu-limit');
        }, 250)
      : undefined;
    const onAbort = (): void => kill('cancelled');
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const watchOutput = (): void => {
      if (out.total + err.total > limits.outputBytes) kill('output-limit');
    };
    (child.stdout as Readable).on('data', (b: Buffer) => {
      out.push(b);
      watchOutput();
    });
    (child.stderr as Readable).on('data', (b: Buffer) => {
      err.push(b);
      watchOutput();
    });
    let status = '';
    const statusStream = child.stdio[4] as Readable;
    statusStream.on('data', (b: Buffer) => {
      if (status.length < 4096) status += b.toString('utf8');
    });
    statusStream.on('error', () => {});
    const resultStream = child.stdio[3] as Readable;
    resultStream.on('data', (b: Buffer) => {
      resultBytes += b.length;
      if (resultBytes > limits.resultBytes) kill('result-limit');
      else result.push(b);
    });
    resultStream.on('error', () => {});
    const seccompStream = (child.stdio as unknown as Writable[])[5] as Writable;
    seccompStream.on('error', () => {});
    seccompStream.end(filter);
    let spawnError: Error | undefined;
    child.once('error', (e) => {
      spawnError = e;
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      if (cpuWatch) clearInterval(cpuWatch);
      opts.signal?.removeEventListener('abort', onAbort);
      void (async () => {
        const oomKills = cg?.oomKills() ?? 0;
        const cpuUsed = cg?.cpuSeconds();
        if (cg) {
          await cg.kill();
          await cg.remove();
        }
        if (leased !== undefined) releaseUid(leased);
        const stderr = err.text();
        // bwrap exits 128 + n when the command died of signal n.
        const inner = code !== null && code > 128 ? (SIGNALS_BY_NUMBER[code - 128] ?? null) : null;
        const signal = sig ?? inner;
        let reason: string | undefined;
        if (spawnError) reason = `could not start bwrap: ${spawnError.message}`;
        else if (killedFor === 'timeout')
          reason = `timed out after ${limits.wallSeconds} s (sandbox killed)`;
        else if (killedFor === 'cancelled') reason = 'cancelled';
        else if (killedFor === 'output-limit')
          reason = `wrote more than ${limits.outputBytes} bytes of output (sandbox killed)`;
        else if (killedFor === 'result-limit')
          reason = `wrote more than ${limits.resultBytes} bytes of results (sandbox killed)`;
        else if (killedFor === 'cpu-limit')
          reason = `CPU time limit reached: ${cpuUsed?.toFixed(1) ?? '?'} s used by all its processes, ${limits.cpuSeconds} s allowed (sandbox killed)`;
        else if (oomKills > 0 && code !== 0)
          reason = `memory limit reached: ${MiB(limits.memoryBytes)} for the whole sandbox, shared memory and scratch included (${oomKills} process${oomKills === 1 ? '' : 'es'} killed by the kernel)`;
        else if (signal) reason = `${SIGNAL_REASON[signal] ?? `killed by ${signal}`}`;
        else if (code !== 0) reason = `exited with code ${code}`;
        resolve({
          started: status.includes('"child-pid"'),
          outcome: killedFor ?? 'exited',
          exitCode: killedFor ? null : code,
          signal: killedFor ? null : signal,
          ...(reason ? { reason } : {}),
          stdout: out.text(),
          stderr,
          result: Buffer.concat(result),
          durationSeconds: (performance.now() - started) / 1000,
        });
      })();
    });
  });
}

const checked = new Map<string, Promise<string>>();

/**
 * Finds bwrap and proves it can build the jail (once per process and options): runs `true`
 * inside the same jail candidates get. Resolves to the bwrap path.
 *
 * @throws SandboxUnavailableError naming what is missing
 */
export function checkSandbox(opts?: SandboxOptions): Promise<string> {
  const bwrap = findBwrap(opts?.bwrapPath);
  if (!bwrap)
    return Promise.reject(
      new SandboxUnavailableError(
        `bubblewrap is not installed (no executable bwrap ${opts?.bwrapPath !== undefined ? `at ${opts.bwrapPath}` : 'on PATH'})`,
      ),
    );
  const key = JSON.stringify([bwrap, opts?.uid, opts?.gid]);
  let p = checked.get(key);
  if (!p) {
    p = (async () => {
      if (process.env[NO_CGROUP_ENV] !== '1')
        try {
          cgroupLayout();
        } catch (e) {
          throw new SandboxUnavailableError(
            `${(e as Error).message}; candidates never run without one (${NO_CGROUP_ENV}=1 lets a host that cannot give cgroups run them bounded by per-process limits only)`,
          );
        }
      return runBwrap(
        bwrap,
        {
          argv: [
            '/bin/sh',
            '-c',
            'test -d /work && test ! -e /etc/passwd && ! touch /x 2>/dev/null',
          ],
          limits: { wallSeconds: 20 },
          ...(opts ? { sandbox: opts } : {}),
        },
        await seccomp(),
      );
    })().then((r) => {
      if (r.outcome === 'exited' && r.exitCode === 0) return bwrap;
      throw new SandboxUnavailableError(
        `bubblewrap (${bwrap}) failed its self-test (${r.reason ?? 'unknown'}): ${r.stderr.trim().slice(-500) || 'no output'} — user namespaces may be disabled`,
      );
    });
    // A failed check is retried next time (the administrator may have fixed it).
    p.catch(() => checked.delete(key));
    checked.set(key, p);
  }
  return p;
}
