/**
 * Validation messages in people's words, for every schema in the project: zod's global error
 * map is set here, once, when the domain is loaded. A field that is missing says it is
 * required; a wrong type says what was expected and what came; an unknown key suggests the key
 * it is closest to ("did you mean"); a choice lists the valid ones. `mergeTypoIssues` then
 * folds the pair a typo makes (an unknown key and the missing key it was meant to be) into one.
 * Pure: zod only.
 */
import { z } from 'zod';

const TYPE_WORDS: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  bigint: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  array: 'a list',
  date: 'a date',
  null: 'null',
  undefined: 'nothing',
};

const words = (type: string): string => TYPE_WORDS[type] ?? type;

/** What a value is, briefly, for "expected a number, got text "abc"". */
function describe(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  switch (typeof input) {
    case 'string':
      return `text ${JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input)}`;
    case 'number':
      return Number.isFinite(input) ? `the number ${input}` : String(input);
    case 'boolean':
      return String(input);
    case 'object':
      return 'a mapping';
    default:
      return typeof input;
  }
}

/** Optimal string alignment distance (edits, with adjacent swaps), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) =>
    Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= s.length; i++)
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[s.length]![t.length]!;
}

/** The candidate a mistyped word most likely meant, when one is close enough. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: { c: string; d: number } | undefined;
  for (const c of candidates) {
    const dist = editDistance(word, c);
    if (dist <= limit && (!best || dist < best.d)) best = { c, d: dist };
  }
  return best?.c;
}

const list = (xs: readonly unknown[]): string =>
  xs.length <= 12
    ? xs.map((x) => JSON.stringify(x)).join(', ')
    : `${xs
        .slice(0, 12)
        .map((x) => JSON.stringify(x))
        .join(', ')}, …`;

/** `unknown key "quesiton": did you mean "question"?`, or the keys it may be. */
export function unknownKeyMessage(key: string, known: readonly string[]): string {
  const guess = didYouMean(key, known);
  if (guess) return `unknown key "${key}": did you mean "${guess}"?`;
  return known.length > 0
    ? `unknown key "${key}" (allowed here: ${list(known)})`
    : `unknown key "${key}"`;
}

interface RawIssue {
  code?: string;
  input?: unknown;
  expected?: string;
  keys?: string[];
  values?: unknown[];
  options?: unknown[];
  discriminator?: string;
  inst?: unknown;
}

function shapeKeys(inst: unknown): string[] {
  const shape = (inst as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod
    ?.def?.shape;
  return shape ? Object.keys(shape) : [];
}

/** zod's error map in people's words (undefined: zod's own message). */
export function peopleMessage(iss: RawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return `required: ${words(iss.expected ?? 'a value')}`;
      return `expected ${words(iss.expected ?? 'another value')}, got ${describe(iss.input)}`;
    case 'unrecognized_keys': {
      const known = shapeKeys(iss.inst);
      return (iss.keys ?? []).map((k) => unknownKeyMessage(k, known)).join('; ');
    }
    case 'invalid_union':
      if (iss.discriminator && iss.options?.length) {
        const got = (iss.input as Record<string, unknown> | undefined)?.[iss.discriminator];
        const guess =
          typeof got === 'string' ? didYouMean(got, iss.options.map(String)) : undefined;
        return `must be one of ${list(iss.options)}${got === undefined ? '' : `, not ${JSON.stringify(got)}`}${guess ? ` (did you mean "${guess}"?)` : ''}`;
      }
      return undefined;
    case 'invalid_value':
      if (iss.values && iss.values.length > 1) {
        const guess =
          typeof iss.input === 'string' ? didYouMean(iss.input, iss.values.map(String)) : undefined;
        return `must be one of ${list(iss.values)}, not ${JSON.stringify(iss.input)}${guess ? ` (did you mean "${guess}"?)` : ''}`;
      }
      return iss.values?.length === 1 ? `must be ${JSON.stringify(iss.values[0])}` : undefined;
    default:
      return undefined;
  }
}

z.config({ customError: (iss) => peopleMessage(iss as RawIssue) });

const TYPO = /^unknown key "([^"]+)": did you mean "([^"]+)"\?$/;
const isRoot = (p: string) => p === '' || p === '(root)';

/**
 * One message per mistake: a typo'd key yields an unknown key at an object and a missing key
 * beside it; the missing key's issue is dropped when the unknown key's names it.
 */
export function mergeTypoIssues<T extends { message: string }>(
  issues: T[],
  pathOf: (issue: T) => string = (i) => String((i as { path?: unknown }).path ?? ''),
): T[] {
  const meant = new Set<string>();
  for (const i of issues)
    for (const part of i.message.split('; ')) {
      const m = TYPO.exec(part);
      const at = pathOf(i);
      if (m) meant.add(isRoot(at) ? m[2]! : `${at}.${m[2]!}`);
    }
  if (meant.size === 0) return issues;
  return issues.filter((i) => !(i.message.startsWith('required') && meant.has(pathOf(i))));
}
