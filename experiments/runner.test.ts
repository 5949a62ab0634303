import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupAlive, LineTail, paramEnvName, procState, runSeed } from './runner.js';
import type {
  CommandRunner,
  ExperimentDefinition,
  FunctionRunner,
  ProgressUpdate,
} from './types.js';

let tmp: string;
let n = 0;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-runner-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A command experiment running `node <script>`. */
async function nodeExperiment(
  script: string,
  extra: Partial<ExperimentDefinition> = {},
): Promise<ExperimentDefinition> {
  const file = path.join(tmp, `script-${++n}.mjs`);
  await writeFile(file, script);
  return {
    name: `fixture-${n}`,
    description: 'test fixture',
    metrics: [{ name: 'acc', description: 'accuracy' }],
    defaultTimeoutSeconds: 30,
    runner: { kind: 'command', argv: [process.execPath, file] },
    ...extra,
  };
}

const outDir = (): string => path.join(tmp, `out-${++n}`);

/** Alive and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  const st = procState(pid);
  return st !== undefined && st.state !== 'Z' && st.state !== 'X';
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A script that starts a grandchild that would run forever, prints its pid, then hangs. */
const HANG_WITH_GRANDCHILD = `
import { spawn } from 'node:child_process';
const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
console.log(JSON.stringify({ progress: 0.1, message: 'grandchild ' + g.pid }));
process.on('SIGTERM', () => {}); // stubborn: only SIGKILL ends it
setInterval(() => {}, 1000);
`;

describe('runSeed, command experiments', () => {
  it('passes params by file and env, reads JSON lines and the metrics file, reports progress', async () => {
    const def = await nodeExperiment(`
      import { readFileSync, writeFileSync } from 'node:fs';
      const params = JSON.parse(readFileSync(process.env.GAPLAB_PARAMS_FILE, 'utf8'));
      console.log('plain log line');
      console.log(JSON.stringify({ progress: 0.5, message: 'half way' }));
      console.log(JSON.stringify({ metrics: { acc: params.lr * 2, seed: Number(process.env.GAPLAB_SEED) } }));
      writeFileSync(process.env.GAPLAB_METRICS_FILE, JSON.stringify({ loss: 0.25, env_lr: Number(process.env.GAPLAB_PARAM_LR) }));
      if (!process.env.GAPLAB_OUTPUT_DIR) process.exit(9);
    `);
    const progress: ProgressUpdate[] = [];
    const dir = outDir();
    const r = await runSeed(
      def,
      { lr: 0.25 },
      { seed: 7, outDir: dir, objective: 'acc', onProgress: (p) => progress.push(p) },
    );
    expect(r.status).toBe('succeeded');
    expect(r.metrics).toEqual({ acc: 0.5, seed: 7, loss: 0.25, env_lr: 0.25 });
    expect(progress).toContainEqual({ fraction: 0.5, message: 'half way' });
    expect(progress.some((p) => p.metrics?.acc === 0.5)).toBe(true);
    expect(JSON.parse(await readFile(path.join(dir, 'params.json'), 'utf8'))).toEqual({ lr: 0.25 });
    expect(await readFile(r.stdoutPath as string, 'utf8')).toContain('plain log line');
    expect(r.logTail).toContain('plain log line');
  });

  it('passes only allow-listed and declared worker variables to the experiment', async () => {
    const leaks = {
      DATABASE_URL: 'postgres://u:p@db/x',
      AWS_ACCESS_KEY_ID: 'AKIA',
      SSH_AUTH_SOCK: '/tmp/agent',
    };
    Object.assign(process.env, leaks, { GAPLAB_TEST_API_KEY: 'sk-secret', GPU_SLOT: '3' });
    try {
      const def = await nodeExperiment(
        `const e = process.env; console.log(JSON.stringify({ metrics: { acc: 1,
          leaked: ['DATABASE_URL', 'AWS_ACCESS_KEY_ID', 'SSH_AUTH_SOCK', 'GAPLAB_TEST_API_KEY'].filter((k) => k in e).length,
          gpu: Number(e.GPU_SLOT ?? -1), fixed: Number(e.FIXED ?? -1), path: e.PATH ? 1 : 0, seed: Number(e.GAPLAB_SEED) } }));`,
      );
      const runner = {
        ...(def.runner as CommandRunner),
        passEnv: ['GPU_SLOT'],
        env: { FIXED: '7' },
      };
      const r = await runSeed(
        { ...def, runner },
        {},
        { seed: 4, outDir: outDir(), objective: 'acc' },
      );
      expect(r.metrics).toMatchObject({ leaked: 0, gpu: 3, fixed: 7, path: 1, seed: 4 });
    } finally {
      for (const k of [...Object.keys(leaks), 'GAPLAB_TEST_API_KEY', 'GPU_SLOT'])
        delete process.env[k];
    }
  });

  it('tells the guard about the process group while it lives, and releases it after', async () => {
    const events: string[] = [];
    let pgidAlive = false;
    const guard = {
      register: (pgid: number) => events.push(`+${pgid}`),
      release: (pgid: number) => {
        pgidAlive = groupAlive(pgid);
        events.push(`-${pgid}`);
      },
    };
    const def = await nodeExperiment(
      `console.log(JSON.stringify({ metrics: { acc: 1, pid: process.pid } }));`,
    );
    const r = await runSeed(def, {}, { seed: 1, outDir: outDir(), objective: 'acc', guard });
    expect(r.status).toBe('succeeded');
    expect(events).toEqual([`+${r.metrics.pid}`, `-${r.metrics.pid}`]);
    expect(pgidAlive).toBe(false);
  });

  it('a crash is a failed result naming the exit code, with the log tail', async () => {
    const def = await nodeExperiment(
      `console.log('about to fail'); console.error('boom: out of cheese'); process.exit(3);`,
    );
    const r = await runSeed(def, {}, { seed: 1, outDir: outDir(), objective: 'acc' });
    expect(r.status).toBe('failed');
    expect(r.error).toBe('exited with code 3');
    expect(r.logTail).toContain('boom: out of cheese');
    expect(r.logTail).toContain('about to fail');
  });

  it('a hang past the timeout kills the whole process group, grandchild included', async () => {
    const def = await nodeExperiment(HANG_WITH_GRANDCHILD);
    let grandchild = 0;
    const r = await runSeed(
      def,
      {},
      {
        seed: 1,
        outDir: outDir(),
        timeoutSeconds: 1,
        killGraceSeconds: 0.5,
        objective: 'acc',
        onProgress: (p) => {
          grandchild = Number(/grandchild (\d+)/.exec(p.message ?? '')?.[1] ?? 0);
        },
      },
    );
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/timed out after 1 s/);
    expect(grandchild).toBeGreaterThan(0);
    await waitFor(() => !alive(grandchild));
    expect(alive(grandchild)).toBe(false);
  });

  it('cancellation through the AbortSignal kills the process group', async () => {
    const def = await nodeExperiment(HANG_WITH_GRANDCHILD);
    const controller = new AbortController();
    let grandchild = 0;
    const r = await runSeed(
      def,
      {},
      {
        seed: 1,
        outDir: outDir(),
        signal: controller.signal,
        killGraceSeconds: 0.5,
        onProgress: (p) => {
          grandchild = Number(/grandchild (\d+)/.exec(p.message ?? '')?.[1] ?? 0);
          controller.abort();
        },
      },
    );
    expect(r.status).toBe('cancelled');
    await waitFor(() => !alive(grandchild));
    expect(alive(grandchild)).toBe(false);
  });

  it('kills processes left behind after a normal exit', async () => {
    const def = await nodeExperiment(`
      import { spawn } from 'node:child_process';
      const g = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'inherit' });
      console.log(JSON.stringify({ metrics: { acc: 1, straggler: g.pid } }));
      g.unref();
      process.exit(0);
    `);
    const r = await runSeed(
      def,
      {},
      { seed: 1, outDir: outDir(), objective: 'acc', killGraceSeconds: 0.5 },
    );
    expect(r.status).toBe('succeeded');
    const straggler = r.metrics.straggler as number;
    await waitFor(() => !alive(straggler));
    expect(alive(straggler)).toBe(false);
  });

  it('garbage output is just logs; only valid finite metrics count', async () => {
    const def = await nodeExperiment(`
      process.stdout.write(Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x1b, 0x5b, 0x32, 0x4a, 0x0a]));
      console.log('{"metrics": {');
      console.log('{"metrics": {"acc": "high", "f1": [1]}}');
      console.log('{"progress": "lots"}');
      console.log('[1, 2, 3]');
      console.log('{"metrics": {"acc": 0.75, "loss": NaN}}');
      console.log('{"metrics": {"acc": 0.5}} trailing');
    `);
    const r = await runSeed(def, {}, { seed: 1, outDir: outDir(), objective: 'acc' });
    expect(r.status).toBe('succeeded');
    expect(r.metrics).toEqual({ acc: 0.75 });
  });

  it('lines with a step are learning-curve points, kept apart from the metrics', async () => {
    const def = await nodeExperiment(`
      for (let step = 0; step < 3; step++)
        console.log(JSON.stringify({ step, progress: step / 3, metrics: { loss: 1 / (step + 1), acc: step / 10 } }));
      console.log('{"step": -1, "metrics": {"loss": 9}}');
      console.log('{"step": 1.5, "metrics": {"loss": 9}}');
      console.log('{"step": 3, "metrics": {"loss": NaN}}');
      console.log(JSON.stringify({ metrics: { acc: 0.9 } }));
    `);
    const seen: ProgressUpdate[] = [];
    const r = await runSeed(
      def,
      {},
      { seed: 1, outDir: outDir(), objective: 'acc', onProgress: (p) => seen.push(p) },
    );
    expect(r.metrics).toEqual({ acc: 0.9 });
    expect(r.curves).toEqual({
      loss: [
        [0, 1],
        [1, 0.5],
        [2, 1 / 3],
      ],
      acc: [
        [0, 0],
        [1, 0.1],
        [2, 0.2],
      ],
    });
    expect(seen.filter((p) => p.step !== undefined).map((p) => p.step)).toEqual([0, 1, 2]);
  });

  it('a non-finite objective fails the seed with the reason', async () => {
    const def = await nodeExperiment(`console.log('{"metrics": {"acc": NaN, "loss": 1}}');`);
    const r = await runSeed(def, {}, { seed: 1, outDir: outDir(), objective: 'acc' });
    expect(r.status).toBe('failed');
    expect(r.error).toBe('objective metric "acc" is not a finite number');
  });

  it('a missing objective fails the seed, naming what was reported', async () => {
    const def = await nodeExperiment(`console.log(JSON.stringify({ metrics: { loss: 0.1 } }));`);
    const r = await runSeed(def, {}, { seed: 1, outDir: outDir(), objective: 'acc' });
    expect(r.status).toBe('failed');
    expect(r.error).toBe('objective metric "acc" was not reported (reported: loss)');
    expect(r.metrics).toEqual({ loss: 0.1 });
  });

  it('an invalid metrics file fails the seed', async () => {
    const def = await nodeExperiment(`
      import { writeFileSync } from 'node:fs';
      console.log(JSON.stringify({ metrics: { acc: 1 } }));
      writeFileSync(process.env.GAPLAB_METRICS_FILE, '{not json');
    `);
    const r = await runSeed(def, {}, { seed: 1, outDir: outDir(), objective: 'acc' });
    expect(r.status).toBe('failed');
    expect(r.error).toBe('metrics file is not valid JSON');
  });

  it('a missing executable is a failed result, not an exception', async () => {
    const def: ExperimentDefinition = {
      name: 'missing',
      description: 'x',
      metrics: [],
      defaultTimeoutSeconds: 5,
      runner: { kind: 'command', argv: [path.join(tmp, 'does-not-exist')] },
    };
    const r = await runSeed(def, {}, { seed: 1, outDir: outDir() });
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/could not start .*does-not-exist.*ENOENT/);
  });

  it('a flood of output and a huge line without newline keep memory and the tail bounded', async () => {
    // 50 MB of lines, then a 30 MB line with no newline, then the metrics on a line of their own.
    const def = await nodeExperiment(`
      const line = 'x'.repeat(1023) + '\\n';
      const block = line.repeat(1024); // 1 MiB
      let i = 0;
      function flood() {
        while (i < 50) { i++; if (!process.stdout.write(block)) return process.stdout.once('drain', flood); }
        const huge = 'y'.repeat(1024 * 1024);
        let j = 0;
        (function big() {
          while (j < 30) { j++; if (!process.stdout.write(huge)) return process.stdout.once('drain', big); }
          process.stdout.write('\\n' + JSON.stringify({ metrics: { acc: 0.9 } }) + '\\n');
        })();
      }
      flood();
    `);
    const before = process.memoryUsage().rss;
    const r = await runSeed(
      def,
      {},
      { seed: 1, outDir: outDir(), objective: 'acc', maxLogFileBytes: 8 * 1024 * 1024 },
    );
    const grown = process.memoryUsage().rss - before;
    expect(r.status).toBe('succeeded');
    expect(r.metrics.acc).toBe(0.9);
    expect((r.logTail ?? '').length).toBeLessThan(80 * 1024);
    expect(r.logTail).toContain('truncated');
    expect((await stat(r.stdoutPath as string)).size).toBeLessThan(8 * 1024 * 1024 + 1024);
    expect(await readFile(r.stdoutPath as string, 'utf8')).toContain('log file limit');
    expect(grown).toBeLessThan(200 * 1024 * 1024);
  });
});

describe('runSeed, function experiments', () => {
  const fn = (run: FunctionRunner['run']): ExperimentDefinition => ({
    name: 'fn',
    description: 'function fixture',
    metrics: [{ name: 'acc', description: '' }],
    defaultTimeoutSeconds: 5,
    runner: { kind: 'function', run },
  });

  it('returns metrics and forwards progress', async () => {
    const seen: ProgressUpdate[] = [];
    const r = await runSeed(
      fn(async (params, ctx) => {
        ctx.progress({ fraction: 0.5, metrics: { partial: 1 } });
        return { acc: Number(params.x) + ctx.seed };
      }),
      { x: 1 },
      { seed: 2, outDir: outDir(), objective: 'acc', onProgress: (p) => seen.push(p) },
    );
    expect(r).toMatchObject({ status: 'succeeded', metrics: { acc: 3, partial: 1 } });
    expect(seen).toEqual([{ fraction: 0.5, metrics: { partial: 1 } }]);
  });

  it('takes learning-curve points from progress with a step, also when it fails', async () => {
    const r = await runSeed(
      fn(async (_params, ctx) => {
        for (let step = 1; step <= 2; step++) ctx.progress({ step, metrics: { loss: 2 - step } });
        throw new Error('diverged');
      }),
      {},
      { seed: 2, outDir: outDir(), objective: 'acc' },
    );
    expect(r).toMatchObject({
      status: 'failed',
      metrics: {},
      curves: {
        loss: [
          [1, 1],
          [2, 0],
        ],
      },
    });
  });

  it('a thrown error is a failed result with the stack', async () => {
    const r = await runSeed(
      fn(async () => Promise.reject(new TypeError('bad shape'))),
      {},
      { seed: 1, outDir: outDir() },
    );
    expect(r.status).toBe('failed');
    expect(r.error).toBe('TypeError: bad shape');
    expect(r.logTail).toContain('bad shape');
  });

  it('times out even when the function ignores its signal', async () => {
    const r = await runSeed(
      fn(() => new Promise(() => {})),
      {},
      { seed: 1, outDir: outDir(), timeoutSeconds: 0.2 },
    );
    expect(r.status).toBe('failed');
    expect(r.error).toBe('timed out after 0.2 s');
  });

  it('cancellation aborts the function signal', async () => {
    const controller = new AbortController();
    let sawAbort = false;
    const run = fn(
      (_p, ctx) =>
        new Promise((_, reject) => {
          ctx.signal.addEventListener('abort', () => {
            sawAbort = true;
            reject(ctx.signal.reason);
          });
          setTimeout(() => controller.abort(), 20);
        }),
    );
    const r = await runSeed(run, {}, { seed: 1, outDir: outDir(), signal: controller.signal });
    expect(r.status).toBe('cancelled');
    expect(sawAbort).toBe(true);
  });

  it('a run a cascade stage stopped ends pruned with that stage and its metrics, no objective needed', async () => {
    const r = await runSeed(
      fn(async (_p, ctx) => {
        ctx.prune?.(1, 0.2);
        ctx.prune?.(2, Number.NaN); // the last call wins; a non-finite score is none
        return { stage_score: 0.3 };
      }),
      {},
      { seed: 1, outDir: outDir(), objective: 'acc' },
    );
    expect(r).toMatchObject({
      status: 'pruned',
      pruned: { stage: 2, score: null },
      metrics: { stage_score: 0.3 },
    });
    expect(r.error).toBeUndefined();
  });

  it('missing objective fails', async () => {
    const r = await runSeed(
      fn(async () => ({ other: 1, acc: Number.NaN })),
      {},
      { seed: 1, outDir: outDir(), objective: 'acc' },
    );
    expect(r.status).toBe('failed');
    expect(r.error).toBe('objective metric "acc" is not a finite number');
  });

  it('rejects programmer errors by throwing', async () => {
    await expect(
      runSeed(
        fn(async () => ({})),
        {},
        { seed: 1.5, outDir: outDir() },
      ),
    ).rejects.toThrow(/seed must be an integer/);
    await expect(
      runSeed(
        fn(async () => ({})),
        {},
        { seed: 1, outDir: outDir(), timeoutSeconds: 0 },
      ),
    ).rejects.toThrow(/timeoutSeconds/);
  });
});

describe('LineTail', () => {
  it('keeps the last lines within the budgets and parses only complete lines', () => {
    const seen: string[] = [];
    const t = new LineTail(3, 1000, 10, (l) => seen.push(l));
    t.push('a\nb');
    t.push('c\nd\ne\n');
    t.push('0123456789abcdef\nz');
    t.end();
    expect(seen).toEqual(['a', 'bc', 'd', 'e', 'z']);
    expect(t.text()).toBe(
      '[3 earlier lines not kept]\ne\n0123456789… [line longer than 10 bytes, truncated]\nz',
    );
  });

  it('names env vars for params', () => {
    expect(paramEnvName('aux.weight-2')).toBe('GAPLAB_PARAM_AUX_WEIGHT_2');
    expect(groupAlive(2 ** 22 + 12345)).toBe(false);
  });
});
