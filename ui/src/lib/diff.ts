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
