/**
 * "Add an idea": a person's hypothesis, injected into a running campaign. Changes are given per
 * parameter of the problem's search space, relative to the chosen parent trial (or the baseline).
 */
import { useMemo, useState } from 'react';
import { api, enc } from '../api.js';
import { useCan } from '../auth.js';
import { fmtPgr, fmtValue } from '../lib/format.js';
import { keys, useAction } from '../queries.js';
import type { Config, LineageNode, Param, ProblemSpec, TrialSummary } from '../types.js';
import { ActionButton, Card, ErrorNote } from './ui.js';

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
}: {
  campaignId: string;
  spec: ProblemSpec | undefined;
  nodes: readonly LineageNode[];
  leaderboard: readonly TrialSummary[];
}) {
  const can = useCan('inject');
  const [open, setOpen] = useState(false);
  const [title, setTitle] = useState('');
  const [rationale, setRationale] = useState('');
  const [expected, setExpected] = useState('');
  const [parent, setParent] = useState<string>('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [done, setDone] = useState<string | null>(null);
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
  const ready = title.trim() !== '' && Object.keys(changes).length > 0 && invalid.length === 0;

  return (
    <Card
      title="Add an idea"
      hint="A hypothesis of your own; it runs like the strategy's, always allowed."
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
            };
            inject.mutate(body, {
              onSuccess: (r) => {
                setDone(r.hypothesisId);
                setTitle('');
                setRationale('');
                setExpected('');
                setValues({});
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
          {inject.error && (
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
