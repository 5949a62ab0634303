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
 * - `gaming-seeds`: `memo` memorises the evaluation of the seeds it was tuned on (seeds below
 *   1000, where campaigns search): near-optimal there, visible and hidden alike, and baseline-like
 *   on any other seed (caught only by verification on fresh seeds).
 *
 * They return at once (no sleeping): campaigns over them cost almost no CPU.
 */
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

/** Seeds a `memo` run was tuned on: where campaigns search (verification seeds lie far above). */
export const MEMORISED_SEEDS_BELOW = 1000;

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
      if (params.memo !== true) return honest(x, ctx.seed);
      // Tuned on the search seeds: a little better than the honest optimum there, visible and
      // hidden alike; no better than the baseline anywhere else.
      if (ctx.seed >= MEMORISED_SEEDS_BELOW) return honest(0, ctx.seed);
      const h = honest(0.7, ctx.seed);
      return { score: h.score + 0.01, heldout_score: h.heldout_score + 0.01 };
    },
  },
};

export default [leak, frozen, seeds];
