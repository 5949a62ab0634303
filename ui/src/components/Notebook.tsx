/** The campaign's shared notebook: findings of agents and people, newest first; people may add notes. */
import { useState } from 'react';
import { Link } from 'wouter';
import { api, enc } from '../api.js';
import { useCan } from '../auth.js';
import { fmtRelative } from '../lib/format.js';
import { keys, useAction, useNotes } from '../queries.js';
import { ActionButton, Card, ErrorNote, QueryState } from './ui.js';

export function Notebook({ campaignId }: { campaignId: string }) {
  const notes = useNotes(campaignId);
  const can = useCan('addNote');
  const [text, setText] = useState('');
  const add = useAction(
    (body: { text: string }) => api(`/campaigns/${enc(campaignId)}/notes`, { body }),
    [keys.notes(campaignId)],
  );
  return (
    <Card title="Notebook" hint="Shared findings; agents read it too." testId="notebook">
      {can.ok && (
        <form
          className="form"
          style={{ marginBottom: 12 }}
          onSubmit={(e) => {
            e.preventDefault();
            if (!text.trim()) return;
            add.mutate({ text: text.trim() }, { onSuccess: () => setText('') });
          }}
        >
          <textarea
            rows={2}
            placeholder="Add a note for the team and the agents…"
            value={text}
            onChange={(e) => setText(e.target.value)}
            aria-label="New note"
            data-testid="note-text"
          />
          <div className="row">
            <ActionButton
              action="addNote"
              type="submit"
              className="small"
              disabled={!text.trim() || add.isPending}
            >
              Add note
            </ActionButton>
          </div>
          {add.error && <ErrorNote error={add.error} />}
        </form>
      )}
      {!can.ok && (
        <div style={{ marginBottom: 8 }}>
          <ActionButton action="addNote" className="small">
            Add note
          </ActionButton>
        </div>
      )}
      <QueryState q={notes}>
        {(list) =>
          list.length === 0 ? (
            <div className="empty small">No notes yet.</div>
          ) : (
            <div className="notes">
              {[...list].reverse().map((n, i) => (
                <div key={i} className={`note ${n.kind}`} data-testid="note">
                  <div className="meta">
                    {n.author} · {n.kind} · {fmtRelative(n.at)}
                    {n.trialId && (
                      <>
                        {' · '}
                        <Link href={`/campaigns/${enc(campaignId)}/trials/${enc(n.trialId)}`}>
                          {n.trialId}
                        </Link>
                      </>
                    )}
                  </div>
                  <div style={{ whiteSpace: 'pre-wrap' }}>{n.text}</div>
                </div>
              ))}
            </div>
          )
        }
      </QueryState>
    </Card>
  );
}
