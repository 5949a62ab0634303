/**
 * Verification seeds drawn in secret: a worker draws them with the operating system's
 * cryptographic generator when a campaign's first verification starts, and the workflow keeps
 * them in its history. Nobody, person or candidate, can predict them from the campaign seed, and
 * they are uniform over [0, 2^31 - 1), the range search seeds are derived over
 * (workflows/campaign/state/references.ts `derivedSeed`), so an experiment cannot tell a
 * verification run from a search run by its seed
 * (docs/decisions/0005-verification-seeds-drawn-in-secret.md).
 */
import { randomInt } from 'node:crypto';
import { activityFailure } from './failures.js';

/** Seeds lie in [0, SEED_RANGE): the 31-bit range of every seed a campaign runs. */
export const SEED_RANGE = 2 ** 31 - 1;
/** The most seeds one call draws (criteria allow at most 100 verification seeds). */
const MAX_SEEDS = 1000;

export function createSeedActivities() {
  return {
    /** `count` distinct seeds, uniform over [0, 2^31 - 1), from node:crypto. */
    async drawVerificationSeeds(input: { count: number }): Promise<number[]> {
      const count = input.count;
      if (!Number.isInteger(count) || count < 1 || count > MAX_SEEDS)
        throw activityFailure(
          'InvalidInput',
          `count must be an integer from 1 to ${MAX_SEEDS}, got ${String(count)}`,
        );
      const seeds = new Set<number>();
      while (seeds.size < count) seeds.add(randomInt(0, SEED_RANGE));
      return [...seeds];
    },
  };
}
