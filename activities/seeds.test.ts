import { describe, expect, it } from 'vitest';
import { derivedSeed } from '../workflows/campaign/state/references.js';
import { createSeedActivities, SEED_RANGE } from './seeds.js';

describe('secret verification seeds', () => {
  const { drawVerificationSeeds } = createSeedActivities();

  it('draws distinct seeds over the whole 31-bit range, different on every call', async () => {
    const a = await drawVerificationSeeds({ count: 200 });
    const b = await drawVerificationSeeds({ count: 200 });
    expect(new Set(a).size).toBe(200);
    expect(a.every((s) => Number.isInteger(s) && s >= 0 && s < SEED_RANGE)).toBe(true);
    expect(a.filter((s) => b.includes(s)).length).toBeLessThan(2);
    // Spread like search seeds: a quarter or more above 2^30, none clustered near a base.
    expect(a.filter((s) => s >= 2 ** 30).length).toBeGreaterThan(60);
  });

  it('refuses a count out of range, naming it', async () => {
    await expect(drawVerificationSeeds({ count: 0 })).rejects.toThrow(/count must be an integer/);
  });

  it('search seeds derived from the campaign seed cover the same range', () => {
    const seeds = Array.from({ length: 200 }, (_, i) => derivedSeed(1, i));
    expect(new Set(seeds).size).toBe(200);
    expect(seeds.every((s) => s >= 0 && s < SEED_RANGE)).toBe(true);
    expect(seeds.filter((s) => s >= 2 ** 30).length).toBeGreaterThan(60);
    expect(seeds.filter((s) => s < 1_000_000).length).toBeLessThan(5);
    // Reproducible from the campaign seed, different for another.
    expect(derivedSeed(1, 7)).toBe(seeds[7]);
    expect(derivedSeed(2, 7)).not.toBe(seeds[7]);
  });
});
