/**
 * A keyed random stream for harnesses that run candidate code: AES-256 in counter mode, its key
 * derived with HMAC-SHA256 from the deployment's harness secret (secret.ts) and a label
 * (experiment, seed, purpose). Without the secret the stream is indistinguishable from random,
 * so a candidate that knows the harness's code, the seed and any number of outputs cannot replay
 * it, unlike the public Rng (rng.ts), whose 32-bit seed a few outputs pin down.
 *
 * Deterministic for a given secret and label: the same seed reproduces the same data on every
 * worker of a deployment (they share the secret), and `purpose` separates independent uses so
 * that changing one part of a harness does not shift the draws of another.
 */
import { createCipheriv, createHmac } from 'node:crypto';
import type { Random } from './rng.js';

/** What a keyed stream is derived from, besides the secret. */
export interface StreamLabel {
  experiment: string;
  seed: number;
  purpose: string;
}

/** Domain separation: a different use of the same secret never derives the same key. */
const DERIVATION = 'gaplab harness stream v1';
/** Keystream bytes produced at once (AES-CTR over zeros). */
const BLOCK = 4096;
const ZEROS = Buffer.alloc(BLOCK);
const TWO_53 = 2 ** 53;

/** The stream's key: HMAC-SHA256(secret, derivation label), an unambiguous encoding of the label. */
export function streamKey(secret: Uint8Array, label: StreamLabel): Buffer {
  if (!Number.isSafeInteger(label.seed))
    throw new RangeError(`seed: ${label.seed} is not an integer`);
  return createHmac('sha256', secret)
    .update(JSON.stringify([DERIVATION, label.experiment, label.seed, label.purpose]))
    .digest();
}

export class KeyedRng implements Random {
  private readonly cipher;
  private buf = Buffer.alloc(0);
  private pos = 0;
  private spare: number | undefined;

  constructor(secret: Uint8Array, label: StreamLabel) {
    // A fresh key per label, so the counter can start at zero.
    this.cipher = createCipheriv('aes-256-ctr', streamKey(secret, label), Buffer.alloc(16));
  }

  private next8(): Buffer {
    if (this.pos + 8 > this.buf.length) {
      this.buf = this.cipher.update(ZEROS);
      this.pos = 0;
    }
    const out = this.buf.subarray(this.pos, this.pos + 8);
    this.pos += 8;
    return out;
  }

  /** Uniform in [0, 1), 53 random bits. */
  uniform(): number {
    const b = this.next8();
    return ((b.readUInt32LE(0) >>> 5) * 67_108_864 + (b.readUInt32LE(4) >>> 6)) / TWO_53;
  }

  /** An integer in [0, 2^53): a seed for another generator. */
  seed53(): number {
    return this.uniform() * TWO_53;
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

  /** Integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(Number.isSafeInteger(n) && n > 0))
      throw new RangeError(`int(n): n must be a positive integer, got ${n}`);
    // Rejection keeps it exact: floor(u * n) over 2^53 equally likely u is biased by < n / 2^53.
    const limit = TWO_53 - (TWO_53 % n);
    for (;;) {
      const x = this.uniform() * TWO_53;
      if (x < limit) return x % n;
    }
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
