/**
 * Branin with a crash region and a hang region: the benchmark of failure-aware search. Where a
 * strategy proposes decides what the budget is spent on, as with real experiments that diverge
 * for some settings and stall for others.
 *
 * - crash: x2 > 13 throws at once (13% of the space);
 * - hang: x1 < -2.75 (and x2 <= 13) never returns: the seed waits out its time limit, which is
 *   short (2 s) so that the benchmark stays affordable (13% of the space).
 *
 * The hang region holds one of Branin's three global minima, (-pi, 12.275), and borders good
 * values, so a sampler that forgets failures is drawn back to it; the other two minima, (pi,
 * 2.275) and (9.42, 2.475), are reachable (known optimum 0.397887).
 */
import { z } from 'zod';
import type { ExperimentDefinition } from '../types.js';
import { branin } from './functions.js';

const Params = z.object({ x1: z.number().min(-5).max(10), x2: z.number().min(0).max(15) }).strict();

export const CRASH_X2 = 13;
export const HANG_X1 = -2.75;

/** Which failing region a configuration is in, or null (the ground truth the benchmark scores). */
export function failingRegion(config: { x1: number; x2: number }): 'crash' | 'hang' | null {
  if (config.x2 > CRASH_X2) return 'crash';
  if (config.x1 < HANG_X1) return 'hang';
  return null;
}

export const failingBranin: ExperimentDefinition = {
  name: 'branin-failures',
  description:
    'Branin-Hoo on x1 in [-5, 10], x2 in [0, 15] (known minimum 0.397887), where some settings crash and others hang until the time limit.',
  metrics: [
    { name: 'value', description: 'function value', direction: 'minimize' },
    { name: 'true_value', description: 'function value (same, noise-free)', direction: 'minimize' },
  ],
  defaultTimeoutSeconds: 2,
  runner: {
    kind: 'function',
    async run(params, ctx) {
      const p = Params.parse(params);
      const region = failingRegion(p);
      if (region === 'crash') throw new Error('the simulation diverged (loss is NaN)');
      if (region === 'hang') {
        // Stalls until stopped: resolves only when the runner aborts at the time limit.
        await new Promise<never>((_, reject) => {
          if (ctx.signal.aborted) reject(new Error('stopped'));
          ctx.signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true });
        });
      }
      const value = branin(p.x1, p.x2);
      return { value, true_value: value };
    },
  },
  problem: { spec: 'branin-failures.problem.yaml', criteria: 'branin-failures.criteria.yaml' },
};
