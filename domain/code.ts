/**
 * Source snapshots and the edits that turn one into another: what a code hypothesis carries.
 *
 * A snapshot is the full editable source of a trial (relative path -> file text). A hypothesis
 * carries edits to its parent's snapshot, either search/replace blocks or a unified diff; they
 * resolve to a child snapshot, addressed by its content hash, and the lineage keeps the unified
 * diff from parent to child.
 *
 * Pure and deterministic (no Node built-ins, SHA-256 included), so workflow code may import it.
 */
import { z } from 'zod';
import { DomainError } from './errors.js';

/** Limits that keep a snapshot small enough for a workflow payload and a prompt. */
export const CODE_LIMITS = {
  files: 32,
  fileChars: 200_000,
  totalChars: 500_000,
  edits: 64,
  diffChars: 500_000,
} as const;

/**
 * A relative file path inside a snapshot: segments of letters, digits, `.`, `_` and `-`,
 * separated by `/`; no `..`, no leading `/`, no empty segment. Spaces and quotes are refused so
 * a path never needs quoting in a diff header.
 */
export const SourcePath = z
  .string()
  .min(1)
  .max(200)
  .regex(
    /^(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/,
    'a relative path of [A-Za-z0-9._-] segments separated by "/", without "." or ".." segments',
  )
  // An object key "__proto__" sets a prototype instead of holding a file: it could never be kept.
  .refine((p) => p !== '__proto__', '"__proto__" is not allowed as a file name');

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A file's text: its UTF-8 encoding is what is written and run, so it must have one. A lone
 * surrogate would be written as U+FFFD, and the text shown would not be what runs.
 */
const FileText = z
  .string()
  .max(CODE_LIMITS.fileChars)
  .refine((t) => !LONE_SURROGATE.test(t), 'text with a lone UTF-16 surrogate has no UTF-8 form');

export const SourceSnapshot = z
  .record(SourcePath, FileText)
  .refine((s) => Object.keys(s).length <= CODE_LIMITS.files, {
    message: `at most ${CODE_LIMITS.files} files`,
  })
  .refine((s) => Object.values(s).reduce((n, t) => n + t.length, 0) <= CODE_LIMITS.totalChars, {
    message: `at most ${CODE_LIMITS.totalChars} characters in all`,
  });
export type SourceSnapshot = z.infer<typeof SourceSnapshot>;

/** Replace the one occurrence of `search` in `file` by `replace`; an empty `search` creates the file. */
export const SearchReplaceEdit = z
  .object({
    kind: z.literal('search_replace'),
    file: SourcePath,
    search: z.string().max(CODE_LIMITS.fileChars),
    replace: z.string().max(CODE_LIMITS.fileChars),
  })
  .strict();
export type SearchReplaceEdit = z.infer<typeof SearchReplaceEdit>;

/** A unified diff (`diff -u`, `git diff`) over one or more files; `a/`/`b/` prefixes optional. */
export const UnifiedDiffEdit = z
  .object({ kind: z.literal('diff'), diff: z.string().min(1).max(CODE_LIMITS.diffChars) })
  .strict();
export type UnifiedDiffEdit = z.infer<typeof UnifiedDiffEdit>;

export const SourceEdit = z.discriminatedUnion('kind', [SearchReplaceEdit, UnifiedDiffEdit]);
export type SourceEdit = z.infer<typeof SourceEdit>;

export const SourceEdits = z.array(SourceEdit).min(1).max(CODE_LIMITS.edits);

/** Thrown when an edit does not apply to a snapshot; names the file and the block that failed. */
export class EditApplyError extends DomainError {
  constructor(
    readonly file: string,
    /** Which block: `edit 2` (search/replace) or `edit 1, hunk 3` (diff). */
    readonly block: string,
    readonly reason: string,
  ) {
    super(`${file}: ${block}: ${reason}`);
  }
}

/** Thrown when a unified diff cannot be parsed; names the line. */
export class DiffParseError extends DomainError {
  constructor(
    readonly line: number,
    reason: string,
  ) {
    super(`diff line ${line}: ${reason}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Lines: a file is a list of lines, each with its "\n" except perhaps the last one
// ---------------------------------------------------------------------------------------------

function toLines(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl === -1) break;
    out.push(text.slice(start, nl + 1));
    start = nl + 1;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

const NO_EOL = '\\ No newline at end of file';

/** A file's text by name, own properties only: `constructor` or `toString` is no file. */
export const fileOf = (s: Readonly<Record<string, string>>, f: string): string | undefined =>
  Object.hasOwn(s, f) ? s[f] : undefined;

// ---------------------------------------------------------------------------------------------
// Diff (Myers with the linear-space refinement: O((N + M) D) time, O(N + M) space)
// ---------------------------------------------------------------------------------------------

/**
 * Thrown when a diff would pass DIFF_LIMITS: a file with too many lines, or more changed lines
 * than a review (or a prompt) can hold. Names the file and the limit.
 */
export class DiffLimitError extends DomainError {
  constructor(
    readonly file: string,
    readonly limit: 'fileLines' | 'changedLines',
    readonly max: number,
  ) {
    super(
      limit === 'fileLines'
        ? `${file}: more than ${max} lines (the limit for a diffed file)`
        : `${file}: the diff changes more than ${max} lines in all (the limit of changed lines)`,
    );
  }
}

/**
 * What a diff may cost. The search is bounded by the changes (D): with at most `fileLines`
 * lines a side and `changedLines` changes it does at most ~(2 x fileLines) x changedLines steps
 * in O(fileLines) memory, whatever the text.
 */
export const DIFF_LIMITS = { fileLines: 10_000, changedLines: 4_000 } as const;

type Op = { kind: ' ' | '-' | '+'; line: string };

/** Lines to small integers, so the search compares numbers, never long strings. */
function lineIds(a: string[], b: string[]): [Int32Array, Int32Array] {
  const ids = new Map<string, number>();
  const map = (lines: string[]): Int32Array => {
    const out = new Int32Array(lines.length);
    lines.forEach((l, i) => {
      let id = ids.get(l);
      if (id === undefined) ids.set(l, (id = ids.size));
      out[i] = id;
    });
    return out;
  };
  return [map(a), map(b)];
}

/** Raised inside diffLines when the top-level search passes its bound of changes. */
class TooManyChanges extends Error {}

/**
 * A shortest edit script from a to b (Myers 1986, section 4b: the middle snake found from both
 * ends, then each half solved the same way). `maxD` bounds the number of changes: past it,
 * TooManyChanges is thrown after O((N + M) maxD) steps.
 */
function diffLines(a: string[], b: string[], maxD: number): Op[] {
  const [A, B] = lineIds(a, b);
  const ops: Op[] = [];
  const equal = (from: number, to: number) => {
    for (let i = from; i < to; i++) ops.push({ kind: ' ', line: a[i] as string });
  };
  // Scratch for the two frontiers, sized once for the bound.
  const half = Math.min(Math.ceil((A.length + B.length) / 2), Math.ceil(maxD / 2) + 1) + 1;
  const v1 = new Int32Array(2 * half + 2);
  const v2 = new Int32Array(2 * half + 2);

  /** The split point (x, y) of the middle snake of A[a0..a1) x B[b0..b1), both non-empty. */
  const bisect = (a0: number, a1: number, b0: number, b1: number): [number, number] => {
    const n = a1 - a0;
    const m = b1 - b0;
    const maxSteps = Math.min(Math.ceil((n + m) / 2), half - 1);
    const off = maxSteps + 1;
    const len = 2 * off + 1;
    v1.fill(-1, 0, len);
    v2.fill(-1, 0, len);
    v1[off + 1] = 0;
    v2[off + 1] = 0;
    const delta = n - m;
    const front = delta % 2 !== 0;
    let k1start = 0;
    let k1end = 0;
    let k2start = 0;
    let k2end = 0;
    for (let d = 0; d <= maxSteps; d++) {
      for (let k1 = -d + k1start; k1 <= d - k1end; k1 += 2) {
        const i1 = off + k1;
        let x1 =
          k1 === -d || (k1 !== d && (v1[i1 - 1] as number) < (v1[i1 + 1] as number))
            ? (v1[i1 + 1] as number)
            : (v1[i1 - 1] as number) + 1;
        let y1 = x1 - k1;
        while (x1 < n && y1 < m && A[a0 + x1] === B[b0 + y1]) {
          x1++;
          y1++;
        }
        v1[i1] = x1;
        if (x1 > n) k1end += 2;
        else if (y1 > m) k1start += 2;
        else if (front) {
          const i2 = off + delta - k1;
          if (i2 >= 0 && i2 < len && v2[i2] !== -1 && x1 >= n - (v2[i2] as number))
            return [a0 + x1, b0 + y1];
        }
      }
      for (let k2 = -d + k2start; k2 <= d - k2end; k2 += 2) {
        const i2 = off + k2;
        let x2 =
          k2 === -d || (k2 !== d && (v2[i2 - 1] as number) < (v2[i2 + 1] as number))
            ? (v2[i2 + 1] as number)
            : (v2[i2 - 1] as number) + 1;
        let y2 = x2 - k2;
        while (x2 < n && y2 < m && A[a1 - 1 - x2] === B[b1 - 1 - y2]) {
          x2++;
          y2++;
        }
        v2[i2] = x2;
        if (x2 > n) k2end += 2;
        else if (y2 > m) k2start += 2;
        else if (!front) {
          const i1 = off + delta - k2;
          if (i1 >= 0 && i1 < len && v1[i1] !== -1) {
            const x1 = v1[i1] as number;
            const y1 = x1 - (delta - k2);
            if (x1 >= n - x2) return [a0 + x1, b0 + y1];
          }
        }
      }
    }
    throw new TooManyChanges();
  };

  const solve = (a0: number, a1: number, b0: number, b1: number): void => {
    let p = 0;
    while (a0 + p < a1 && b0 + p < b1 && A[a0 + p] === B[b0 + p]) p++;
    let s = 0;
    while (a1 - s > a0 + p && b1 - s > b0 + p && A[a1 - 1 - s] === B[b1 - 1 - s]) s++;
    equal(a0, a0 + p);
    const [x0, x1, y0, y1] = [a0 + p, a1 - s, b0 + p, b1 - s];
    if (x0 === x1) for (let j = y0; j < y1; j++) ops.push({ kind: '+', line: b[j] as string });
    else if (y0 === y1) for (let i = x0; i < x1; i++) ops.push({ kind: '-', line: a[i] as string });
    else {
      const [sx, sy] = bisect(x0, x1, y0, y1);
      solve(x0, sx, y0, sy);
      solve(sx, x1, sy, y1);
    }
    equal(a1 - s, a1);
  };
  solve(0, A.length, 0, B.length);
  return ops;
}

function renderLine(op: Op): string {
  const text = op.line.endsWith('\n') ? op.line : `${op.line}\n${NO_EOL}\n`;
  return `${op.kind}${text}`;
}

/** What is left of the changed-lines budget while a snapshot's files are diffed. */
interface Budget {
  changes: number;
}

function fileDiff(
  file: string,
  before: string | undefined,
  after: string | undefined,
  budget: Budget,
): string {
  const a = before === undefined ? [] : toLines(before);
  const b = after === undefined ? [] : toLines(after);
  if (a.length > DIFF_LIMITS.fileLines || b.length > DIFF_LIMITS.fileLines)
    throw new DiffLimitError(file, 'fileLines', DIFF_LIMITS.fileLines);
  const header = `--- ${before === undefined ? '/dev/null' : `a/${file}`}\n+++ ${after === undefined ? '/dev/null' : `b/${file}`}\n`;
  let ops: Op[];
  try {
    ops = diffLines(a, b, budget.changes);
  } catch (err) {
    if (err instanceof TooManyChanges)
      throw new DiffLimitError(file, 'changedLines', DIFF_LIMITS.changedLines);
    throw err;
  }
  budget.changes -= ops.reduce((n, o) => n + (o.kind === ' ' ? 0 : 1), 0);
  if (budget.changes < 0) throw new DiffLimitError(file, 'changedLines', DIFF_LIMITS.changedLines);
  const context = 3;
  let out = '';
  let i = 0;
  // Positions (0-based) in a and b where ops[i] starts.
  const posA: number[] = [];
  const posB: number[] = [];
  let pa = 0;
  let pb = 0;
  for (const op of ops) {
    posA.push(pa);
    posB.push(pb);
    if (op.kind !== '+') pa++;
    if (op.kind !== '-') pb++;
  }
  while (i < ops.length) {
    if ((ops[i] as Op).kind === ' ') {
      i++;
      continue;
    }
    // A hunk: from `context` lines before the change, merging changes closer than 2 * context.
    const start = Math.max(0, i - context);
    let end = i;
    let lastChange = i;
    while (end < ops.length) {
      if ((ops[end] as Op).kind !== ' ') lastChange = end;
      else if (end - lastChange > 2 * context) break;
      end++;
    }
    end = Math.min(ops.length, lastChange + context + 1);
    const hunk = ops.slice(start, end);
    const lenA = hunk.filter((o) => o.kind !== '+').length;
    const lenB = hunk.filter((o) => o.kind !== '-').length;
    const startA = lenA === 0 ? (posA[start] as number) : (posA[start] as number) + 1;
    const startB = lenB === 0 ? (posB[start] as number) : (posB[start] as number) + 1;
    out += `@@ -${startA},${lenA} +${startB},${lenB} @@\n${hunk.map(renderLine).join('')}`;
    i = end;
  }
  return before !== undefined && after !== undefined && out === '' ? '' : header + out;
}

/**
 * The unified diff from `parent` to `child` (3 lines of context, `a/` and `b/` prefixes, files
 * in path order, `/dev/null` for created and deleted files). Empty when they are equal.
 * @throws DiffLimitError past DIFF_LIMITS (a file's lines, the changed lines in all)
 */
export function checkedDiff(parent: SourceSnapshot, child: SourceSnapshot): string {
  const files = [...new Set([...Object.keys(parent), ...Object.keys(child)])].sort();
  const budget = { changes: DIFF_LIMITS.changedLines };
  return files.map((f) => fileDiff(f, fileOf(parent, f), fileOf(child, f), budget)).join('');
}

/**
 * checkedDiff for display and records, which never throws: a pair past DIFF_LIMITS (refused
 * when proposed, so only a snapshot stored by other means) gives the file headers and a cut
 * marker naming the limit instead of hunks.
 */
export function diffSnapshots(parent: SourceSnapshot, child: SourceSnapshot): string {
  try {
    return checkedDiff(parent, child);
  } catch (err) {
    if (!(err instanceof DiffLimitError)) throw err;
    return `--- a/${err.file}\n+++ b/${err.file}\n… (cut: not shown: ${err.message})\n`;
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing and applying unified diffs
// ---------------------------------------------------------------------------------------------

interface Hunk {
  oldStart: number;
  oldLines: string[];
  newLines: string[];
  /** 1-based line of the `@@` header in the diff text. */
  at: number;
}

interface FilePatch {
  oldPath: string | undefined;
  newPath: string | undefined;
  hunks: Hunk[];
  at: number;
}

function headerPath(raw: string, lineNo: number): string | undefined {
  // `--- a/x.py\t2024-01-01 ...`: the path ends at a tab.
  const p = (raw.split('\t')[0] as string).trim();
  if (p === '/dev/null') return undefined;
  const stripped = /^[ab]\//.test(p) ? p.slice(2) : p;
  const parsed = SourcePath.safeParse(stripped);
  if (!parsed.success) throw new DiffParseError(lineNo, `invalid file path "${stripped}"`);
  return stripped;
}

/** Parses a unified diff into per-file patches; `diff --git`, `index` and mode lines are skipped. */
export function parseUnifiedDiff(text: string): FilePatch[] {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const patches: FilePatch[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (!line.startsWith('--- ')) {
      if (line.startsWith('@@') || line.startsWith('+++ '))
        throw new DiffParseError(i + 1, 'hunk or "+++" line without a "--- " file header');
      i++; // preamble: diff --git, index, new file mode, prose
      continue;
    }
    const next = lines[i + 1];
    if (next === undefined || !next.startsWith('+++ '))
      throw new DiffParseError(i + 2, 'expected a "+++ " line after the "--- " line');
    const patch: FilePatch = {
      oldPath: headerPath(line.slice(4), i + 1),
      newPath: headerPath(next.slice(4), i + 2),
      hunks: [],
      at: i + 1,
    };
    if (patch.oldPath === undefined && patch.newPath === undefined)
      throw new DiffParseError(i + 1, 'both sides are /dev/null');
    i += 2;
    while (i < lines.length && (lines[i] as string).startsWith('@@')) {
      const header = lines[i] as string;
      const m = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(header);
      if (!m) throw new DiffParseError(i + 1, `malformed hunk header "${header.slice(0, 80)}"`);
      const oldCount = m[2] === undefined ? 1 : Number(m[2]);
      const newCount = m[4] === undefined ? 1 : Number(m[4]);
      const hunk: Hunk = { oldStart: Number(m[1]), oldLines: [], newLines: [], at: i + 1 };
      i++;
      let seenOld = 0;
      let seenNew = 0;
      while (seenOld < oldCount || seenNew < newCount) {
        const l = lines[i];
        if (l === undefined)
          throw new DiffParseError(
            i + 1,
            `hunk at line ${hunk.at} ends early (expected ${oldCount} old and ${newCount} new lines)`,
          );
        // An empty line is a context line whose leading space was lost (editors strip it).
        const kind = l === '' ? ' ' : l[0];
        const body = `${l.slice(1)}\n`;
        if (kind === ' ') {
          hunk.oldLines.push(body);
          hunk.newLines.push(body);
          seenOld++;
          seenNew++;
        } else if (kind === '-') {
          hunk.oldLines.push(body);
          seenOld++;
        } else if (kind === '+') {
          hunk.newLines.push(body);
          seenNew++;
        } else if (l.startsWith('\\')) {
          // handled below, after the line it qualifies
        } else {
          throw new DiffParseError(i + 1, `unexpected line in hunk: "${l.slice(0, 80)}"`);
        }
        i++;
        if (lines[i]?.startsWith('\\')) {
          if (kind !== '+') chopLast(hunk.oldLines);
          if (kind !== '-') chopLast(hunk.newLines);
          i++;
        }
      }
      if (seenOld !== oldCount || seenNew !== newCount)
        throw new DiffParseError(hunk.at, 'hunk line counts do not match its header');
      patch.hunks.push(hunk);
    }
    patches.push(patch);
  }
  if (patches.length === 0) throw new DiffParseError(1, 'no "--- "/"+++ " file header found');
  return patches;
}

function chopLast(arr: string[]): void {
  const last = arr[arr.length - 1];
  if (last !== undefined && last.endsWith('\n')) arr[arr.length - 1] = last.slice(0, -1);
}

/**
 * Line comparisons one diff may spend looking for hunks whose context moved (patch(1)'s offset
 * search): enough to find any hunk in a file at the line limit many times over, and a bound on
 * the work a diff of misplaced hunks can cause.
 */
export const HUNK_SEARCH_BUDGET = 20_000_000;

function applyFilePatch(
  patch: FilePatch,
  before: string | undefined,
  editLabel: string,
): string | undefined {
  const file = (patch.newPath ?? patch.oldPath) as string;
  if (patch.oldPath === undefined && before !== undefined)
    throw new EditApplyError(file, editLabel, 'creates a file that already exists');
  if (patch.oldPath !== undefined && before === undefined)
    throw new EditApplyError(patch.oldPath, editLabel, 'the file does not exist');
  const lines = before === undefined ? [] : toLines(before);
  let budget = HUNK_SEARCH_BUDGET;
  const sameAt = (at: number, want: string[]): boolean => {
    if (at < 0 || at + want.length > lines.length) return false;
    for (let j = 0; j < want.length; j++) {
      budget--;
      if (lines[at + j] !== want[j]) return false;
    }
    return true;
  };
  // Positions are in the original file: hunks apply in order and never overlap, so the output
  // is built front to back (no splicing, linear in the file and the diff).
  const out: string[] = [];
  let minAt = 0; // the first original line the next hunk may touch
  patch.hunks.forEach((h, idx) => {
    const label = `${editLabel}, hunk ${idx + 1} (diff line ${h.at})`;
    const expected = h.oldLines.length === 0 ? h.oldStart : h.oldStart - 1;
    let at = -1;
    if (expected >= minAt && sameAt(expected, h.oldLines)) at = expected;
    else {
      // Like patch(1): the context may have moved; take the nearest exact match.
      const reach = Math.max(expected - minAt, lines.length - expected);
      for (let d = Math.max(1, minAt - expected); d <= reach && at === -1 && budget > 0; d++) {
        if (expected - d >= minAt && sameAt(expected - d, h.oldLines)) at = expected - d;
        else if (expected + d >= minAt && sameAt(expected + d, h.oldLines)) at = expected + d;
      }
    }
    if (at === -1) {
      const first = (h.oldLines[0] ?? '').replace(/\n$/, '');
      throw new EditApplyError(
        file,
        label,
        budget > 0
          ? `its context/removed lines were not found (first: "${first.slice(0, 80)}")`
          : `its context/removed lines were not found near line ${h.oldStart} (the search for moved hunks is bounded: give line numbers close to the real ones)`,
      );
    }
    for (let i = minAt; i < at; i++) out.push(lines[i] as string);
    for (const l of h.newLines) out.push(l);
    minAt = at + h.oldLines.length;
  });
  for (let i = minAt; i < lines.length; i++) out.push(lines[i] as string);
  if (patch.newPath === undefined) {
    if (out.length > 0)
      throw new EditApplyError(file, editLabel, 'deletes the file but leaves lines in it');
    return undefined;
  }
  return out.join('');
}

/** Applies a unified diff; throws EditApplyError / DiffParseError naming the file and hunk. */
export function applyUnifiedDiff(
  snapshot: SourceSnapshot,
  diff: string,
  editLabel = 'diff',
): SourceSnapshot {
  const out: Record<string, string> = { ...snapshot };
  for (const patch of parseUnifiedDiff(diff)) {
    const from = patch.oldPath ?? (patch.newPath as string);
    const result = applyFilePatch(patch, fileOf(out, from), editLabel);
    if (patch.oldPath !== undefined) delete out[patch.oldPath];
    if (result !== undefined && patch.newPath !== undefined) out[patch.newPath] = result;
  }
  return out;
}

/**
 * Where `needle` (non-empty) occurs in `text`, overlapping occurrences included, at most `upTo`
 * of them. Knuth-Morris-Pratt: linear in both, whatever they hold. (String.prototype.indexOf
 * takes seconds on some 100 KB needles: "a…aba…a" in "a…a".)
 */
function occurrences(text: string, needle: string, upTo: number): number[] {
  const m = needle.length;
  const fail = new Int32Array(m);
  for (let i = 1, k = 0; i < m; i++) {
    while (k > 0 && needle.charCodeAt(i) !== needle.charCodeAt(k)) k = fail[k - 1] as number;
    if (needle.charCodeAt(i) === needle.charCodeAt(k)) k++;
    fail[i] = k;
  }
  const found: number[] = [];
  for (let i = 0, k = 0; i < text.length && found.length < upTo; i++) {
    while (k > 0 && text.charCodeAt(i) !== needle.charCodeAt(k)) k = fail[k - 1] as number;
    if (text.charCodeAt(i) === needle.charCodeAt(k)) k++;
    if (k === m) {
      found.push(i - m + 1);
      k = fail[k - 1] as number;
    }
  }
  return found;
}

/** Applies one search/replace block. */
export function applySearchReplace(
  snapshot: SourceSnapshot,
  edit: SearchReplaceEdit,
  editLabel = 'edit',
): SourceSnapshot {
  const before = fileOf(snapshot, edit.file);
  if (edit.search === '') {
    if (before !== undefined && before !== '')
      throw new EditApplyError(
        edit.file,
        editLabel,
        'an empty search creates a file, but the file exists and is not empty',
      );
    return { ...snapshot, [edit.file]: edit.replace };
  }
  if (before === undefined)
    throw new EditApplyError(edit.file, editLabel, 'the file does not exist');
  const found = occurrences(before, edit.search, 2);
  const n = found.length;
  if (n !== 1)
    throw new EditApplyError(
      edit.file,
      editLabel,
      n === 0
        ? `the search text was not found (first line: "${(edit.search.split('\n')[0] ?? '').slice(0, 80)}")`
        : 'the search text occurs more than once; it must occur exactly once (add surrounding lines)',
    );
  const at = found[0] as number;
  return {
    ...snapshot,
    [edit.file]: before.slice(0, at) + edit.replace + before.slice(at + edit.search.length),
  };
}

/**
 * Applies edits in order and validates the result against the snapshot limits.
 * @throws EditApplyError naming the file and the edit (1-based) or hunk that failed
 */
export function applyEdits(snapshot: SourceSnapshot, edits: readonly SourceEdit[]): SourceSnapshot {
  let current = snapshot;
  edits.forEach((edit, i) => {
    const label = `edit ${i + 1}`;
    current =
      edit.kind === 'diff'
        ? applyUnifiedDiff(current, edit.diff, label)
        : applySearchReplace(current, edit, label);
  });
  const checked = SourceSnapshot.safeParse(current);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new EditApplyError(
      issue?.path.map(String).join('/') || '(snapshot)',
      'result',
      issue?.message ?? 'the edited source is invalid',
    );
  }
  return current;
}

// ---------------------------------------------------------------------------------------------
// Content hash
// ---------------------------------------------------------------------------------------------

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** SHA-256 of bytes, as lowercase hex (pure: workflow code has no node:crypto). */
export function sha256Hex(data: Uint8Array): string {
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const bitLen = data.length * 8;
  const padded = new Uint8Array(Math.ceil((data.length + 9) / 64) * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 2 ** 32));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(off + t * 4);
    for (let t = 16; t < 64; t++) {
      const w15 = w[t - 15] as number;
      const w2 = w[t - 2] as number;
      const s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >>> 3);
      const s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >>> 10);
      w[t] = ((w[t - 16] as number) + s0 + (w[t - 7] as number) + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h as unknown as number[] as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    for (let t = 0; t < 64; t++) {
      const s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + s1 + ch + (K[t] as number) + (w[t] as number)) >>> 0;
      const s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (s0 + maj) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    h[0] = (h[0] as number) + a;
    h[1] = (h[1] as number) + b;
    h[2] = (h[2] as number) + c;
    h[3] = (h[3] as number) + d;
    h[4] = (h[4] as number) + e;
    h[5] = (h[5] as number) + f;
    h[6] = (h[6] as number) + g;
    h[7] = (h[7] as number) + hh;
  }
  return Array.from(h, (x) => x.toString(16).padStart(8, '0')).join('');
}

/**
 * The content address of a snapshot: SHA-256 over its files in path order, each encoded as
 * `<path>\0<utf-8 byte length>\0<content>` so no two snapshots share an encoding. Independent of
 * the order in which the files were inserted.
 */
export function hashSnapshot(snapshot: SourceSnapshot): string {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const file of Object.keys(snapshot).sort()) {
    const body = enc.encode(snapshot[file]);
    parts.push(enc.encode(`${file}\0${body.length}\0`), body);
  }
  const total = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    total.set(p, at);
    at += p.length;
  }
  return sha256Hex(total);
}
