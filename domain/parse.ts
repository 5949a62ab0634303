/**
 * Entry points for documents from outside (files, API bodies, CLI flags): YAML or JSON text, or
 * an already-parsed object, validated against the schemas. Everything that goes wrong comes out
 * as one {@link ValidationError} naming the field paths; nothing else is thrown.
 */
import { isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import type { Issue } from './errors.js';
import { ValidationError, formatPath } from './errors.js';
import { mergeTypoIssues } from './messages.js';
import { EvaluationCriteria, ProblemSpec } from './schemas.js';
import { checkSpecConfigs } from './space.js';

/** A zod issue or a domain issue: anything with a path and a message. */
export interface IssueLike {
  path: readonly PropertyKey[];
  message: string;
}

/** Issues as the HTTP layer reports them: dotted paths (`constraints.0.metric`), `(root)` for the whole document. */
export function formatIssues(issues: readonly IssueLike[]): { path: string; message: string }[] {
  return issues.map((i) => ({ path: formatPath(i.path), message: i.message }));
}

/**
 * Domain issues from zod's. An unknown key (strict objects: a typo such as `budgets.maxDolars`
 * would otherwise be dropped and its setting silently lost) becomes one issue per key, at the
 * object that holds it: `budgets: unknown key "maxDolars": did you mean "maxDollars"?`; the
 * missing key a typo leaves is then not reported a second time (domain/messages.ts).
 */
const toIssues = (issues: readonly (IssueLike & { code?: string; keys?: string[] })[]): Issue[] =>
  mergeTypoIssues(
    issues.flatMap((i) => {
      const path = i.path.map((p) => (typeof p === 'number' ? p : String(p)));
      if (i.code === 'unrecognized_keys' && i.keys?.length) {
        const parts = i.message.split('; ');
        return i.keys.map((k, n) => ({
          path,
          message: parts.length === i.keys!.length ? parts[n]! : `unknown key "${k}"`,
        }));
      }
      return [{ path, message: i.message }];
    }),
    (i) => formatPath(i.path),
  );

/** The message style of zod's prettifyError, for issues that did not come from zod. */
function prettify(issues: readonly Issue[]): string {
  return issues
    .map((i) => `✖ ${i.message}${i.path.length ? `\n  → at ${formatPath(i.path)}` : ''}`)
    .join('\n');
}

/** Where a map repeats a key: the map's path and the key. */
interface DuplicateKey {
  path: (string | number)[];
  key: string;
}

/** Every repeated key in a YAML document's maps (the parser's own error names only a line). */
function duplicateKeys(node: unknown, path: (string | number)[] = [], out: DuplicateKey[] = []) {
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if (seen.has(key)) out.push({ path, key });
      seen.add(key);
      duplicateKeys(pair.value, [...path, key], out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => duplicateKeys(item, [...path, i], out));
  }
  return out;
}

/**
 * YAML or JSON text (JSON is a subset of YAML) to a plain value. A repeated key is an error
 * naming it (`budgets: duplicate key maxTrials`): YAML keeps one of the two silently otherwise,
 * and JSON.parse keeps the last, so a typo'd second copy would win unseen.
 * @throws ValidationError
 */
export function loadDocument(text: string, source: string): unknown {
  const fail = (issues: Issue[], message: string): never => {
    throw new ValidationError(source, issues, `${source}: ${message}`);
  };
  const doc = parseDocument(text, {
    prettyErrors: true,
    uniqueKeys: false,
    logLevel: 'error',
  });
  if (doc.errors.length > 0) {
    const message = `not valid YAML or JSON: ${doc.errors[0]!.message}`;
    fail([{ path: [], message }], message);
  }
  const dups = duplicateKeys(doc.contents as YamlNode | null);
  if (dups.length > 0) {
    const issues = dups.map((d) => ({ path: d.path, message: `duplicate key ${d.key}` }));
    fail(issues, issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; '));
  }
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const message = `not valid YAML or JSON: ${err instanceof Error ? err.message : String(err)}`;
    return fail([{ path: [], message }], message);
  }
}

/** Text is parsed as YAML (a superset of JSON); anything else is taken as the parsed document. */
function load(input: unknown, source: string): unknown {
  return typeof input === 'string' ? loadDocument(input, source) : input;
}

/**
 * Validates a document against a schema.
 * @throws ValidationError with `z.prettifyError` output prefixed by the source name.
 */
export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  source: string,
): z.infer<S> {
  const doc = load(input, source);
  let result: z.ZodSafeParseResult<z.infer<S>>;
  try {
    result = schema.safeParse(doc) as z.ZodSafeParseResult<z.infer<S>>;
  } catch (err) {
    // A refinement throwing on an unexpected shape must still come out as a validation failure.
    const message = `could not be validated: ${err instanceof Error ? err.message : String(err)}`;
    throw new ValidationError(source, [{ path: [], message }], `${source}: ${message}`);
  }
  if (!result.success)
    throw new ValidationError(
      source,
      toIssues(result.error.issues),
      `${source}:\n${z.prettifyError(result.error)}`,
    );
  return result.data;
}

/**
 * A problem spec from YAML/JSON text or an object. Besides the schema, the baseline and the
 * named configurations must fit the spec's own search space (paths `baseline.<param>`,
 * `configurations.<name>.<param>`).
 * @param sourceName names the document in messages, e.g. a file name. @default 'problem spec'
 * @throws ValidationError
 */
export function parseProblemSpec(input: unknown, sourceName = 'problem spec'): ProblemSpec {
  const spec = parseWith(ProblemSpec, input, sourceName);
  const issues = checkSpecConfigs(spec).map((i) => ({ ...i, path: i.path.slice(1) }));
  if (issues.length > 0)
    throw new ValidationError(sourceName, issues, `${sourceName}:\n${prettify(issues)}`);
  return spec;
}

/**
 * Evaluation criteria from YAML/JSON text or an object.
 * @param sourceName @default 'evaluation criteria'
 * @throws ValidationError
 */
export function parseCriteria(
  input: unknown,
  sourceName = 'evaluation criteria',
): EvaluationCriteria {
  return parseWith(EvaluationCriteria, input, sourceName);
}

/** JSON Schema of what a problem spec document may contain (input side: defaults optional). */
export function problemSpecJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ProblemSpec, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
}

/** JSON Schema of what a criteria document may contain (input side: defaults optional). */
export function criteriaJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(EvaluationCriteria, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
}
