/**
 * The code routes over MLflow records: a code trial's whole diff (its run's diff.patch, not the
 * cut one in its tags), a snapshot by hash from the campaign's run (checked against its hash),
 * and clear 400s and 404s for what is not there.
 */
import { describe, expect, it } from 'vitest';
import { TAG } from '../records/names.js';
import { decodeTrial, DIFF_TAG_CHARS, encodeTrial } from '../records/trial-codec.js';
import { isCutDiff } from '../ui/src/lib/diff.js';
import { sourceArtifactPath } from '../records/names.js';
import { hashSnapshot } from '../domain/code.js';
import { FakeMlflow } from '../test/support/fake-mlflow.js';
import { auth, buildTestApp, trialSummary } from '../test/support/fake-service.js';

const SNAPSHOT = { 'method.py': 'def train():\n    return 1\n' };
const HASH = hashSnapshot(SNAPSHOT);
const LONG_DIFF = `--- a/method.py\n+++ b/method.py\n@@ -1 +1 @@\n-x\n+${'y'.repeat(DIFF_TAG_CHARS)}\n`;

function mlflowWithCode(campaignId: string): FakeMlflow {
  const mlflow = new FakeMlflow();
  mlflow.addCampaign('quad', campaignId, 2, true);
  const code = mlflow.runs.find((r) => r.data.tags[TAG.trialId] === 't0001')!;
  code.data.tags[TAG.sourceHash] = HASH;
  code.data.tags[TAG.diff] =
    `${LONG_DIFF.slice(0, 100)}\n… (cut: the whole diff is the run's diff.patch)`;
  mlflow.artifacts.set(`${code.info.runId}/diff.patch`, LONG_DIFF);
  const parent = mlflow.runs.find((r) => r.data.tags[TAG.kind] === 'campaign')!;
  mlflow.artifacts.set(
    `${parent.info.runId}/${sourceArtifactPath(HASH)}`,
    JSON.stringify(SNAPSHOT),
  );
  // A stored file whose content does not hash to its name is never served.
  mlflow.artifacts.set(
    `${parent.info.runId}/${sourceArtifactPath('f'.repeat(64))}`,
    JSON.stringify(SNAPSHOT),
  );
  return mlflow;
}

describe('code trial routes', () => {
  it('serve the whole diff, snapshots by hash, and say what is missing', async () => {
    const { app } = await buildTestApp({ fakeMlflow: mlflowWithCode('m-code') });
    try {
      const get = (url: string) => app.inject({ url, headers: auth('viewer') });
      const diff = await get('/api/campaigns/m-code/trials/t0001/diff');
      expect(diff.statusCode, diff.body.slice(0, 300)).toBe(200);
      expect(diff.json()).toMatchObject({ sourceHash: HASH, diff: LONG_DIFF, from: 'artifact' });
      // A trial that runs the starting source has no diff.
      const none = await get('/api/campaigns/m-code/trials/t0002/diff');
      expect(none.json()).toMatchObject({ sourceHash: null, diff: '', from: 'none' });

      const source = await get(`/api/campaigns/m-code/sources/${HASH}`);
      expect(source.statusCode, source.body.slice(0, 300)).toBe(200);
      expect(source.json()).toEqual({
        campaignId: 'm-code',
        hash: HASH,
        initial: false,
        files: SNAPSHOT,
      });

      const forged = await get(`/api/campaigns/m-code/sources/${'f'.repeat(64)}`);
      expect(forged.statusCode).toBe(404);
      const missing = await get(`/api/campaigns/m-code/sources/${'e'.repeat(64)}`);
      expect(missing.statusCode).toBe(404);
      const bad = await get('/api/campaigns/m-code/sources/not-a-hash');
      expect(bad.statusCode).toBe(400);
      expect(bad.body).toContain('ref');
      // The quadratic experiment has no source to start from.
      const initial = await get('/api/campaigns/m-code/sources/initial');
      expect(initial.statusCode).toBe(404);
      expect(initial.json().message).toMatch(/not run a code experiment/);
      const unknown = await get('/api/campaigns/m-code/trials/t9999/diff');
      expect(unknown.statusCode).toBe(404);
    } finally {
      await app.close();
    }
  });
});

describe('a cut diff on the trial page', () => {
  it('is told apart by the marker the trial codec writes', () => {
    const trial = { ...trialSummary(1), sourceHash: HASH };
    const read = (diff: string) => {
      const e = encodeTrial({
        campaignId: 'c',
        problemId: 'quad',
        trial,
        seeds: [],
        hiddenMetrics: [],
        source: { files: SNAPSHOT, diff },
      });
      const run = {
        info: { runId: 'r', experimentId: '1', runName: e.runName, userId: '', status: e.status },
        data: { metrics: {}, params: e.params, tags: { ...e.identityTags, ...e.tags } },
      };
      return decodeTrial(run as Parameters<typeof decodeTrial>[0]).diff ?? '';
    };
    expect(isCutDiff(read(LONG_DIFF))).toBe(true);
    expect(isCutDiff(read(LONG_DIFF.slice(0, 200)))).toBe(false);
  });
});
