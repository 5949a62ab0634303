/**
 * The bin-packing built-in (OpenEvolve layout, evaluator as the harness) in a real campaign on
 * the real services (Temporal, MLflow, a worker, bwrap): the hand-written method (best fit
 * decreasing with bin emptying, a test fixture no agent sees) proposed with `gaplab propose
 * --patch` against the starting program is verified on fresh seeds.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSnapshot } from '../domain/code.js';
import { runProposedPatchCampaign, type ProposedPatchCampaign } from './support/code-campaign.js';

const HAND_WRITTEN = readFileSync(
  new URL('./fixtures/bin-packing/best_fit_decreasing.py', import.meta.url),
  'utf8',
);

let c: ProposedPatchCampaign;

beforeAll(async () => {
  c = await runProposedPatchCampaign({
    experiment: 'bin-packing',
    source: { 'initial_program.py': HAND_WRITTEN },
    title: 'best fit decreasing',
  });
}, 900_000);

afterAll(async () => {
  await c?.close();
});

describe('bin packing, OpenEvolve layout, in a campaign', () => {
  it('verifies the hand-written method proposed with `gaplab propose --patch`', async () => {
    expect(c.proposeOutput).toMatch(/^proposed h\d+: best fit decreasing$/m);
    const { trials } = await c.env.service.trials(c.campaignId, { limit: 100 });
    const t = trials.find((x) => x.title === 'best fit decreasing' && x.kind === 'search');
    expect(t, JSON.stringify(c.report.dropped)).toBeDefined();
    expect(t!.status, t!.failureReason).toBe('succeeded');
    expect(t!.sourceHash).toBe(hashSnapshot({ 'initial_program.py': HAND_WRITTEN }));
    expect(t!.metrics).toMatchObject({ pruned: 0, cascade_stage: 2, valid: 1 });
    expect(t!.pgr!.mean).toBeGreaterThanOrEqual(0.9);
    expect(c.report.verdict?.verdict, c.report.verdict?.reasons.join('; ')).toBe('verified');
  });
});
