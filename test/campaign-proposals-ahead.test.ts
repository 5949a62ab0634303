import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quadraticCriteria, quadraticSpec, testRegistry } from './support/quadratic.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv({ registry: testRegistry() });
});
afterAll(async () => {
  await env?.close();
});

describe('proposals asked for ahead of need', () => {
  it('a cheap strategy proposes several trials per call, not one call per finished trial', async () => {
    const id = uniqueId('quad');
    await env.service.submitProblem(researcher, { ...quadraticSpec, id });
    // One slot, one seed per trial: without asking ahead, every finished trial frees room for
    // exactly one proposal, so 24 trials take about 23 strategy calls.
    await env.service.setCriteria(
      pi,
      id,
      { ...quadraticCriteria, seedsPerTrial: 1, budgets: { maxTrials: 24, concurrency: 1 } },
      'test',
    );
    const { campaignId } = await env.service.startCampaign(researcher, {
      problemId: id,
      strategy: { name: 'random' },
      seed: 11,
    });
    const report = await env.service.result(campaignId);

    expect(report.stopReason).toBe('max_trials');
    expect(report.trials.total).toBe(24);
    // Each call asks for what keeps three waiting (the room for one trial, plus two ahead), so at
    // least two but the last (a call made while one waits); never more than the trial budget has
    // left. Whether a reply lands while the slot is busy or idle is the machine's pace: between
    // 8 and 12 calls for 24 trials, against 23 without asking ahead.
    expect(report.ledger.iterations).toBeLessThanOrEqual(12);
    const { trials } = await env.service.trials(campaignId, { limit: 1000 });
    expect(trials.filter((t) => t.kind === 'search' && t.status === 'succeeded')).toHaveLength(24);
  });
});
