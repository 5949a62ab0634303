/**
 * Start-up cost of the candidate sandbox per seed: bwrap + prlimit + `true`, against a plain
 * spawn of `true`, median of N runs each (interleaved so both see the same machine load).
 *
 *     npx tsx bench/sandbox.ts [--runs 50]
 *
 * Target: the sandbox adds at most 50 ms per seed.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { checkSandbox, runSandboxed } from '../experiments/sandbox.js';

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

async function sandboxedTrue(): Promise<number> {
  const t = performance.now();
  const r = await runSandboxed({ argv: ['/bin/true'] });
  if (r.exitCode !== 0) throw new Error(`sandboxed true failed: ${r.reason ?? ''} ${r.stderr}`);
  return performance.now() - t;
}

export async function benchSandbox(runs = 50): Promise<{
  runs: number;
  plainMedianMs: number;
  sandboxMedianMs: number;
  overheadMs: number;
}> {
  await checkSandbox(); // the once-per-process self-test is not a per-seed cost
  const plain: number[] = [];
  const boxed: number[] = [];
  for (let i = 0; i < runs; i++) {
    plain.push(await plainTrue());
    boxed.push(await sandboxedTrue());
  }
  const plainMedianMs = median(plain);
  const sandboxMedianMs = median(boxed);
  return { runs, plainMedianMs, sandboxMedianMs, overheadMs: sandboxMedianMs - plainMedianMs };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '50' } } });
  const r = await benchSandbox(Number(values.runs));
  const fmt = (x: number): string => x.toFixed(1);
  console.log(
    `sandbox start-up, median of ${r.runs}: plain spawn ${fmt(r.plainMedianMs)} ms, bwrap+prlimit ${fmt(r.sandboxMedianMs)} ms, overhead ${fmt(r.overheadMs)} ms (target <= 50 ms)`,
  );
}
