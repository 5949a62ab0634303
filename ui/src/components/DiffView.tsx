/**
 * Code on the page: a unified diff with file headers and added/removed lines coloured, and a
 * read-only view of a source snapshot's files. Monospace and scrollable; a diff the record cut
 * says so on its last line. Characters a browser would not draw (controls, bidi overrides,
 * zero-width characters) are shown as `<U+XXXX>`, so what people read is what runs.
 */

import { diffLineKind, linePieces } from '../lib/diff.js';

/** A line's text with its invisible and direction-changing characters shown by code point. */
function Shown({ line }: { line: string }) {
  return (
    <>
      {linePieces(line).map((p, i) =>
        p.hidden ? (
          <span key={i} className="hidden-char" title="a character that would not show">
            {p.text}
          </span>
        ) : (
          p.text
        ),
      )}
    </>
  );
}

export function DiffView({ diff, testId }: { diff: string; testId?: string }) {
  const lines = diff.replace(/\n$/, '').split('\n');
  return (
    <div className="diff" data-testid={testId}>
      {lines.map((line, i) => {
        const kind = diffLineKind(line);
        return (
          <span key={i} className={`line ${kind}`} data-kind={kind}>
            <Shown line={line} />
          </span>
        );
      })}
    </div>
  );
}

/** The files of a snapshot, each under its name; read-only. */
export function SourceFiles({
  files,
  testId,
}: {
  files: Readonly<Record<string, string>>;
  testId?: string;
}) {
  return (
    <div className="diff source-view" data-testid={testId}>
      {Object.entries(files).map(([name, text]) => (
        <div key={name}>
          <span className="line file">{name}</span>
          {text
            .replace(/\n$/, '')
            .split('\n')
            .map((line, i) => (
              <span key={i} className="line ctx">
                <Shown line={line} />
              </span>
            ))}
        </div>
      ))}
    </div>
  );
}
