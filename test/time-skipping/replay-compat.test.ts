/**
 * Campaigns in flight survive a deploy: histories recorded by the last release's workflow code
 * (test/fixtures/histories, recorded by test/support/record-histories.ts) replay against the
 * current campaign workflow bundle without a nondeterminism error. A change to the commands a
 * campaign issues (activities, timers, cancellations, markers) must be guarded with `patched()`
 * (workflows/README.md, "Changing workflow code"). No server: replay runs in the worker alone.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { inject } from 'vitest';
import { dataConverter } from '../../temporal/data-converter.js';
import { historyFromFixture } from '../support/replay-fixtures.js';
import { createTimeSkippingEnv, type TimeSkippingEnv } from '../support/time-skipping.js';

const dir = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

beforeAll(() => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Installed already in this process.
  }
});

describe('histories of the last release replay against the current workflow code', () => {
  test('the fixtures cover every phase', () => {
    expect(fixtures).toEqual(
      expect.arrayContaining([
        'search-with-failure.json',
        'injected-idea-approved.json',
        'deadline-in-verification.json',
        'stop-in-verification.json',
        'stop-in-verification-let-finish.json',
      ]),
    );
  });

  test.each(fixtures)('%s', async (file) => {
    const history = historyFromFixture(readFileSync(`${dir}${file}`, 'utf8'));
    expect(history.events?.length).toBeGreaterThan(10);
    await Worker.runReplayHistory(
      { workflowBundle: { code: inject('campaignBundle') }, dataConverter },
      history,
      file.replace(/\.json$/, ''),
    );
  });
});

describe('a campaign started with the current code', () => {
  let ts: TimeSkippingEnv | undefined;
  afterAll(async () => {
    await ts?.close();
  });

  test('records the phase-stops patch and replays, a PI stop during verification included', async () => {
    ts = await createTimeSkippingEnv();
    const campaign = await ts.start({
      criteria: {
        seedsPerTrial: 1,
        budgets: { maxTrials: 2, concurrency: 2 },
        verification: { topK: 2, seeds: 2 },
      },
    });
    ts.lab.hold = (c) => /^v\d/.test(c.trialId);
    await ts.until(() => ts!.lab.held().length > 0, 'a verification running');
    await campaign.stop({ reason: 'enough', cancelRunning: false });
    await ts.until(
      async () => (await campaign.audit()).some((a) => a.action === 'stop verification'),
      'the stop audited',
    );
    ts.lab.release();
    await campaign.result();

    const history = await campaign.handle.fetchHistory();
    const patches = (history.events ?? []).flatMap((e) =>
      (e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads ?? []).map((p) =>
        Buffer.from(p.data ?? []).toString(),
      ),
    );
    expect(patches.some((p) => p.includes('"phase-stops"'))).toBe(true);
    await Worker.runReplayHistory(
      { workflowBundle: { code: inject('campaignBundle') }, dataConverter },
      history,
      campaign.handle.workflowId,
    );
  });
});
