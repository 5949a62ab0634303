/**
 * Text in the agents' prompts that came from models and people, and the hidden metric names
 * that must not appear in any of it. Such text is data, never structure: one line, escaped, inside
 * a tagged block or a JSON string.
 */
import type { ParamValue } from '../../../domain/schemas.js';
import { hiddenNamesPattern } from '../../../domain/strategy.js';
import { redactHostText } from '../../../experiments/code.js';

// ---------------------------------------------------------------------------------------------
// Redaction of hidden metrics
// ---------------------------------------------------------------------------------------------

/**
 * Replaces hidden metric names in the final prompt text. The view it is built from already holds
 * nothing hidden (the workflow builds it from visible data, and `stripHidden` runs again in the
 * activity); this pass catches a name in text that no field-level cut saw (a research question,
 * a parameter description). Values are never matched: which numbers a prompt shows must not
 * depend on hidden values, and a visible number that happens to equal one stays as it is.
 */
export class Redactor {
  private readonly names: RegExp | null;

  /** @param names hidden metric names */
  constructor(names: readonly string[]) {
    this.names = hiddenNamesPattern(names);
  }

  apply(text: string): string {
    return this.names ? text.replace(this.names, '[redacted]') : text;
  }
}

// ---------------------------------------------------------------------------------------------
// Text from models and people
// ---------------------------------------------------------------------------------------------

/** `<`, `>` and `&` as entities: text so written cannot open or close a tagged block. */
export const escapeText = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Untrusted text on one line, clipped and escaped. */
export const data = (s: string, n: number): string => escapeText(clip(oneLine(s), n));

/** Untrusted text as a JSON string on one line: quotes inside it cannot end it. */
export const quote = (s: string, n: number): string => JSON.stringify(data(s, n));

/**
 * A trial's failure reason (a compile error, a traceback's last line and where it happened, a
 * sandbox block, a timeout) as agents see it: host paths and anything like a key redacted, on
 * one line, and when long its head and its tail, where the error itself is.
 */
export function failureText(reason: string, n: number): string {
  const text = oneLine(redactHostText(reason));
  if (text.length <= n) return text;
  const head = Math.floor(n / 3);
  return `${text.slice(0, head)} … ${text.slice(text.length - (n - head - 3))}`;
}

/** JSON that cannot close a tagged block: `<`, `>` and `&` as \u escapes (still valid JSON). */
export const safeJson = (x: unknown): string =>
  JSON.stringify(x).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

/**
 * Multi-line untrusted text (a research question), escaped, inside its tagged block; a line of it
 * that would read as a markdown heading has its `#` escaped.
 */
export const block = (tag: string, text: string): string[] => [
  `<${tag}>`,
  escapeText(text).replace(/^(\s*)#/gm, '$1\\#'),
  `</${tag}>`,
];

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

/** Four significant digits; integers as they are. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n) && Math.abs(n) < 1e9) return String(n);
  return String(Number(n.toPrecision(4)));
}

export const clip = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);
const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();
export const fmtValue = (v: ParamValue): string =>
  typeof v === 'number' ? fmt(v) : JSON.stringify(v);
