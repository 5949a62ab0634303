/**
 * Reading a unified diff for display: how each line is drawn, and whether the diff was cut
 * before it reached the page. Pure, unit-tested.
 */

/**
 * The markers a cut diff ends with: the trial codec's (a record's diff past DIFF_TAG_CHARS, the
 * whole one is the run's diff.patch) and the source resolver's.
 */
const CUT = /\n… \(cut[:;][^\n]*\)\s*$/;

/** Whether the diff was cut before it reached the page. */
export function isCutDiff(diff: string): boolean {
  return CUT.test(diff);
}

export type DiffLineKind = 'file' | 'hunk' | 'add' | 'del' | 'ctx' | 'cut';

/** How one line of a unified diff is drawn. */
export function diffLineKind(line: string): DiffLineKind {
  if (
    line.startsWith('diff ') ||
    line.startsWith('--- ') ||
    line.startsWith('+++ ') ||
    line.startsWith('index ')
  )
    return 'file';
  if (line.startsWith('@@')) return 'hunk';
  if (line.startsWith('+')) return 'add';
  if (line.startsWith('-')) return 'del';
  if (line.startsWith('… (cut')) return 'cut';
  return 'ctx';
}

/**
 * Characters that draw as nothing, or move other text, in a browser: C0/C1 controls but tab,
 * DEL, bidi embeddings, overrides and isolates, zero-width and other format characters, line and
 * paragraph separators, the BOM. Python reads them (a form feed resets indentation, a bidi
 * override reorders what a reviewer sees, not what runs), so the page shows each one by name.
 */
const HIDDEN_RANGES: [number, number][] = [
  [0x00, 0x08],
  [0x0b, 0x1f],
  [0x7f, 0x9f],
  [0xad, 0xad],
  [0x61c, 0x61c],
  [0x115f, 0x1160],
  [0x17b4, 0x17b5],
  [0x180e, 0x180e],
  [0x200b, 0x200f],
  [0x2028, 0x202e],
  [0x2060, 0x206f],
  [0x3164, 0x3164],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
  [0xffa0, 0xffa0],
  [0xfff9, 0xfffb],
];
const hex = (c: number) => `\\u${c.toString(16).padStart(4, '0')}`;
const HIDDEN_CHAR = new RegExp(
  `[${HIDDEN_RANGES.map(([a, b]) => (a === b ? hex(a) : `${hex(a)}-${hex(b)}`)).join('')}]`,
  'g',
);

/** A piece of a line as drawn: plain text, or a hidden character shown by its code point. */
export type LinePiece = { text: string; hidden?: false } | { text: string; hidden: true };

/** A line split into plain text and hidden characters (each shown as `<U+202E>`). */
export function linePieces(line: string): LinePiece[] {
  const out: LinePiece[] = [];
  let last = 0;
  for (const m of line.matchAll(HIDDEN_CHAR)) {
    const at = m.index;
    if (at > last) out.push({ text: line.slice(last, at) });
    const cp = (m[0].codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0');
    out.push({ text: `<U+${cp}>`, hidden: true });
    last = at + m[0].length;
  }
  if (last < line.length || out.length === 0) out.push({ text: line.slice(last) });
  return out;
}
