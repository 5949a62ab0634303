/** Pause, resume and stop a campaign, and change its budgets (each control follows the person's role). */
import { useState } from 'react';
import { api, enc } from '../api.js';
import { useCan } from '../auth.js';
import { keys, useAction } from '../queries.js';
import type { CampaignStatus } from '../types.js';
import { ActionButton, ErrorNote } from './ui.js';

export function CampaignControls({ status }: { status: CampaignStatus }) {
  const id = status.campaignId;
  const finished = status.phase === 'finished';
  const [stopping, setStopping] = useState(false);
  const [editing, setEditing] = useState(false);
  const refresh = [keys.status(id), keys.audit(id)];
  const pause = useAction(() => api(`/campaigns/${enc(id)}/pause`, { body: {} }), refresh);
  const resume = useAction(() => api(`/campaigns/${enc(id)}/resume`, { body: {} }), refresh);
  const error = pause.error ?? resume.error;
  return (
    <div className="stack" style={{ gap: 10 }}>
      <div className="row">
        {status.paused ? (
          <ActionButton
            action="resume"
            className="primary"
            disabled={finished || resume.isPending}
            onClick={() => resume.mutate(undefined)}
            data-testid="resume"
          >
            Resume
          </ActionButton>
        ) : (
          <ActionButton
            action="pause"
            disabled={finished || pause.isPending}
            onClick={() => pause.mutate(undefined)}
            data-testid="pause"
            title={finished ? 'The campaign has finished' : 'Start no new trials until resumed'}
          >
            Pause
          </ActionButton>
        )}
        <ActionButton
          action="changeBudgets"
          disabled={finished}
          onClick={() => setEditing((e) => !e)}
          data-testid="edit-budgets"
        >
          Budgets…
        </ActionButton>
        <ActionButton
          action="stop"
          className="danger"
          disabled={finished}
          onClick={() => setStopping((s) => !s)}
          data-testid="stop"
        >
          Stop…
        </ActionButton>
      </div>
      {error && <ErrorNote error={error} />}
      {stopping && !finished && <StopForm id={id} onDone={() => setStopping(false)} />}
      {editing && !finished && <BudgetForm status={status} onDone={() => setEditing(false)} />}
    </div>
  );
}

function StopForm({ id, onDone }: { id: string; onDone: () => void }) {
  const [reason, setReason] = useState('');
  // A stop ends the campaign: running work is cancelled and the best is not re-run, unless asked.
  const [letRunningFinish, setLetRunningFinish] = useState(false);
  const [verify, setVerify] = useState(false);
  const stop = useAction(
    () =>
      api(`/campaigns/${enc(id)}/stop`, {
        body: {
          ...(reason.trim() ? { reason: reason.trim() } : {}),
          cancelRunning: !letRunningFinish,
          ...(verify ? { verify: true } : {}),
        },
      }),
    [keys.status(id), keys.audit(id)],
  );
  return (
    <form
      className="form card"
      style={{ background: 'var(--surface-2)' }}
      onSubmit={(e) => {
        e.preventDefault();
        stop.mutate(undefined, { onSuccess: onDone });
      }}
    >
      <label className="field">
        Why stop? (kept in the audit trail)
        <input value={reason} onChange={(e) => setReason(e.target.value)} name="stop-reason" />
      </label>
      <label className="row small">
        <input
          type="checkbox"
          name="let-running-finish"
          checked={letRunningFinish}
          onChange={(e) => setLetRunningFinish(e.target.checked)}
        />{' '}
        let running trials finish and count (otherwise they are cancelled now)
      </label>
      <label className="row small">
        <input
          type="checkbox"
          name="verify-on-stop"
          checked={verify}
          onChange={(e) => setVerify(e.target.checked)}
        />{' '}
        verify the best on fresh seeds and the hidden metrics before the campaign ends
      </label>
      {stop.error && <ErrorNote error={stop.error} />}
      <div className="row">
        <button
          className="danger"
          type="submit"
          disabled={stop.isPending}
          data-testid="confirm-stop"
        >
          Stop the campaign
        </button>
        <button type="button" className="ghost" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

const FIELDS = [
  { key: 'maxTrials', label: 'Max trials', step: '1' },
  { key: 'maxIterations', label: 'Max iterations', step: '1' },
  { key: 'concurrency', label: 'Concurrency', step: '1' },
  { key: 'maxWallSeconds', label: 'Wall-clock (s)', step: 'any' },
  { key: 'maxDollars', label: 'LLM dollars', step: 'any' },
  { key: 'maxComputeSeconds', label: 'Compute (s)', step: 'any' },
] as const;

function BudgetForm({ status, onDone }: { status: CampaignStatus; onDone: () => void }) {
  const can = useCan('changeBudgets');
  const id = status.campaignId;
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(
      FIELDS.map((f) => [
        f.key,
        status.budgets[f.key] === undefined ? '' : String(status.budgets[f.key]),
      ]),
    ),
  );
  const [reason, setReason] = useState('');
  const save = useAction(
    (budgets: Record<string, number>) =>
      api(`/campaigns/${enc(id)}/budgets`, {
        method: 'PATCH',
        body: { budgets, ...(reason.trim() ? { reason: reason.trim() } : {}) },
      }),
    [keys.status(id), keys.audit(id)],
  );
  if (!can.ok) return null;
  const changed: Record<string, number> = {};
  for (const f of FIELDS) {
    const text = (values[f.key] ?? '').trim();
    const before = status.budgets[f.key];
    if (text === '' || Number(text) === before) continue;
    changed[f.key] = Number(text);
  }
  return (
    <form
      className="form card"
      style={{ background: 'var(--surface-2)' }}
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate(changed, { onSuccess: onDone });
      }}
      data-testid="budget-form"
    >
      <div className="grid" style={{ gridTemplateColumns: 'repeat(3, minmax(0, 1fr))', gap: 8 }}>
        {FIELDS.map((f) => (
          <label className="field" key={f.key}>
            {f.label}
            <input
              type="number"
              min="0"
              step={f.step}
              name={f.key}
              value={values[f.key] ?? ''}
              placeholder="no limit"
              onChange={(e) => setValues({ ...values, [f.key]: e.target.value })}
            />
          </label>
        ))}
      </div>
      <label className="field">
        Reason (kept in the audit trail)
        <input value={reason} onChange={(e) => setReason(e.target.value)} name="budget-reason" />
      </label>
      {save.error && <ErrorNote error={save.error} prefix="Budgets not changed" />}
      <div className="row">
        <button
          className="primary"
          type="submit"
          disabled={Object.keys(changed).length === 0 || save.isPending}
          data-testid="save-budgets"
        >
          Save budgets
        </button>
        <button type="button" className="ghost" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
