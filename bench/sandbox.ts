/**
 * Start-up cost of the candidate sandbox per seed, median of N runs each (interleaved so all
 * see the same machine load): the whole jail (launcher, cgroup, scratch mounts, pool uid,
 * seccomp, bwrap, prlimit) running `true`, against plain bwrap + prlimit running `true` (the
 * same bwrap arguments, no cgroup, no seccomp, as nobody when root), against a plain spawn.
 *
 *     npx tsx bench/sandbox.ts [--runs 50] [--write]
 *
 * `--write` replaces this benchmark's section of bench/RESULTS.md (and keeps a copy as
 * bench/results/sandbox.standalone.md).
 *
 * Target: cgroup + seccomp add at most 50 ms per seed over plain bwrap.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PROJECT_ROOT } from '../stack/paths.js';
import { RESULTS_MD } from './results.js';
import {
  bwrapArgs,
  checkSandbox,
  DEFAULT_LIMITS,
  findBwrap,
  runSandboxed,
} from '../experiments/sandbox.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

async function plainTrue(): Promise<number> {
  const t = performance.now();
  await new Promise<void>((resolve, reject) => {
    const c = spawn('/bin/true', [], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    c.once('error', reject);
    c.once('close', () => resolve());
  });
  return performance.now() - t;
}

async function plainBwrapTrue(bwrap: string): Promise<number> {
  const t = performance.now();
  const root = process.getuid?.() === 0;
  await new Promise<void>((resolve, reject) => {
    const c = spawn(bwrap, bwrapArgs(['/bin/true'], DEFAULT_LIMITS), {
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      env: { PATH: '/usr/bin:/bin' },
      ...(root ? { uid: 65534, gid: 65534 } : {}),
    });
    c.once('error', reject);
    c.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`plain bwrap true exited ${code}`)),
    );
  });
  return performance.now() - t;
}

async function sandboxedTrue(): Promise<number> {
  const t = performance.now();
  const r = await runSandboxed({ argv: ['/bin/true'] });
  if (r.exitCode !== 0) throw new Error(`sandboxed true failed: ${r.reason ?? ''} ${r.stderr}`);
  return performance.now() - t;
}

export async function benchSandbox(runs = 50): Promise<{
  runs: number;
  plainMedianMs: number;
  /** Plain bwrap + prlimit, no cgroup, no seccomp. */
  bwrapMedianMs: number;
  /** The whole jail. */
  sandboxMedianMs: number;
  /** The whole jail over a plain spawn. */
  overheadMs: number;
  /** The whole jail over plain bwrap: what cgroup, seccomp, scratch mounts and the uid pool cost. */
  jailOverheadMs: number;
}> {
  const bwrap = await checkSandbox(); // the once-per-process self-test is not a per-seed cost
  if (!findBwrap(bwrap)) throw new Error('no bwrap');
  const plain: number[] = [];
  const bare: number[] = [];
  const boxed: number[] = [];
  for (let i = 0; i < runs; i++) {
    plain.push(await plainTrue());
    bare.push(await plainBwrapTrue(bwrap));
    boxed.push(await sandboxedTrue());
  }
  const plainMedianMs = median(plain);
  const bwrapMedianMs = median(bare);
  const sandboxMedianMs = median(boxed);
  return {
    runs,
    plainMedianMs,
    bwrapMedianMs,
    sandboxMedianMs,
    overheadMs: sandboxMedianMs - plainMedianMs,
    jailOverheadMs: sandboxMedianMs - bwrapMedianMs,
  };
}

const SECTION_START = '<!-- sandbox: written by `npx tsx bench/sandbox.ts --write` -->';
const SECTION_END = '<!-- /sandbox -->';

function writeSection(body: string): void {
  const md = readFileSync(RESULTS_MD, 'utf8');
  const section = `${SECTION_START}\n\n## Sandbox: start-up of the whole jail against plain bwrap\n\n${body}\n\n${SECTION_END}`;
  const a = md.indexOf(SECTION_START);
  const b = md.indexOf(SECTION_END);
  const next =
    a >= 0 && b > a
      ? `${md.slice(0, a)}${section}${md.slice(b + SECTION_END.length)}`
      : `${md.trimEnd()}\n\n${section}\n`;
  writeFileSync(RESULTS_MD, next);
  writeFileSync(path.join(PROJECT_ROOT, 'bench/results/sandbox.standalone.md'), `${section}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '50' },
      write: { type: 'boolean', default: false },
    },
  });
  const r = await benchSandbox(Number(values.runs));
  const fmt = (x: number): string => x.toFixed(1);
  if (values.write)
    writeSection(
      [
        `\`npx tsx bench/sandbox.ts --runs ${r.runs}\`, ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, load average ${os.loadavg()[0]?.toFixed(1)} (the machine is shared), median of ${r.runs} interleaved runs of \`/bin/true\`:`,
        '',
        '| how | median ms |',
        '| --- | ---: |',
        `| plain spawn | ${fmt(r.plainMedianMs)} |`,
        `| plain bwrap + prlimit (no cgroup, no seccomp) | ${fmt(r.bwrapMedianMs)} |`,
        `| whole jail (cgroup, seccomp, scratch mounts, pool uid, bwrap, prlimit) | ${fmt(r.sandboxMedianMs)} |`,
        '',
        `cgroup + seccomp (and the rest of the jail) add **${fmt(r.jailOverheadMs)} ms** per seed over plain bwrap (target <= 50 ms); ${fmt(r.overheadMs)} ms over a plain spawn. What each part blocks: experiments/README.md, "The sandbox".`,
      ].join('\n'),
    );
  console.log(
    `sandbox start-up, median of ${r.runs}: plain spawn ${fmt(r.plainMedianMs)} ms, plain bwrap + prlimit ${fmt(r.bwrapMedianMs)} ms, whole jail (cgroup, seccomp, scratch mounts, pool uid, bwrap, prlimit) ${fmt(r.sandboxMedianMs)} ms: cgroup + seccomp add ${fmt(r.jailOverheadMs)} ms over plain bwrap (target <= 50 ms), ${fmt(r.overheadMs)} ms over a plain spawn`,
  );
}
