/**
 * The README's first quick-start command, end to end with a small budget: the embedded stack,
 * a worker, the API/UI server and a real Optuna campaign on the weak-to-strong problem.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Stack } from '../stack/index.js';
import { freePort } from '../stack/process.js';

const root = path.resolve(import.meta.dirname, '..');

describe('demo', () => {
  it('runs a real campaign on the built-in problem and prints a report with PGR', async () => {
    const ports = {
      temporalPort: await freePort(),
      temporalUiPort: await freePort(),
      mlflowPort: await freePort(),
    };
    // The folder a stack on these ports keeps its data in: apart from a stack on the default
    // ports that may be running (two Temporal servers on one SQLite file lock each other out).
    const stackDir = new Stack(ports).dir;
    expect(path.basename(stackDir)).toBe(`stack-${ports.temporalPort}-${ports.mlflowPort}`);
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(root, 'cli', 'main.ts'),
        'demo',
        '--trials',
        '6',
        '--exit',
        '--strategy',
        'optuna',
        '--seed',
        '1',
      ],
      {
        cwd: root,
        // Free ports of their own, so the demo never touches a stack someone else runs (another
        // checkout's test run included).
        env: {
          ...process.env,
          GAPLAB_TEMPORAL_PORT: String(ports.temporalPort),
          GAPLAB_TEMPORAL_UI_PORT: String(ports.temporalUiPort),
          GAPLAB_MLFLOW_PORT: String(ports.mlflowPort),
          TEMPORAL_ADDRESS: '',
          MLFLOW_TRACKING_URI: '',
          // The worker surely logs at INFO: none of it may reach the demo's output.
          GAPLAB_WORKER_LOG_LEVEL: 'INFO',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const logDir = path.join(stackDir, 'logs');
    const workerLog = fs.readFileSync(path.join(logDir, 'demo-worker.log'), 'utf8');
    fs.rmSync(stackDir, { recursive: true, force: true });
    expect(code, out).toBe(0);
    // Worker and server log lines go to files in the state folder, which the demo names; its
    // output has none (the SDK's "... [WARN] ..." lines, fastify's JSON lines).
    expect(out).toContain(
      `   Logs: ${logDir} (temporal.log, mlflow.log, demo-worker.log, demo-server.log)`,
    );
    expect(workerLog).toMatch(/^\S+Z \[INFO\] /m);
    expect(out).not.toMatch(/\[(TRACE|DEBUG|INFO|WARN|ERROR)\]/);
    expect(out).not.toMatch(/^\{"level":/m);
    expect(out).toContain('1. The embedded stack');
    // With --exit the server is gone once the demo ends: no address that would not open is
    // printed, and the report is saved where the demo says.
    expect(out).not.toMatch(/Web UI:|Campaign: +http|token \(/);
    const saved = /^Report saved: (\S+\.md) \(JSON: (\S+\.json)\)$/m.exec(out);
    expect(saved, out).not.toBeNull();
    expect(fs.readFileSync(saved![1]!, 'utf8')).toContain('# Campaign weak-to-strong-optuna-');
    expect(JSON.parse(fs.readFileSync(saved![2]!, 'utf8'))).toHaveProperty('campaignId');
    expect(out).toContain('Starting Temporal (pid');
    expect(out).toContain(`UI http://127.0.0.1:${ports.temporalUiPort}`);
    expect(out).toContain('# Campaign weak-to-strong-optuna-');
    // The report's best: its id (the best trial's section) and its PGR with interval.
    const bestId = /^\*\*(t\d+): /m.exec(out.slice(out.indexOf('## Best trial')));
    const bestPgr = /\| best PGR \(mean, CI\) \| (-?\d+\.\d+) (\[[^\]]+\]) \|/.exec(out);
    expect(bestId, out).not.toBeNull();
    expect(bestPgr, out).not.toBeNull();
    // The verdict's words (domain/verdict.ts verdictLabel).
    const words =
      '(verified|verified, below target|held up, not significant|failed verification|not verified)';
    expect(out).toMatch(new RegExp(`\\| verdict \\| ${words} \\|`));
    expect(out).toMatch(
      new RegExp(
        `^Verdict: ${words}\\. best t\\d+: visible PGR -?\\d+\\.\\d+ .* fresh-seed PGR `,
        'm',
      ),
    );
    // The demo's last lines name the report's best, with the same interval, written alike.
    const reached = /^Best: (t\d+), PGR (-?\d+\.\d+) (\[[^\]]+\]) \(target /m.exec(out);
    expect(reached, out).not.toBeNull();
    expect(reached!.slice(1)).toEqual([bestId![1], ...bestPgr!.slice(1)]);
    expect(Number(reached![2])).toBeGreaterThan(0);
    expect(out).toContain('stop reason: max_trials');
    // Everything the demo started is stopped again.
    expect(out).toContain('Stopping temporal');
    expect(out).toContain('Stopping mlflow');
  }, 600_000);
});
