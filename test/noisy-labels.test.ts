/**
 * The noisy-labels built-in (real data: scikit-learn's bundled digits; a Python harness that keeps
 * the clean labels) in a real campaign on the real services (Temporal, MLflow, a worker, bwrap):
 * the hand-written method (EM over the true labels with a trusted set, a test fixture no agent
 * sees) proposed with `gaplab propose --patch` against the starting method is verified on fresh
 * seeds, and its hidden held-out accuracy keeps up.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSnapshot } from '../domain/code.js';
import { runProposedPatchCampaign, type ProposedPatchCampaign } from './support/code-campaign.js';

const HAND_WRITTEN = readFileSync(
  new URL('./fixtures/noisy-labels/trusted_em.py', import.meta.url),
  'utf8',
);

let c: ProposedPatchCampaign;

beforeAll(async () => {
  c = await runProposedPatchCampaign({
    experiment: 'noisy-labels',
    source: { 'method.py': HAND_WRITTEN },
    title: 'EM with the trusted set',
  });
}, 900_000);

afterAll(async () => {
  await c?.close();
});

describe('noisy labels on real data, in a campaign', () => {
  it('verifies the hand-written method proposed with `gaplab propose --patch`', async () => {
    expect(c.proposeOutput).toMatch(/^proposed h\d+: EM with the trusted set$/m);
    const { trials } = await c.env.service.trials(c.campaignId, { limit: 100 });
    const t = trials.find((x) => x.title === 'EM with the trusted set' && x.kind === 'search');
    expect(t, JSON.stringify(c.report.dropped)).toBeDefined();
    expect(t!.status, t!.failureReason).toBe('succeeded');
    expect(t!.sourceHash).toBe(hashSnapshot({ 'method.py': HAND_WRITTEN }));
    expect(t!.pgr!.mean).toBeGreaterThanOrEqual(0.8);
    expect(t!.metrics.heldout_accuracy).toBeGreaterThanOrEqual(0.85);
    expect(c.report.verdict?.verdict, c.report.verdict?.reasons.join('; ')).toBe('verified');
  });
});
