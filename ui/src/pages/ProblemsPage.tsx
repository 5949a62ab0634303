/** The list of problems, and the form to submit a new one (researchers and PIs). */
import { useState } from 'react';
import { useLocation } from 'wouter';
import { api, enc } from '../api.js';
import { useCan } from '../auth.js';
import { useCrumbs } from '../components/crumbs.js';
import { DocEditor, parseDoc } from '../components/DocEditor.js';
import { ActionButton, Card, ErrorNote, QueryState } from '../components/ui.js';
import { fmtRelative } from '../lib/format.js';
import { keys, useAction, useExperiments, useProblems } from '../queries.js';
import type { ProblemState } from '../types.js';

const TEMPLATE = `id: my-problem
title: A short title
question: What should the agents find out?
context: ''
experiment: quadratic
space:
  - { name: x, kind: float, low: -5, high: 5 }
  - { name: y, kind: float, low: -5, high: 5 }
baseline: { x: -4, y: 3 }
configurations: {}
`;

export function ProblemsPage() {
  useCrumbs([]);
  const problems = useProblems();
  const can = useCan('submitProblem');
  const [open, setOpen] = useState(false);
  const [, navigate] = useLocation();
  return (
    <main className="page">
      <div className="page-head">
        <div>
          <h1>Problems</h1>
          <div className="sub">
            Each problem is a research question with a search space and a baseline. Campaigns try to
            close the gap between the baseline and the optimum.
          </div>
        </div>
        <ActionButton
          action="submitProblem"
          className="primary"
          onClick={() => setOpen((o) => !o)}
          data-testid="new-problem"
        >
          {open ? 'Close' : 'Submit a problem'}
        </ActionButton>
      </div>
      {open && can.ok && <SubmitProblem onDone={(id) => navigate(`/problems/${enc(id)}`)} />}
      <Card>
        <QueryState q={problems} what="Loading problems">
          {(list) =>
            list.length === 0 ? (
              <div className="empty">No problems yet.</div>
            ) : (
              <ProblemTable problems={list} onOpen={(id) => navigate(`/problems/${enc(id)}`)} />
            )
          }
        </QueryState>
      </Card>
    </main>
  );
}

function ProblemTable({
  problems,
  onOpen,
}: {
  problems: ProblemState[];
  onOpen: (id: string) => void;
}) {
  return (
    <div className="table-wrap">
      <table className="table" data-testid="problems">
        <thead>
          <tr>
            <th>Problem</th>
            <th>Experiment</th>
            <th className="num">Criteria</th>
            <th className="num">Campaigns</th>
            <th>Submitted</th>
          </tr>
        </thead>
        <tbody>
          {problems.map((p) => (
            <tr key={p.spec.id} className="clickable" onClick={() => onOpen(p.spec.id)}>
              <td>
                <a href={`/problems/${enc(p.spec.id)}`} onClick={(e) => e.preventDefault()}>
                  {p.spec.title}
                </a>
                <div className="small faint mono">{p.spec.id}</div>
              </td>
              <td className="mono small">{p.spec.experiment}</td>
              <td className="num">
                {p.criteria.length === 0 ? (
                  <span className="faint">none yet</span>
                ) : (
                  `v${p.criteria.at(-1)!.version}`
                )}
              </td>
              <td className="num">{p.campaigns.length}</td>
              <td className="small muted">
                {p.createdBy.name} · {fmtRelative(p.createdAt)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function SubmitProblem({ onDone }: { onDone: (id: string) => void }) {
  const [text, setText] = useState(TEMPLATE);
  const submit = useAction(
    (spec: unknown) => api<ProblemState>('/problems', { body: spec }),
    [keys.problems],
  );
  const parsed = parseDoc(text);
  return (
    <Card
      title="Submit a problem"
      hint="The experiment must be one the workers have registered; the spec never names a command."
      className="section-gap"
      testId="submit-problem"
    >
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          if (parsed.error) return;
          submit.mutate(parsed.value, { onSuccess: (p) => onDone(p.spec.id) });
        }}
      >
        <DocEditor
          text={text}
          onChange={setText}
          label="Problem spec"
          testId="spec-editor"
          rows={16}
        />
        <Experiments />
        {submit.error && <ErrorNote error={submit.error} prefix="The API refused the spec" />}
        <div className="row">
          <button
            className="primary"
            type="submit"
            disabled={parsed.error !== null || submit.isPending}
          >
            {submit.isPending ? 'Submitting…' : 'Submit problem'}
          </button>
        </div>
      </form>
      <div style={{ height: 16 }} />
    </Card>
  );
}

/** The experiments a spec may name, with their metrics (the criteria pick from these). */
function Experiments() {
  const experiments = useExperiments();
  if (!experiments.data?.length) return null;
  return (
    <details className="small">
      <summary>Registered experiments ({experiments.data.length})</summary>
      <table className="table section-gap">
        <tbody>
          {experiments.data.map((e) => (
            <tr key={e.name}>
              <td className="mono">{e.name}</td>
              <td>
                {e.description}
                <div className="faint">metrics: {e.metrics.map((m) => m.name).join(', ')}</div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
