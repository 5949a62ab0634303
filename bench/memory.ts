/**
 * Resident memory of processes, read from /proc (Linux): the benchmarks sample the worker, the
 * client and the services while a benchmark runs and keep each group's peak.
 */
import fs from 'node:fs';

/** Resident set size of one process in bytes, or 0 when it is gone (or /proc is absent). */
export function rssOf(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** The processes of a process group (a service and the workers it forked). */
export function processGroupPids(pgid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [pgid];
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // Fields after the parenthesised command: state ppid pgrp ...
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[2]) === pgid) out.push(Number(e));
    } catch {
      // the process ended while we looked
    }
  }
  return out.length > 0 ? out : [pgid];
}

/** Samples named groups of processes every `everyMs` and keeps the peak of each group's total RSS. */
export class MemorySampler {
  private readonly peaks: Record<string, number> = {};
  /** The latest sample of each group, bytes. */
  readonly last: Record<string, number> = {};
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly groups: Record<string, () => number[]>,
    private readonly everyMs = 250,
  ) {
    for (const name of Object.keys(groups)) this.peaks[name] = 0;
  }

  sample(): void {
    for (const [name, pids] of Object.entries(this.groups)) {
      const total = pids().reduce((sum, pid) => sum + rssOf(pid), 0);
      this.last[name] = total;
      if (total > (this.peaks[name] ?? 0)) this.peaks[name] = total;
    }
  }

  start(): void {
    this.sample();
    this.timer ??= setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
  }

  /** Stops sampling; returns the peak of each group in bytes. */
  stop(): Record<string, number> {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.sample();
    }
    return { ...this.peaks };
  }
}
