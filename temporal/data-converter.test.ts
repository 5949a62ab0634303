import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  COMPRESS_ABOVE_BYTES,
  COMPRESSED_ENCODING,
  CompressionCodec,
  decodePayload,
} from './data-converter.js';

const encoding = (p: Payload) => Buffer.from(p.metadata![METADATA_ENCODING_KEY]!).toString();
const toPayload = (v: unknown) => defaultPayloadConverter.toPayload(v)!;

/** A strategy view's history: the same keys over and over, as in a campaign. */
const trials = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `t${String(i).padStart(4, '0')}`,
    title: `random: x=${(i / n).toFixed(4)}`,
    status: 'succeeded',
    params: { x: i / n, lr: 0.001 * i },
    metrics: { value: Math.sin(i) },
    pgr: { mean: 0.5, ciLow: 0.4, ciHigh: 0.6 },
    feasible: true,
  }));

describe('CompressionCodec', () => {
  const codec = new CompressionCodec();

  it('leaves small payloads plain, readable without gaplab', async () => {
    const small = toPayload({ trialId: 't0001', seed: 7 });
    const [out] = await codec.encode([small]);
    expect(out).toBe(small);
    expect(encoding(out!)).toBe('json/plain');
  });

  it('compresses a large payload to a fraction of its size, and decodes it back exactly', async () => {
    const value = { history: trials(500) };
    const plain = toPayload(value);
    expect(plain.data!.length).toBeGreaterThan(COMPRESS_ABOVE_BYTES);
    const [packed] = await codec.encode([plain]);
    expect(encoding(packed!)).toBe(COMPRESSED_ENCODING);
    expect(packed!.data!.length).toBeLessThan(plain.data!.length / 5);
    const [back] = await codec.decode([packed!]);
    expect(encoding(back!)).toBe('json/plain');
    expect(Buffer.from(back!.data!).equals(Buffer.from(plain.data!))).toBe(true);
    expect(await decodePayload(packed!)).toEqual(value);
  });

  it('keeps a payload that does not compress as it is', async () => {
    const noise = toPayload(randomBytes(COMPRESS_ABOVE_BYTES * 2));
    const [out] = await codec.encode([noise]);
    expect(out).toBe(noise);
  });

  it('decodes payloads written before compression existed, and never compresses twice', async () => {
    const old = toPayload({ history: trials(300) });
    expect(await decodePayload(old)).toEqual({ history: trials(300) });
    const [once] = await codec.encode([old]);
    const [twice] = await codec.encode([once!]);
    expect(twice).toBe(once);
  });

  it('says what is wrong with a compressed payload that lost its data', async () => {
    await expect(
      codec.decode([{ metadata: { [METADATA_ENCODING_KEY]: Buffer.from(COMPRESSED_ENCODING) } }]),
    ).rejects.toThrow(/without data/);
  });
});
