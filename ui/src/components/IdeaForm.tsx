/**
 * "Add an idea": a person's hypothesis, injected into a running campaign. Changes are given per
 * parameter of the problem's search space, relative to the chosen parent trial (or the baseline).
 * On a code experiment the idea may also carry edits to the parent's source: a unified diff or a
 * search/replace block, with the parent's source one click away. The campaign resolves the edits;
 * when they do not apply, its reason is shown under the edit.
 */
import { useMemo, useState } from 'react';
import { api, ApiError, enc } from '../api.js';
import { useCan } from '../auth.js';
import { fmtPgr, fmtValue } from '../lib/format.js';
import { keys, useAction, useSource } from '../queries.js';
import type {
  Config,
  HypothesisProposalInput,
  LineageNode,
  Param,
  ProblemSpec,
  TrialSummary,
} from '../types.js';
import { SourceFiles } from './DiffView.js';
import { ActionButton, Card, ErrorNote } from './ui.js';

type EditMode = 'diff' | 'search_replace';
type Edits = NonNullable<HypothesisProposalInput['edits']>;

/** The edits the editor's fields stand for; undefined when they are left blank. */
export function editsOf(
  mode: EditMode,
  f: { diff: string; file: string; search: string; replace: string },
): Edits | undefined {
  if (mode === 'diff')
    return f.diff.trim() === ''
      ? undefined
      : [{ kind: 'diff', diff: f.diff.endsWith('\n') ? f.diff : `${f.diff}\n` }];
  if (f.search === '' && f.replace === '') return undefined;
  return [{ kind: 'search_replace', file: f.file, search: f.search, replace: f.replace }];
}

/** Whether an API error is about the edits (shown beside the editor rather than under the form). */
function aboutEdits(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof ApiError && error.issues.some((i) => i.path.startsWith('edits')))
    return true;
  return /\bedits\b/.test(error.message);
}

/** The value an input's text stands for, by the parameter's kind; undefined when blank or invalid. */
export function parseParamInput(p: Param, text: string): Config[string] | undefined {
  const t = text.trim();
  if (t === '') return undefined;
  switch (p.kind) {
    case 'float': {
      const v = Number(t);
      return Number.isFinite(v) ? v : undefined;
    }
    case 'int': {
      const v = Number(t);
      return Number.isInteger(v) ? v : undefined;
    }
    case 'boolean':
      return t === 'true' ? true : t === 'false' ? false : undefined;
    case 'categorical':
      return p.choices.find((c) => String(c) === t);
  }
}

export function IdeaForm({
  campaignId,
  spec,
  nodes,
  leaderboard,
  code = false,
}: {
  campaignId: string;
  spec: ProblemSpec | undefined;
  nodes: readonly LineageNode[];
  leaderboard: readonly TrialSummary[];
  /** The campaign runs a code experiment: ideas may carry edits to the parent's source. */
  code?: boolean;
}) {
  const can = useCan('inject');
  const [open, setOpen] = useState(false);
  const [title, setTitle] = useState('');
  const [rationale, setRationale] = useState('');
  const [expected, setExpected] = useState('');
  const [parent, setParent] = useState<string>('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [done, setDone] = useState<string | null>(null);
  const [mode, setMode] = useState<EditMode>('diff');
  const [edit, setEdit] = useState({ diff: '', file: '', search: '', replace: '' });
  const [showSource, setShowSource] = useState(false);
  const inject = useAction(
    (body: unknown) =>
      api<{ hypothesisId: string }>(`/campaigns/${enc(campaignId)}/hypotheses`, { body }),
    [keys.approvals(campaignId), keys.status(campaignId), keys.lineage(campaignId)],
  );

  const parents = useMemo(
    () =>
      nodes
        .filter((n) => n.status === 'succeeded' && n.kind === 'search' && n.ciLow !== null)
        .sort((a, b) => (b.ciLow ?? 0) - (a.ciLow ?? 0))
        .slice(0, 25),
    [nodes],
  );
  const parentParams: Config | undefined =
    parent === '' ? spec?.baseline : leaderboard.find((t) => t.id === parent)?.params;
  /** The parent's source: its snapshot, or the starting source for the baseline and its kin. */
  const parentSourceRef =
    parent === '' ? 'initial' : (nodes.find((n) => n.id === parent)?.sourceHash ?? 'initial');
  const source = useSource(campaignId, code && open ? parentSourceRef : null);
  const sourceFiles = Object.keys(source.data?.files ?? {});

  if (!can.ok) {
    return (
      <Card title="Add an idea">
        <ActionButton action="inject" className="small">
          Add an idea
        </ActionButton>
      </Card>
    );
  }
  const changes: Config = {};
  const invalid: string[] = [];
  for (const p of spec?.space ?? []) {
    const text = values[p.name] ?? '';
    if (!text.trim()) continue;
    const v = parseParamInput(p, text);
    if (v === undefined) invalid.push(p.name);
    else changes[p.name] = v;
  }
  const edits = code
    ? editsOf(mode, { ...edit, file: edit.file || (sourceFiles[0] ?? '') })
    : undefined;
  const ready =
    title.trim() !== '' &&
    (Object.keys(changes).length > 0 || edits !== undefined) &&
    invalid.length === 0;
  const editsError = inject.error && aboutEdits(inject.error) ? inject.error : null;

  return (
    <Card
      title="Add an idea"
      hint="A hypothesis of your own. It runs like the strategy's, and waits for a PI's decision when the criteria ask for approval (a PI's own ideas never wait)."
      actions={
        <button className="small" onClick={() => setOpen((o) => !o)} data-testid="idea-toggle">
          {open ? 'Close' : 'New idea'}
        </button>
      }
      testId="idea"
    >
      {done && (
        <div className="notice ok small" data-testid="idea-done">
          Queued as {done}.
        </div>
      )}
      {open && (
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            if (!ready) return;
            const body = {
              title: title.trim(),
              rationale: rationale.trim(),
              parentTrialId: parent === '' ? null : parent,
              changes,
              expectedEffect: expected.trim(),
              ...(edits ? { edits } : {}),
            };
            inject.mutate(body, {
              onSuccess: (r) => {
                setDone(r.hypothesisId);
                setTitle('');
                setRationale('');
                setExpected('');
                setValues({});
                setEdit({ diff: '', file: '', search: '', replace: '' });
                setOpen(false);
              },
            });
          }}
        >
          <label className="field">
            Title
            <input
              value={title}
              onChange={(e) => setTitle(e.target.value)}
              placeholder="e.g. Smaller learning rate, longer warm-up"
              name="idea-title"
            />
          </label>
          <label className="field">
            Builds on
            <select value={parent} onChange={(e) => setParent(e.target.value)} name="idea-parent">
              <option value="">the baseline</option>
              {parents.map((n) => (
                <option key={n.id} value={n.id}>
                  {n.id} · {n.title.slice(0, 40)} · PGR {fmtPgr(n.pgr, 2)}
                </option>
              ))}
            </select>
          </label>
          {code && (
            <div className="stack" data-testid="idea-code" style={{ gap: 8 }}>
              <div className="row" style={{ gap: 8 }}>
                <span className="small muted">Edits to the parent's source</span>
                <select
                  value={mode}
                  onChange={(e) => setMode(e.target.value as EditMode)}
                  name="idea-edit-mode"
                >
                  <option value="diff">unified diff</option>
                  <option value="search_replace">search/replace</option>
                </select>
                <button
                  type="button"
                  className="small"
                  onClick={() => setShowSource((v) => !v)}
                  data-testid="idea-show-source"
                >
                  {showSource ? "Hide the parent's source" : "Show the parent's source"}
                </button>
              </div>
              {showSource &&
                (source.error ? (
                  <ErrorNote error={source.error} prefix="The parent's source could not be read" />
                ) : source.data ? (
                  <SourceFiles files={source.data.files} testId="idea-parent-source" />
                ) : (
                  <div className="small muted">Loading the parent's source…</div>
                ))}
              {mode === 'diff' ? (
                <label className="field">
                  Unified diff (`diff -u` or `git diff`, against the parent's source)
                  <textarea
                    rows={8}
                    className="mono"
                    spellCheck={false}
                    value={edit.diff}
                    onChange={(e) => setEdit({ ...edit, diff: e.target.value })}
                    name="idea-diff"
                    placeholder={'--- a/method.py\n+++ b/method.py\n@@ -1,3 +1,3 @@\n …'}
                    style={editsError ? { borderColor: 'var(--danger)' } : undefined}
                  />
                </label>
              ) : (
                <>
                  <label className="field">
                    File
                    <select
                      value={edit.file || (sourceFiles[0] ?? '')}
                      onChange={(e) => setEdit({ ...edit, file: e.target.value })}
                      name="idea-edit-file"
                    >
                      {sourceFiles.map((f) => (
                        <option key={f} value={f}>
                          {f}
                        </option>
                      ))}
                    </select>
                  </label>
                  <label className="field">
                    Search (exactly once in the file)
                    <textarea
                      rows={4}
                      className="mono"
                      spellCheck={false}
                      value={edit.search}
                      onChange={(e) => setEdit({ ...edit, search: e.target.value })}
                      name="idea-search"
                    />
                  </label>
                  <label className="field">
                    Replace with
                    <textarea
                      rows={4}
                      className="mono"
                      spellCheck={false}
                      value={edit.replace}
                      onChange={(e) => setEdit({ ...edit, replace: e.target.value })}
                      name="idea-replace"
                    />
                  </label>
                </>
              )}
              {editsError && (
                <div className="notice error small" role="alert" data-testid="idea-edits-error">
                  {editsError.message}
                </div>
              )}
            </div>
          )}
          <div className="small muted">
            Changes (leave a parameter blank to keep the parent's value)
          </div>
          <div
            className="grid"
            style={{ gridTemplateColumns: 'repeat(auto-fill, minmax(130px, 1fr))', gap: 8 }}
          >
            {(spec?.space ?? []).map((p) => (
              <label className="field" key={p.name} title={p.description}>
                <span className="mono">{p.name}</span>
                {p.kind === 'categorical' || p.kind === 'boolean' ? (
                  <select
                    value={values[p.name] ?? ''}
                    onChange={(e) => setValues({ ...values, [p.name]: e.target.value })}
                    name={`change-${p.name}`}
                  >
                    <option value="">
                      {parentParams?.[p.name] !== undefined
                        ? `keep (${fmtValue(parentParams[p.name])})`
                        : 'keep'}
                    </option>
                    {(p.kind === 'boolean' ? ['true', 'false'] : p.choices.map(String)).map((c) => (
                      <option key={c} value={c}>
                        {c}
                      </option>
                    ))}
                  </select>
                ) : (
                  <input
                    name={`change-${p.name}`}
                    inputMode="decimal"
                    value={values[p.name] ?? ''}
                    placeholder={
                      parentParams?.[p.name] !== undefined
                        ? fmtValue(parentParams[p.name])
                        : `${p.low} … ${p.high}`
                    }
                    onChange={(e) => setValues({ ...values, [p.name]: e.target.value })}
                    style={invalid.includes(p.name) ? { borderColor: 'var(--danger)' } : undefined}
                  />
                )}
              </label>
            ))}
          </div>
          <label className="field">
            Rationale
            <textarea
              rows={2}
              value={rationale}
              onChange={(e) => setRationale(e.target.value)}
              name="idea-rationale"
            />
          </label>
          <label className="field">
            Expected effect
            <input
              value={expected}
              onChange={(e) => setExpected(e.target.value)}
              name="idea-expected"
            />
          </label>
          {invalid.length > 0 && (
            <div className="notice warn small">Not a valid value for {invalid.join(', ')}.</div>
          )}
          {inject.error && !editsError && (
            <ErrorNote error={inject.error} prefix="The campaign refused the idea" />
          )}
          <div className="row">
            <button
              type="submit"
              className="primary"
              disabled={!ready || inject.isPending}
              data-testid="idea-submit"
            >
              {inject.isPending ? 'Adding…' : 'Add idea'}
            </button>
          </div>
        </form>
      )}
    </Card>
  );
}
