/**
 * Each command's `--help` names the defaults the command really uses: the values shown are the
 * ones its action receives, and they agree with the code that serves them (the stack's
 * addresses, the API client's, the worker's and the server's). Actions that would start
 * something are given stand-ins that record what they were called with.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const calls = vi.hoisted(() => ({
  worker: [] as unknown[],
  server: [] as unknown[],
  demo: [] as unknown[],
}));
vi.mock('../worker/index.js', () => ({
  startWorker: (opts: unknown) => {
    calls.worker.push(opts);
    return Promise.resolve({ done: Promise.resolve(), shutdown: () => Promise.resolve() });
  },
}));
vi.mock('../server/server.js', () => ({
  startServer: (opts: unknown) => {
    calls.server.push(opts);
    return Promise.resolve({ devTokens: [], url: 'http://127.0.0.1:1' });
  },
}));
vi.mock('./ui-build.js', () => ({ ensureUiBuilt: () => Promise.resolve() }));
vi.mock('./demo.js', () => ({
  runDemo: (opts: unknown) => {
    calls.demo.push(opts);
    return Promise.resolve();
  },
}));

let home: string;
beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'gaplab-help-'));
  vi.resetModules();
  // A state folder of its own: no recorded server address, no dev tokens.
  vi.stubEnv('GAPLAB_HOME', home);
  for (const name of [
    'TEMPORAL_ADDRESS',
    'MLFLOW_TRACKING_URI',
    'GAPLAB_URL',
    'GAPLAB_TEMPORAL_PORT',
    'GAPLAB_MLFLOW_PORT',
    'GAPLAB_POSTGRES_PORT',
    'ANTHROPIC_API_KEY',
  ])
    vi.stubEnv(name, '');
  for (const k of Object.keys(calls)) calls[k as keyof typeof calls].length = 0;
  vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
  vi.spyOn(process, 'once').mockImplementation((() => process) as never);
  vi.spyOn(console, 'log').mockImplementation(() => {});
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  fs.rmSync(home, { recursive: true, force: true });
});

async function program(): Promise<Command> {
  const { buildProgram } = await import('./program.js');
  return buildProgram().exitOverride();
}

function find(root: Command, names: string[]): Command {
  let cmd = root;
  for (const n of names) cmd = cmd.commands.find((c) => c.name() === n)!;
  return cmd;
}

/** The help of a command, on one line per option (commander wraps long descriptions). */
function help(root: Command, names: string[]): string {
  const cmd = find(root, names);
  return cmd
    .helpInformation({ error: false })
    .replace(/\n\s{10,}/g, ' ')
    .replace(/ {2,}/g, ' ');
}

/** The "(default: ...)" that the help prints for an option. */
function shownDefault(root: Command, names: string[], flag: string): string | undefined {
  const line = help(root, names)
    .split('\n')
    .find((l) => l.trim().startsWith(flag));
  return /\(default: (.*)\)\s*$/.exec(line ?? '')?.[1];
}

async function run(args: string[]): Promise<void> {
  await (await program()).parseAsync(['node', 'gaplab', ...args]);
}

describe('--help defaults are the ones the commands use', () => {
  it.each([
    [{}, '127.0.0.1:7233', 'http://127.0.0.1:5050'],
    [
      { GAPLAB_TEMPORAL_PORT: '17233', GAPLAB_MLFLOW_PORT: '15050' },
      '127.0.0.1:17233',
      'http://127.0.0.1:15050',
    ],
    [
      { TEMPORAL_ADDRESS: 'temporal:7233', MLFLOW_TRACKING_URI: 'http://mlflow:5000' },
      'temporal:7233',
      'http://mlflow:5000',
    ],
  ])(
    "worker and server find Temporal and MLflow where help says, the stack's by default (%o)",
    async (env, temporal, mlflow) => {
      for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
      const root = await program();
      for (const cmd of ['worker', 'server']) {
        expect(shownDefault(root, [cmd], '--temporal'), cmd).toBe(JSON.stringify(temporal));
        expect(shownDefault(root, [cmd], '--mlflow'), cmd).toBe(JSON.stringify(mlflow));
      }
      await run(['worker']);
      await run(['server']);
      expect(calls.worker[0]).toMatchObject({ temporalAddress: temporal, mlflowUri: mlflow });
      expect(calls.server[0]).toMatchObject({
        config: { temporalAddress: temporal, mlflowUri: mlflow },
      });
      if (!('TEMPORAL_ADDRESS' in env)) {
        // Where `gaplab stack up` puts them under the same environment.
        const { Stack } = await import('../stack/index.js');
        const stack = new Stack({ dir: path.join(home, 'stack') });
        expect([stack.temporalAddress, stack.mlflowUri]).toEqual([temporal, mlflow]);
      }
    },
  );

  it("the worker's shown queue, concurrency and stop grace are what it runs with", async () => {
    const root = await program();
    expect(shownDefault(root, ['worker'], '--task-queue')).toBe('"gaplab"');
    expect(shownDefault(root, ['worker'], '--max-activities')).toBe('16');
    await run(['worker']);
    const { WORKER_SHUTDOWN_GRACE_SECONDS } = await import('./run.js');
    expect(calls.worker[0]).toMatchObject({
      taskQueue: 'gaplab',
      maxConcurrentActivities: 16,
      shutdownGraceSeconds: WORKER_SHUTDOWN_GRACE_SECONDS,
    });
    expect(vi.mocked(console.log).mock.calls.flat().join('\n')).toContain(
      `running experiments are cancelled after ${WORKER_SHUTDOWN_GRACE_SECONDS} s`,
    );
  });

  it("the server's shown host and port, and the CLI's shown URL, meet", async () => {
    const root = await program();
    expect(shownDefault(root, ['server'], '--host')).toBe('"127.0.0.1"');
    expect(shownDefault(root, ['server'], '--port')).toBe('8700');
    expect(shownDefault(root, [], '--url')).toBe('"http://127.0.0.1:8700"');
    const { ApiClient } = await import('./api.js');
    expect(new ApiClient().url).toBe('http://127.0.0.1:8700');
    await run(['server']);
    expect(calls.server[0]).toMatchObject({ config: { host: '127.0.0.1', port: 8700 } });
  });

  it('the CLI shows the API address it will use: GAPLAB_URL, else the one a server recorded', async () => {
    vi.stubEnv('GAPLAB_URL', 'http://lab.example:9000/');
    let root = await program();
    expect(shownDefault(root, [], '--url')).toBe('"http://lab.example:9000"');
    vi.stubEnv('GAPLAB_URL', '');
    fs.writeFileSync(
      path.join(home, 'server.json'),
      JSON.stringify({ url: 'http://127.0.0.1:8765', pid: process.pid }),
    );
    root = await program();
    expect(shownDefault(root, [], '--url')).toBe('"http://127.0.0.1:8765"');
    const { ApiClient } = await import('./api.js');
    expect(new ApiClient().url).toBe('http://127.0.0.1:8765');
  });

  it.each([
    ['', 'optuna'],
    ['sk-test', 'claude'],
  ])(
    'start and demo show the strategy they start with (ANTHROPIC_API_KEY=%j)',
    async (key, strategy) => {
      vi.stubEnv('ANTHROPIC_API_KEY', key);
      const root = await program();
      expect(shownDefault(root, ['start'], '--strategy')).toBe(JSON.stringify(strategy));
      expect(shownDefault(root, ['demo'], '--strategy')).toBe(JSON.stringify(strategy));
      const { startBody } = await import('./commands.js');
      expect(startBody('p', {}).strategy.name).toBe(strategy);
      expect(shownDefault(root, ['demo'], '--trials')).toBe('30');
      await run(['demo']);
      expect(shownDefault(root, ['demo'], '--exit')).toBe('on when not on a terminal');
      expect(calls.demo[0]).toMatchObject({ strategy, trials: 30, exit: !process.stdout.isTTY });
    },
  );

  it("stack up's PostgreSQL port is the stack's", async () => {
    const root = await program();
    const line = help(root, ['stack', 'up']);
    const { Stack } = await import('../stack/index.js');
    const port = new Stack({ dir: path.join(home, 'stack') }).postgresPort;
    expect(line).toContain(`(port GAPLAB_POSTGRES_PORT, default ${port})`);
  });

  it('no option writes a default of its own beside the one commander shows', async () => {
    // Defaults are declared with commander, so that help prints the value the action gets; an
    // option's text may say where its value comes from, but not "default".
    const root = await program();
    const offenders: string[] = [];
    const walk = (cmd: Command, names: string[]) => {
      for (const o of cmd.options)
        if (/\bdefault\b/i.test(o.description) && !KNOWN.has(`${names.join(' ')} ${o.flags}`))
          offenders.push(`gaplab ${names.join(' ')} ${o.flags}: ${o.description}`);
      for (const c of cmd.commands) walk(c, [...names, c.name()]);
    };
    walk(root, []);
    expect(offenders).toEqual([]);
  });
});

/** Options whose text names a default that is checked by a test above, or is a behaviour. */
const KNOWN = new Set([
  'stack up --postgres', // the port: checked above
  'stop --verify', // "skipped by default": what a stop does, not a value
]);
