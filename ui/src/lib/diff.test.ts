import { describe, expect, it } from 'vitest';
import { diffSnapshots } from '../../../domain/code.js';
import { diffLineKind, isCutDiff } from './diff.js';

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
});
