/** Starting, watching and stopping long-lived service processes (each in its own process group). */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { withProgress, type Log } from './progress.js';

export interface ServiceProcess {
  pid: number;
  logFile: string;
}

/**
 * Starts a command detached in its own process group with stdout and stderr appended to a log
 * file, so that stopping the group also stops every process the service spawns (gunicorn
 * workers, for one).
 */
export function startDetached(
  command: string,
  args: readonly string[],
  opts: {
    logFile: string;
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    /** Run as this user and group (PostgreSQL refuses to run as root). */
    uid?: number;
    gid?: number;
  },
): ServiceProcess {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = fs.openSync(opts.logFile, 'a');
  fs.writeSync(fd, `\n--- ${new Date().toISOString()} starting: ${command} ${args.join(' ')}\n`);
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', fd, fd],
    ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
    ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
  });
  fs.closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  child.unref();
  return { pid: child.pid, logFile: opts.logFile };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGKILL to the whole group at once (what a crash looks like), then waits for it to go. */
export async function killGroup(pgid: number): Promise<void> {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 50 && groupAlive(pgid); i++) await sleep(100);
}

/** SIGTERM to the whole group, then SIGKILL after `graceMs` if anything is left. */
export async function stopGroup(pgid: number, graceMs = 10_000): Promise<void> {
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!groupAlive(pgid)) return;
    await sleep(100);
  }
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 50 && groupAlive(pgid); i++) await sleep(100);
}

export function portOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/** The last `lines` lines of a log file, for error messages. */
export function logTail(file: string, lines = 20): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text
      .split('\n')
      .slice(-lines - 1)
      .join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `check` until it returns true, the process dies, or the timeout passes. With `log`, the
 * wait reports its progress (stack/progress.ts): the time so far and `waitingFor`.
 */
export async function waitUntil(
  check: () => Promise<boolean>,
  opts: {
    timeoutMs: number;
    pid?: number;
    what: string;
    logFile?: string;
    log?: Log;
    /** What the check waits for, for progress lines ("a health check at ..."). */
    waitingFor?: string;
  },
): Promise<void> {
  const poll = async () => {
    const deadline = Date.now() + opts.timeoutMs;
    while (Date.now() < deadline) {
      if (await check().catch(() => false)) return;
      if (opts.pid !== undefined && !isAlive(opts.pid)) {
        throw new Error(
          `${opts.what} exited during start-up.${opts.logFile ? `\nLog (${opts.logFile}):\n${logTail(opts.logFile)}` : ''}`,
        );
      }
      await sleep(250);
    }
    throw new Error(
      `${opts.what} did not become healthy within ${Math.round(opts.timeoutMs / 1000)} s.${opts.logFile ? `\nLog (${opts.logFile}):\n${logTail(opts.logFile)}` : ''}`,
    );
  };
  if (!opts.log) return poll();
  return withProgress(
    opts.log,
    `Waiting for ${opts.what}`,
    opts.waitingFor ?? `${opts.what} to answer`,
    poll,
    {
      note: `up to ${Math.round(opts.timeoutMs / 1000)} s${opts.logFile ? `; log ${opts.logFile}` : ''}`,
    },
  );
}

/** A process listening on a TCP port, as far as this machine lets us see it. */
export interface PortHolder {
  /** Undefined when the socket is someone else's and their processes are out of sight. */
  pid?: number;
  /** Its command line, shortened. */
  command?: string;
  /** The uid that owns the listening socket. */
  uid: number;
}

/**
 * Who listens on `port` (any local address, IPv4 or IPv6), from Linux's /proc: the socket's
 * inode in /proc/net/tcp{,6}, then the process holding that inode among its file descriptors.
 * Undefined when nothing listens, or off Linux.
 */
export function portHolder(port: number): PortHolder | undefined {
  let socket: { inode: string; uid: number } | undefined;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
      if (f.length < 10 || f[3] !== '0A') continue;
      if (parseInt(f[1]!.split(':')[1]!, 16) !== port) continue;
      socket = { inode: f[9]!, uid: Number(f[7]) };
      break;
    }
    if (socket) break;
  }
  if (!socket) return undefined;
  const target = `socket:[${socket.inode}]`;
  let pids: string[] = [];
  try {
    pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return { uid: socket.uid };
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (link !== target) continue;
      let command: string | undefined;
      try {
        command = fs
          .readFileSync(`/proc/${pid}/cmdline`, 'utf8')
          .split('\0')
          .filter(Boolean)
          .join(' ');
        if (command.length > 120) command = `${command.slice(0, 117)}...`;
      } catch {
        command = undefined;
      }
      return { pid: Number(pid), uid: socket.uid, ...(command ? { command } : {}) };
    }
  }
  return { uid: socket.uid };
}

/** The login name of a uid (/etc/passwd), or undefined. */
function userName(uid: number): string | undefined {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && Number(id) === uid) return name;
    }
  } catch {
    // no passwd file: the uid alone
  }
  return undefined;
}

/** "pid 4242 (temporal server start-dev ...) of user alice", or as much of it as can be seen. */
export function describeHolder(holder: PortHolder | undefined): string {
  if (!holder) return 'a process this machine does not show';
  const who = holder.pid !== undefined ? `pid ${holder.pid}` : 'a process';
  const what = holder.command ? ` (${holder.command})` : '';
  return `${who}${what} of user ${userName(holder.uid) ?? `uid ${holder.uid}`}`;
}
