import { describe, expect, it } from 'vitest';
import { ValueMatcher } from './hidden-match.js';

const M = 'hidden';
const scrub = (s: string, values: number[]) => ValueMatcher.scrub(s, [new ValueMatcher(values)], M);

describe('ValueMatcher', () => {
  const v = 0.823461;

  it('finds a value at any rounding of two significant digits or more, in every usual format', () => {
    for (const written of [
      '0.823461',
      '0.82346',
      '0.8235',
      '0.8234', // cut off
      '0.823',
      '0.82',
      '.8235',
      '82.35%',
      '82.3 %',
      '82%',
      '8.235e-01',
      '8.2346E-1',
      '8.23e-1',
      '82.346%',
    ])
      expect(scrub(`student acc ${written} at the end`, [v]), written).toBe(
        `student acc ${M} at the end`,
      );
  });

  it('finds it embedded in other text, signed, and several times', () => {
    expect(scrub('heldout=0.82346;dev=0.71', [v])).toBe(`heldout=${M};dev=0.71`);
    expect(scrub('{"heldout":0.8235}', [v])).toBe(`{"heldout":${M}}`);
    expect(scrub('delta -0.8235 then (82.3%) and 8.235e-01.', [v])).toBe(
      `delta ${M} then (${M}) and ${M}.`,
    );
    expect(scrub('shortfall -0.44', [-0.4412])).toBe(`shortfall ${M}`);
  });

  it('leaves numbers that are no rounding of a value', () => {
    for (const other of [
      '0.8',
      '0.8237',
      '0.81',
      '0.84',
      '83%',
      '8.24e-01',
      '0.08235',
      '8235',
      '823',
      '0.8236',
    ])
      expect(scrub(`x ${other} y`, [v]), other).toBe(`x ${other} y`);
  });

  it('leaves a single significant digit, and text without numbers, alone', () => {
    expect(scrub('lr 0.8, 1, 80%', [0.8, 1])).toBe('lr 0.8, 1, 80%');
    expect(scrub('no numbers here', [v])).toBe('no numbers here');
  });

  it('does not match inside hex hashes or version strings', () => {
    expect(scrub('source 3f8235ab', [v])).toBe('source 3f8235ab');
  });

  it('holds many values and stays a lookup', () => {
    const values = Array.from({ length: 100_000 }, (_, i) => 0.5 + i * 1e-7 * Math.PI);
    const m = new ValueMatcher(values);
    expect(m.size).toBe(100_000);
    expect(ValueMatcher.scrub(`x=${values[54_321]!.toPrecision(7)}`, [m], M)).toBe(`x=${M}`);
    expect(ValueMatcher.scrub('x=0.4999', [m], M)).toBe('x=0.4999');
  });

  it('ignores non-finite values and zero', () => {
    const m = new ValueMatcher([NaN, Infinity, 0]);
    expect(m.size).toBe(0);
    expect(ValueMatcher.scrub('0.00 and 12', [m], M)).toBe('0.00 and 12');
  });
});
