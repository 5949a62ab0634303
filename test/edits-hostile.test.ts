/**
 * Hostile edits through the API on weak-to-strong-code (real Temporal, MLflow and worker): a
 * UTF-7 coding line that hides code in a comment, and an edit past the diff limits, are refused
 * with a 400 saying why; a 33 KB edit within the limits resolves; the worker and the API keep
 * answering throughout. The campaign stays paused: nothing runs, the edits are only resolved.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIFF_LIMITS, hashSnapshot } from '../domain/code.js';
import { parseCriteria, parseProblemSpec } from '../domain/parse.js';
import { buildApp } from '../server/app.js';
import { isCodeExperiment, type CodeExperimentDefinition } from '../experiments/code.js';
import { ExperimentRegistry, loadRegistry } from '../experiments/registry.js';
import { createTestEnv, pi, researcher, uniqueId, type TestEnv } from './support/env.js';
import { auth, testTokens } from './support/fake-service.js';

let env: TestEnv;
let app: FastifyInstance;
let def: CodeExperimentDefinition;
let campaignId: string;

beforeAll(async () => {
  const registry = await loadRegistry();
  const e = registry.get('weak-to-strong-code');
  if (!isCodeExperiment(e) || !e.problem)
    throw new Error('weak-to-strong-code is not a code experiment');
  def = e;
  env = await createTestEnv({ registry: ExperimentRegistry.of(e) });
  app = await buildApp({
    service: env.service,
    mlflow: env.mlflow,
    tokens: testTokens(),
    config: { rateLimitPerMinute: 0, uiDir: '/nonexistent' },
  });
  const problemId = uniqueId('w2s-hostile');
  const spec = parseProblemSpec(readFileSync(e.problem.spec, 'utf8'), e.problem.spec);
  await env.service.submitProblem(researcher, { ...spec, id: problemId });
  const criteria = parseCriteria(readFileSync(e.problem.criteria, 'utf8'), e.problem.criteria);
  await env.service.setCriteria(
    pi,
    problemId,
    { ...criteria, budgets: { maxTrials: 1, concurrency: 1, maxWallSeconds: 600 } },
    'hostile edits test',
  );
  ({ campaignId } = await env.service.startCampaign(researcher, {
    problemId,
    strategy: { name: 'random' },
    seed: 1,
    paused: true,
  }));
}, 300_000);

afterAll(async () => {
  if (campaignId) await env?.service.stop(pi, campaignId, { reason: 'test done' }).catch(() => {});
  await app?.close();
  await env?.close();
});

const propose = (title: string, edits: unknown[]) =>
  app.inject({
    method: 'POST',
    url: `/api/campaigns/${campaignId}/hypotheses`,
    headers: auth('researcher'),
    payload: { title, changes: {}, edits },
  });

/** The API and the worker both answer: a read, and a small edit resolved by the worker. */
async function stillServing(tag: string) {
  const status = await app.inject({ url: `/api/campaigns/${campaignId}`, headers: auth('viewer') });
  expect(status.statusCode, status.body).toBe(200);
  const small = await propose(`small ${tag}`, [
    {
      kind: 'search_replace',
      file: 'method.py',
      search: 'import numpy as np',
      replace: `import numpy as np  # ${tag}`,
    },
  ]);
  expect(small.statusCode, small.body).toBe(201);
}

describe('hostile edits proposed through the API', () => {
  it('refuses a UTF-7 coding line that hides code in a comment, naming file and line', async () => {
    const source = def.code.initialSource['method.py'] as string;
    const first = source.slice(0, source.indexOf('\n') + 1);
    // Line 1 declares UTF-7; what follows reads as a comment in the diff but is code to Python.
    const r = await propose('utf-7', [
      {
        kind: 'search_replace',
        file: 'method.py',
        search: first,
        replace: `# coding: utf-7\n${first}# +AAo-import os+AAo-os.system("true")\n`,
      },
    ]);
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().message).toMatch(
      /edits do not compile: method\.py line 1: CodingError: coding declaration 'utf-7' refused/,
    );
    await stillServing('after utf-7');
  }, 120_000);

  it('refuses an edit past the diff limits by name, resolves a 33 KB one, and keeps serving', async () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `# note ${i}\n`).join('');
    const tooMany = lines(DIFF_LIMITS.changedLines + 1);
    const past = await propose('past the limit', [
      {
        kind: 'search_replace',
        file: 'method.py',
        search: 'import numpy as np\n',
        replace: `import numpy as np\n${tooMany}`,
      },
    ]);
    expect(past.statusCode, past.body).toBe(400);
    expect(past.json().message).toContain(
      `edits are too large to review: method.py: the diff changes more than ${DIFF_LIMITS.changedLines} lines in all`,
    );
    // 33 KB of edit within the limits: resolved, stored and served back whole.
    const big = `${'# '.padEnd(31, 'x')}\n`.repeat(1100);
    expect(big.length).toBeGreaterThan(33_000);
    const source = def.code.initialSource['method.py'] as string;
    const child = {
      'method.py': source.replace('import numpy as np\n', `import numpy as np\n${big}`),
    };
    const ok = await propose('33 KB', [
      {
        kind: 'search_replace',
        file: 'method.py',
        search: 'import numpy as np\n',
        replace: `import numpy as np\n${big}`,
      },
    ]);
    expect(ok.statusCode, ok.body).toBe(201);
    const served = await app.inject({
      url: `/api/campaigns/${campaignId}/sources/${hashSnapshot(child)}`,
      headers: auth('viewer'),
    });
    expect(served.statusCode, served.body.slice(0, 300)).toBe(200);
    expect(served.json().files).toEqual(child);
    await stillServing('after 33 KB');
  }, 180_000);
});
