/**
 * Edits chosen to make a line diff and an edit's application work hardest within the snapshot
 * limits (200,000 characters a file): what the worker, recording and GET .../diff may be handed.
 * Shared by domain/code.test.ts (run under a small heap) and bench/edits.ts (timed).
 */
import {
  CODE_LIMITS,
  DIFF_LIMITS,
  type SourceEdit,
  type SourceSnapshot,
} from '../../domain/code.js';

export interface WorstEdit {
  name: string;
  parent: SourceSnapshot;
  edits: SourceEdit[];
}

const lines = (n: number, f: (i: number) => string): string =>
  Array.from({ length: n }, (_, i) => `${f(i)}\n`).join('');

/** Lines padded to `width` characters (the newline included) so n lines fill the file. */
const padded = (n: number, width: number, f: (i: number) => string): string =>
  lines(n, (i) => f(i).padEnd(width - 1, ' '));

const FILE = 'method.py';
const L = DIFF_LIMITS.fileLines;
const WIDTH = Math.floor(CODE_LIMITS.fileChars / L); // 20 characters a line: 200 KB at the line limit

const replaceAll = (before: string, after: string): WorstEdit['edits'] => [
  { kind: 'search_replace', file: FILE, search: before, replace: after },
];

export function worstEdits(): WorstEdit[] {
  const distinct = padded(L, WIDTH, (i) => `a${i}`);
  const other = padded(L, WIDTH, (i) => `b${i}`);
  const sparse = (p: number, c: string) => padded(L, WIDTH, (i) => (i % p === 0 ? c : 'x'));
  const twoLetters = (seed: number) => {
    let s = seed;
    return padded(L, WIDTH, () => {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      return s % 2 ? 'p' : 'q';
    });
  };
  const tiny = lines(CODE_LIMITS.fileChars / 2 - 1, (i) => (i % 2 ? 'a' : 'b'));
  // Hunks whose headers all say line 1: each is found by the search for moved context.
  const far = Array.from({ length: L / 2 }, (_, k) => {
    const at = 2 * k + 1;
    return `@@ -1,1 +1,1 @@\n-${`a${at}`.padEnd(WIDTH - 1, ' ')}\n+${`c${at}`.padEnd(WIDTH - 1, ' ')}\n`;
  }).join('');
  return [
    {
      name: 'every line replaced (200 KB)',
      parent: { [FILE]: distinct },
      edits: replaceAll(distinct, other),
    },
    {
      name: 'sparse changes 5/7 (200 KB)',
      parent: { [FILE]: sparse(5, 'b') },
      edits: replaceAll(sparse(5, 'b'), sparse(7, 'c')),
    },
    {
      name: 'two-letter noise (200 KB)',
      parent: { [FILE]: twoLetters(1) },
      edits: replaceAll(twoLetters(1), twoLetters(2)),
    },
    {
      name: '100,000 two-character lines',
      parent: { [FILE]: 'x\n' },
      edits: replaceAll('x\n', tiny),
    },
    {
      name: '33 KB inserted',
      parent: { [FILE]: distinct.slice(0, 40_000) },
      edits: [
        { kind: 'search_replace', file: FILE, search: 'a0 ', replace: `a0 ${'#'.repeat(33_000)}` },
      ],
    },
    {
      name: '5,000 misplaced hunks',
      parent: { [FILE]: distinct },
      edits: [{ kind: 'diff', diff: `--- a/${FILE}\n+++ b/${FILE}\n${far}` }],
    },
    {
      name: 'search text found nowhere, one odd character in its middle',
      parent: { [FILE]: 'a'.repeat(CODE_LIMITS.fileChars) },
      edits: replaceAll(`${'a'.repeat(50_000)}b${'a'.repeat(49_999)}`, 'b'),
    },
    {
      name: 'search text 100,000 times over',
      parent: { [FILE]: 'a'.repeat(CODE_LIMITS.fileChars) },
      edits: replaceAll('a'.repeat(100_000), 'b'),
    },
  ];
}
