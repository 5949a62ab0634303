/**
 * What bubblewrap alone does not give the sandbox (sandbox.ts), set up by the worker around it:
 *
 * - a cgroup per sandbox (cgroup v2 where the worker's hierarchy has the memory and pids
 *   controllers, else v1's memory, pids, cpu and cpuacct hierarchies): one memory limit for all
 *   its processes that counts shared memory, memfd and tmpfs pages (and swap: v1 memsw, v2
 *   swap.max 0), a pids limit, a CPU quota, and CPU seconds of the whole group watched by the
 *   worker; killed whole and removed with the sandbox;
 * - a seccomp filter compiled once by libseccomp (seccomp_filter.py) and handed to bwrap;
 * - a host uid per concurrent sandbox from a pool (root workers), so nothing keyed by uid
 *   (keyrings, RLIMIT_NPROC, signals) is shared between two candidates;
 * - scratch tmpfs with an inode limit, mounted by the worker in a mount namespace of the
 *   sandbox's own (root workers) and bound into it.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../stack/paths.js';

const execFileAsync = promisify(execFile);

/** Why a piece of the jail cannot be had here; sandbox.ts turns it into SandboxUnavailableError. */
export class JailUnavailable extends Error {
  override readonly name = 'JailUnavailable';
}

// ---------------------------------------------------------------------------------------------
// cgroups
// ---------------------------------------------------------------------------------------------

/** Opt-out for hosts that cannot give a worker any cgroup: candidates then run without one. */
export const NO_CGROUP_ENV = 'GAPLAB_SANDBOX_WITHOUT_CGROUP';

export interface CgroupLimits {
  memoryBytes: number;
  pids: number;
  /** CPU cores the group may use at once (CFS quota). */
  cpus: number;
}

interface Layout {
  version: 1 | 2;
  /** Folder under which each sandbox's cgroup is made, per hierarchy. */
  memory: string;
  pids: string;
  cpu?: string;
  cpuacct?: string;
  /** v2: the one folder (same as memory and pids). */
}

function readLines(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/** Where the worker's cgroups are: controller -> [mount point, the worker's path in it]. */
function workerCgroups(): { v1: Map<string, string>; v2?: string } {
  const mounts = readLines('/proc/self/mountinfo').map((l) => {
    const [pre, post] = l.split(' - ');
    const f = (pre ?? '').split(' ');
    const g = (post ?? '').split(' ');
    return { root: f[3] ?? '/', at: f[4] ?? '', type: g[0] ?? '', opts: (g[2] ?? '').split(',') };
  });
  const own = new Map<string, string>();
  for (const l of readLines('/proc/self/cgroup')) {
    const [, ctrls, p] = /^\d+:([^:]*):(.*)$/.exec(l) ?? [];
    if (ctrls === undefined || p === undefined) continue;
    for (const c of ctrls === '' ? [''] : ctrls.split(',')) own.set(c, p);
  }
  const v1 = new Map<string, string>();
  for (const m of mounts.filter((x) => x.type === 'cgroup'))
    for (const c of ['memory', 'pids', 'cpu', 'cpuacct'])
      if (m.opts.includes(c) && own.has(c) && !v1.has(c)) {
        const rel = path.relative(m.root, own.get(c) as string);
        if (!rel.startsWith('..')) v1.set(c, path.join(m.at, rel));
      }
  const m2 = mounts.find((x) => x.type === 'cgroup2');
  const p2 = own.get('');
  const v2 =
    m2 && p2 !== undefined && !path.relative(m2.root, p2).startsWith('..')
      ? path.join(m2.at, path.relative(m2.root, p2))
      : undefined;
  return { v1, ...(v2 ? { v2 } : {}) };
}

const PARENT = 'gaplab-sandbox';

function detect(): Layout {
  const { v1, v2 } = workerCgroups();
  const problems: string[] = [];
  if (v2) {
    const ctrls = (() => {
      try {
        return fs.readFileSync(path.join(v2, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
      } catch {
        return [];
      }
    })();
    if (ctrls.includes('memory') && ctrls.includes('pids')) {
      try {
        // Controllers reach a child only through cgroup.subtree_control, and a cgroup with
        // processes of its own (other than the root) cannot hand them on: the worker's cgroup
        // must be the root or a delegated one the worker can write.
        const enable = ['memory', 'pids', ...(ctrls.includes('cpu') ? ['cpu'] : [])];
        fs.writeFileSync(
          path.join(v2, 'cgroup.subtree_control'),
          enable.map((c) => `+${c}`).join(' '),
        );
        const parent = path.join(v2, PARENT);
        fs.mkdirSync(parent, { recursive: true });
        fs.writeFileSync(
          path.join(parent, 'cgroup.subtree_control'),
          enable.map((c) => `+${c}`).join(' '),
        );
        return {
          version: 2,
          memory: parent,
          pids: parent,
          ...(enable.includes('cpu') ? { cpu: parent, cpuacct: parent } : {}),
        };
      } catch (e) {
        problems.push(`cgroup v2 at ${v2}: ${(e as Error).message}`);
      }
    } else problems.push(`cgroup v2 at ${v2} has no memory and pids controllers`);
  }
  const mem = v1.get('memory');
  const pids = v1.get('pids');
  if (mem && pids) {
    try {
      const layout: Layout = {
        version: 1,
        memory: path.join(mem, PARENT),
        pids: path.join(pids, PARENT),
      };
      const cpu = v1.get('cpu');
      const acct = v1.get('cpuacct');
      if (cpu) layout.cpu = path.join(cpu, PARENT);
      if (acct) layout.cpuacct = path.join(acct, PARENT);
      for (const d of [layout.memory, layout.pids, layout.cpu, layout.cpuacct])
        if (d) fs.mkdirSync(d, { recursive: true });
      return layout;
    } catch (e) {
      problems.push(`cgroup v1: ${(e as Error).message}`);
    }
  } else problems.push('no cgroup v1 memory and pids hierarchies');
  throw new JailUnavailable(`no cgroup can be created for the sandbox (${problems.join('; ')})`);
}

let layout: Layout | undefined;

/** Removes sandbox cgroups a worker that is gone left behind (empty ones only). */
function removeStale(l: Layout): void {
  for (const parent of new Set([l.memory, l.pids, l.cpu, l.cpuacct].filter(Boolean) as string[])) {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(parent);
    } catch {
      continue;
    }
    for (const e of entries) {
      const pid = Number(/^s-(\d+)-/.exec(e)?.[1]);
      if (!pid || pid === process.pid || alive(pid)) continue;
      try {
        fs.rmdirSync(path.join(parent, e)); // fails while a process is still inside: kept
      } catch {
        // busy or gone
      }
    }
  }
}

/** The cgroup layout of this worker, or throws JailUnavailable naming why there is none. */
export function cgroupLayout(): Layout {
  if (!layout) {
    layout = detect();
    removeStale(layout);
  }
  return layout;
}

/** The cgroup of one sandbox. */
export class SandboxCgroup {
  private constructor(
    private readonly l: Layout,
    readonly dirs: { memory: string; pids: string; cpu?: string; cpuacct?: string },
    readonly limits: CgroupLimits,
  ) {}

  /** Makes the cgroup with its limits (nothing runs in it yet). */
  static create(limits: CgroupLimits): SandboxCgroup {
    const l = cgroupLayout();
    const name = `s-${process.pid}-${randomBytes(5).toString('hex')}`;
    const uniq = [...new Set([l.memory, l.pids, l.cpu, l.cpuacct].filter(Boolean) as string[])];
    const made = new Map(uniq.map((p) => [p, path.join(p, name)]));
    const at = (p: string | undefined) => (p ? made.get(p) : undefined);
    const dirs = {
      memory: at(l.memory) as string,
      pids: at(l.pids) as string,
      ...(l.cpu ? { cpu: at(l.cpu) as string } : {}),
      ...(l.cpuacct ? { cpuacct: at(l.cpuacct) as string } : {}),
    };
    const cg = new SandboxCgroup(l, dirs, limits);
    try {
      for (const d of made.values()) fs.mkdirSync(d);
      const w = (dir: string, file: string, value: string | number, optional = false): void => {
        const f = path.join(dir, file);
        if (optional && !fs.existsSync(f)) return;
        fs.writeFileSync(f, String(value));
      };
      const mem = Math.floor(limits.memoryBytes);
      const quota = Math.max(1000, Math.round(limits.cpus * 100_000));
      if (l.version === 1) {
        w(dirs.memory, 'memory.limit_in_bytes', mem);
        // memory + swap: without it a sandbox could push its pages to swap past the limit.
        w(dirs.memory, 'memory.memsw.limit_in_bytes', mem, true);
        w(dirs.pids, 'pids.max', Math.floor(limits.pids));
        if (dirs.cpu) {
          w(dirs.cpu, 'cpu.cfs_period_us', 100_000);
          w(dirs.cpu, 'cpu.cfs_quota_us', quota);
        }
      } else {
        w(dirs.memory, 'memory.max', mem);
        w(dirs.memory, 'memory.swap.max', 0, true);
        w(dirs.pids, 'pids.max', Math.floor(limits.pids));
        if (dirs.cpu) w(dirs.cpu, 'cpu.max', `${quota} 100000`);
      }
    } catch (e) {
      void cg.remove();
      throw new JailUnavailable(`the sandbox's cgroup could not be made: ${(e as Error).message}`);
    }
    return cg;
  }

  /** The cgroup.procs files the launcher writes its pid to before it starts bwrap. */
  get procsFiles(): string[] {
    return [...new Set(Object.values(this.dirs))].map((d) => path.join(d, 'cgroup.procs'));
  }

  /** CPU seconds used by every process of the group so far, or undefined when not counted. */
  cpuSeconds(): number | undefined {
    try {
      if (this.l.version === 1) {
        if (!this.dirs.cpuacct) return undefined;
        return Number(fs.readFileSync(path.join(this.dirs.cpuacct, 'cpuacct.usage'), 'utf8')) / 1e9;
      }
      const stat = fs.readFileSync(path.join(this.dirs.memory, 'cpu.stat'), 'utf8');
      const m = /usage_usec (\d+)/.exec(stat);
      return m ? Number(m[1]) / 1e6 : undefined;
    } catch {
      return undefined;
    }
  }

  /** Processes the kernel killed for the group's memory limit. */
  oomKills(): number {
    try {
      const text = fs.readFileSync(
        path.join(this.dirs.memory, this.l.version === 1 ? 'memory.oom_control' : 'memory.events'),
        'utf8',
      );
      const m = /oom_kill (\d+)/.exec(text);
      return m ? Number(m[1]) : 0;
    } catch {
      return 0;
    }
  }

  /** Pids still in the group. */
  pids(): number[] {
    try {
      return readLines(path.join(this.dirs.pids, 'cgroup.procs')).map(Number);
    } catch {
      return [];
    }
  }

  /**
   * Kills every process of the group: cgroup.kill on v2; elsewhere the pids limit drops to 0 (no
   * new process can start) and every pid in cgroup.procs gets SIGKILL until none is left.
   */
  async kill(): Promise<void> {
    if (this.l.version === 2)
      try {
        fs.writeFileSync(path.join(this.dirs.pids, 'cgroup.kill'), '1');
      } catch {
        // older kernel: the loop below
      }
    try {
      fs.writeFileSync(path.join(this.dirs.pids, 'pids.max'), '0');
    } catch {
      // gone already
    }
    for (let i = 0; i < 200; i++) {
      const pids = this.pids();
      if (!pids.length) return;
      for (const pid of pids)
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Removes the group's folders (after kill); a folder still busy is retried for a second. */
  async remove(): Promise<void> {
    for (const d of new Set(Object.values(this.dirs)))
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(d);
          break;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EBUSY') break;
          // a dying process still holds the group for a moment
          await new Promise((r) => setTimeout(r, 20));
        }
      }
  }
}

// ---------------------------------------------------------------------------------------------
// seccomp
// ---------------------------------------------------------------------------------------------

// From the project's folder: the built worker runs from dist/, where no Python file is copied.
const SECCOMP_SCRIPT = path.join(PROJECT_ROOT, 'experiments', 'seccomp_filter.py');

/** The system python that has libseccomp's bindings (Debian's python3-seccomp). */
export const SECCOMP_PYTHON = process.env.GAPLAB_SECCOMP_PYTHON ?? '/usr/bin/python3';

let seccompProgram: Promise<Buffer> | undefined;

/** Runs seccomp_filter.py: the BPF program, or with `pfc` its readable form. */
export async function compileSeccomp(pfc = false): Promise<Buffer> {
  try {
    const { stdout } = await execFileAsync(
      SECCOMP_PYTHON,
      ['-I', SECCOMP_SCRIPT, ...(pfc ? ['--pfc'] : [])],
      { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024, env: { PATH: '/usr/bin:/bin' } },
    );
    if (!stdout.length) throw new Error('empty program');
    return stdout;
  } catch (e) {
    const stderr = String((e as { stderr?: Buffer }).stderr ?? '').trim();
    throw new JailUnavailable(
      `the seccomp filter could not be compiled (${SECCOMP_PYTHON} with libseccomp's Python bindings, Debian's python3-seccomp: ${stderr.split('\n').pop() || (e as Error).message})`,
    );
  }
}

/** The compiled filter, once per worker process. */
export function seccompFilter(): Promise<Buffer> {
  if (!seccompProgram) {
    seccompProgram = compileSeccomp();
    seccompProgram.catch(() => (seccompProgram = undefined));
  }
  return seccompProgram;
}

// ---------------------------------------------------------------------------------------------
// uid pool
// ---------------------------------------------------------------------------------------------

/**
 * Host uids sandboxes run as when the worker is root: UID_BASE + slot, one per concurrent
 * sandbox on the machine (GAPLAB_SANDBOX_UID_BASE, GAPLAB_SANDBOX_UID_COUNT). The default range
 * sits in the part of the uid space Linux distributions leave unused (above systemd's container
 * ranges, below 2^31) and owns no file.
 */
export const UID_BASE = Number(process.env.GAPLAB_SANDBOX_UID_BASE ?? 2_000_000_000);
export const UID_COUNT = Number(process.env.GAPLAB_SANDBOX_UID_COUNT ?? 1024);

/** Root-owned 0700 folder of the pool's leases: one file per uid in use, holding the worker's pid. */
const LEASES = path.join(os.tmpdir(), 'gaplab-sandbox-uids');
const held = new Set<number>();

function ownedFolder(dir: string, mode: number): void {
  fs.mkdirSync(dir, { recursive: true, mode });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.())
    throw new JailUnavailable(`${dir} is not a folder of this user's`);
  fs.chmodSync(dir, mode);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes a free uid of the pool (across every worker on the machine). */
export function leaseUid(): number {
  ownedFolder(LEASES, 0o700);
  for (let slot = 0; slot < UID_COUNT; slot++) {
    const uid = UID_BASE + slot;
    if (held.has(uid)) continue;
    const file = path.join(LEASES, String(uid));
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      held.add(uid);
      return uid;
    } catch {
      // taken: reclaim it when its worker is gone
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(file, 'utf8'));
      } catch {
        continue;
      }
      if (owner !== process.pid && Number.isInteger(owner) && owner > 0 && !alive(owner)) {
        try {
          fs.unlinkSync(file);
          fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
          held.add(uid);
          return uid;
        } catch {
          // another worker reclaimed it first
        }
      }
    }
  }
  throw new JailUnavailable(`all ${UID_COUNT} sandbox uids from ${UID_BASE} are in use`);
}

export function releaseUid(uid: number): void {
  if (!held.delete(uid)) return;
  try {
    fs.unlinkSync(path.join(LEASES, String(uid)));
  } catch {
    // already gone
  }
}

// ---------------------------------------------------------------------------------------------
// scratch
// ---------------------------------------------------------------------------------------------

/** Empty folders the launcher mounts each sandbox's scratch tmpfs on (in its own mount namespace). */
export const SCRATCH_POINTS = path.join(os.tmpdir(), 'gaplab-sandbox-scratch');

export function scratchPoints(): { work: string; tmp: string } {
  ownedFolder(SCRATCH_POINTS, 0o711);
  const work = path.join(SCRATCH_POINTS, 'work');
  const tmp = path.join(SCRATCH_POINTS, 'tmp');
  for (const d of [work, tmp]) {
    fs.mkdirSync(d, { recursive: true, mode: 0o755 });
    fs.chmodSync(d, 0o755);
  }
  return { work, tmp };
}

/**
 * The launcher, run as root in a mount namespace of its own (`unshare -m --propagation
 * private`): joins the sandbox's cgroups, mounts the two scratch tmpfs (size and inode limits,
 * owned by the sandbox's uid), then execs the rest of its arguments (setpriv, which drops to the
 * sandbox's uid, then bwrap). The mounts die with the namespace.
 */
export const LAUNCHER = [
  'set -e',
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do echo $$ > "$1"; shift; n=$((n-1)); done',
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do mount -t tmpfs -o "$1" gaplab-scratch "$2"; shift 2; n=$((n-1)); done',
  'exec "$@"',
].join('\n');
