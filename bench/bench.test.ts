/** The benchmarks' pure parts: summaries, slot reconstruction, PGR tallies, the fake's cache, RESULTS.md. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RecordedRequest } from '../test/support/fake-anthropic.js';
import { estimateTokens, fakeUsage, requestedCount } from './agent.js';
import type { Environment } from './environment.js';
import { summarize, type QualityRun } from './quality.js';
import { renderResults } from './report.js';
import { pickLargest, readResults, table, writeResult, type BenchResult } from './results.js';
import { scalePreset } from './scale.js';
import { bestSoFar, distribution, quantileSorted, slotOverheads, trialsToReach } from './stats.js';

const env: Environment = {
  date: '2026-01-01T00:00:00.000Z',
  machine: {
    cpuModel: 'Test CPU',
    cpus: 2,
    memoryGiB: 8,
    platform: 'linux',
    release: '6',
    loadAverage: 0.1,
  },
  versions: {
    node: 'v20',
    python: '3.11',
    temporalCli: '1.5.1',
    temporalServer: '1.29.1',
    mlflow: '3.17.2',
    optuna: '5.0.0',
    gaplab: 'abc123',
  },
};

describe('stats', () => {
  it('interpolates quantiles like numpy and ignores non-finite values', () => {
    expect(quantileSorted([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantileSorted([10], 0.99)).toBe(10);
    const d = distribution([5, 1, NaN, 3, Infinity]);
    expect(d).toMatchObject({ n: 3, min: 1, p50: 3, max: 5 });
  });

  it('reconstructs slots and charges each trial its cycle minus its own work', () => {
    // Two slots; each trial works 100 ms; the next trial on a slot starts 20 ms after the last ended.
    const intervals = [
      { start: 0, end: 100, work: 100 },
      { start: 0, end: 100, work: 100 },
      { start: 120, end: 220, work: 100 },
      { start: 125, end: 225, work: 100 },
      { start: 240, end: 340, work: 100 },
    ];
    const o = slotOverheads(intervals).sort((a, b) => a - b);
    // The trial at 240 goes to the slot freed last (at 225): cycles 20, 25 and 240 - 125 - 100.
    expect(o).toEqual([15, 20, 25]);
    // Known slots win over reconstruction.
    expect(
      slotOverheads([
        { start: 0, end: 1, slot: 0 },
        { start: 5, end: 6, slot: 0 },
        { start: 2, end: 3, slot: 1 },
      ]),
    ).toEqual([5]);
  });

  it('finds the first trial reaching a PGR and the best so far', () => {
    expect(trialsToReach([0.1, 0.95, 0.5], 0.9)).toBe(2);
    expect(trialsToReach([0.1, 0.5], 0.9)).toBeNull();
    expect(bestSoFar([0.2, -Infinity, 0.1, 0.4])).toEqual([0.2, 0.2, 0.2, 0.4]);
  });
});

describe('search-quality summaries', () => {
  const run = (
    runner: QualityRun['runner'],
    seed: number,
    to09: number | null,
    best25: number,
  ): QualityRun => ({
    problem: 'branin',
    runner,
    seed,
    trials: 25,
    trialsTo: { '0.9': to09, '0.99': null },
    bestAt: { '25': best25 },
    seconds: 1,
  });

  it('takes the median over all seeds, counting misses as beyond the budget, and compares TPE runners', () => {
    const runs = [
      run('gaplab optuna:tpe', 1, 5, 0.95),
      run('gaplab optuna:tpe', 2, 7, 0.97),
      run('gaplab optuna:tpe', 3, null, 0.85),
      run('optuna tpe direct', 1, null, 0.8),
      run('optuna tpe direct', 2, null, 0.82),
      run('optuna tpe direct', 3, 9, 0.93),
    ];
    const { summary, tpe } = summarize(runs, 25);
    const g = summary.find((s) => s.runner === 'gaplab optuna:tpe')!;
    expect(g.medianTrialsTo['0.9']).toBe(7);
    expect(g.reached['0.9']).toBe(2);
    // Two of three never reached 0.9: the median is beyond the budget.
    expect(summary.find((s) => s.runner === 'optuna tpe direct')!.medianTrialsTo['0.9']).toBeNull();
    expect(g.bestAt['25']!.mean).toBeCloseTo(0.9233, 3);
    expect(tpe).toHaveLength(1);
    expect(tpe[0]).toMatchObject({ problem: 'branin', runner: 'gaplab optuna:tpe', budget: 25 });
    expect(tpe[0]!.diff).toBeCloseTo(0.0733, 3);
  });
});

describe('the fake Messages API usage', () => {
  const request = (system: string, user: string): RecordedRequest => ({
    method: 'POST',
    path: '/v1/messages',
    headers: {},
    body: { system: [{ type: 'text', text: system }], messages: [{ role: 'user', content: user }] },
    raw: '',
  });

  it('writes the cache once, reads it within five minutes, and writes it again after', () => {
    const cache = new Map<string, number>();
    const system = 'x'.repeat(5000);
    const req = request(system, 'Propose exactly 2 hypotheses.');
    const first = fakeUsage(req, 'reply', cache, 0, 'claude-sonnet-4-5');
    expect(first.cache_creation_input_tokens).toBe(estimateTokens(system));
    expect(first.cache_read_input_tokens).toBe(0);
    const second = fakeUsage(req, 'reply', cache, 60_000, 'claude-sonnet-4-5');
    expect(second.cache_read_input_tokens).toBe(estimateTokens(system));
    expect(second.input_tokens).toBe(first.input_tokens);
    const late = fakeUsage(req, 'reply', cache, 60_000 + 5 * 60_000 + 1, 'claude-sonnet-4-5');
    expect(late.cache_creation_input_tokens).toBe(estimateTokens(system));
    expect(requestedCount(req)).toBe(2);
  });

  it('caches nothing below the model minimum', () => {
    const u = fakeUsage(
      request('short system prompt', 'hi'),
      'reply',
      new Map(),
      0,
      'claude-opus-4-5',
    );
    expect(u.cache_creation_input_tokens + u.cache_read_input_tokens).toBe(0);
    expect(u.input_tokens).toBeGreaterThan(0);
  });
});

describe('result files and RESULTS.md', () => {
  const result = (size: BenchResult['size'], trialsPerSecond: number): BenchResult => ({
    benchmark: 'overhead',
    size,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    durationSeconds: 60,
    environment: env,
    params: { trials: 10 },
    data: {
      rows: [
        {
          runner: 'gaplab',
          concurrency: 1,
          mlflow: false,
          trials: 10,
          wallSeconds: 1,
          trialsPerSecond,
          overheadMs: distribution([1, 2]),
          latencyMs: distribution([1]),
          errors: 0,
        },
        {
          runner: 'optuna',
          concurrency: 1,
          mlflow: false,
          trials: 10,
          wallSeconds: 1,
          trialsPerSecond: 10,
          overheadMs: distribution([1]),
          latencyMs: distribution([1]),
          errors: 0,
        },
      ],
    },
    notes: ['a caveat'],
  });

  it('renders the largest run of each benchmark with its machine and versions', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-results-'));
    writeResult(dir, result('tiny', 5));
    writeResult(dir, result('full', 20));
    fs.writeFileSync(path.join(dir, 'junk.json'), '{not json');
    const all = readResults(dir);
    expect(all).toHaveLength(2);
    expect(pickLargest(all).get('overhead')!.size).toBe('full');
    const md = renderResults(dir);
    expect(md).toContain('## 1. Orchestration overhead');
    expect(md).toContain('full run of 2026-01-01 00:00 UTC');
    expect(md).toContain('Optuna 5.0.0');
    // gaplab 20 trials/s against Optuna's 10: the ratio column.
    expect(md).toContain('2.00x');
    expect(md).toContain('- a caveat');
    expect(md).toContain('_Not run yet._');
  });

  it('keeps the addenda and the sections of benchmarks run on their own', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-results-'));
    writeResult(dir, result('quick', 5));
    fs.writeFileSync(path.join(dir, 'overhead.changes.md'), '### Before/after\n\n| a | b |');
    fs.writeFileSync(
      path.join(dir, 'w2s-code.standalone.md'),
      '## Weak-to-strong as code\n\nPGR 1.0',
    );
    const md = renderResults(dir);
    expect(md.indexOf('### Before/after')).toBeGreaterThan(
      md.indexOf('## 1. Orchestration overhead'),
    );
    expect(md.trimEnd().endsWith('## Weak-to-strong as code\n\nPGR 1.0')).toBe(true);
  });

  it('right-aligns numeric columns', () => {
    expect(
      table(
        ['a', 'b'],
        [
          ['x', 1],
          ['y', '2.5x'],
        ],
      ),
    ).toContain('| --- | ---: |');
  });
});

describe('scale presets', () => {
  it('records every trial at the full size only on PostgreSQL (--postgres), read when the run starts', () => {
    expect(scalePreset('full', {}).mlflow).toBe(false);
    expect(scalePreset('full', { GAPLAB_POSTGRES: '1' })).toMatchObject({
      trials: 10_000,
      mlflow: true,
    });
    expect(scalePreset('quick', { GAPLAB_POSTGRES: '1' }).mlflow).toBe(true);
  });
});

describe('the bench stack lock', () => {
  it('lets one benchmark run at a time use the bench stack, and takes over a lock left by a dead run', async () => {
    const { releaseStackLock, takeStackLock } = await import('./context.js');
    const { spawn, spawnSync } = await import('node:child_process');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-lock-'));
    const file = path.join(dir, 'bench.lock');
    try {
      takeStackLock(dir);
      expect(fs.readFileSync(file, 'utf8')).toBe(String(process.pid));
      // Taking it again in the same run is fine.
      takeStackLock(dir);

      // Another live run holds it: refused, naming that run.
      const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
      try {
        fs.writeFileSync(file, String(other.pid));
        expect(() => takeStackLock(dir)).toThrow(
          `another benchmark run (pid ${other.pid}) is using the bench stack`,
        );
        // Not ours: releasing leaves it.
        releaseStackLock(dir);
        expect(fs.readFileSync(file, 'utf8')).toBe(String(other.pid));
      } finally {
        other.kill();
      }

      // A run that died left it: taken over.
      const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
      fs.writeFileSync(file, String(dead));
      takeStackLock(dir);
      expect(fs.readFileSync(file, 'utf8')).toBe(String(process.pid));
      releaseStackLock(dir);
      expect(fs.existsSync(file)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
