/**
 * Experiment processes never outlive the worker that started them.
 *
 * Each command experiment runs in its own process group. A worker that shuts down kills them on
 * the way out, but a worker killed with SIGKILL (or by the OOM killer) runs no code at all, so
 * two mechanisms act from outside it:
 *
 * - a watchdog: a tiny Node process per worker, in a process group of its own (a Ctrl-C or a
 *   `kill -- -<worker group>` does not reach it), that learns each experiment group the worker
 *   starts and stops over a pipe. The kernel closes the pipe when the worker dies, however it
 *   dies; the watchdog then SIGKILLs every group still registered (grandchildren included,
 *   since the whole group is killed) and exits.
 * - a registry on disk, one file per live group with the owning worker's pid and start time.
 *   A worker that starts reaps the groups of dead predecessors on the same machine: whatever
 *   the watchdog could not kill because it was killed too.
 *
 * Start times (from /proc) guard against pid reuse: a group is only killed while its leader is
 * the process that was registered, or gone with only its own descendants left in the group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { groupAlive } from '../experiments/runner.js';
import type { ProcessGroupGuard } from '../experiments/runner.js';

/** Reads experiment groups from stdin (`+<pgid>` / `-<pgid>` lines); kills the rest at EOF. */
const WATCHDOG_SOURCE = `
const groups = new Set();
let buf = '';
let done = false;
const reap = () => {
  if (done) return;
  done = true;
  for (const g of groups) { try { process.kill(-g, 'SIGKILL'); } catch {} }
  process.exit(0);
};
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buf += chunk;
  for (let i = buf.indexOf('\\n'); i !== -1; i = buf.indexOf('\\n')) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    const pgid = Number(line.slice(1));
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    if (line[0] === '+') groups.add(pgid);
    else if (line[0] === '-') groups.delete(pgid);
  }
});
process.stdin.on('end', reap);
process.stdin.on('close', reap);
process.stdin.on('error', reap);
process.stdout.write('ready\\n');
`;

/** Start time of a process in clock ticks since boot (Linux /proc); undefined when unknown. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Field 22 of stat; fields here start at field 3 (state).
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** One registered experiment group, as the registry file holds it. */
interface GroupRecord {
  pgid: number;
  leaderStart: number | undefined;
  workerPid: number;
  workerStart: number | undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True while the process with this pid is the one that started at `start`. */
function sameProcess(pid: number, start: number | undefined): boolean {
  if (!isAlive(pid)) return false;
  const now = processStartTime(pid);
  return start === undefined || now === undefined || now === start;
}

export interface ProcessGuardOptions {
  /** Folder of the on-disk group registry; shared by the workers of one machine. */
  registryDir: string;
  /** Also start the watchdog process (off only in tests of the registry alone). @default true */
  watchdog?: boolean;
}

/**
 * Registers every experiment process group the worker starts, and kills them when the worker
 * dies. `start()` also reaps what dead predecessors left behind.
 */
export class ProcessGuard implements ProcessGroupGuard {
  private watchdog: ChildProcess | undefined;
  private readonly live = new Set<number>();
  private readonly workerStart = processStartTime(process.pid);

  private constructor(private readonly opts: ProcessGuardOptions) {}

  /** Reaps dead workers' groups, then starts the watchdog. */
  static async start(opts: ProcessGuardOptions): Promise<ProcessGuard> {
    const guard = new ProcessGuard(opts);
    fs.mkdirSync(opts.registryDir, { recursive: true });
    reapOrphans(opts.registryDir);
    if (opts.watchdog !== false) await guard.startWatchdog();
    return guard;
  }

  private async startWatchdog(): Promise<void> {
    const child = spawn(process.execPath, ['-e', WATCHDOG_SOURCE], {
      detached: true,
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { PATH: process.env.PATH ?? '' },
    });
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`experiment watchdog exited with ${code}`)));
      child.stdout!.once('data', () => resolve());
    });
    child.removeAllListeners('exit');
    child.stdout!.destroy();
    // The watchdog must not keep the worker's event loop alive, nor die with its group.
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    child.stdin!.on('error', () => {});
    this.watchdog = child;
  }

  private file(pgid: number): string {
    return path.join(this.opts.registryDir, `${pgid}.json`);
  }

  register(pgid: number): void {
    this.live.add(pgid);
    const record: GroupRecord = {
      pgid,
      leaderStart: processStartTime(pgid),
      workerPid: process.pid,
      workerStart: this.workerStart,
    };
    try {
      fs.writeFileSync(this.file(pgid), JSON.stringify(record));
    } catch {
      // The watchdog still covers this group; only a restart's reaping misses it.
    }
    this.watchdog?.stdin?.write(`+${pgid}\n`);
  }

  release(pgid: number): void {
    this.live.delete(pgid);
    this.watchdog?.stdin?.write(`-${pgid}\n`);
    fs.rmSync(this.file(pgid), { force: true });
  }

  /** Groups registered and not yet released. */
  get groups(): readonly number[] {
    return [...this.live];
  }

  /** Kills every group still registered, then stops the watchdog. */
  close(): void {
    for (const pgid of this.live) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // gone already
      }
      fs.rmSync(this.file(pgid), { force: true });
    }
    this.live.clear();
    this.watchdog?.stdin?.end();
    this.watchdog = undefined;
  }
}

/**
 * Kills the groups registered by workers that are no longer running, and forgets them.
 * Returns the process groups it killed.
 */
export function reapOrphans(registryDir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(registryDir);
  } catch {
    return [];
  }
  const killed: number[] = [];
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    const file = path.join(registryDir, name);
    let rec: GroupRecord;
    try {
      rec = JSON.parse(fs.readFileSync(file, 'utf8')) as GroupRecord;
    } catch {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (sameProcess(rec.workerPid, rec.workerStart)) continue; // its worker still runs
    const leaderHere = sameProcess(rec.pgid, rec.leaderStart);
    // A leader that is gone leaves its group id unused until every member exits, so members
    // left in that group are the experiment's own descendants.
    const ours = leaderHere || (!isAlive(rec.pgid) && groupAlive(rec.pgid));
    if (ours) {
      try {
        process.kill(-rec.pgid, 'SIGKILL');
        killed.push(rec.pgid);
      } catch {
        // gone meanwhile
      }
    }
    fs.rmSync(file, { force: true });
  }
  return killed;
}
