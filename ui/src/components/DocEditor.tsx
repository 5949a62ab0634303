/**
 * A JSON/YAML document editor for specs and criteria: parses as the person types (YAML is a
 * superset of JSON), switches notation without losing edits, and shows the API's field issues
 * next to the text.
 */
import { useMemo, useState } from 'react';
import { parse, stringify } from 'yaml';

export type Notation = 'yaml' | 'json';

export function toText(value: unknown, notation: Notation): string {
  return notation === 'json' ? JSON.stringify(value, null, 2) : stringify(value, { lineWidth: 0 });
}

export function parseDoc(text: string): { value: unknown; error: string | null } {
  try {
    return { value: parse(text) as unknown, error: null };
  } catch (err) {
    return {
      value: undefined,
      error: err instanceof Error ? err.message.split('\n')[0]! : String(err),
    };
  }
}

export function DocEditor({
  text,
  onChange,
  rows = 18,
  label,
  testId,
}: {
  text: string;
  onChange: (text: string) => void;
  rows?: number;
  label: string;
  testId?: string;
}) {
  const [notation, setNotation] = useState<Notation>(() =>
    text.trimStart().startsWith('{') ? 'json' : 'yaml',
  );
  const parsed = useMemo(() => parseDoc(text), [text]);
  function switchTo(n: Notation) {
    if (n === notation) return;
    if (parsed.error === null && parsed.value !== undefined) onChange(toText(parsed.value, n));
    setNotation(n);
  }
  return (
    <div className="form" style={{ gap: 6 }}>
      <div className="row" style={{ justifyContent: 'space-between' }}>
        <span className="small muted">{label}</span>
        <span className="seg" role="group" aria-label="notation">
          <button
            type="button"
            className={notation === 'yaml' ? 'on' : ''}
            onClick={() => switchTo('yaml')}
          >
            YAML
          </button>
          <button
            type="button"
            className={notation === 'json' ? 'on' : ''}
            onClick={() => switchTo('json')}
          >
            JSON
          </button>
        </span>
      </div>
      <textarea
        className="code"
        data-testid={testId}
        rows={rows}
        spellCheck={false}
        value={text}
        onChange={(e) => onChange(e.target.value)}
        aria-label={label}
      />
      {parsed.error && (
        <div className="notice warn small">
          Not valid {notation.toUpperCase()} yet: {parsed.error}
        </div>
      )}
    </div>
  );
}
