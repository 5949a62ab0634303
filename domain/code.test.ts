import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyEdits,
  applySearchReplace,
  applyUnifiedDiff,
  checkedDiff,
  DIFF_LIMITS,
  DiffLimitError,
  DiffParseError,
  diffSnapshots,
  EditApplyError,
  hashSnapshot,
  sha256Hex,
  SourcePath,
  SourceSnapshot,
} from './code.js';

const SourcePathOk = (p: string) => SourcePath.safeParse(p).success;

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
    ).toThrow('m.py: edit 3: the search text occurs more than once');
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

/** Changed lines of a diff: its `-` and `+` lines, headers excluded. */
const changedLines = (diff: string) =>
  diff.split('\n').filter((l) => /^[-+]/.test(l) && !/^(---|\+\+\+) /.test(l)).length;

/** Length of a longest common subsequence of two line lists (the textbook table). */
function lcs(a: string[], b: string[]): number {
  const t = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      t[i]![j] =
        a[i - 1] === b[j - 1] ? t[i - 1]![j - 1]! + 1 : Math.max(t[i - 1]![j]!, t[i]![j - 1]!);
  return t[a.length]![b.length]!;
}

describe('diff limits', () => {
  it('finds a shortest edit script: changed lines = |a| + |b| - 2 LCS', () => {
    const lines = fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 40 });
    fc.assert(
      fc.property(lines, lines, (a, b) => {
        const before = a.map((l) => `${l}\n`).join('');
        const after = b.map((l) => `${l}\n`).join('');
        const d = checkedDiff({ 'm.py': before }, { 'm.py': after });
        expect(changedLines(d)).toBe(a.length + b.length - 2 * lcs(a, b));
        if (before !== after)
          expect(applyUnifiedDiff({ 'm.py': before }, d)).toEqual({ 'm.py': after });
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a file past the line limit and a diff past the change limit, naming the limit', () => {
    const many = 'x\n'.repeat(DIFF_LIMITS.fileLines + 1);
    expect(() => checkedDiff({ 'm.py': 'x\n' }, { 'm.py': many })).toThrow(DiffLimitError);
    expect(() => checkedDiff({ 'm.py': 'x\n' }, { 'm.py': many })).toThrow(
      `m.py: more than ${DIFF_LIMITS.fileLines} lines`,
    );
    const n = DIFF_LIMITS.changedLines / 2 + 1; // n removed + n added lines
    const a = Array.from({ length: n }, (_, i) => `a${i}\n`).join('');
    const b = Array.from({ length: n }, (_, i) => `b${i}\n`).join('');
    expect(() => checkedDiff({ 'm.py': a }, { 'm.py': b })).toThrow(
      `the diff changes more than ${DIFF_LIMITS.changedLines} lines in all`,
    );
    // The budget is the snapshot's, not each file's.
    expect(() =>
      checkedDiff(
        { 'm.py': a.slice(0, a.length / 2), 'n.py': a },
        { 'm.py': b.slice(0, b.length / 2), 'n.py': b },
      ),
    ).toThrow(DiffLimitError);
    // One change fewer fits.
    const fits = checkedDiff({ 'm.py': a }, { 'm.py': b.replace(/^b0\n/, 'a0\n') });
    expect(changedLines(fits)).toBe(DIFF_LIMITS.changedLines);
    // What records and pages show never throws: the headers and a cut marker naming the limit.
    expect(diffSnapshots({ 'm.py': a }, { 'm.py': b })).toMatch(
      /^--- a\/m\.py\n\+\+\+ b\/m\.py\n… \(cut: not shown: m\.py: the diff changes more than \d+ lines/,
    );
  });

  it('applies or refuses each worst-case 200 KB edit within a 256 MiB heap', () => {
    // A child process with a small heap: a diff that needs quadratic memory dies there.
    const script = `
      const { applyEdits, checkedDiff, applyUnifiedDiff } = await import(${JSON.stringify(new URL('./code.ts', import.meta.url).href)});
      const { worstEdits } = await import(${JSON.stringify(new URL('../test/support/worst-edits.ts', import.meta.url).href)});
      for (const w of worstEdits()) {
        let out;
        try {
          const child = applyEdits(w.parent, w.edits);
          const diff = checkedDiff(w.parent, child);
          const back = JSON.stringify(applyUnifiedDiff(w.parent, diff)) === JSON.stringify(child);
          out = { name: w.name, applied: true, back };
        } catch (e) {
          out = { name: w.name, applied: false, error: e.name, message: e.message };
        }
        console.log(JSON.stringify(out));
      }`;
    const r = spawnSync(
      process.execPath,
      ['--max-old-space-size=256', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8', timeout: 240_000 },
    );
    expect(r.stderr.slice(-2000)).not.toMatch(/heap out of memory/);
    expect(r.status).toBe(0);
    const results = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(results).toHaveLength(8);
    for (const res of results) {
      // Each edit either applies and diffs back to itself, or is refused by name.
      if (res.applied) expect(res.back, String(res.name)).toBe(true);
      else
        expect(['DiffLimitError', 'EditApplyError'], `${res.name}: ${res.message}`).toContain(
          res.error,
        );
    }
    expect(results.find((x) => x.name === 'every line replaced (200 KB)')).toMatchObject({
      error: 'DiffLimitError',
    });
    expect(results.find((x) => x.name === '33 KB inserted')).toMatchObject({ applied: true });
  }, 300_000);
});

describe('file names that are also Object.prototype members', () => {
  const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty'];
  it('are no file: edits to them are refused by name, never a TypeError', () => {
    for (const file of names) {
      const base = { 'm.py': 'a\n' };
      const sr = () =>
        applyEdits(base, [{ kind: 'search_replace', file, search: 'a', replace: 'b' }]);
      if (file === '__proto__') expect(sr).toThrow(/__proto__/);
      else expect(sr).toThrow(new EditApplyError(file, 'edit 1', 'the file does not exist'));
      const patch = `--- a/${file}\n+++ b/${file}\n@@ -1 +1 @@\n-a\n+b\n`;
      expect(() => applyEdits(base, [{ kind: 'diff', diff: patch }])).toThrow(
        file === '__proto__' ? DiffParseError : EditApplyError,
      );
    }
  });

  it('a created file of that name is an own file; "__proto__" is refused as a path', () => {
    for (const file of ['constructor', 'toString', 'hasOwnProperty']) {
      const out = applyEdits({ 'm.py': 'a\n' }, [
        { kind: 'search_replace', file, search: '', replace: 'x\n' },
      ]);
      expect(Object.keys(out).sort()).toEqual([file, 'm.py'].sort());
      expect(checkedDiff({ 'm.py': 'a\n' }, out)).toContain(`+++ b/${file}\n@@ -0,0 +1,1 @@\n+x\n`);
    }
    expect(SourcePathOk('__proto__')).toBe(false);
    expect(SourcePathOk('lib/__proto__')).toBe(true);
  });
});

describe('file text', () => {
  it('refuses a lone surrogate: the text has no UTF-8 form that would run as shown', () => {
    expect(SourceSnapshot.safeParse({ 'm.py': 'x = "\uD800"\n' }).success).toBe(false);
    expect(SourceSnapshot.safeParse({ 'm.py': 'x = "\uDC00\uD800"\n' }).success).toBe(false);
    expect(SourceSnapshot.safeParse({ 'm.py': 'x = "\uD83D\uDE00"\n' }).success).toBe(true);
  });
});
