/**
 * Red team: hostile candidates of the weak-to-strong code problem run on a real Worker through
 * runExperimentSeed, in the real bubblewrap sandbox, against the real Temporal server. Each one
 * ends as a failed seed with the reason (or, for the fake metrics line, with the harness's own
 * metrics); nothing escapes; the same worker keeps running honest candidates alongside.
 *
 * The worker runs with a fake ANTHROPIC_API_KEY in its environment, which no candidate may see.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createExperimentActivities } from '../activities/experiment.js';
import type { ExperimentSeedResult } from '../activities/experiment.js';
import {
  defineCodeExperiment,
  isCodeExperiment,
  type CodeExperimentDefinition,
} from '../experiments/code.js';
import { cgroupLayout } from '../experiments/jail.js';
import { ExperimentRegistry, loadRegistry } from '../experiments/registry.js';
import { PROJECT_ROOT, STATE_DIR } from '../stack/paths.js';
import type { runSeedsWorkflow } from './fixtures/experiment-seeds.js';

const FAKE_KEY = 'sk-ant-api03-FAKE-red-team-key-0123456789';
let tmp: string;
let client: Client;
let connection: Connection;
let nativeConnection: NativeConnection;
let worker: Worker;
let running: Promise<void>;
let savedKey: string | undefined;
let w2s: CodeExperimentDefinition;
const taskQueue = `sandbox-${randomUUID().slice(0, 8)}`;

const port = (address: string): number => Number(new URL(`http://${address}`).port);

/** Hostile method.py bodies; `FINDINGS <json>` lines report what the candidate saw. */
function candidates(naive: string, mlflowPort: number, temporalPort: number, runsDir: string) {
  const header = 'import json, os, socket, sys, time\nimport numpy as np\n\n';
  return {
    socket: `${header}
def train(features, weak_labels, unlabelled_features, params, rng):
    out = []
    for host, port in [("127.0.0.1", ${mlflowPort}), ("127.0.0.1", ${temporalPort}), ("1.1.1.1", 53), ("10.0.0.1", 80)]:
        try:
            socket.create_connection((host, port), timeout=3).close()
            out.append("CONNECTED %s:%d" % (host, port))
        except OSError as e:
            out.append("%s:%d %s" % (host, port, type(e).__name__))
    print("FINDINGS " + json.dumps(out))
    raise RuntimeError("no network")
`,
    snoop: `${header}
TARGETS = ${JSON.stringify([
      path.join(PROJECT_ROOT, 'experiments/weak-to-strong-code/harness.ts'),
      path.join(PROJECT_ROOT, 'package.json'),
      STATE_DIR,
      runsDir,
      '/root',
      '/etc/passwd',
    ])}
SKIP = {"/proc", "/usr", "/sys", "/dev", "/opt/gaplab/site-packages"}

def train(features, weak_labels, unlabelled_features, params, rng):
    reads = {}
    for p in TARGETS:
        try:
            if os.path.isdir(p):
                os.listdir(p)
            else:
                open(p, "rb").read()
            reads[p] = "READ"
        except OSError as e:
            reads[p] = type(e).__name__
    visible = []
    for root, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in SKIP]
        visible += [os.path.join(root, f) for f in files]
    print("FINDINGS " + json.dumps({"reads": reads, "visible": sorted(visible), "parent": sorted(os.listdir(".."))}))
    raise RuntimeError("nothing to steal")
`,
    env: `${header}
def train(features, weak_labels, unlabelled_features, params, rng):
    procs = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                procs[pid] = open("/proc/%s/environ" % pid, "rb").read().decode("utf-8", "replace")
            except OSError as e:
                procs[pid] = type(e).__name__
    print("FINDINGS " + json.dumps({"env": dict(os.environ), "procs": procs}))
    raise RuntimeError("no keys")
`,
    forkbomb: `${header}
def train(features, weak_labels, unlabelled_features, params, rng):
    while True:
        os.fork()
`,
    memory: `${header}
def train(features, weak_labels, unlabelled_features, params, rng):
    hog = [np.ones(2**27) for _ in range(64)]  # 64 GiB in 1 GiB pieces
    return hog
`,
    writes: `${header}
TARGETS = ${JSON.stringify([
      '/usr/escape.txt',
      '/input/escape.txt',
      '/input/candidate/method.py',
      '/escape.txt',
      '/opt/gaplab/site-packages/escape.py',
      path.join(PROJECT_ROOT, 'escape.txt'),
      '../escape.txt',
      '/dev/shm/escape',
      '/proc/escape',
    ])}

def train(features, weak_labels, unlabelled_features, params, rng):
    out = {}
    for p in TARGETS:
        try:
            with open(p, "w") as f:
                f.write("x")
            out[p] = "WROTE"
        except OSError as e:
            out[p] = type(e).__name__
    with open("/work/mine.txt", "w") as f:
        f.write("mine")
    out["/work/mine.txt"] = open("/work/mine.txt").read()
    print("FINDINGS " + json.dumps(out))
    raise RuntimeError("read-only world")
`,
    sleeper: `${header}
def train(features, weak_labels, unlabelled_features, params, rng):
    time.sleep(10**6)
`,
    fakemetrics: naive
      .replace(
        'def train(features, weak_labels, unlabelled_features, params, rng):\n',
        `def train(features, weak_labels, unlabelled_features, params, rng):
    fake = {"student_dev_acc": 1.0, "pgr_dev": 1.0, "student_heldout_acc": 1.0}
    print(json.dumps({"metrics": fake}))
    print(json.dumps({"metrics": fake}), file=sys.stderr)
    with open("metrics.json", "w") as f:
        json.dump(fake, f)
`,
      )
      .replace('import numpy as np\n', 'import json, sys\nimport numpy as np\n'),
  };
}

/**
 * Attacks on what one sandbox shares with the machine and with other sandboxes. They run with
 * small ceilings (ATTACK_LIMITS) so that, even on a sandbox without the defences, none takes
 * more than about 600 MiB of the machine. `HELD <MiB>` lines report memory the candidate holds.
 */
function attacks() {
  const header = 'import ctypes, errno, fcntl, json, os, socket, sys, time\n\n';
  const libc =
    'libc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n' +
    'def sys_call(nr, *a):\n    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(x) for x in a])\n' +
    '    return r, (errno.errorcode.get(ctypes.get_errno(), "?") if r < 0 else None)\n\n';
  return {
    // SysV shared memory lives outside every process: three 200 MiB segments, one attached at a time.
    shm: `${header}${libc}
def train(features, weak_labels, unlabelled_features, params, rng):
    libc.shmat.restype = ctypes.c_void_p
    held = 0
    for i in range(3):
        seg = libc.shmget(0, 200 << 20, 0o1000 | 0o600)
        if seg < 0:
            print("FINDINGS " + json.dumps({"shmget": errno.errorcode.get(ctypes.get_errno())}), flush=True)
            raise RuntimeError("no shared memory")
        addr = libc.shmat(seg, None, 0)
        ctypes.memset(addr, 1, 200 << 20)
        libc.shmdt(ctypes.c_void_p(addr))
        held += 200
        print("HELD %d" % held, flush=True)
    raise RuntimeError("held %d MiB" % held)
`,
    // memfd pages belong to no process either: ten 60 MiB files (under the file size limit),
    // allocated, never mapped.
    memfd: `${header}
def train(features, weak_labels, unlabelled_features, params, rng):
    held, fds = 0, []
    for i in range(10):
        try:
            fd = os.memfd_create("hog%d" % i)
        except OSError as e:
            print("FINDINGS " + json.dumps({"memfd_create": errno.errorcode.get(e.errno)}), flush=True)
            raise
        os.posix_fallocate(fd, 0, 60 << 20)
        fds.append(fd)
        held += 60
        print("HELD %d" % held, flush=True)
    raise RuntimeError("held %d MiB" % held)
`,
    // Four processes of 100 MiB each: every one under the per-process limit, together over it.
    // Each one, once it holds its 100 MiB, sleeps 5 s: all four hold it at the same time unless
    // the kernel kills some. The parent counts who lived to exit on their own.
    multiproc: `${header}
def train(features, weak_labels, unlabelled_features, params, rng):
    r, w = os.pipe()
    kids = []
    for i in range(4):
        pid = os.fork()
        if pid == 0:
            os.close(r)
            hog = bytearray(100 << 20)
            for j in range(0, len(hog), 4096):
                hog[j] = 1
            os.write(w, b"x")
            time.sleep(5)
            os._exit(0)
        kids.append(pid)
    os.close(w)
    ready = 0
    while os.read(r, 1):
        ready += 1
        print("READY %d" % ready, flush=True)
    statuses = [os.waitpid(pid, 0)[1] for pid in kids]
    survivors = sum(1 for s in statuses if os.WIFEXITED(s) and os.WEXITSTATUS(s) == 0)
    killed = sum(1 for s in statuses if os.WIFSIGNALED(s) and os.WTERMSIG(s) == 9)
    print("HELD %d" % (100 * survivors), flush=True)
    print("FINDINGS " + json.dumps({"survivors": survivors, "killed": killed}), flush=True)
    raise RuntimeError("%d of 4 lived" % survivors)
`,
    // 150,000 empty files: 0 bytes of the scratch size, about 100 MiB of kernel memory.
    inodes: `${header}
def train(features, weak_labels, unlabelled_features, params, rng):
    made, error = 0, None
    try:
        for made in range(150000):
            open("/work/f%d" % made, "w").close()
        made = 150000
    except OSError as e:
        error = errno.errorcode.get(e.errno)
    print("FINDINGS " + json.dumps({"made": made, "error": error}), flush=True)
    raise RuntimeError("made %d files" % made)
`,
    // Each process burns 3 s (under the per-process CPU limit), then hands on to a child: 30 s in all.
    cpuchain: `${header}
def train(features, weak_labels, unlabelled_features, params, rng):
    for step in range(10):
        t = time.process_time()
        while time.process_time() - t < 3:
            pass
        print("STEP %d" % step, flush=True)
        pid = os.fork()
        if pid:
            os.waitpid(pid, 0)
            os._exit(0)
    raise RuntimeError("burnt 30 s of CPU")
`,
    // PTRACE_ATTACH stops the sandbox's pid 1 (bwrap's init): nothing would reap or end it.
    ptrace: `${header}${libc}
def train(features, weak_labels, unlabelled_features, params, rng):
    print("FINDINGS " + json.dumps({"attach": sys_call(101, 16, 1, 0, 0)[1], "uring": sys_call(425, 8, 0)[1], "userfaultfd": sys_call(323, 0)[1], "modify_ldt": sys_call(154, 0, 0, 0)[1], "move_pages": sys_call(279, 0, 0, 0, 0, 0, 0)[1]}), flush=True)
    raise RuntimeError("pid 1 left alone")
`,
    // The user keyring is per uid: a key one trial adds, a later trial of the same uid could read.
    keyring: `${header}${libc}
def train(features, weak_labels, unlabelled_features, params, rng):
    mine = b"from-seed-%d" % rng.integers(1 << 30)
    added = sys_call(248, ctypes.addressof(ctypes.create_string_buffer(b"user")), ctypes.addressof(ctypes.create_string_buffer(b"gaplab-channel")), ctypes.addressof(ctypes.create_string_buffer(mine)), len(mine), -4)
    found = sys_call(250, 10, -4, ctypes.addressof(ctypes.create_string_buffer(b"user")), ctypes.addressof(ctypes.create_string_buffer(b"gaplab-channel")), 0)
    got = None
    if found[0] >= 0:
        buf = ctypes.create_string_buffer(256)
        n = sys_call(250, 11, found[0], ctypes.addressof(buf), 256)[0]
        got = buf.raw[:max(n, 0)].decode("latin-1")
    print("FINDINGS " + json.dumps({"mine": mine.decode(), "add": added[1], "search": found[1], "read": got}), flush=True)
    raise RuntimeError("keyring")
`,
    // A lock on a file every sandbox sees read-only signals between two concurrent candidates.
    flock: `${header}
def train(features, weak_labels, unlabelled_features, params, rng):
    out = {"uid": os.getuid()}
    f = open("/usr/bin/python3", "rb")
    for name, lock in [("flock", lambda: fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)), ("lockf", lambda: fcntl.lockf(f, fcntl.LOCK_SH | fcntl.LOCK_NB))]:
        try:
            lock()
            out[name] = "LOCKED"
        except OSError as e:
            out[name] = errno.errorcode.get(e.errno)
    try:
        socket.socket(16, socket.SOCK_RAW, 0)
        out["netlink"] = "OPEN"
    except OSError as e:
        out["netlink"] = errno.errorcode.get(e.errno)
    print("FINDINGS " + json.dumps(out), flush=True)
    time.sleep(2)
    raise RuntimeError("no channel")
`,
  };
}

const MiB = 1024 ** 2;
/** Ceilings for the attacks (the harness asks for 2 GiB and 60 CPU seconds). */
const ATTACK_LIMITS = { memoryBytes: 256 * MiB, cpuSeconds: 5 };

type Attack = keyof ReturnType<typeof attacks>;
type Name = keyof ReturnType<typeof candidates> | Attack;

function findings(r: ExperimentSeedResult | undefined): unknown {
  const line = (r?.logTail ?? '').split('\n').find((l) => l.startsWith('FINDINGS '));
  if (!line) throw new Error(`no FINDINGS line in: ${r?.logTail ?? '(no log)'}`);
  return JSON.parse(line.slice('FINDINGS '.length));
}

/**
 * This worker's sandbox processes (bwrap or a candidate, descendants of this test process) still
 * alive, and its sandbox cgroups (named after this process) still there: none may outlive a
 * seed. Other checkouts' sandboxes on the machine are not looked at.
 */
function sandboxLeftovers(): string[] {
  const parent = new Map<number, number>();
  const cmds = new Map<number, string>();
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      parent.set(Number(pid), Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]));
      cmds.set(Number(pid), readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
    } catch {
      // gone meanwhile
    }
  }
  const ours = (pid: number): boolean => {
    for (let p = parent.get(pid), hops = 0; p !== undefined && p > 1 && hops < 64; hops++) {
      if (p === process.pid) return true;
      p = parent.get(p);
    }
    return false;
  };
  const left = [...cmds]
    .filter(([pid, cmd]) => /bwrap|\/input\/driver\.py/.test(cmd) && ours(pid))
    .map(([pid, cmd]) => `${pid} ${cmd.slice(0, 100)}`);
  const l = cgroupLayout();
  for (const dir of new Set([l.memory, l.pids, l.cpu, l.cpuacct].filter(Boolean) as string[]))
    for (const e of readdirSync(dir))
      if (e.startsWith(`s-${process.pid}-`)) left.push(`cgroup ${dir}/${e}`);
  return left;
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-sandbox-it-'));
  savedKey = process.env.ANTHROPIC_API_KEY;
  process.env.ANTHROPIC_API_KEY = FAKE_KEY; // the worker's own environment
  const builtins = await loadRegistry();
  const def = builtins.get('weak-to-strong-code');
  if (!isCodeExperiment(def)) throw new Error('weak-to-strong-code is not a code experiment');
  w2s = def;
  const naive = w2s.code.initialSource['method.py'] as string;
  const runsDir = path.join(tmp, 'runs');
  const hostile = [
    ...Object.entries(
      candidates(
        naive,
        Number(new URL(inject('mlflowUri')).port),
        port(inject('temporalAddress')),
        runsDir,
      ),
    ),
    ...Object.entries(attacks()),
  ].map(([name, source]) => {
    const { runner: _runner, ...rest } = w2s;
    return defineCodeExperiment({
      ...rest,
      name: `redteam-${name}`,
      code: { ...w2s.code, initialSource: { 'method.py': source } },
      ...(name in attacks() ? { sandbox: { maxLimits: ATTACK_LIMITS } } : {}),
    });
  });
  const registry = new ExperimentRegistry([
    ...builtins.list(),
    ...hostile.map((d) => ({ ...d, dir: tmp, source: '(test)' })),
  ]);
  const address = inject('temporalAddress');
  connection = await Connection.connect({ address });
  client = new Client({ connection, namespace: inject('namespace') });
  nativeConnection = await NativeConnection.connect({ address });
  worker = await Worker.create({
    connection: nativeConnection,
    namespace: inject('namespace'),
    taskQueue,
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: path.join(import.meta.dirname, 'fixtures/experiment-seeds.ts'),
    }),
    activities: createExperimentActivities({
      registry,
      workDir: runsDir,
      heartbeatIntervalMs: 500,
    }),
    shutdownGraceTime: '2s',
  });
  running = worker.run();
});

afterAll(async () => {
  worker?.shutdown();
  await running;
  await nativeConnection?.close();
  await connection?.close();
  if (savedKey === undefined) delete process.env.ANTHROPIC_API_KEY;
  else process.env.ANTHROPIC_API_KEY = savedKey;
  await rm(tmp, { recursive: true, force: true });
});

async function run(
  experiment: string,
  opts: { seeds?: number[]; timeoutSeconds?: number } = {},
): Promise<ExperimentSeedResult[]> {
  const handle = await client.workflow.start<typeof runSeedsWorkflow>('runSeedsWorkflow', {
    taskQueue,
    workflowId: `sandbox-${randomUUID()}`,
    args: [
      {
        experiment,
        params: {},
        seeds: opts.seeds ?? [1],
        objective: 'student_dev_acc',
        campaignId: 'redteam',
        trialId: experiment,
        ...(opts.timeoutSeconds ? { timeoutSeconds: opts.timeoutSeconds } : {}),
      },
    ],
  });
  return handle.result();
}

describe('hostile candidates on a real worker', () => {
  const results = new Map<Name | 'honest', ExperimentSeedResult[]>();

  beforeAll(async () => {
    // The host services the socket candidate aims at are really there.
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(port(inject('temporalAddress')), '127.0.0.1', () => {
        s.end();
        resolve();
      });
      s.once('error', reject);
    });
    const names: Name[] = [
      'socket',
      'snoop',
      'env',
      'forkbomb',
      'memory',
      'writes',
      'sleeper',
      'fakemetrics',
    ];
    // Two at a time on a shared 2-core machine, with an honest candidate in the same worker.
    const honest = run('weak-to-strong-code', { seeds: [1, 2] });
    for (let i = 0; i < names.length; i += 2) {
      const batch = names.slice(i, i + 2);
      const out = await Promise.all(
        batch.map((n) => run(`redteam-${n}`, n === 'sleeper' ? { timeoutSeconds: 5 } : {})),
      );
      batch.forEach((n, j) => results.set(n, out[j] as ExperimentSeedResult[]));
    }
    // The attacks on what sandboxes share, two at a time beside one more honest candidate.
    const honest2 = run('weak-to-strong-code', { seeds: [3] });
    const pairs: Attack[][] = [
      ['shm', 'memfd'],
      ['multiproc', 'inodes'],
      ['cpuchain', 'ptrace'],
      ['flock', 'flock'],
    ];
    for (const pair of pairs) {
      const out = await Promise.all(pair.map((n, j) => run(`redteam-${n}`, { seeds: [j + 1] })));
      if (pair[0] === 'flock') concurrentFlock = out.map((o) => o[0] as ExperimentSeedResult);
      pair.forEach((n, j) => results.set(n, out[j] as ExperimentSeedResult[]));
    }
    // Two trials one after the other: the second looks for what the first left in the keyring.
    keyringTrials = [
      ...(await run('redteam-keyring', { seeds: [1] })),
      ...(await run('redteam-keyring', { seeds: [2] })),
    ];
    results.set('honest', [...(await honest), ...(await honest2)]);
  }, 600_000);

  let concurrentFlock: ExperimentSeedResult[] = [];
  let keyringTrials: ExperimentSeedResult[] = [];

  /** The most memory a candidate reported holding (its `HELD <MiB>` lines). */
  const held = (r: ExperimentSeedResult): number =>
    Math.max(0, ...[...(r.logTail ?? '').matchAll(/^HELD (\d+)$/gm)].map((m) => Number(m[1])));

  const one = (n: Name): ExperimentSeedResult => {
    const r = results.get(n)?.[0];
    if (!r) throw new Error(`no result for ${n}`);
    return r;
  };

  it('a socket: no network, not even the host loopback services', () => {
    const r = one('socket');
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(
      /CandidateError: candidate exited with code 1: RuntimeError: no network/,
    );
    const out = findings(r) as string[];
    expect(out).toHaveLength(4);
    for (const line of out) expect(line).not.toMatch(/CONNECTED/);
  });

  it('reading the harness source, the labels, the project, the state folder, other trials or `..`', () => {
    const r = one('snoop');
    expect(r.status).toBe('failed');
    const f = findings(r) as { reads: Record<string, string>; visible: string[]; parent: string[] };
    // The files exist on the worker's host, but not in the sandbox.
    expect(existsSync(path.join(PROJECT_ROOT, 'experiments/weak-to-strong-code/harness.ts'))).toBe(
      true,
    );
    for (const [p, outcome] of Object.entries(f.reads))
      expect(outcome, p).toBe('FileNotFoundError');
    // Everything the candidate can see besides the read-only system: its inputs, no labels.
    expect(f.visible).toEqual([
      '/input/call.json',
      '/input/candidate/method.py',
      '/input/driver.py',
      '/input/features.npy',
      '/input/gaplab_guard.py',
      '/input/unlabelled_features.npy',
      '/input/weak_labels.npy',
    ]);
    // `..` of its folder is the sandbox's own root: the system links and its own mounts.
    const allowed = [
      'bin',
      'dev',
      'input',
      'lib',
      'lib32',
      'lib64',
      'opt',
      'proc',
      'sbin',
      'tmp',
      'usr',
      'work',
    ];
    for (const d of f.parent) expect(allowed, d).toContain(d);
    expect(f.parent).toContain('input');
  });

  it("reading the environment for keys: the worker's variables are not there", () => {
    const r = one('env');
    expect(r.status).toBe('failed');
    expect(process.env.ANTHROPIC_API_KEY).toBe(FAKE_KEY);
    const f = findings(r) as { env: Record<string, string>; procs: Record<string, string> };
    expect(JSON.stringify(f)).not.toContain(FAKE_KEY);
    expect(JSON.stringify(f)).not.toContain('ANTHROPIC');
    const minimal = [
      'HOME',
      'LANG',
      'LC_CTYPE',
      'MKL_NUM_THREADS',
      'OMP_NUM_THREADS',
      'OPENBLAS_NUM_THREADS',
      'PATH',
      'PWD',
      'PYTHONDONTWRITEBYTECODE',
      'PYTHONPATH',
      'PYTHONUNBUFFERED',
      'TMPDIR',
    ];
    for (const k of Object.keys(f.env)) expect(minimal, k).toContain(k);
    expect(f.env.PATH).toBe('/usr/bin:/bin');
    expect(r.logTail ?? '').not.toContain(FAKE_KEY);
  });

  it('a fork bomb stops at the process limit and leaves nothing behind', () => {
    const r = one('forkbomb');
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/BlockingIOError|Resource temporarily unavailable/);
  });

  it('allocating past the memory limit', () => {
    const r = one('memory');
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/MemoryError/);
  });

  it('writing outside its folder: everything but its own scratch is read-only or absent', () => {
    const r = one('writes');
    expect(r.status).toBe('failed');
    const f = findings(r) as Record<string, string>;
    expect(f['/work/mine.txt']).toBe('mine');
    for (const [p, outcome] of Object.entries(f))
      if (p !== '/work/mine.txt') expect(outcome, p).not.toBe('WROTE');
    expect(existsSync(path.join(PROJECT_ROOT, 'escape.txt'))).toBe(false);
  });

  it('sleeping forever: timed out, and the whole sandbox killed', () => {
    const r = one('sleeper');
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/timed out after 5 s/);
  });

  it("a fake metrics line (stdout, stderr, metrics.json) sets nothing: the metrics are the harness's", () => {
    const fake = one('fakemetrics');
    const [honest] = results.get('honest') ?? [];
    expect(fake.status).toBe('succeeded');
    expect(honest?.status).toBe('succeeded');
    // The harness's own metrics of the starting method (its data are drawn per experiment name,
    // so the numbers differ from the honest run's), none of the printed ones.
    expect(fake.metrics.student_dev_acc).not.toBe(1);
    expect(fake.metrics.student_dev_acc).toBeLessThan(0.8);
    expect(fake.metrics.pgr_dev).toBeLessThan(0.1);
    expect(fake.metrics.student_heldout_acc).toBeLessThan(0.8);
  });

  it('SysV shared memory past the limit: refused (seccomp), never held', () => {
    const r = one('shm');
    expect(r.status).toBe('failed');
    expect(held(r)).toBeLessThanOrEqual(256);
    expect(findings(r)).toEqual({ shmget: 'EPERM' });
  });

  it('memfd + fallocate past the limit: refused (seccomp), never held', () => {
    const r = one('memfd');
    expect(r.status).toBe('failed');
    expect(held(r)).toBeLessThanOrEqual(256);
    expect(findings(r)).toEqual({ memfd_create: 'EPERM' });
  });

  it('many processes each under the limit: the sandbox as a whole is held to it (cgroup)', () => {
    const r = one('multiproc');
    expect(r.status).toBe('failed');
    // 4 x 100 MiB held at once asked; the group holds 256 MiB, so the kernel killed some of them
    // and at most two lived to exit on their own.
    const f = findings(r) as { survivors: number; killed: number };
    expect(f.killed).toBeGreaterThanOrEqual(2);
    expect(f.survivors).toBeLessThanOrEqual(2);
    expect(held(r)).toBeLessThanOrEqual(256);
    expect(r.error).toMatch(/memory limit reached: 256 MiB for the whole sandbox/);
  });

  it('an inode flood stops at the scratch inode limit', () => {
    const r = one('inodes');
    expect(r.status).toBe('failed');
    const f = findings(r) as { made: number; error: string | null };
    expect(f.error).toBe('ENOSPC');
    expect(f.made).toBeLessThanOrEqual(16_384);
  });

  it('a chain of processes, each under the CPU limit: the whole sandbox is held to it', () => {
    const r = one('cpuchain');
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(
      /CPU time limit reached: [\d.]+ s used by all its processes, 5 s allowed/,
    );
    expect(r.logTail ?? '').not.toMatch(/STEP 3/);
  });

  it('ptrace of pid 1, io_uring, userfaultfd, calls off the allow-list: refused, and the seed ends at once (no timeout)', () => {
    const r = one('ptrace');
    expect(r.status).toBe('failed');
    // Calls off the allow-list fail as if the kernel did not have them.
    expect(findings(r)).toEqual({
      attach: 'EPERM',
      uring: 'EPERM',
      userfaultfd: 'EPERM',
      modify_ldt: 'ENOSYS',
      move_pages: 'ENOSYS',
    });
    expect(r.error).toMatch(/RuntimeError: pid 1 left alone/);
  });

  it('the keyring is no channel between two trials', () => {
    expect(keyringTrials.map((r) => r.status)).toEqual(['failed', 'failed']);
    const [first, second] = keyringTrials.map(
      (r) =>
        findings(r) as {
          mine: string;
          add: string | null;
          search: string | null;
          read: string | null;
        },
    );
    expect(first?.add).toBe('EPERM');
    expect(second?.read).toBeNull();
    expect(second?.search).toBe('EPERM');
  });

  it('two concurrent sandboxes: distinct uids, no lock on a shared file, no netlink', () => {
    const [a, b] = concurrentFlock.map(
      (r) => findings(r) as { uid: number; flock: string; lockf: string; netlink: string },
    );
    expect(a?.uid).not.toBe(b?.uid);
    for (const f of [a, b])
      expect(f).toMatchObject({ flock: 'EPERM', lockf: 'EPERM', netlink: 'EAFNOSUPPORT' });
  });

  it('the worker kept running honest candidates, and no sandbox process outlived its seed', async () => {
    const honest = results.get('honest') ?? [];
    expect(honest.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    // A killed sandbox's processes die with its PID namespace; give the kernel a moment to reap.
    for (let i = 0; i < 20 && sandboxLeftovers().length > 0; i++)
      await new Promise((res) => setTimeout(res, 250));
    expect(sandboxLeftovers()).toEqual([]);
  });
});
