/**
 * Experiments that can be gamed, for checking that gaplab's verdicts cannot be. Each has an
 * honest parameter `x` (a broad bowl, best at x = 0.7, visible `score` = 1 there) and one
 * parameter that games the visible metric in a way researchers meet in practice:
 *
 * - `gaming-leak`: `peek` lets training see the evaluation labels: `score` jumps past the
 *   optimum while the held-out `heldout_score` gets worse (caught by the hidden-gap and
 *   PGR-above-one flags);
 * - `gaming-frozen`: `cache` replays a stored prediction: the same `score` on every seed (zero
 *   seed variance, i.e. a zero-width interval without a standard-error floor) and a poor
 *   `heldout_score`;
 * - `gaming-seeds`: `memo` memorises the evaluation of the seeds it was tuned on (the first
 *   {@link TUNED_SEEDS} seeds its campaign ran: every search trial shares the baseline's):
 *   near-optimal there, visible and hidden alike, and baseline-like on any other seed (caught
 *   only by verification on fresh seeds);
 * - `gaming-fragile`: `fragile` is near-optimal on the seeds it was tuned on and raises on a
 *   random 80% of the seeds it has not seen (a verification that counts only the seeds that
 *   survived would pass it);
 * - `gaming-guess`: `guess` tries to tell verification from search by the seed's range: it is
 *   near-optimal below 1,000,000 and raises on every seed above except the first it meets;
 * - `gaming-nohidden`: `drop` is near-optimal and never reports the hidden `heldout_score`;
 * - `gaming-deterministic`: no seed noise at all (every configuration ignores the seed), and
 *   `memo` replays a memorised answer a little above the baseline: identical on every seed, so
 *   fresh seeds cannot test it.
 *
 * They return at once (no sleeping): campaigns over them cost almost no CPU.
 */
import path from 'node:path';
import type { ExperimentDefinition, MetricInfo } from '../types.js';

/** Deterministic noise in [-1, 1) from a seed and a stream. */
function noise(seed: number, stream: number): number {
  let x = (Math.imul(seed, 2654435761) ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 2246822507) >>> 0;
  x ^= x >>> 13;
  x = Math.imul(x, 3266489909) >>> 0;
  x ^= x >>> 16;
  return (x / 2 ** 32) * 2 - 1;
}

const num = (v: unknown, fallback: number): number =>
  typeof v === 'number' && Number.isFinite(v) ? v : fallback;

/**
 * The honest model: a broad bowl with its maximum 1 at x = 0.7, seed noise of about ±0.02 shared
 * by every configuration (the data split a seed draws) and ±0.01 of its own (the training run).
 */
function honest(x: number, seed: number): { score: number; heldout_score: number } {
  const clean = 1 - 2 * (x - 0.7) ** 2;
  const own = 0.01 * noise(seed, 10 + Math.round(x * 1e6));
  return {
    score: clean + 0.02 * noise(seed, 1) + own,
    // The held-out split is a little harder (a constant offset) and has its own noise.
    heldout_score: clean - 0.05 + 0.02 * noise(seed, 2) + own,
  };
}

/** How many distinct seeds of a campaign count as "tuned on": the seeds of its first trial. */
export const TUNED_SEEDS = 3;

/** Per campaign (its folder), the seeds met first and, for `gaming-guess`, whether it passed one. */
const campaigns = new Map<string, { tuned: number[]; guessedOnce: boolean }>();

/** The campaign a run belongs to: the folder two levels above the seed's own. */
function campaignOf(outDir: string) {
  const key = path.dirname(path.dirname(outDir));
  let c = campaigns.get(key);
  if (!c) {
    c = { tuned: [], guessedOnce: false };
    campaigns.set(key, c);
  }
  return c;
}

/** Whether a seed is one the campaign's first trial ran (every search trial shares them). */
function tunedOn(outDir: string, seed: number): boolean {
  const c = campaignOf(outDir);
  if (c.tuned.includes(seed)) return true;
  if (c.tuned.length < TUNED_SEEDS) {
    c.tuned.push(seed);
    return true;
  }
  return false;
}

/** Near-optimal on a seed, visible and hidden alike (what a memorised answer gives). */
function memorised(seed: number): { score: number; heldout_score: number } {
  const h = honest(0.7, seed);
  return { score: h.score + 0.01, heldout_score: h.heldout_score + 0.01 };
}

const metrics: MetricInfo[] = [
  {
    name: 'score',
    description: 'visible score, higher is better (1 = optimum)',
    direction: 'maximize',
  },
  {
    name: 'heldout_score',
    description: 'the same on held-out data (hide it)',
    direction: 'maximize',
  },
];

const leak: ExperimentDefinition = {
  name: 'gaming-leak',
  description:
    'A bowl in x (best x = 0.7). The boolean `peek` lets training see the evaluation labels: the visible score beats the optimum, the held-out score drops.',
  metrics,
  defaultTimeoutSeconds: 10,
  runner: {
    kind: 'function',
    async run(params, ctx) {
      const h = honest(num(params.x, 0), ctx.seed);
      if (params.peek !== true) return h;
      return { score: 1.3 + 0.02 * noise(ctx.seed, 3), heldout_score: h.heldout_score - 0.4 };
    },
  },
};

const frozen: ExperimentDefinition = {
  name: 'gaming-frozen',
  description:
    'A bowl in x (best x = 0.7). The boolean `cache` replays a stored prediction: the same visible score on every seed, a poor held-out score.',
  metrics,
  defaultTimeoutSeconds: 10,
  runner: {
    kind: 'function',
    async run(params, ctx) {
      const h = honest(num(params.x, 0), ctx.seed);
      if (params.cache !== true) return h;
      return { score: 0.99, heldout_score: 0.3 };
    },
  },
};

const seeds: ExperimentDefinition = {
  name: 'gaming-seeds',
  description:
    'A bowl in x (best x = 0.7). The boolean `memo` memorises the evaluation of the seeds it was tuned on: near-optimal there, baseline-like elsewhere.',
  metrics,
  defaultTimeoutSeconds: 10,
  runner: {
    kind: 'function',
    async run(params, ctx) {
      const x = num(params.x, 0);
      const tuned = tunedOn(ctx.outDir, ctx.seed);
      if (params.memo !== true) return honest(x, ctx.seed);
      // Tuned on the search seeds: a little better than the honest optimum there, visible and
      // hidden alike; no better than the baseline anywhere else.
      return tuned ? memorised(ctx.seed) : honest(0, ctx.seed);
    },
  },
};

/** Deterministic in [0, 1) from a seed: the same draw on every worker. */
const unit = (seed: number) => (noise(seed, 99) + 1) / 2;

const fragile: ExperimentDefinition = {
  name: 'gaming-fragile',
  description:
    'A bowl in x (best x = 0.7). The boolean `fragile` is near-optimal on the seeds it was tuned on and raises on 80% of the others.',
  metrics,
  defaultTimeoutSeconds: 10,
  runner: {
    kind: 'function',
    async run(params, ctx) {
      const tuned = tunedOn(ctx.outDir, ctx.seed);
      if (params.fragile !== true) return honest(num(params.x, 0), ctx.seed);
      if (!tuned && unit(ctx.seed) < 0.8) throw new Error('diverged on an unseen seed');
      return memorised(ctx.seed);
    },
  },
};

/**
 * Seeds from here up are what `gaming-guess` takes for verification seeds: the fixed offset of
 * campaigns started before seeds were drawn in secret
 * (docs/decisions/0005-verification-seeds-drawn-in-secret.md).
 */
export const GUESSED_VERIFICATION_FROM = 1_000_000;

const guess: ExperimentDefinition = {
  name: 'gaming-guess',
  description:
    'A bowl in x (best x = 0.7). The boolean `guess` takes seeds from 1,000,000 up for verification: it raises on all of them but the first, and is near-optimal below.',
  metrics,
  defaultTimeoutSeconds: 10,
  runner: {
    kind: 'function',
    async run(params, ctx) {
      if (params.guess !== true) return honest(num(params.x, 0), ctx.seed);
      if (ctx.seed < GUESSED_VERIFICATION_FROM) return memorised(ctx.seed);
      const c = campaignOf(ctx.outDir);
      if (c.guessedOnce) throw new Error('refused a seed that looks like verification');
      c.guessedOnce = true;
      return memorised(ctx.seed);
    },
  },
};

const nohidden: ExperimentDefinition = {
  name: 'gaming-nohidden',
  description:
    'A bowl in x (best x = 0.7). The boolean `drop` is near-optimal and never reports the hidden heldout_score.',
  metrics,
  defaultTimeoutSeconds: 10,
  runner: {
    kind: 'function',
    async run(params, ctx) {
      if (params.drop !== true) return honest(num(params.x, 0), ctx.seed);
      return { score: memorised(ctx.seed).score };
    },
  },
};

const deterministic: ExperimentDefinition = {
  name: 'gaming-deterministic',
  description:
    'A bowl in x (best x = 0.7) with no seed noise. The boolean `memo` replays a memorised answer a little above the baseline, the same on every seed.',
  metrics,
  defaultTimeoutSeconds: 10,
  runner: {
    kind: 'function',
    async run(params) {
      if (params.memo === true) return { score: 0.1, heldout_score: 0.05 };
      const clean = 1 - 2 * (num(params.x, 0) - 0.7) ** 2;
      return { score: clean, heldout_score: clean - 0.05 };
    },
  },
};

export default [leak, frozen, seeds, fragile, guess, nohidden, deterministic];
