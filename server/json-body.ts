/**
 * Strict JSON bodies: a key repeated in one object is refused, naming it and where it is. JSON.parse
 * keeps the last copy silently, so `{"cancelRunning":true,"cancelRunning":false}` would act on a
 * value the sender may not have meant; YAML bodies are refused the same way (domain/parse.ts).
 */
import { formatPath } from '../domain/errors.js';

/** Where an object repeats a key: the object's path and the key. */
export interface DuplicateJsonKey {
  path: (string | number)[];
  key: string;
}

type Frame =
  | { kind: 'object'; keys: Set<string>; key: string | undefined; expectKey: boolean }
  | { kind: 'array'; index: number };

/**
 * The first repeated key in a JSON text that JSON.parse accepts (keys compared after unescaping:
 * `"a"` and `"\u0061"` are one key), or undefined. One pass with an explicit stack: no recursion,
 * so a deeply nested body cannot exhaust the call stack.
 */
export function duplicateJsonKey(text: string): DuplicateJsonKey | undefined {
  const stack: Frame[] = [];
  const path = (): (string | number)[] =>
    stack.slice(0, -1).map((f) => (f.kind === 'array' ? f.index : (f.key as string)));
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text[i] as string;
    const top = stack[stack.length - 1];
    if (c === '{') {
      stack.push({ kind: 'object', keys: new Set(), key: undefined, expectKey: true });
      i++;
    } else if (c === '[') {
      stack.push({ kind: 'array', index: 0 });
      i++;
    } else if (c === '}' || c === ']') {
      stack.pop();
      i++;
    } else if (c === ',') {
      if (top?.kind === 'object') top.expectKey = true;
      else if (top?.kind === 'array') top.index++;
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (top?.kind === 'object' && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) return { path: path(), key };
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = j + 1;
    } else i++;
  }
  return undefined;
}

/** The 400 message for a repeated key, in the YAML parser's words: `body.budgets: duplicate key maxTrials`. */
export function duplicateKeyMessage(d: DuplicateJsonKey): string {
  return `body${d.path.length ? `.${formatPath(d.path)}` : ''}: duplicate key ${d.key}`;
}
