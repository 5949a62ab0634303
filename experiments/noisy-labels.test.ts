/**
 * The noisy-labels built-in run as a worker runs it (the Python harness on the venv's python, the
 * candidate in bwrap): the starting method learns the flips, the harness's clean ceiling is
 * high, a malformed answer fails with the reason, and a candidate cannot read the test labels
 * off scikit-learn's bundled copy of the data set (it is not in the sandbox).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../stack/paths.js';
import { isCodeExperiment, runCodeSeed, type CodeExperimentDefinition } from './code.js';
import { loadRegistry } from './registry.js';
import { checkSandbox } from './sandbox.js';

/** Looks every test row up in scikit-learn's copy of the digits and answers its label. */
const LOOKUP = `import numpy as np
from sklearn.datasets import load_digits


def fit_predict(X_noisy, y_noisy, X_trusted, y_trusted, X_test, options, rng):
    x, y = load_digits(return_X_y=True)
    table = {row.tobytes(): label for row, label in zip(x.astype(np.float64), y)}
    return np.array([table[row.tobytes()] for row in X_test])
`;

let def: CodeExperimentDefinition;
let tmp: string;

beforeAll(async () => {
  await checkSandbox(); // throws naming what is missing: this test needs bubblewrap
  const e = (await loadRegistry()).get('noisy-labels');
  if (!isCodeExperiment(e)) throw new Error('noisy-labels is not a code experiment');
  def = e;
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-noisy-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const run = (source: Record<string, string>, params: Record<string, number>, name: string) =>
  runCodeSeed(def, source, params, {
    seed: 1,
    outDir: path.join(tmp, name),
    objective: 'accuracy',
  });

describe('noisy-labels', () => {
  it('the starting method learns the flips; the clean ceiling is high', async () => {
    const r = await run(def.code.initialSource, { C: 1, trusted_weight: 1 }, 'baseline');
    expect(r.status, r.error).toBe('succeeded');
    expect(r.metrics.noisy_label_accuracy).toBeLessThan(0.5);
    expect(r.metrics.accuracy).toBeLessThan(0.5);
    expect(r.metrics.heldout_accuracy).toBeLessThan(0.5);
    expect(r.metrics.ceiling_accuracy).toBeGreaterThan(0.93);
  }, 120_000);

  it('fails a candidate that returns the wrong number of labels, saying so', async () => {
    const r = await run(
      {
        'method.py':
          'def fit_predict(X_noisy, y_noisy, X_trusted, y_trusted, X_test, options, rng):\n    return [0, 1]\n',
      },
      {},
      'short',
    );
    expect(r.status).toBe('failed');
    expect(r.error).toContain('fit_predict must return 797 class labels');
  }, 120_000);

  it('a candidate cannot look the test labels up in the copy of the data set scikit-learn ships', async () => {
    // Outside the sandbox the lookup finds every test row: the data set is public.
    const found = execFileSync(
      paths.venvPython,
      ['-c', 'from sklearn.datasets import load_digits; print(len(load_digits().target))'],
      { encoding: 'utf8' },
    );
    expect(found.trim()).toBe('1797');
    const r = await run({ 'method.py': LOOKUP }, {}, 'lookup');
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(
      /FileNotFoundError: .*digits\.csv\.gz.*\(method\.py line 6, in fit_predict\)/,
    );
  }, 120_000);
});
