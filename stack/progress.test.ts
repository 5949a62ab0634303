/**
 * A long step says what it is, how long it has taken and what it waits for, at a steady beat:
 * a fake slow step on fake timers (no real waiting).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { formatElapsed, PROGRESS_EVERY_MS, withProgress } from './progress.js';
import { waitUntil } from './process.js';

beforeEach(() => vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') }));
afterEach(() => vi.useRealTimers());

/** A step that takes `ms` of (fake) time. */
const slowStep = (ms: number) => () =>
  new Promise<string>((resolve) => setTimeout(() => resolve('built'), ms));

describe('withProgress', () => {
  it('reports the step, the elapsed time and what it waits for at least every 10 s', async () => {
    expect(PROGRESS_EVERY_MS).toBeLessThanOrEqual(10_000);
    const lines: string[] = [];
    let output = 'compiling';
    const done = withProgress(
      (l) => lines.push(l),
      'Building the Temporal CLI',
      () => `go install (last output: ${output})`,
      slowStep(7 * 60_000 + 2_000),
      { note: 'first run only' },
    );
    expect(lines).toEqual(['Building the Temporal CLI (first run only)...']);
    await vi.advanceTimersByTimeAsync(PROGRESS_EVERY_MS);
    expect(lines[1]).toBe(
      `  Building the Temporal CLI: ${PROGRESS_EVERY_MS / 1000} s, waiting for go install (last output: compiling)`,
    );
    output = 'linking';
    await vi.advanceTimersByTimeAsync(8 * PROGRESS_EVERY_MS);
    expect(lines.at(-1)).toBe(
      `  Building the Temporal CLI: ${formatElapsed(9 * PROGRESS_EVERY_MS)}, waiting for go install (last output: linking)`,
    );
    await vi.advanceTimersByTimeAsync(7 * 60_000);
    await expect(done).resolves.toBe('built');
    expect(lines.at(-1)).toBe('Building the Temporal CLI: done in 7m02s');
    // Never more than one beat between two lines while it ran.
    const beats = lines.filter((l) => l.includes('waiting for')).length;
    expect(beats).toBe(Math.floor((7 * 60_000 + 2_000) / PROGRESS_EVERY_MS));
    // And nothing once it is over.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(lines.at(-1)).toBe('Building the Temporal CLI: done in 7m02s');
  });

  it('says when a step fails, and after how long', async () => {
    const lines: string[] = [];
    const failing = withProgress(
      (l) => lines.push(l),
      'pip install',
      'pip',
      () => new Promise((_, reject) => setTimeout(() => reject(new Error('no network')), 12_000)),
    );
    const settled = expect(failing).rejects.toThrow('no network');
    await vi.advanceTimersByTimeAsync(12_000);
    await settled;
    expect(lines.at(-1)).toBe('pip install: failed after 12 s');
  });

  it('is silent between the first and last line for a step shorter than a beat', async () => {
    const lines: string[] = [];
    const done = withProgress((l) => lines.push(l), 'quick', 'nothing', slowStep(1_000));
    await vi.advanceTimersByTimeAsync(1_000);
    await done;
    expect(lines).toEqual(['quick...', 'quick: done in 1 s']);
  });
});

describe('waitUntil with a log', () => {
  it('names the service and what its start waits for', async () => {
    const lines: string[] = [];
    let healthy = false;
    setTimeout(() => (healthy = true), 12_000);
    const done = waitUntil(async () => healthy, {
      timeoutMs: 60_000,
      what: 'MLflow server',
      log: (l) => lines.push(l),
      waitingFor: 'http://127.0.0.1:5050/health',
      logFile: '/state/logs/mlflow.log',
    });
    await vi.advanceTimersByTimeAsync(13_000);
    await done;
    expect(lines[0]).toBe('Waiting for MLflow server (up to 60 s; log /state/logs/mlflow.log)...');
    expect(lines).toContain(
      `  Waiting for MLflow server: ${PROGRESS_EVERY_MS / 1000} s, waiting for http://127.0.0.1:5050/health`,
    );
    expect(lines.at(-1)).toMatch(/^Waiting for MLflow server: done in 1[23] s$/);
  });
});

describe('formatElapsed', () => {
  it('writes seconds, minutes and hours', () => {
    expect([0, 9_999, 65_000, 7 * 60_000 + 2_000, 3_725_000].map(formatElapsed)).toEqual([
      '0 s',
      '9 s',
      '1m05s',
      '7m02s',
      '1h02m',
    ]);
  });
});
