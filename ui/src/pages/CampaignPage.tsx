/**
 * A campaign: status and stop reason, PGR over trials, budget gauges, controls, approvals, the
 * "add an idea" form, the notebook, the leaderboard and the trials; all live from the event stream.
 */
import { useMemo, useState } from 'react';
import { Link, useLocation } from 'wouter';
import { enc } from '../api.js';
import { verdictLabel } from '../../../domain/verdict.js';
import { formatExact, formatInterval, formatMean } from '../../../domain/format.js';
import { Approvals } from '../components/Approvals.js';
import { BudgetGauges } from '../components/BudgetGauges.js';
import { CampaignControls } from '../components/CampaignControls.js';
import { PgrChart, type PgrPoint } from '../components/charts.js';
import { useCrumbs } from '../components/crumbs.js';
import { IdeaForm } from '../components/IdeaForm.js';
import { Notebook } from '../components/Notebook.js';
import {
  Card,
  ErrorNote,
  FlagPills,
  LiveIndicator,
  Loading,
  PgrChip,
  PhasePill,
  Pill,
  TrialStatusPill,
  QueryState,
} from '../components/ui.js';
import { fmtNum, fmtPgr, fmtTime, STOP_REASON_TEXT } from '../lib/format.js';
import { useCampaignEvents } from '../live.js';
import {
  keys,
  useAudit,
  useLeaderboard,
  useLineage,
  useProblem,
  useReport,
  useStatus,
  useUiConfig,
} from '../queries.js';
import type { CampaignReport, LineageNode } from '../types.js';

export function CampaignPage({ campaignId }: { campaignId: string }) {
  const status = useStatus(campaignId);
  const problemId = status.data?.problemId ?? null;
  const live = useCampaignEvents(
    campaignId,
    problemId ? [keys.compare(problemId), keys.problem(problemId)] : [],
  );
  const lineage = useLineage(campaignId);
  const leaderboard = useLeaderboard(campaignId);
  const problem = useProblem(problemId);
  const config = useUiConfig();
  const finished = status.data?.phase === 'finished';
  const report = useReport(campaignId, finished);
  const [, navigate] = useLocation();
  const audit = useAudit(campaignId);
  const stopEntry =
    status.data?.stopReason === 'stopped_by_pi'
      ? [...(audit.data ?? [])].reverse().find((a) => a.action === 'stop')
      : undefined;
  useCrumbs([
    ...(problemId ? [{ label: problemId, href: `/problems/${enc(problemId)}` }] : []),
    { label: campaignId },
  ]);

  const nodes = useMemo(() => lineage.data?.nodes ?? [], [lineage.data]);
  const points = useMemo<PgrPoint[]>(
    () =>
      nodes
        .filter((n) => n.kind === 'search' && n.status !== 'running')
        .map((n) => ({
          id: n.id,
          index: n.index,
          title: n.title,
          pgr: n.pgr,
          ciLow: n.ciLow,
          ciHigh: n.ciHigh,
          failed: n.status !== 'succeeded',
          flagged: n.flags.length > 0,
        })),
    [nodes],
  );

  if (status.error)
    return (
      <main className="page">
        <ErrorNote error={status.error} />
      </main>
    );
  if (!status.data)
    return (
      <main className="page">
        <Loading what="Loading the campaign" />
      </main>
    );
  const s = status.data;
  const openTrial = (id: string) => navigate(`/campaigns/${enc(campaignId)}/trials/${enc(id)}`);
  const mlflowUrl =
    config.data?.mlflowUi && s.mlflowExperimentId
      ? `${config.data.mlflowUi}/#/experiments/${s.mlflowExperimentId}${s.mlflowParentRunId ? `/runs/${s.mlflowParentRunId}` : ''}`
      : null;
  const temporalUrl = config.data?.temporalUi
    ? `${config.data.temporalUi}/namespaces/${enc(config.data.namespace)}/workflows/${enc(campaignId)}`
    : null;

  return (
    <main className="page" data-testid="campaign-page">
      <div className="page-head">
        <div>
          <div className="row" style={{ gap: 8 }}>
            <h1 className="mono" style={{ fontSize: 19 }}>
              {campaignId}
            </h1>
            <PhasePill status={s} />
            <Pill tone="neutral">{s.strategy}</Pill>
            {s.phase !== 'finished' && <LiveIndicator state={live} />}
          </div>
          <div className="sub">
            {problem.data ? (
              <>
                <Link href={`/problems/${enc(s.problemId)}`}>{problem.data.spec.title}</Link> ·
                criteria v{s.criteriaVersion}
              </>
            ) : (
              <>criteria v{s.criteriaVersion}</>
            )}
            {' · '}started {fmtTime(s.ledger.startedAtMs)}
            {s.runs > 1 && <span className="faint"> · run {s.runs} (continued as new)</span>}
          </div>
          {s.phase !== 'finished' && s.waitingFor && (
            <div className="sub" data-testid="waiting-for">
              Waiting for {s.waitingFor}
            </div>
          )}
        </div>
        <div className="row">
          <Link
            href={`/campaigns/${enc(campaignId)}/lineage`}
            className="button"
            data-testid="open-lineage"
          >
            Lineage
          </Link>
          <Link
            href={`/campaigns/${enc(campaignId)}/analysis`}
            className="button"
            data-testid="open-analysis"
          >
            Trials &amp; analysis
          </Link>
          {mlflowUrl && (
            <a className="button" href={mlflowUrl} target="_blank" rel="noreferrer">
              MLflow ↗
            </a>
          )}
          {temporalUrl && (
            <a className="button" href={temporalUrl} target="_blank" rel="noreferrer">
              Temporal ↗
            </a>
          )}
        </div>
      </div>

      {s.stopReason && (
        <div
          className={`notice ${s.stopReason === 'error' || s.stopReason === 'strategy_failed' ? 'error' : s.stopReason === 'target_verified' ? 'ok' : ''}`}
          style={{ marginBottom: 16 }}
          data-testid="stop-reason"
        >
          {s.phase === 'finished' ? 'Finished' : 'Stopping'}:{' '}
          {STOP_REASON_TEXT[s.stopReason] ?? s.stopReason}
          {stopEntry && (
            <span>
              {' '}
              — {stopEntry.actor.name}
              {stopEntry.detail ? `: “${stopEntry.detail}”` : ''}
            </span>
          )}
        </div>
      )}
      {s.paused && s.phase !== 'finished' && (
        <div className="notice warn" style={{ marginBottom: 16 }}>
          Paused: no new trials start until someone resumes the campaign.
        </div>
      )}

      <div className="grid main-side">
        <div className="stack">
          <Card>
            <div
              className="grid"
              style={{
                gridTemplateColumns: 'repeat(4, minmax(0, 1fr))',
                gap: 12,
                marginBottom: 14,
              }}
            >
              <Stat label="Best PGR (by lower bound)" testId="best-pgr">
                {s.best ? (
                  <span className="big-number" data-testid="best-mean">
                    {formatMean(s.best.pgr)}
                  </span>
                ) : (
                  <span className="big-number faint">—</span>
                )}
                {s.best && (
                  <div className="small muted">
                    CI <span data-testid="best-interval">{formatInterval(s.best.pgr)}</span> ·{' '}
                    <Link
                      href={`/campaigns/${enc(campaignId)}/trials/${enc(s.best.trialId)}`}
                      data-testid="best-trial"
                      data-trial-id={s.best.trialId}
                    >
                      {s.best.trialId}: {s.best.title}
                    </Link>
                  </div>
                )}
              </Stat>
              <Stat label="Trials done" testId="trials-done">
                <span className="big-number">{s.trialsDone}</span>
                <div className="small muted">
                  {s.trialsRunning} running · iteration {s.iteration}
                </div>
              </Stat>
              <Stat label="Target PGR" testId="target-pgr">
                <span className="big-number">{formatExact(s.targetPgr)}</span>
              </Stat>
              <Stat label="Baseline → optimum">
                <span className="big-number" style={{ fontSize: 18 }}>
                  {fmtNum(s.baselineScore)} → {fmtNum(s.optimumScore)}
                </span>
                <div className="small muted">objective score</div>
              </Stat>
            </div>
            <h3 style={{ marginBottom: 6 }}>PGR over trials</h3>
            {lineage.error ? (
              <ErrorNote error={lineage.error} />
            ) : points.length === 0 ? (
              <div className="empty">
                No search trial has finished yet; they appear here as they do.
              </div>
            ) : (
              <PgrChart points={points} target={s.targetPgr} onSelect={openTrial} />
            )}
          </Card>
          <Card title="Budgets">
            <BudgetGauges status={s} />
          </Card>
          {report.data && <VerdictCard report={report.data} campaignId={campaignId} />}
          <UnderReviewCard
            items={report.data?.underReview ?? s.underReview ?? []}
            campaignId={campaignId}
          />
          {report.data && <Verification report={report.data} campaignId={campaignId} />}
          <Card
            title="Leaderboard"
            hint="Best by the lower confidence bound of PGR, not by a lucky seed."
          >
            <QueryState q={leaderboard}>
              {(list) =>
                list.length === 0 ? (
                  <div className="empty small">No scored trial yet.</div>
                ) : (
                  <table className="table" data-testid="leaderboard">
                    <thead>
                      <tr>
                        <th>#</th>
                        <th>Hypothesis</th>
                        <th>Author</th>
                        <th>PGR [CI]</th>
                        <th>Flags</th>
                      </tr>
                    </thead>
                    <tbody>
                      {list.map((t, i) => (
                        <tr
                          key={t.id}
                          className="clickable"
                          onClick={() => openTrial(t.id)}
                          data-trial={t.id}
                        >
                          <td className="muted">{i + 1}</td>
                          <td>
                            {t.title}
                            <div className="small faint mono">{t.id}</div>
                          </td>
                          <td className="small">{t.author.name}</td>
                          <td>
                            <PgrChip
                              pgr={t.pgr?.mean}
                              ciLow={t.pgr?.ciLow}
                              ciHigh={t.pgr?.ciHigh}
                            />
                          </td>
                          <td>
                            <FlagPills flags={t.flags} />
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )
              }
            </QueryState>
          </Card>
          <TrialsTable
            campaignId={campaignId}
            nodes={nodes}
            onOpen={openTrial}
            review={report.data?.underReview ?? s.underReview ?? []}
          />
          <AuditLog campaignId={campaignId} />
        </div>
        <div className="stack">
          <Card title="Control">
            <CampaignControls status={s} />
          </Card>
          <Approvals campaignId={campaignId} />
          <IdeaForm
            campaignId={campaignId}
            spec={problem.data?.spec}
            code={problem.data?.experiment.code === true}
            nodes={nodes}
            leaderboard={leaderboard.data ?? []}
          />
          <Notebook campaignId={campaignId} />
        </div>
      </div>
    </main>
  );
}

function Stat({
  label,
  children,
  testId,
}: {
  label: string;
  children: React.ReactNode;
  testId?: string;
}) {
  return (
    <div data-testid={testId}>
      <div className="small muted">{label}</div>
      {children}
    </div>
  );
}

const PAGE = 25;

function TrialsTable({
  campaignId,
  nodes,
  onOpen,
  review,
}: {
  campaignId: string;
  nodes: readonly LineageNode[];
  onOpen: (id: string) => void;
  /** Trials under review or excluded (the campaign's own list: it knows a PI's decisions). */
  review: readonly { trialId: string; trust: string }[];
}) {
  const trustOf = useMemo(() => new Map(review.map((r) => [r.trialId, r.trust])), [review]);
  const [page, setPage] = useState(0);
  const [kind, setKind] = useState<'search' | 'all'>('all');
  const rows = useMemo(
    () =>
      nodes.filter((n) => kind === 'all' || n.kind === 'search').sort((a, b) => b.index - a.index),
    [nodes, kind],
  );
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  const shown = rows.slice(page * PAGE, page * PAGE + PAGE);
  return (
    <Card
      title={`Trials (${rows.length})`}
      hint="Newest first."
      actions={
        <span className="seg">
          <button className={kind === 'all' ? 'on' : ''} onClick={() => setKind('all')}>
            All
          </button>
          <button className={kind === 'search' ? 'on' : ''} onClick={() => setKind('search')}>
            Search only
          </button>
        </span>
      }
    >
      {rows.length === 0 ? (
        <div className="empty small">No trial has finished yet.</div>
      ) : (
        <>
          <table className="table" data-testid="trials" data-count={rows.length}>
            <thead>
              <tr>
                <th className="num">#</th>
                <th>Hypothesis</th>
                <th>Author</th>
                <th>Status</th>
                <th>PGR [CI]</th>
                <th>Flags</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((n) => (
                <tr key={n.id} className="clickable" onClick={() => onOpen(n.id)} data-trial={n.id}>
                  <td className="num muted">{n.index}</td>
                  <td>
                    <a
                      href={`/campaigns/${enc(campaignId)}/trials/${enc(n.id)}`}
                      onClick={(e) => e.preventDefault()}
                    >
                      {n.title}
                    </a>
                    {n.kind !== 'search' && <span className="faint small"> · {n.kind}</span>}
                  </td>
                  <td className="small">{n.author}</td>
                  <td>
                    <TrialStatusPill status={n.status} pruned={n.pruned} />
                  </td>
                  <td>
                    {n.pgr !== null ? (
                      <PgrChip pgr={n.pgr} ciLow={n.ciLow} ciHigh={n.ciHigh} />
                    ) : (
                      <span className="faint">—</span>
                    )}
                  </td>
                  <td>
                    {trustOf.has(n.id) && (
                      <span data-testid="trial-trust" data-trust={trustOf.get(n.id)}>
                        <Pill tone={trustOf.get(n.id) === 'excluded' ? 'danger' : 'warn'}>
                          {trustOf.get(n.id)!.replace('_', ' ')}
                        </Pill>{' '}
                      </span>
                    )}
                    <FlagPills flags={n.flags.map((k) => ({ kind: k }))} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {pages > 1 && (
            <div className="row" style={{ justifyContent: 'flex-end', marginTop: 8 }}>
              <button className="small" disabled={page === 0} onClick={() => setPage(page - 1)}>
                ← Newer
              </button>
              <span className="small muted">
                page {page + 1} of {pages}
              </span>
              <button
                className="small"
                disabled={page >= pages - 1}
                onClick={() => setPage(page + 1)}
              >
                Older →
              </button>
            </div>
          )}
        </>
      )}
    </Card>
  );
}

/**
 * The report's one verdict: the reported best's own verification (visible, fresh-seed and hidden
 * PGR with intervals) and one word, the same as the markdown report, the CLI and the demo.
 */
function VerdictCard({ report, campaignId }: { report: CampaignReport; campaignId: string }) {
  const v = report.verdict;
  if (!v) return null;
  const label = verdictLabel(v);
  return (
    <Card title="Verdict" hint="The reported best's own verification." testId="verdict">
      <div className="row" style={{ gap: 8, marginBottom: 8 }}>
        <Pill tone={label.tone} title={label.meaning}>
          <span data-testid="verdict-word">{label.text}</span>
        </Pill>
        {v.trialId && (
          <Link href={`/campaigns/${enc(campaignId)}/trials/${enc(v.trialId)}`}>{v.trialId}</Link>
        )}
      </div>
      <div className="small" data-testid="verdict-headline">
        {v.headline}
      </div>
      <div className="small muted" data-testid="verdict-meaning">
        {label.text}: {label.meaning}
      </div>
      {v.reasons.length > 0 && (
        <ul className="small">
          {v.reasons.map((r) => (
            <li key={r}>{r}</li>
          ))}
        </ul>
      )}
    </Card>
  );
}

/** Search trials held back by review flags: listed with the reason, never on the leaderboard. */
function UnderReviewCard({
  items,
  campaignId,
}: {
  items: readonly {
    trialId: string;
    title: string;
    trust: string;
    flags: readonly { kind: string; message: string }[];
  }[];
  campaignId: string;
}) {
  if (items.length === 0) return null;
  return (
    <Card
      title={`Under review (${items.length})`}
      hint="Never best, never the reason for a target stop, not offered to strategies, until a PI decides."
      testId="under-review"
    >
      <table className="table">
        <tbody>
          {items.map((t) => (
            <tr key={t.trialId} data-testid="under-review-trial" data-trust={t.trust}>
              <td>
                <Link href={`/campaigns/${enc(campaignId)}/trials/${enc(t.trialId)}`}>
                  {t.title}
                </Link>
                <div className="small faint mono">{t.trialId}</div>
              </td>
              <td>
                <Pill tone={t.trust === 'excluded' ? 'danger' : 'warn'}>
                  {t.trust.replace('_', ' ')}
                </Pill>
              </td>
              <td>
                <FlagPills flags={t.flags} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

function Verification({ report, campaignId }: { report: CampaignReport; campaignId: string }) {
  if (report.verification.length === 0) return null;
  const hidden = [
    ...new Set(
      report.verification.flatMap((v) => [...Object.keys(v.hiddenPgr), ...(v.withheld ?? [])]),
    ),
  ];
  return (
    <Card
      title="Verification on fresh seeds"
      hint={`Verified PGR ${fmtPgr(report.verifiedPgr)} · hidden metrics are never shown to agents.`}
      testId="verification"
    >
      <table className="table">
        <thead>
          <tr>
            <th>Trial</th>
            <th>Search PGR</th>
            <th>Fresh seeds</th>
            {hidden.map((h) => (
              <th key={h}>
                {h}
                <span className="tag-hidden">hidden from agents</span>
              </th>
            ))}
            <th />
          </tr>
        </thead>
        <tbody>
          {report.verification.map((v) => (
            <tr key={v.trialId}>
              <td>
                <Link href={`/campaigns/${enc(campaignId)}/trials/${enc(v.trialId)}`}>
                  {v.title}
                </Link>
              </td>
              <td>
                <PgrChip pgr={v.visiblePgr?.mean} />
              </td>
              <td>
                <PgrChip
                  pgr={v.freshPgr?.mean}
                  ciLow={v.freshPgr?.ciLow}
                  ciHigh={v.freshPgr?.ciHigh}
                />
              </td>
              {hidden.map((h) => (
                <td key={h}>
                  {v.withheld?.includes(h) ? (
                    <span className="tag-hidden" data-testid="withheld">
                      hidden
                    </span>
                  ) : (
                    <PgrChip pgr={v.hiddenPgr[h]?.mean} />
                  )}
                </td>
              ))}
              <td data-testid="verification-verdict">
                {v.gapFlag ? (
                  <Pill
                    tone="danger"
                    {...(v.reasons?.length ? { title: v.reasons.join('; ') } : {})}
                  >
                    failed verification
                  </Pill>
                ) : (
                  <Pill tone="ok">verified</Pill>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Card>
  );
}

function AuditLog({ campaignId }: { campaignId: string }) {
  const [open, setOpen] = useState(false);
  const audit = useAudit(campaignId);
  return (
    <Card
      title="Audit trail"
      actions={
        <button className="small ghost" onClick={() => setOpen(!open)}>
          {open ? 'Hide' : 'Show'}
        </button>
      }
    >
      {open && (
        <QueryState q={audit}>
          {(list) => (
            <table className="table small">
              <tbody>
                {[...list].reverse().map((a, i) => (
                  <tr key={i}>
                    <td className="muted" style={{ whiteSpace: 'nowrap' }}>
                      {fmtTime(a.at)}
                    </td>
                    <td>
                      {a.actor.name} <span className="faint">({a.actor.role})</span>
                    </td>
                    <td>{a.action}</td>
                    <td className="muted">{a.detail}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </QueryState>
      )}
    </Card>
  );
}
