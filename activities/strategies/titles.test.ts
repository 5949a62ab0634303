import { describe, expect, it } from 'vitest';
import { changesTitle } from './common.js';

describe('sampled proposal titles', () => {
  it('name the parameters set and their values', () => {
    expect(changesTitle({ lr: 0.0100004, epochs: 20 }, new Set())).toBe('lr 0.01, epochs 20');
    expect(changesTitle({ optimizer: 'adam', aux_loss: true }, new Set())).toBe(
      'optimizer adam, aux_loss true',
    );
    expect(changesTitle({}, new Set())).toBe('baseline configuration');
    expect(changesTitle({ lr: 1.234e-7 }, new Set())).toBe('lr 1.23e-7');
  });

  it('take more digits rather than repeat a title', () => {
    const taken = new Set(['lr 0.0123']);
    expect(changesTitle({ lr: 0.012345 }, taken)).toBe('lr 0.01235');
    // Values equal at every precision (a repeated configuration) are numbered.
    expect(changesTitle({ lr: 0.5 }, new Set(['lr 0.5']))).toBe('lr 0.5 (2)');
  });

  it('stay within the title limit and say how many parameters follow', () => {
    const changes = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`parameter_${i}`, i + 0.5]),
    );
    const t = changesTitle(changes, new Set(), 200);
    expect(t.length).toBeLessThanOrEqual(200);
    expect(t).toMatch(/^parameter_0 0\.5, parameter_1 1\.5, .* \(\+\d+ more\)$/);
  });
});
