import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeyedRng, streamKey } from './keyed.js';

const SECRET = Buffer.from('a'.repeat(64), 'hex');
const label = { experiment: 'x', seed: 1, purpose: 'data' };

const draws = (r: KeyedRng, n: number): number[] => Array.from({ length: n }, () => r.uniform());

describe('KeyedRng', () => {
  it('replays the same stream for the same secret and label, and another for any other', () => {
    const a = draws(new KeyedRng(SECRET, label), 100);
    expect(draws(new KeyedRng(SECRET, label), 100)).toEqual(a);
    for (const other of [
      { ...label, seed: 2 },
      { ...label, purpose: 'layout' },
      { ...label, experiment: 'y' },
    ])
      expect(draws(new KeyedRng(SECRET, other), 100)).not.toEqual(a);
    const otherSecret = Buffer.from(SECRET);
    otherSecret[0] = (otherSecret[0] as number) ^ 1;
    expect(draws(new KeyedRng(otherSecret, label), 100)).not.toEqual(a);
  });

  it('labels are unambiguous: fields that concatenate alike still derive different keys', () => {
    expect(streamKey(SECRET, { experiment: 'ab', seed: 1, purpose: 'c' })).not.toEqual(
      streamKey(SECRET, { experiment: 'a', seed: 1, purpose: 'bc' }),
    );
    expect(() => streamKey(SECRET, { ...label, seed: 1.5 })).toThrow(/seed/);
  });

  it('is AES-256-CTR under the derived key: its first draw is the keystream, 53 bits of it', () => {
    const ks = createCipheriv('aes-256-ctr', streamKey(SECRET, label), Buffer.alloc(16)).update(
      Buffer.alloc(8),
    );
    const expected =
      ((ks.readUInt32LE(0) >>> 5) * 67_108_864 + (ks.readUInt32LE(4) >>> 6)) / 2 ** 53;
    expect(new KeyedRng(SECRET, label).uniform()).toBe(expected);
  });

  it('draws uniforms in [0, 1), standard normals and unbiased integers, across block boundaries', () => {
    const r = new KeyedRng(SECRET, label);
    const u = draws(r, 20_000); // 160 KB: many keystream blocks
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(Math.abs(u.reduce((s, x) => s + x, 0) / u.length - 0.5)).toBeLessThan(0.01);
    const z = Array.from({ length: 20_000 }, () => r.normal());
    const m = z.reduce((s, x) => s + x, 0) / z.length;
    const v = z.reduce((s, x) => s + (x - m) ** 2, 0) / z.length;
    expect(Math.abs(m)).toBeLessThan(0.03);
    expect(Math.abs(v - 1)).toBeLessThan(0.05);
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) counts[r.int(3)]! += 1;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(() => r.int(0)).toThrow(/positive integer/);
    const xs = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = r.shuffle([...xs]);
    expect(shuffled).not.toEqual(xs);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(xs);
    const s = r.seed53();
    expect(Number.isSafeInteger(s) && s >= 0).toBe(true);
  });
});
