import { describe, expect, it } from 'vitest';
import { diffSnapshots } from '../../../domain/code.js';
import { diffLineKind, isCutDiff, linePieces } from './diff.js';

describe('diffs on the trial page', () => {
  it('tells a cut diff by the marker at its end, not by the words anywhere', () => {
    // The codec's own marker is checked against encodeTrial in server/sources-routes.test.ts.
    expect(isCutDiff("+a\n… (cut: the whole diff is the run's diff.patch)")).toBe(true);
    expect(isCutDiff('+a\n… (cut; the full diff is in MLflow)')).toBe(true);
    expect(isCutDiff('+… (cut: the whole diff is the run’s diff.patch)\n+more\n')).toBe(false);
    expect(isCutDiff(diffSnapshots({ 'm.py': 'a\n' }, { 'm.py': 'b\n' }))).toBe(false);
  });

  it('draws file headers, hunks, added, removed and context lines apart', () => {
    const diff = diffSnapshots({ 'method.py': 'a\nb\n' }, { 'method.py': 'a\nc\n' });
    const kinds = diff
      .replace(/\n$/, '')
      .split('\n')
      .map((l) => diffLineKind(l));
    expect(kinds).toEqual(['file', 'file', 'hunk', 'ctx', 'del', 'add']);
    expect(diffLineKind('… (cut: the whole diff is the run’s diff.patch)')).toBe('cut');
  });

  it('shows characters a browser would not draw by code point, and leaves the rest as is', () => {
    // Trojan Source: an override that makes code read as a comment, shown by code point.
    expect(linePieces('+x = 1 # \u202e if admin:\u2069')).toEqual([
      { text: '+x = 1 # ' },
      { text: '<U+202E>', hidden: true },
      { text: ' if admin:' },
      { text: '<U+2069>', hidden: true },
    ]);
    const shown = (l: string) =>
      linePieces(l)
        .map((p) => p.text)
        .join('');
    expect(shown('+a\u200bb\fc\u0000d\re\ufefff\u00adg\u2028h')).toBe(
      '+a<U+200B>b<U+000C>c<U+0000>d<U+000D>e<U+FEFF>f<U+00AD>g<U+2028>h',
    );
    expect(shown(' \tdef f(): return "é😀"')).toBe(' \tdef f(): return "é😀"');
    expect(linePieces('')).toEqual([{ text: '' }]);
    expect(linePieces('\u202e').filter((p) => p.hidden)).toHaveLength(1);
  });
});
