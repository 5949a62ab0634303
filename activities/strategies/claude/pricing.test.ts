import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ClaudeSettings } from '../../../domain/strategy.js';
import {
  DEPRECATED_MODELS,
  KNOWN_MODELS,
  boundNanoDollars,
  modelWarning,
  MODEL_PRICES,
  UnknownModelPricingError,
  priceOf,
  usageDollars,
  usageNanoDollars,
} from './pricing.js';

describe('pricing', () => {
  it('prices usage exactly: input, output, cache write and cache read', () => {
    const usage = {
      input_tokens: 1234,
      output_tokens: 567,
      cache_creation_input_tokens: 2000,
      cache_read_input_tokens: 10_000,
    };
    // sonnet 4.5: 3 / 15 / 3.75 / 0.30 per MTok
    // 1234*3 + 567*15 + 2000*3.75 + 10000*0.3 = 3702 + 8505 + 7500 + 3000 = 22707 micro-dollars
    expect(usageDollars('claude-sonnet-4-5', usage)).toBe(0.022707);
    expect(usageNanoDollars('claude-sonnet-4-5', usage)).toBe(22_707_000);
    // opus 4.5: 5 / 25 / 6.25 / 0.5 -> 6170 + 14175 + 12500 + 5000 = 37845
    expect(usageDollars('claude-opus-4-5', usage)).toBe(0.037845);
    // haiku 4.5: 1 / 5 / 1.25 / 0.1 -> 1234 + 2835 + 2500 + 1000 = 7569
    expect(usageDollars('claude-haiku-4-5-20251001', usage)).toBe(0.007569);
  });

  it('uses list prices and the standard cache multipliers', () => {
    expect(priceOf('claude-opus-4-5')).toMatchObject({
      input: 5,
      output: 25,
      cacheWrite5m: 6.25,
      cacheWrite1h: 10,
      cacheRead: 0.5,
    });
    expect(priceOf('claude-sonnet-4-5')).toMatchObject({
      input: 3,
      output: 15,
      cacheWrite5m: 3.75,
      cacheRead: 0.3,
    });
    expect(priceOf('claude-haiku-4-5')).toMatchObject({
      input: 1,
      output: 5,
      cacheWrite5m: 1.25,
      cacheRead: 0.1,
    });
    expect(priceOf('claude-sonnet-4-5-20250929')).toEqual(priceOf('claude-sonnet-4-5'));
    expect(priceOf('claude-opus-4-5-20251101')).toEqual(priceOf('claude-opus-4-5'));
  });

  it('prices 1-hour cache writes apart when the usage breaks them down', () => {
    const usage = {
      input_tokens: 0,
      output_tokens: 0,
      cache_creation_input_tokens: 1000,
      cache_creation: { ephemeral_5m_input_tokens: 400, ephemeral_1h_input_tokens: 600 },
    };
    // opus 4.5: 400 * 6.25 + 600 * 10 = 2500 + 6000 = 8500 micro-dollars
    expect(usageDollars('claude-opus-4-5', usage)).toBe(0.0085);
  });

  it('bills the long-prompt band of a two-band model above its threshold', () => {
    const short = { input_tokens: 100_000, output_tokens: 1000 };
    const long = { input_tokens: 100_001, output_tokens: 1000 };
    expect(usageDollars('claude-haiku-5-5', short)).toBe(0.0105); // 100000*0.1 + 1000*0.5 = 10500
    expect(usageDollars('claude-haiku-5-5', long)).toBe(0.0525005); // 100001*0.5 + 1000*2.5 = 52500.5
  });

  it('sums many small calls without drift', () => {
    const usage = { input_tokens: 1, output_tokens: 1, cache_read_input_tokens: 1 };
    let nano = 0;
    for (let i = 0; i < 100_000; i++) nano += usageNanoDollars('claude-sonnet-4-5', usage);
    expect(nano / 1e9).toBe(1.83); // 100000 * (3 + 15 + 0.3) micro-dollars
  });

  it('refuses unknown models with a named error', () => {
    expect(() => usageDollars('claude-imaginary-9', { input_tokens: 1, output_tokens: 1 })).toThrow(
      UnknownModelPricingError,
    );
    expect(() => priceOf('claude-imaginary-9')).toThrow(
      /no price is known for model "claude-imaginary-9"/,
    );
    expect(() => priceOf('toString')).toThrow(UnknownModelPricingError);
    expect(Object.keys(MODEL_PRICES).length).toBeGreaterThan(10);
  });
});

describe('models', () => {
  const sdkDir = path.dirname(createRequire(import.meta.url).resolve('@anthropic-ai/sdk'));
  const sdkFile = (f: string) => readFileSync(path.join(sdkDir, f), 'utf8');

  it('defaults to a current, priced model that is not deprecated', () => {
    const model = ClaudeSettings.parse({}).model;
    expect(model).toBe('claude-sonnet-5-5');
    expect(() => priceOf(model)).not.toThrow();
    expect(modelWarning(model)).toBeNull();
  });

  it("keeps the deprecation table in step with the installed SDK's", () => {
    const sdk = sdkFile('internal/data/deprecated-models.js');
    const ids = [...sdk.matchAll(/'(claude-[^']+)':/g)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThan(0);
    expect(Object.keys(DEPRECATED_MODELS).sort()).toEqual([...ids].sort());
    const types = sdkFile('resources/messages/messages.d.ts');
    const known = /export type Model = ([^;]+);/.exec(types)![1]!;
    for (const id of known.matchAll(/'(claude-[^']+)'/g)) expect(KNOWN_MODELS).toContain(id[1]);
  });

  it('warns about deprecated and unchecked models, and prices every current one', () => {
    expect(modelWarning('claude-sonnet-4-5')).toMatch(/deprecated.*2026-11-30.*claude-sonnet-5-5/);
    expect(modelWarning('my-proxy-model')).toMatch(/not one this version of gaplab knows/);
    for (const m of KNOWN_MODELS.filter(
      (k) => !(k in DEPRECATED_MODELS) && !/5-2$|preview/.test(k),
    ))
      expect(() => priceOf(m)).not.toThrow();
  });

  it('bounds what any honest usage of a call can cost', () => {
    for (const model of ['claude-sonnet-5-5', 'claude-haiku-5-5', 'claude-opus-4-8']) {
      const price = priceOf(model);
      for (const prompt of [100, 99_000, 150_000]) {
        const bound = boundNanoDollars(price, prompt, 4096);
        for (const split of [0, 0.3, 1]) {
          const write = Math.floor(prompt * split);
          const usage = {
            input_tokens: prompt - write,
            output_tokens: 4096,
            cache_creation_input_tokens: write,
            cache_read_input_tokens: 0,
          };
          expect(usageNanoDollars(model, usage)).toBeLessThanOrEqual(bound);
        }
      }
    }
  });
});
