/**
 * A researcher who writes only Python brings a code problem, end to end on the real services
 * (Temporal, MLflow, a worker, bwrap): `gaplab init code` scaffolds the folder; the researcher
 * edits the harness (less label noise), the starting method and the criteria as files; the worker
 * registers the folder when it starts; `gaplab submit`, `criteria`, `start --paused`, `propose
 * --patch` (a least-squares classifier, a test fixture, as a `diff -u` patch) and `resume` run
 * through the command line; the proposed method runs in the sandbox through the Python harness
 * and its result is verified on fresh seeds.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CampaignReport } from '../api/schemas.js';
import { hashSnapshot } from '../domain/code.js';
import { isCodeExperiment } from '../experiments/code.js';
import { loadRegistry } from '../experiments/registry.js';
import { checkSandbox } from '../experiments/sandbox.js';
import { buildApp } from '../server/app.js';
import { createTestEnv, type TestEnv } from './support/env.js';
import { testTokens, TOKENS } from './support/fake-service.js';

const run = promisify(execFile);
const BIN = path.join(import.meta.dirname, '..', 'bin', 'gaplab.mjs');
const BETTER = readFileSync(
  new URL('./fixtures/python-code/least_squares.py', import.meta.url),
  'utf8',
);

let env: TestEnv;
let app: FastifyInstance;
let folder: string;
let name: string;
const outputs: Record<string, string> = {};
let campaignId: string;
let report: CampaignReport;
let initialMethod: string;

async function gaplab(address: string, ...args: string[]): Promise<string> {
  const r = await run(process.execPath, [BIN, ...args], {
    env: { ...process.env, GAPLAB_URL: address, GAPLAB_TOKEN: TOKENS.pi },
  });
  return `${r.stdout}${r.stderr}`;
}

/** `diff -u a/method.py b/method.py`, as a researcher makes a patch (exit 1: they differ). */
async function unifiedDiff(before: string, after: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gaplab-patch-'));
  await mkdir(path.join(dir, 'a'));
  await mkdir(path.join(dir, 'b'));
  await writeFile(path.join(dir, 'a', 'method.py'), before);
  await writeFile(path.join(dir, 'b', 'method.py'), after);
  try {
    await run('diff', ['-u', 'a/method.py', 'b/method.py'], { cwd: dir });
    throw new Error('no difference');
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    if (e.code !== 1 || !e.stdout) throw err;
    const file = path.join(dir, 'better.diff');
    await writeFile(file, e.stdout);
    return file;
  }
}

beforeAll(async () => {
  await checkSandbox(); // throws naming what is missing: this test needs bubblewrap
  const parent = await mkdtemp(path.join(os.tmpdir(), 'gaplab-researcher-'));
  name = `toy-${path
    .basename(parent)
    .slice(-6)
    .toLowerCase()
    .replace(/[^a-z0-9]/g, 'x')}`;
  // 1. Scaffold (no server needed).
  outputs.init = (await run(process.execPath, [BIN, 'init', 'code', name, '--dir', parent])).stdout;
  folder = path.join(parent, name);
  // 2. The researcher's own edits, in Python and YAML only.
  const harness = await readFile(path.join(folder, 'harness.py'), 'utf8');
  await writeFile(
    path.join(folder, 'harness.py'),
    harness.replace('NOISE = 400, 2000, 10, 0.3', 'NOISE = 400, 2000, 10, 0.2'),
  );
  initialMethod = (await readFile(path.join(folder, 'method.py'), 'utf8')).replace(
    'nearest = np.argsort(d, axis=1)[:, :k]',
    'nearest = np.argpartition(d, k - 1, axis=1)[:, :k]',
  );
  await writeFile(path.join(folder, 'method.py'), initialMethod);
  const criteria = await readFile(path.join(folder, 'criteria.yaml'), 'utf8');
  await writeFile(
    path.join(folder, 'criteria.yaml'),
    criteria
      .replace('1 - atan(0.3) / pi', '1 - atan(0.2) / pi')
      .replace('value: 0.907', 'value: 0.937')
      // Only the proposed idea is searched; its verification and the fresh baseline follow.
      .replace('maxTrials: 20', 'maxTrials: 1'),
  );
  // 3. A worker that starts now registers the folder.
  const registry = await loadRegistry(parent);
  env = await createTestEnv({ registry });
  app = await buildApp({
    service: env.service,
    mlflow: env.mlflow,
    tokens: testTokens(),
    config: { rateLimitPerMinute: 0, uiDir: '/nonexistent' },
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  // 4. The command line, as the researcher types it.
  outputs.submit = await gaplab(address, 'submit', path.join(folder, 'problem.yaml'));
  outputs.criteria = await gaplab(address, 'criteria', name, path.join(folder, 'criteria.yaml'));
  outputs.start = await gaplab(address, 'start', name, '--strategy', 'random', '--paused');
  campaignId = /started campaign (\S+)/.exec(outputs.start)?.[1] ?? '';
  const patch = await unifiedDiff(initialMethod, BETTER);
  outputs.propose = await gaplab(
    address,
    'propose',
    campaignId,
    '--patch',
    patch,
    '--title',
    'least squares',
  );
  outputs.resume = await gaplab(address, 'resume', campaignId);
  report = await env.service.result(campaignId);
}, 900_000);

afterAll(async () => {
  await app?.close();
  await env?.close();
});

describe('a Python-only researcher', () => {
  it('scaffolds a folder the worker registers as a code experiment with the edited method', async () => {
    expect(outputs.init).toMatch(/created .*experiment\.yaml, harness\.py/);
    const e = (await loadRegistry(path.dirname(folder))).get(name);
    expect(isCodeExperiment(e)).toBe(true);
    if (!isCodeExperiment(e)) return;
    expect(e.code.editable).toEqual(['method.py']);
    expect(e.code.initialSource).toEqual({ 'method.py': initialMethod });
    expect(e.code.interface).toMatch(/predict\(x_train, y_train, x_test, params\)/);
  });

  it('gets the proposed method verified through submit, criteria, start, propose --patch', async () => {
    expect(outputs.submit).toMatch(new RegExp(`submitted problem ${name}`));
    expect(outputs.propose).toMatch(/^proposed h\d+: least squares$/m);
    const { trials } = await env.service.trials(campaignId, { limit: 100 });
    const t = trials.find((x) => x.title === 'least squares' && x.kind === 'search');
    expect(t, JSON.stringify(report.dropped)).toBeDefined();
    expect(t!.status, t!.failureReason).toBe('succeeded');
    expect(t!.sourceHash).toBe(hashSnapshot({ 'method.py': BETTER }));
    // The harness edit took effect: less noise, so a linear method nears 1 - atan(0.2)/pi.
    expect(t!.metrics['accuracy']).toBeGreaterThan(0.91);
    expect(t!.pgr!.mean).toBeGreaterThanOrEqual(0.8);
    expect(report.verdict?.verdict, report.verdict?.reasons.join('; ')).toBe('verified');
    expect(report.verdict?.freshPgr?.mean).toBeGreaterThanOrEqual(0.8);
  });

  it('measured the edited starting method as the baseline, far from the optimum', () => {
    // 1-nearest-neighbour in 10 dimensions: about 0.75, against 0.937 for the Bayes rule.
    expect(report.baselineScore).toBeGreaterThan(0.6);
    expect(report.baselineScore).toBeLessThan(0.85);
  });
});
