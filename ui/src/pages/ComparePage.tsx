/**
 * Trials side by side (`/campaigns/<id>/compare?ids=a,b`): PGR, parameters and metric means with
 * the rows that differ marked, every seed's metrics, and for code trials the diff from the first
 * trial's source to each other one's. Computed on the server (`GET …/compare-trials`).
 */
import { Fragment } from 'react';
import { Link, useSearch } from 'wouter';
import { enc } from '../api.js';
import { useCrumbs } from '../components/crumbs.js';
import { DiffView } from '../components/DiffView.js';
import { Card, ErrorNote, Loading, PgrChip, RunStatusPill } from '../components/ui.js';
import { fmtNum, fmtValue } from '../lib/format.js';
import type { CompareRow, TrialComparison } from '../types.js';
import { useTrialComparison } from '../view-queries.js';
import { useTrialsCurves } from '../queries.js';
import { CompareCurves } from '../components/LearningCurves.js';

export function ComparePage({ campaignId }: { campaignId: string }) {
  const search = useSearch();
  const ids = (new URLSearchParams(search).get('ids') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const cmp = useTrialComparison(campaignId, ids);
  useCrumbs([
    { label: campaignId, href: `/campaigns/${enc(campaignId)}` },
    { label: 'trials', href: `/campaigns/${enc(campaignId)}/analysis` },
    { label: `compare ${ids.join(', ')}` },
  ]);
  return (
    <main className="page" data-testid="compare-page">
      <div className="page-head">
        <div>
          <h1>Compare {ids.length} trials</h1>
          <div className="sub">Rows whose values differ are highlighted.</div>
        </div>
        <Link href={`/campaigns/${enc(campaignId)}/analysis`} className="button">
          Back to the trials
        </Link>
      </div>
      {ids.length < 2 ? (
        <div className="empty">
          Pick at least two trials in the{' '}
          <Link href={`/campaigns/${enc(campaignId)}/analysis`}>trial table</Link>.
        </div>
      ) : cmp.error ? (
        <ErrorNote error={cmp.error} />
      ) : !cmp.data ? (
        <Loading what="Comparing" />
      ) : (
        <Comparison campaignId={campaignId} c={cmp.data} />
      )}
    </main>
  );
}

function Rows({ rows, mono }: { rows: CompareRow[]; mono?: boolean }) {
  return (
    <>
      {rows.map((r) => (
        <tr key={r.name} className={r.differs ? 'changed' : undefined} data-row={r.name}>
          <th className={mono ? 'mono' : undefined}>{r.name}</th>
          {r.values.map((v, i) => (
            <td key={i} className="num">
              {typeof v === 'number' ? fmtNum(v) : fmtValue(v)}
            </td>
          ))}
        </tr>
      ))}
    </>
  );
}

function Comparison({ campaignId, c }: { campaignId: string; c: TrialComparison }) {
  const metricNames = [
    ...new Set(c.trials.flatMap((t) => t.seeds.flatMap((s) => Object.keys(s.metrics)))),
  ].sort();
  return (
    <>
      <Card title="Side by side" testId="compare-table">
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th />
                {c.trials.map(({ trial }) => (
                  <th key={trial.id} data-trial={trial.id}>
                    <Link href={`/campaigns/${enc(campaignId)}/trials/${enc(trial.id)}`}>
                      {trial.id}
                    </Link>
                    <div className="faint small">{trial.title}</div>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              <tr>
                <th>PGR</th>
                {c.trials.map(({ trial }) => (
                  <td key={trial.id} className="num">
                    <PgrChip
                      pgr={trial.pgr?.mean ?? null}
                      ciLow={trial.pgr?.ciLow ?? null}
                      ciHigh={trial.pgr?.ciHigh ?? null}
                    />
                  </td>
                ))}
              </tr>
              <tr>
                <th>status</th>
                {c.trials.map(({ trial }) => (
                  <td key={trial.id} className="num">
                    <RunStatusPill status={trial.status} />
                  </td>
                ))}
              </tr>
              <tr>
                <th>parent</th>
                {c.trials.map(({ trial }) => (
                  <td key={trial.id} className="num mono">
                    {trial.parentTrialId ?? '—'}
                  </td>
                ))}
              </tr>
              <tr>
                <th colSpan={c.trials.length + 1} className="section">
                  Parameters
                </th>
              </tr>
              <Rows rows={c.params} mono />
              <tr>
                <th colSpan={c.trials.length + 1} className="section">
                  Metric means
                </th>
              </tr>
              <Rows rows={c.metrics} mono />
            </tbody>
          </table>
        </div>
      </Card>

      <Card title="Metrics per seed" testId="compare-seeds">
        {c.seeds.length === 0 ? (
          <div className="empty">No seed results recorded yet.</div>
        ) : (
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th>metric</th>
                  <th className="num">seed</th>
                  {c.trials.map(({ trial }) => (
                    <th key={trial.id} className="num">
                      {trial.id}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {metricNames.map((m) => (
                  <Fragment key={m}>
                    {c.seeds.map((seed) => (
                      <tr key={`${m}:${seed}`}>
                        <td className="mono">{m}</td>
                        <td className="num">{seed}</td>
                        {c.trials.map(({ trial, seeds }) => {
                          const s = seeds.find((x) => x.seed === seed);
                          return (
                            <td key={trial.id} className="num">
                              {s ? fmtNum(s.metrics[m] ?? null) : ''}
                            </td>
                          );
                        })}
                      </tr>
                    ))}
                  </Fragment>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      <ComparedCurves campaignId={campaignId} trialIds={c.trials.map((t) => t.trial.id)} />

      {Object.keys(c.codeDiffs).length > 0 && (
        <Card title={`Code: from ${c.trials[0]!.trial.id}'s source`} testId="compare-code">
          {Object.entries(c.codeDiffs).map(([id, diff]) => (
            <div key={id}>
              <h3 className="mono">→ {id}</h3>
              {diff ? <DiffView diff={diff} /> : <div className="empty">Same source.</div>}
            </div>
          ))}
        </Card>
      )}
    </>
  );
}

/** The compared trials' learning curves, overlaid (nothing when none reported any). */
function ComparedCurves({ campaignId, trialIds }: { campaignId: string; trialIds: string[] }) {
  const results = useTrialsCurves(campaignId, trialIds);
  const loaded = results.flatMap((r) => (r.data ? [r.data] : []));
  return <CompareCurves trials={loaded} />;
}
