/**
 * The weak-to-strong code problem end to end in the real sandbox (real bwrap, real python3
 * subprocesses): the starting method imitates the weak supervisor, tuning its knobs recovers
 * about half of the gap, and a hand-written method (a test fixture no agent ever sees) recovers
 * at least 90% of it on dev and on the shifted held-out split. Also: where no sandbox can be
 * made, candidates are refused with a reason naming what is missing.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCriteria } from '../domain/parse.js';
import type { SourceSnapshot } from '../domain/code.js';
import {
  isCodeExperiment,
  runCodeSeed,
  type CodeExperimentDefinition,
} from '../experiments/code.js';
import { loadRegistry } from '../experiments/registry.js';
import { checkSandbox, SandboxUnavailableError } from '../experiments/sandbox.js';
import type { SeedRunResult } from '../experiments/types.js';

const SEEDS = [1, 2, 3, 4, 5];
const HAND_WRITTEN = path.join(
  import.meta.dirname,
  'fixtures/weak-to-strong-code/sparse_relaxed_lasso.py',
);
let tmp: string;
let def: CodeExperimentDefinition;
let optimum: number;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'gaplab-w2s-code-'));
  const e = (await loadRegistry()).get('weak-to-strong-code');
  if (!isCodeExperiment(e)) throw new Error('weak-to-strong-code is not a code experiment');
  def = e;
  const criteriaFile = e.problem?.criteria ?? '';
  const criteria = parseCriteria(readFileSync(criteriaFile, 'utf8'), criteriaFile);
  if (criteria.optimum.kind !== 'value') throw new Error('expected a numeric optimum');
  optimum = criteria.optimum.value;
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function seeds(
  name: string,
  source: SourceSnapshot,
  params: Record<string, number> = {},
): Promise<SeedRunResult[]> {
  const out: SeedRunResult[] = [];
  for (const seed of SEEDS) {
    const r = await runCodeSeed(def, source, params, {
      seed,
      outDir: path.join(tmp, name, `seed-${seed}`),
      objective: 'student_dev_acc',
    });
    expect(r.status, `${name} seed ${seed}: ${r.error ?? ''}`).toBe('succeeded');
    out.push(r);
  }
  return out;
}

const mean = (rs: SeedRunResult[], metric: string): number =>
  rs.reduce((s, r) => s + (r.metrics[metric] as number), 0) / rs.length;

describe('weak-to-strong-code on seeds 1-5', () => {
  it('naive ~0, knobs ~0.6 (and less on the shifted held-out split), the hand-written method >= 0.9 on dev and held-out', async () => {
    const naive = await seeds('naive', def.code.initialSource);
    const knobs = await seeds('early-stopping', def.code.initialSource, {
      lr: 0.01,
      epochs: 20,
      l2: 0.00001,
    });
    const hand = await seeds('hand', { 'method.py': readFileSync(HAND_WRITTEN, 'utf8') });
    // The campaign's PGR: the baseline is the starting method measured on the seeds.
    const baseline = mean(naive, 'student_dev_acc');
    const pgr = (rs: SeedRunResult[]): number =>
      (mean(rs, 'student_dev_acc') - baseline) / (optimum - baseline);
    const report = {
      naive: { pgr_dev: mean(naive, 'pgr_dev'), pgr_heldout: mean(naive, 'pgr_heldout') },
      knobs: { pgr: pgr(knobs), pgr_heldout: mean(knobs, 'pgr_heldout') },
      hand: { pgr: pgr(hand), pgr_heldout: mean(hand, 'pgr_heldout') },
    };
    console.log('weak-to-strong-code PGR, seeds 1-5:', JSON.stringify(report));

    expect(Math.abs(report.naive.pgr_dev)).toBeLessThan(0.02);
    expect(mean(naive, 'student_weak_agreement')).toBeGreaterThan(0.99);
    expect(report.knobs.pgr).toBeGreaterThan(0.4);
    expect(report.knobs.pgr).toBeLessThan(0.75);
    // The shift catches a method that leans on what only holds in the training distribution.
    expect(report.knobs.pgr_heldout).toBeLessThan(report.knobs.pgr - 0.15);
    expect(report.hand.pgr).toBeGreaterThanOrEqual(0.9);
    expect(report.hand.pgr_heldout).toBeGreaterThanOrEqual(0.9);
    for (const r of hand) expect(r.metrics.pgr_dev).toBeGreaterThan(0.8);
  });

  it('fails a method that monkeypatches numpy or the driver, naming what it replaced', async () => {
    const r = await runCodeSeed(
      def,
      {
        'method.py': `import sys
import numpy as np
np.mean = lambda *a, **k: 0.0
sys.modules["__main__"].main = lambda: None


def train(features, weak_labels, unlabelled_features, params, rng):
    return np.full(len(unlabelled_features), 0.5)
`,
      },
      {},
      { seed: 1, outDir: path.join(tmp, 'monkeypatch'), objective: 'student_dev_acc' },
    );
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/TamperError: the candidate replaced __main__\.main, numpy\.mean:/);
  });
});

describe('no sandbox, no candidate', () => {
  it('bwrap missing: refused with what is missing and how to get it', async () => {
    await expect(checkSandbox({ bwrapPath: '/nonexistent/bwrap' })).rejects.toThrow(
      SandboxUnavailableError,
    );
    const r = await runCodeSeed(
      def,
      def.code.initialSource,
      {},
      { seed: 1, outDir: path.join(tmp, 'no-bwrap'), sandbox: { bwrapPath: '/nonexistent/bwrap' } },
    );
    expect(r.status).toBe('failed');
    expect(r.error).toBe(
      'SandboxUnavailableError: code experiments need a bubblewrap sandbox: bubblewrap is not installed (no executable bwrap at /nonexistent/bwrap); run "gaplab setup"',
    );
  });

  it('a bwrap that cannot build the jail fails its self-test: refused, never run without it', async () => {
    const r = await runCodeSeed(
      def,
      { 'method.py': 'raise SystemExit("must never run")\n' },
      {},
      { seed: 1, outDir: path.join(tmp, 'broken-bwrap'), sandbox: { bwrapPath: '/bin/false' } },
    );
    expect(r.status).toBe('failed');
    expect(r.error).toMatch(/SandboxUnavailableError: .*\/bin\/false\) failed its self-test/);
    expect(r.error).not.toMatch(/must never run/);
  });
});
