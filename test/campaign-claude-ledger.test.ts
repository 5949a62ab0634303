/**
 * The dollar ledger of a Claude campaign survives failure: replies slower than the strategy
 * activity's time limit make Temporal retry the activity, and each retry reads what the attempt
 * before it spent or may have spent (its heartbeat details) instead of starting with the whole
 * budget again. The real SDK on a real worker against the scripted fake Messages API, which
 * counts what it "billed", including requests whose client gave up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usageDollars } from '../activities/strategies/claude/pricing.js';
import { quadraticCriteria, quadraticSpec, testRegistry } from './support/quadratic.js';
import type { FakeAnthropic } from './support/fake-anthropic.js';
import {
  createClaudeTestEnv,
  pi,
  researcher,
  uniqueId,
  type ClaudeTestEnv,
} from './support/env.js';

const MODEL = 'claude-haiku-4-5';
/** One attempt of a strategy call may take this long before Temporal retries it. */
const CALL_SECONDS = 5;

let fake: FakeAnthropic;
let env: ClaudeTestEnv;

beforeAll(async () => {
  env = await createClaudeTestEnv({
    registry: testRegistry(),
    timing: { strategyCallSeconds: CALL_SECONDS, strategyRetrySeconds: 1 },
    sdkRetries: 0,
  });
  fake = env.fake;
});
afterAll(async () => {
  await env?.close();
});

describe('the dollar ledger of a Claude campaign', () => {
  it('charges what timed-out attempts may have spent: within the cap, and at least what was billed', async () => {
    const problemId = uniqueId('ledger');
    await env.service.submitProblem(researcher, { ...quadraticSpec, id: problemId });
    const maxDollars = 1;
    await env.service.setCriteria(pi, problemId, {
      ...quadraticCriteria,
      budgets: { maxTrials: 3, concurrency: 2, maxDollars },
      verification: { topK: 1, seeds: 2 },
    });
    fake.clear();
    const billed0 = fake.billed.length;
    const requests0 = fake.requests.length;
    // The first two attempts of the first call wait past the activity's time limit (the fake
    // bills them anyway); the third is answered. Later calls are answered at once.
    const slow = {
      kind: 'delay' as const,
      ms: CALL_SECONDS * 2500,
      then: { kind: 'default' as const },
    };
    fake.script(slow, slow);
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: {
        name: 'claude',
        settings: { model: MODEL, agents: 1, hypothesesPerAgent: 1, maxTokens: 1024 },
      },
      seed: 5,
    });
    const report = await env.service.result(campaignId);
    const billed =
      fake.billed.slice(billed0).reduce((sum, u) => sum + usageDollars(MODEL, u) * 1e9, 0) / 1e9;
    const messages = fake.requests.slice(requests0).filter((r) => r.path === '/v1/messages');

    // The two slow requests were sent and billed, then answered ones after them.
    expect(messages.length).toBeGreaterThanOrEqual(3);
    expect(fake.billed.length - billed0).toBe(messages.length);
    expect(report.trials.total).toBeGreaterThan(0);
    // Nothing billed went uncharged, and the cap held (or the campaign stopped on an anomaly).
    expect(report.ledger.dollars).toBeGreaterThanOrEqual(billed);
    if (report.stopReason !== 'usage_anomaly')
      expect(report.ledger.dollars).toBeLessThanOrEqual(maxDollars);
    expect(
      report.notebook.some((n) => /earlier attempt of this strategy call was cut off/.test(n.text)),
    ).toBe(true);
    console.log(
      `ledger: ${messages.length} message requests, billed $${billed.toFixed(6)}, charged $${report.ledger.dollars.toFixed(6)} of $${maxDollars}, stop ${report.stopReason}`,
    );
  });

  it('charges what every attempt spent when all of them time out', async () => {
    const problemId = uniqueId('ledger-lost');
    await env.service.submitProblem(researcher, { ...quadraticSpec, id: problemId });
    await env.service.setCriteria(pi, problemId, {
      ...quadraticCriteria,
      budgets: { maxTrials: 3, concurrency: 2, maxDollars: 1 },
      verification: { topK: 1, seeds: 2 },
    });
    fake.clear();
    const billed0 = fake.billed.length;
    const requests0 = fake.requests.length;
    // Every attempt of the first call (the activity's four) waits past its time limit.
    const slow = {
      kind: 'delay' as const,
      ms: CALL_SECONDS * 2500,
      then: { kind: 'default' as const },
    };
    fake.script(slow, slow, slow, slow);
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId,
      strategy: {
        name: 'claude',
        settings: { model: MODEL, agents: 1, hypothesesPerAgent: 1, maxTokens: 1024 },
      },
      seed: 6,
    });
    const report = await env.service.result(campaignId);
    fake.clear();
    const billed =
      fake.billed.slice(billed0).reduce((sum, u) => sum + usageDollars(MODEL, u) * 1e9, 0) / 1e9;
    const messages = fake.requests.slice(requests0).filter((r) => r.path === '/v1/messages');
    expect(messages).toHaveLength(4);
    expect(billed).toBeGreaterThan(0);
    // The workflow charged the last attempt's heartbeat details: all four requests' bounds.
    expect(report.ledger.dollars).toBeGreaterThanOrEqual(billed);
    expect(report.ledger.dollars).toBeLessThanOrEqual(1);
    console.log(
      `ledger, every attempt cut off: billed $${billed.toFixed(6)}, charged $${report.ledger.dollars.toFixed(6)}, stop ${report.stopReason}`,
    );
  });
});
