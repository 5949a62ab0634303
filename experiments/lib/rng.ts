/**
 * A small seeded random source for the built-in experiments: reproducible per seed, and
 * independent streams for independent purposes (data, weak model, student) so that changing one
 * part of an experiment does not shift the random draws of another.
 */
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/** What the experiments draw from: the public seeded Rng here, or a keyed stream (keyed.ts). */
export interface Random {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal. */
  normal(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Fisher-Yates shuffle in place. */
  shuffle<T>(xs: T[]): T[];
}

/**
 * Public and predictable: anyone with the seed (32 bits, so also anyone who can brute-force it
 * from a few outputs) replays the stream. Fine for function experiments, whose code runs inside
 * the worker; a harness that runs candidate code draws from keyed.ts instead.
 */
export class Rng implements Random {
  private readonly gen: RandomGenerator;
  private spare: number | undefined;

  /** `stream` separates independent uses of the same seed. */
  constructor(seed: number, stream = 0) {
    // Mix seed and stream into one 32-bit integer (xoroshiro takes a 32-bit seed).
    const mixed =
      Math.imul((seed | 0) ^ 0x9e3779b9, 0x85ebca6b) ^
      Math.imul((stream | 0) + 0x632be5ab, 0xc2b2ae35);
    this.gen = xoroshiro128plus(mixed | 0);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return uniformFloat64(this.gen);
  }

  /** Standard normal (Box-Muller, caching the second value). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = xs[i] as T;
      xs[i] = xs[j] as T;
      xs[j] = t;
    }
    return xs;
  }
}
