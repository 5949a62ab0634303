import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyEdits,
  applySearchReplace,
  applyUnifiedDiff,
  DiffParseError,
  diffSnapshots,
  EditApplyError,
  hashSnapshot,
  sha256Hex,
  SourceSnapshot,
} from './code.js';

// Lines drawn from a tiny alphabet so that diffs have many equal lines to align.
const line = fc.oneof(
  fc.constantFrom(
    '',
    'a',
    'b',
    'x = 1',
    '  return x',
    '\\ odd',
    '--- a/x',
    '+++ b/x',
    '@@ -1 +1 @@',
  ),
  fc.string({ maxLength: 12 }).map((s) => s.replace(/\n/g, '')),
);
const fileText = fc
  .tuple(fc.array(line, { maxLength: 25 }), fc.boolean())
  .map(([lines, eol]) => (lines.length ? lines.join('\n') + (eol ? '\n' : '') : ''));
const filePath = fc.constantFrom('method.py', 'lib/util.py', 'a.txt', 'b/c.d', 'z-z_9.py');
const snapshot = fc.dictionary(filePath, fileText, { maxKeys: 4 });

/** A child: some files edited by line mutations, some deleted, some added. */
const mutated = (s: Record<string, string>) =>
  fc
    .tuple(
      fc.dictionary(filePath, fileText, { maxKeys: 3 }),
      fc.array(fc.boolean(), { maxLength: 5 }),
    )
    .map(([changes, deletions]) => {
      const out: Record<string, string> = { ...s };
      Object.keys(s).forEach((f, i) => {
        if (deletions[i]) delete out[f];
      });
      return { ...out, ...changes };
    });

describe('diffSnapshots / applyUnifiedDiff', () => {
  it('apply(diff(a, b), a) = b for any snapshots', () => {
    fc.assert(
      fc.property(snapshot, snapshot, (a, b) => {
        const d = diffSnapshots(a, b);
        if (d === '') expect(b).toEqual(a);
        else expect(applyUnifiedDiff(a, d)).toEqual(b);
      }),
      { numRuns: 400 },
    );
  });

  it('apply(diff(a, b), a) = b when b is a small edit of a (hunks with context)', () => {
    fc.assert(
      fc.property(
        snapshot.chain((a) => fc.tuple(fc.constant(a), mutated(a))),
        ([a, b]) => {
          const d = diffSnapshots(a, b);
          expect(d === '' ? a : applyUnifiedDiff(a, d)).toEqual(b);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('writes a standard unified diff with context and a no-newline marker', () => {
    const a = { 'm.py': 'a\nb\nc\nd\ne\nf\ng\nh\n' };
    const b = { 'm.py': 'a\nb\nc\nD\ne\nf\ng\nh' };
    expect(diffSnapshots(a, b)).toBe(
      '--- a/m.py\n+++ b/m.py\n@@ -1,8 +1,8 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n-h\n+h\n\\ No newline at end of file\n',
    );
    expect(diffSnapshots(a, a)).toBe('');
  });

  it('applies a hand-written diff whose hunk moved, and one that creates a file', () => {
    const a = { 'm.py': 'import numpy as np\n\n\ndef train(x):\n    return x\n' };
    const diff = [
      '--- a/m.py',
      '+++ b/m.py',
      '@@ -10,2 +10,2 @@', // wrong line numbers: found by its context
      ' def train(x):',
      '-    return x',
      '+    return 2 * x',
      '--- /dev/null',
      '+++ b/util.py',
      '@@ -0,0 +1 @@',
      '+K = 3',
      '',
    ].join('\n');
    expect(applyUnifiedDiff(a, diff)).toEqual({
      'm.py': 'import numpy as np\n\n\ndef train(x):\n    return 2 * x\n',
      'util.py': 'K = 3\n',
    });
  });

  it('names the file and the hunk that does not apply', () => {
    const a = { 'm.py': 'x = 1\ny = 2\n' };
    const diff = '--- a/m.py\n+++ b/m.py\n@@ -1,2 +1,2 @@\n x = 1\n-y = 3\n+y = 4\n';
    expect(() => applyEdits(a, [{ kind: 'diff', diff }])).toThrow(EditApplyError);
    expect(() => applyEdits(a, [{ kind: 'diff', diff }])).toThrow(
      /^m\.py: edit 1, hunk 1 .*not found/,
    );
    expect(() => applyUnifiedDiff(a, 'just prose\n')).toThrow(DiffParseError);
    expect(() => applyUnifiedDiff(a, '--- a/../etc/passwd\n+++ b/x\n')).toThrow(
      /invalid file path/,
    );
    expect(() => applyUnifiedDiff(a, '--- a/m.py\n+++ b/m.py\n@@ -1,3 +1,3 @@\n x = 1\n')).toThrow(
      /ends early/,
    );
    expect(() =>
      applyUnifiedDiff(a, '--- a/gone.py\n+++ b/gone.py\n@@ -1 +1 @@\n-a\n+b\n'),
    ).toThrow(/gone\.py: diff, hunk 1|gone\.py: diff: the file does not exist/);
  });
});

describe('search/replace edits', () => {
  const base = { 'm.py': 'def f():\n    return 1\n\ndef g():\n    return 1\n' };

  it('replaces the one occurrence, in order, across edits', () => {
    expect(
      applyEdits(base, [
        {
          kind: 'search_replace',
          file: 'm.py',
          search: 'def f():\n    return 1',
          replace: 'def f():\n    return 2',
        },
        { kind: 'search_replace', file: 'n.py', search: '', replace: 'N = 1\n' },
      ]),
    ).toEqual({ 'm.py': 'def f():\n    return 2\n\ndef g():\n    return 1\n', 'n.py': 'N = 1\n' });
  });

  it('refuses a missing, ambiguous or out-of-place block, naming file and edit', () => {
    expect(() =>
      applySearchReplace(
        base,
        { kind: 'search_replace', file: 'm.py', search: 'return 1', replace: 'x' },
        'edit 3',
      ),
    ).toThrow('m.py: edit 3: the search text occurs 2 times');
    expect(() =>
      applySearchReplace(base, {
        kind: 'search_replace',
        file: 'm.py',
        search: 'nope',
        replace: 'x',
      }),
    ).toThrow(/m\.py: edit: the search text was not found \(first line: "nope"\)/);
    expect(() =>
      applySearchReplace(base, { kind: 'search_replace', file: 'x.py', search: 'a', replace: 'b' }),
    ).toThrow('x.py: edit: the file does not exist');
    expect(() =>
      applyEdits(base, [{ kind: 'search_replace', file: 'm.py', search: '', replace: 'x' }]),
    ).toThrow(/m\.py: edit 1: an empty search creates a file/);
  });

  it('refuses a result beyond the snapshot limits', () => {
    expect(() =>
      applyEdits(base, [
        { kind: 'search_replace', file: 'big.py', search: '', replace: 'x'.repeat(200_001) },
      ]),
    ).toThrow(EditApplyError);
  });
});

describe('hashSnapshot', () => {
  it('is SHA-256 (matches node:crypto on the documented encoding)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(sha256Hex(bytes)).toBe(createHash('sha256').update(bytes).digest('hex'));
      }),
    );
    const s = { 'b.py': 'é\n', 'a.py': 'x' };
    const manual = createHash('sha256')
      .update('a.py\x001\x00x')
      .update('b.py\x003\x00é\n')
      .digest('hex');
    expect(hashSnapshot(s)).toBe(manual);
  });

  it('does not depend on the order files were inserted; differs when content or names differ', () => {
    fc.assert(
      fc.property(snapshot, (s) => {
        const reversed = Object.fromEntries(Object.entries(s).reverse());
        expect(hashSnapshot(reversed)).toBe(hashSnapshot(s));
      }),
    );
    expect(hashSnapshot({ a: 'bc' })).not.toBe(hashSnapshot({ ab: 'c' }));
    expect(hashSnapshot({ a: 'x' })).not.toBe(hashSnapshot({ a: 'x\n' }));
  });
});

describe('SourceSnapshot', () => {
  it('refuses paths that could leave the folder or need quoting, naming the path', () => {
    for (const bad of ['../x', '/etc/passwd', 'a//b', 'a/./b', 'a b.py', 'a/..', '.'])
      expect(SourceSnapshot.safeParse({ [bad]: '' }).success, bad).toBe(false);
    expect(SourceSnapshot.safeParse({ 'pkg/.hidden.py': '', 'a.py': '' }).success).toBe(true);
  });
});
