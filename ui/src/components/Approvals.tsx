/** Hypotheses waiting for a PI's decision (approval mode), with approve and reject. */
import { useState } from 'react';
import { api, enc } from '../api.js';
import { useCan } from '../auth.js';
import { fmtRelative, fmtValue } from '../lib/format.js';
import { keys, useAction, useApprovals } from '../queries.js';
import type { PendingApproval } from '../types.js';
import { ActionButton, Card, ErrorNote, QueryState } from './ui.js';

export function Approvals({ campaignId }: { campaignId: string }) {
  const approvals = useApprovals(campaignId);
  const count = approvals.data?.length ?? 0;
  return (
    <Card
      title={`Pending approvals${count ? ` (${count})` : ''}`}
      hint="In approval mode, the PI decides which hypotheses run."
      testId="approvals"
    >
      <QueryState q={approvals}>
        {(list) =>
          list.length === 0 ? (
            <div className="empty small">Nothing waiting.</div>
          ) : (
            list.map((p) => (
              <ApprovalItem key={p.hypothesis.id} campaignId={campaignId} pending={p} />
            ))
          )
        }
      </QueryState>
    </Card>
  );
}

function ApprovalItem({ campaignId, pending }: { campaignId: string; pending: PendingApproval }) {
  const h = pending.hypothesis;
  const [reason, setReason] = useState('');
  const can = useCan('decide');
  const decide = useAction(
    (decision: 'approve' | 'reject') =>
      api(`/campaigns/${enc(campaignId)}/approvals/${enc(h.id)}`, {
        body: { decision, ...(reason.trim() ? { reason: reason.trim() } : {}) },
      }),
    [keys.approvals(campaignId), keys.status(campaignId)],
  );
  const left = Math.max(0, pending.deadlineMs - Date.now());
  return (
    <div className="approval" data-testid="approval" data-hypothesis={h.id}>
      <div>
        <strong>{h.title}</strong>
        <div className="small muted">
          by {h.author.name} ({h.author.kind}) · from {h.parentTrialId ?? 'baseline'} ·{' '}
          {fmtRelative(pending.submittedAt)}
          {left > 0 && ` · decides itself in ${Math.round(left / 60000)} min`}
        </div>
      </div>
      {h.rationale && <div className="small">{h.rationale}</div>}
      <div className="small mono">
        {Object.entries(h.changes).map(([k, v]) => (
          <span key={k} style={{ marginRight: 10 }}>
            {k} = <span className="diff-add">{fmtValue(v)}</span>
          </span>
        ))}
      </div>
      {h.expectedEffect && <div className="small muted">Expected: {h.expectedEffect}</div>}
      {can.ok && (
        <input
          placeholder="Reason (optional)"
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          aria-label="Reason for the decision"
        />
      )}
      <div className="row">
        <ActionButton
          action="decide"
          className="primary small"
          disabled={decide.isPending}
          onClick={() => decide.mutate('approve')}
          data-testid="approve"
        >
          Approve
        </ActionButton>
        <ActionButton
          action="decide"
          className="danger small"
          disabled={decide.isPending}
          onClick={() => decide.mutate('reject')}
          data-testid="reject"
        >
          Reject
        </ActionButton>
      </div>
      {decide.error && <ErrorNote error={decide.error} />}
    </div>
  );
}
