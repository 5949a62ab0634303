/**
 * Benchmark experiments with known optima: Branin, Hartmann-6 and a mixed categorical /
 * conditional function, each also in a noisy variant (Gaussian noise drawn from the seed;
 * `true_value` is the noise-free value).
 */
import { z } from 'zod';
import { Rng } from '../lib/rng.js';
import type { ExperimentDefinition, MetricInfo } from '../types.js';
import { branin, hartmann6, mixed } from './functions.js';
import { failingBranin } from './failing.js';

const unit = z.number().min(0).max(1);
const BraninParams = z
  .object({ x1: z.number().min(-5).max(10), x2: z.number().min(0).max(15) })
  .strict();
const HartmannParams = z
  .object({ x1: unit, x2: unit, x3: unit, x4: unit, x5: unit, x6: unit })
  .strict();
const MixedParamsSchema = z
  .object({
    family: z.enum(['a', 'b', 'c']),
    x: z.number().min(-5).max(5),
    scale: z.number().min(1e-3).max(10),
    alpha: unit.optional(),
    order: z.number().int().min(1).max(8).optional(),
    flag: z.boolean(),
  })
  .strict();

const metrics: MetricInfo[] = [
  {
    name: 'value',
    description: 'function value (with noise in the noisy variants)',
    direction: 'minimize',
  },
  { name: 'true_value', description: 'noise-free function value', direction: 'minimize' },
];

function benchmark(
  name: string,
  description: string,
  evaluate: (params: unknown) => number,
  noiseSd: number,
  problem?: string,
): ExperimentDefinition {
  return {
    name,
    description:
      noiseSd > 0
        ? `${description} Gaussian noise, sd ${noiseSd}, drawn from the seed.`
        : description,
    metrics,
    defaultTimeoutSeconds: 10,
    runner: {
      kind: 'function',
      async run(params, ctx) {
        const trueValue = evaluate(params);
        const noise = noiseSd > 0 ? noiseSd * new Rng(ctx.seed, 99).normal() : 0;
        return { value: trueValue + noise, true_value: trueValue };
      },
    },
    ...(problem
      ? { problem: { spec: `${problem}.problem.yaml`, criteria: `${problem}.criteria.yaml` } }
      : {}),
  };
}

const evalBranin = (p: unknown): number => {
  const { x1, x2 } = BraninParams.parse(p);
  return branin(x1, x2);
};
const evalHartmann = (p: unknown): number => {
  const x = HartmannParams.parse(p);
  return hartmann6([x.x1, x.x2, x.x3, x.x4, x.x5, x.x6]);
};
const evalMixed = (p: unknown): number => {
  const { alpha, order, ...rest } = MixedParamsSchema.parse(p);
  return mixed({
    ...rest,
    ...(alpha !== undefined ? { alpha } : {}),
    ...(order !== undefined ? { order } : {}),
  });
};

const BRANIN = 'Branin-Hoo function on x1 in [-5, 10], x2 in [0, 15]; known minimum 0.397887.';
const HARTMANN = 'Hartmann 6-d function on [0, 1]^6; known minimum -3.32237.';
const MIXED =
  'Mixed categorical/conditional/log-scale function; known minimum 0 (family b, order 3, flag true, x 1.5, scale 0.1).';

const definitions: ExperimentDefinition[] = [
  benchmark('branin', BRANIN, evalBranin, 0, 'branin'),
  benchmark('branin-noisy', BRANIN, evalBranin, 1),
  benchmark('hartmann6', HARTMANN, evalHartmann, 0, 'hartmann6'),
  benchmark('hartmann6-noisy', HARTMANN, evalHartmann, 0.05),
  benchmark('mixed', MIXED, evalMixed, 0, 'mixed'),
  failingBranin,
];

export default definitions;
