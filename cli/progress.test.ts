import { describe, expect, it } from 'vitest';
import type { CampaignStatus } from '../api/schemas.js';
import { FakeService } from '../test/support/fake-service.js';
import { ProgressPrinter, progressLine } from './progress.js';

describe('the progress line', () => {
  it('counts down while the campaign runs and says what it used once it ended', async () => {
    const fake = new FakeService();
    const running: CampaignStatus = {
      ...(await fake.status('c1')),
      budgets: { maxTrials: 10, concurrency: 2, maxWallSeconds: 600, maxDollars: 5 },
      remaining: { trials: 8, wallSeconds: 414, dollars: 4.5 },
      ledger: { ...(await fake.status('c1')).ledger, dollars: 0.5 },
    };
    expect(progressLine(running)).toContain('6m54s left');
    expect(progressLine(running)).toContain('$4.50 left');
    const finished: CampaignStatus = {
      ...running,
      phase: 'finished',
      stopReason: 'stopped_by_pi',
    };
    const line = progressLine(finished);
    expect(line).not.toContain('left');
    expect(line).toContain('ran 3m06s');
    expect(line).toContain('$0.500 spent');
    expect(line).toMatch(/^finished · .* · stop: stopped_by_pi$/);
  });

  it('names what the campaign waits for, unless the running count already says it', async () => {
    const base = await new FakeService().status('c1');
    const verifying: CampaignStatus = {
      ...base,
      phase: 'verifying',
      trialsRunning: 0,
      waitingFor: 'MLflow to write 3 trial records',
    };
    expect(progressLine(verifying)).toMatch(
      /^verifying · .* · 0 running · .* · waiting for MLflow to write 3 trial records/,
    );
    const running: CampaignStatus = { ...base, trialsRunning: 2, waitingFor: '2 running trials' };
    expect(progressLine(running)).not.toContain('waiting for');
    const both: CampaignStatus = {
      ...running,
      waitingFor: "2 running trials and a PI's decision on 1 hypothesis",
    };
    expect(progressLine(both)).toContain(
      "waiting for 2 running trials and a PI's decision on 1 hypothesis",
    );
  });

  it('freezes the time of a finished campaign without a wall budget at its end', async () => {
    const fake = new FakeService();
    const base = await fake.status('c1');
    const startedAtMs = Date.parse('2026-01-01T00:00:00Z');
    const finished: CampaignStatus = {
      ...base,
      phase: 'finished',
      stopReason: 'max_trials',
      budgets: { maxTrials: 10, concurrency: 2 },
      remaining: { trials: 0, wallSeconds: null, dollars: null },
      ledger: { ...base.ledger, startedAtMs },
      endedAtMs: startedAtMs + 586_000,
    };
    // The same line an hour later and a day later: the time stands still.
    for (const late of [3_600_000, 86_400_000]) {
      const line = progressLine(finished, startedAtMs + late);
      expect(line).toContain('ran 9m46s');
      expect(line).not.toContain('left');
    }
  });
});

describe('ProgressPrinter', () => {
  const sink = (isTTY: boolean) => {
    const written: string[] = [];
    const out = { isTTY, write: (s: string) => written.push(s) } as unknown as NodeJS.WriteStream;
    return { out, written };
  };
  const lines = [
    'running · 3/30 trials · 2 running · best t0002 PGR 0.41 · 9m58s left',
    'running · 3/30 trials · 2 running · best t0002 PGR 0.41 · 9m56s left',
    'running · 4/30 trials · 2 running · best t0002 PGR 0.41 · 9m54s left',
    'running · 4/30 trials · 2 running · best t0002 PGR 0.41 · 1h02m left',
  ];

  it('prints a line per change of the campaign, not per tick of its countdown, into a pipe', () => {
    const { out, written } = sink(false);
    const printer = new ProgressPrinter(out);
    for (const l of lines) printer.update(l);
    printer.done();
    expect(written).toEqual([`${lines[0]}\n`, `${lines[2]}\n`]);
  });

  it('rewrites every tick in place on a terminal', () => {
    const { out, written } = sink(true);
    const printer = new ProgressPrinter(out);
    for (const l of lines) printer.update(l);
    printer.done();
    expect(written).toEqual([...lines.map((l) => `\r\x1b[2K${l}`), '\n']);
  });
});
