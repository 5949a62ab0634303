/**
 * Campaigns read from MLflow (their workflow does not answer) obey the same rule as live ones:
 * while the record is open, hidden values are withheld from researchers and viewers; once it
 * has ended, everyone reads them.
 */
import { describe, expect, it } from 'vitest';
import { TAG } from '../records/names.js';
import { FakeMlflow } from '../test/support/fake-mlflow.js';
import { auth, buildTestApp } from '../test/support/fake-service.js';

const HIDDEN_VALUES = [0.4321987, 0.4321988, 0.4321989, 0.432199];

function mlflowWith(campaignId: string, finished: boolean): FakeMlflow {
  const mlflow = new FakeMlflow();
  mlflow.addCampaign('quad', campaignId, 3, finished);
  let i = 0;
  for (const run of mlflow.runs)
    if (run.data.tags[TAG.kind] === 'trial' && 'score' in run.data.metrics)
      run.data.metrics['heldout_score'] = HIDDEN_VALUES[i++]!;
  expect(i).toBeGreaterThanOrEqual(3);
  return mlflow;
}

describe('hidden values of campaigns read from MLflow', () => {
  it('an open record: researchers and viewers get them withheld, PIs read them', async () => {
    const { app } = await buildTestApp({ fakeMlflow: mlflowWith('m-open', false) });
    try {
      for (const who of ['researcher', 'viewer'] as const) {
        for (const url of [
          '/api/campaigns/m-open/trials',
          '/api/campaigns/m-open/trials/t0001',
          '/api/campaigns/m-open/lineage',
          '/api/problems/quad/compare',
        ]) {
          const res = await app.inject({ url, headers: auth(who) });
          expect(res.statusCode, `${who} ${url}: ${res.body.slice(0, 200)}`).toBe(200);
          expect(res.body).not.toContain('0.43219');
        }
        const page = (
          await app.inject({ url: '/api/campaigns/m-open/trials', headers: auth(who) })
        ).json();
        expect(page.source).toBe('mlflow');
        for (const t of page.trials) {
          expect(t.withheld).toEqual(['heldout_score']);
          expect(t.metrics).not.toHaveProperty('heldout_score');
        }
      }
      const pi = await app.inject({ url: '/api/campaigns/m-open/trials', headers: auth('pi') });
      expect(pi.body).toContain('0.4321987');
    } finally {
      await app.close();
    }
  });

  it('an ended record: everyone reads them', async () => {
    const { app } = await buildTestApp({ fakeMlflow: mlflowWith('m-done', true) });
    try {
      const res = await app.inject({
        url: '/api/campaigns/m-done/trials',
        headers: auth('viewer'),
      });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('0.4321987');
      expect(res.json().trials.every((t: { withheld?: unknown }) => t.withheld === undefined)).toBe(
        true,
      );
    } finally {
      await app.close();
    }
  });
});
