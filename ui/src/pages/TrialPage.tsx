/**
 * One trial: its hypothesis (title, rationale, expected effect, author), parameters as a diff
 * against the parent, per-seed and aggregate metrics (hidden metrics shown to people, marked),
 * feasibility with each constraint's verdict, review flags, logs, its lineage, and links to its
 * MLflow run and Temporal workflow. Every fact is the recorded one (the running workflow's or
 * MLflow's), constraint verdicts included, and all come in one request (TrialDetail); only a
 * running campaign's event stream and a code trial's whole diff are asked for apart.
 */
import { useState } from 'react';
import { Link } from 'wouter';
import { api, enc } from '../api.js';
import { useCan } from '../auth.js';
import { useCrumbs } from '../components/crumbs.js';
import {
  ActionButton,
  Card,
  ErrorNote,
  FlagPills,
  Loading,
  PgrChip,
  Pill,
  TrialStatusPill,
} from '../components/ui.js';
import { trustState } from '../../../domain/trust.js';
import { fmtDuration, fmtNum, fmtPgr, fmtTime, fmtValue, formatPruned } from '../lib/format.js';
import { useCampaignEvents } from '../live.js';
import { keys, useAction, useTrial, useTrialDiff } from '../queries.js';
import type { Flag, SeedRecord, TrialDetail, TrialRecord } from '../types.js';
import { DiffView } from '../components/DiffView.js';
import { SeedCurves } from '../components/LearningCurves.js';
import { isCutDiff } from '../lib/diff.js';

export function TrialPage({ campaignId, trialId }: { campaignId: string; trialId: string }) {
  const detail = useTrial(campaignId, trialId);
  const problemId = detail.data?.campaign.problemId;
  useCampaignEvents(detail.data && !detail.data.campaign.ended ? campaignId : null, [], {
    readAtOpen: true,
  });
  useCrumbs([
    ...(problemId ? [{ label: problemId, href: `/problems/${enc(problemId)}` }] : []),
    { label: campaignId, href: `/campaigns/${enc(campaignId)}` },
    { label: trialId },
  ]);

  if (detail.error)
    return (
      <main className="page">
        <ErrorNote error={detail.error} />
      </main>
    );
  if (!detail.data)
    return (
      <main className="page">
        <Loading what="Loading the trial" />
      </main>
    );
  const d = detail.data;
  const t = d.trial;
  const s = d.summary;
  /** The hidden metrics recorded with the trial (those of the criteria it was scored under). */
  const hidden = new Set(t.hiddenMetrics);
  const metrics: Record<string, number | null> = { ...t.metrics, ...(s?.metrics ?? {}) };
  /** Hidden metrics whose values this person may not see while the campaign runs. */
  const withheld = new Set([...(t.withheld ?? []), ...(s?.withheld ?? [])]);
  /** As the campaign judged them when it scored the trial (judged again for older records). */
  const verdicts = d.constraints?.verdicts ?? [];
  /** The campaign's recorded verdict (judged on the same rule); failed trials are never feasible. */
  const feasible = t.status === 'running' ? null : t.feasible;
  const flags: Flag[] =
    s?.flags ?? t.flags.map((kind) => ({ kind: kind as Flag['kind'], message: '' }));

  return (
    <main className="page" data-testid="trial-page">
      <div className="page-head">
        <div>
          <div className="row" style={{ gap: 8 }}>
            <h1 data-testid="trial-title">{t.title}</h1>
            <TrialStatusPill status={t.status} pruned={t.pruned} />
            {t.kind !== 'search' && <Pill tone="neutral">{t.kind}</Pill>}
            <TrustPill flags={flags} />
            <FlagPills flags={flags} />
          </div>
          <div className="sub">
            <span className="mono">{t.id}</span> · #{t.index} · by <strong>{t.author.name}</strong>{' '}
            <span className="faint">({t.author.kind})</span>
            {t.finishedAt && <> · finished {fmtTime(t.finishedAt)}</>}
            {t.computeSeconds !== null && <> · {fmtDuration(t.computeSeconds)} compute</>}
          </div>
        </div>
        <div className="row">
          {d.links.mlflowRun && (
            <a
              className="button"
              href={d.links.mlflowRun}
              target="_blank"
              rel="noreferrer"
              data-testid="mlflow-link"
            >
              MLflow run ↗
            </a>
          )}
          {d.links.temporalWorkflow && (
            <a
              className="button"
              href={d.links.temporalWorkflow}
              target="_blank"
              rel="noreferrer"
              data-testid="temporal-link"
            >
              Temporal workflow ↗
            </a>
          )}
        </div>
      </div>

      {t.failureReason && (
        <div className="notice error" style={{ marginBottom: 16 }}>
          Failed: {t.failureReason}
        </div>
      )}

      <div className="grid main-side">
        <div className="stack">
          <Card title="Hypothesis">
            <dl className="kv">
              <dt>PGR</dt>
              <dd data-testid="trial-pgr">
                {t.pgr ? (
                  <PgrChip pgr={t.pgr.mean} ciLow={t.pgr.ciLow} ciHigh={t.pgr.ciHigh} />
                ) : (
                  <span className="faint">no PGR</span>
                )}
                {s?.pgr && (
                  <span className="small muted">
                    {' '}
                    · ± {fmtPgr(s.pgr.stderr)} s.e. over {s.pgr.n} seeds
                  </span>
                )}
              </dd>
              {s?.objective && (
                <>
                  <dt>Objective</dt>
                  <dd>
                    {fmtNum(s.objective.mean)}{' '}
                    <span className="small muted">± {fmtNum(s.objective.stderr, 2)} s.e.</span>
                  </dd>
                </>
              )}
              <dt>Rationale</dt>
              <dd style={{ whiteSpace: 'pre-wrap' }}>
                {t.rationale || <span className="faint">—</span>}
              </dd>
              <dt>Expected effect</dt>
              <dd data-testid="trial-expected-effect" style={{ whiteSpace: 'pre-wrap' }}>
                {t.expectedEffect || <span className="faint">—</span>}
              </dd>
              <dt>Builds on</dt>
              <dd>
                {t.parentTrialId ? (
                  <Link href={`/campaigns/${enc(campaignId)}/trials/${enc(t.parentTrialId)}`}>
                    {t.parentTrialId}
                  </Link>
                ) : (
                  <span className="faint">nothing (a root)</span>
                )}
              </dd>
            </dl>
          </Card>
          <ParamsDiff detail={d} />
          {t.sourceHash && <CodeDiff campaignId={campaignId} trial={t} />}
          <Metrics
            seeds={d.seeds}
            means={metrics}
            hidden={hidden}
            withheld={withheld}
            objective={d.campaign.objective ?? undefined}
          />
          <SeedCurves
            curves={d.curves}
            seeds={d.seeds.map((x) => x.seed)}
            withheld={[...withheld]}
            objective={d.campaign.objective}
          />
          <Logs seeds={d.seeds} />
        </div>
        <div className="stack">
          <Card title="Lineage" hint="From the root to this trial.">
            <ol style={{ margin: 0, paddingLeft: 18 }} data-testid="trial-lineage">
              {d.lineage.map((n) => (
                <li key={n.id} style={{ marginBottom: 4 }}>
                  {n.id === t.id ? (
                    <strong>{n.title}</strong>
                  ) : (
                    <Link href={`/campaigns/${enc(campaignId)}/trials/${enc(n.id)}`}>
                      {n.title}
                    </Link>
                  )}
                  <div className="small">
                    <PgrChip pgr={n.pgr} /> <span className="faint mono">{n.id}</span>
                  </div>
                </li>
              ))}
            </ol>
            <div className="section-gap">
              <Link href={`/campaigns/${enc(campaignId)}/lineage`}>Open the whole tree →</Link>
            </div>
          </Card>
          <Card
            title="Constraints"
            hint={
              feasible === null
                ? 'Not judged yet.'
                : feasible
                  ? 'Feasible: every constraint holds.'
                  : t.status === 'succeeded'
                    ? 'Infeasible: a constraint fails.'
                    : t.status === 'pruned'
                      ? 'Not judged: a cascade stage pruned the trial.'
                      : 'Infeasible: the trial did not succeed.'
            }
            actions={<Feasibility feasible={t.status === 'pruned' ? null : feasible} />}
            testId="constraints"
          >
            {verdicts.length === 0 ? (
              <div className="empty small">
                {d.constraints ? 'No constraints in these criteria.' : 'Criteria not available.'}
              </div>
            ) : (
              <table className="table">
                <tbody>
                  {verdicts.map((v, i) => (
                    <tr key={i} data-testid="constraint" data-ok={String(v.ok)}>
                      <td className="mono small">{v.description}</td>
                      <td className="num small">{v.withheld ? <Withheld /> : fmtNum(v.value)}</td>
                      <td>
                        {v.ok ? <Pill tone="ok">holds</Pill> : <Pill tone="danger">fails</Pill>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {d.constraints && !d.constraints.recorded && verdicts.length > 0 && (
              <div className="small muted section-gap" data-testid="constraints-judged-again">
                This trial's record has no verdicts: judged again from the criteria.
              </div>
            )}
          </Card>
          <Flags campaignId={campaignId} trialId={trialId} flags={flags} />
        </div>
      </div>
    </main>
  );
}

/**
 * A code trial's diff from its parent's source. The record carries it (cut when long) once read
 * from MLflow; while the campaign runs, or when the record's is cut, the whole one is asked for.
 */
function CodeDiff({ campaignId, trial }: { campaignId: string; trial: TrialRecord }) {
  const recorded = trial.diff;
  const cut = recorded !== undefined && isCutDiff(recorded);
  const [wantWhole, setWantWhole] = useState(false);
  const whole = useTrialDiff(campaignId, trial.id, recorded === undefined || wantWhole);
  const diff = whole.data?.diff ?? recorded;
  const shownCut = whole.data === undefined && cut;
  const hash = trial.sourceHash ?? '';
  return (
    <Card
      title="Code"
      hint={
        trial.parentTrialId
          ? `Diff from the source of ${trial.parentTrialId}.`
          : 'The source this trial ran.'
      }
      actions={
        <span className="mono small" title={hash} data-testid="source-hash">
          source {hash.slice(0, 12)}
        </span>
      }
      testId="trial-code"
    >
      {diff === undefined ? (
        whole.error ? (
          <ErrorNote error={whole.error} prefix="The diff could not be read" />
        ) : (
          <Loading what="Loading the diff" />
        )
      ) : diff.trim() === '' ? (
        <div className="empty small" data-testid="trial-diff" data-empty="true">
          The same source as its parent: only parameters changed.
        </div>
      ) : (
        <DiffView diff={diff} testId="trial-diff" />
      )}
      {shownCut && (
        <div className="row section-gap small">
          <span className="muted">The diff is cut here.</span>
          <button
            type="button"
            className="small"
            onClick={() => setWantWhole(true)}
            disabled={whole.isFetching}
            data-testid="diff-whole"
          >
            {whole.isFetching ? 'Loading…' : 'Show the whole diff'}
          </button>
        </div>
      )}
      {wantWhole && whole.error && <ErrorNote error={whole.error} />}
    </Card>
  );
}

function ParamsDiff({ detail }: { detail: TrialDetail }) {
  const own = detail.summary?.params ?? detail.trial.params;
  const before = detail.parentParams;
  const changed = new Set(Object.keys(detail.summary?.changes ?? {}));
  const names = [...new Set([...Object.keys(before ?? {}), ...Object.keys(own)])].filter(
    (n) => n !== 'gaplab_seeds',
  );
  const differs = (n: string) =>
    changed.has(n) || (before !== null && String(before[n] ?? '') !== String(own[n] ?? ''));
  names.sort((a, b) => Number(differs(b)) - Number(differs(a)) || a.localeCompare(b));
  const count = names.filter(differs).length;
  return (
    <Card
      title="Parameters"
      hint={
        before
          ? `${count} changed against the parent ${detail.trial.parentTrialId}.`
          : 'A root: no parent to compare with.'
      }
      testId="params"
    >
      <table className="table">
        <thead>
          <tr>
            <th>Parameter</th>
            {before && <th>Parent</th>}
            <th>This trial</th>
          </tr>
        </thead>
        <tbody>
          {names.map((n) => {
            const d = differs(n);
            return (
              <tr key={n} className={d ? 'changed' : ''} data-changed={d ? 'true' : undefined}>
                <td className="mono">{n}</td>
                {before && <td className="mono small muted">{fmtValue(before[n])}</td>}
                <td className="mono small">
                  {d ? <strong>{fmtValue(own[n])}</strong> : fmtValue(own[n])}
                  {d && <span className="faint"> ← changed</span>}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </Card>
  );
}

function Metrics({
  seeds,
  means,
  hidden,
  withheld,
  objective,
}: {
  seeds: SeedRecord[];
  means: Record<string, number | null>;
  hidden: Set<string>;
  withheld: Set<string>;
  objective: string | undefined;
}) {
  const names = [
    ...new Set([
      ...Object.keys(means),
      ...seeds.flatMap((s) => Object.keys(s.metrics)),
      ...withheld,
    ]),
  ].filter(
    (n) =>
      !['pgr', 'pgr_ci_low', 'pgr_ci_high', 'objective_stderr', 'compute_seconds'].includes(n) &&
      !n.startsWith('seed/'),
  );
  names.sort(
    (a, b) =>
      Number(b === objective) - Number(a === objective) ||
      Number(hidden.has(a)) - Number(hidden.has(b)) ||
      a.localeCompare(b),
  );
  const stderr = (n: string) => {
    const xs = seeds
      .map((s) => s.metrics[n])
      .filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
    if (xs.length < 2) return null;
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
    return sd / Math.sqrt(xs.length);
  };
  return (
    <Card
      title="Metrics"
      hint="Mean over seeds, with the standard error, and each seed."
      testId="metrics"
    >
      <div className="table-wrap">
        <table className="table">
          <thead>
            <tr>
              <th>Metric</th>
              <th className="num">Mean</th>
              <th className="num">s.e.</th>
              {seeds.map((s) => (
                <th key={s.seed} className="num">
                  seed {s.seed}
                  {s.status === 'pruned' && s.pruned ? (
                    <span style={{ color: 'var(--warn)' }}> ({formatPruned(s.pruned)})</span>
                  ) : (
                    s.status !== 'succeeded' && (
                      <span style={{ color: 'var(--danger)' }}> ({s.status})</span>
                    )
                  )}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {names.map((n) => (
              <tr key={n} data-metric={n}>
                <td>
                  <span className="mono">{n}</span>
                  {n === objective && <Pill tone="accent">objective</Pill>}
                  {hidden.has(n) && (
                    <span className="tag-hidden" data-testid="hidden-mark">
                      hidden from agents
                    </span>
                  )}
                </td>
                {withheld.has(n) ? (
                  <>
                    <td className="num">
                      <Withheld />
                    </td>
                    <td />
                    {seeds.map((s) => (
                      <td key={s.seed} className="num small">
                        <Withheld />
                      </td>
                    ))}
                  </>
                ) : (
                  <>
                    <td className="num">{fmtNum(means[n] ?? null, 5)}</td>
                    <td className="num faint">{fmtNum(stderr(n), 2)}</td>
                    {seeds.map((s) => (
                      <td key={s.seed} className="num small">
                        {fmtNum(s.metrics[n] ?? null, 5)}
                      </td>
                    ))}
                  </>
                )}
              </tr>
            ))}
            <tr>
              <td className="muted">duration</td>
              <td />
              <td />
              {seeds.map((s) => (
                <td key={s.seed} className="num small muted">
                  {fmtDuration(s.durationSeconds)}
                </td>
              ))}
            </tr>
          </tbody>
        </table>
      </div>
    </Card>
  );
}

function Logs({ seeds }: { seeds: SeedRecord[] }) {
  const withLogs = seeds.filter((s) => s.logTail || s.error);
  return (
    <Card
      title="Logs"
      hint="The tail of each seed's output; the full logs are artifacts of the MLflow run."
      testId="logs"
    >
      {withLogs.length === 0 ? (
        <div className="empty small">No output recorded.</div>
      ) : (
        withLogs.map((s) => (
          <details key={s.seed} open={s.status !== 'succeeded'} style={{ marginBottom: 8 }}>
            <summary>
              seed {s.seed} · {s.pruned ? formatPruned(s.pruned) : s.status}
              {s.error && <span style={{ color: 'var(--danger)' }}> · {s.error}</span>}
            </summary>
            {s.logTail && <pre className="logs section-gap">{s.logTail}</pre>}
          </details>
        ))
      )}
    </Card>
  );
}

function Flags({
  campaignId,
  trialId,
  flags,
}: {
  campaignId: string;
  trialId: string;
  flags: Flag[];
}) {
  return (
    <Card title="Review flags" hint="Suspicious results wait for a PI's review." testId="flags">
      {flags.length === 0 ? (
        <div className="empty small">No flags.</div>
      ) : (
        flags.map((f) => (
          <FlagItem key={f.kind} campaignId={campaignId} trialId={trialId} flag={f} />
        ))
      )}
    </Card>
  );
}

function FlagItem({
  campaignId,
  trialId,
  flag,
}: {
  campaignId: string;
  trialId: string;
  flag: Flag;
}) {
  const can = useCan('clearFlag');
  const [reason, setReason] = useState('');
  const decide = (what: 'clear' | 'confirm') => () =>
    api(`/campaigns/${enc(campaignId)}/trials/${enc(trialId)}/flags/${enc(flag.kind)}/${what}`, {
      body: { reason: reason.trim() },
    });
  const invalidate = [
    keys.trial(campaignId, trialId),
    keys.lineage(campaignId),
    keys.leaderboard(campaignId),
  ];
  const clear = useAction(decide('clear'), invalidate);
  const confirm = useAction(decide('confirm'), invalidate);
  return (
    <div className="approval" data-testid="flag" data-flag={flag.kind}>
      <div>
        <Pill tone={flag.cleared ? 'neutral' : 'warn'}>{flag.kind.replace(/_/g, ' ')}</Pill>{' '}
        {flag.message && <span className="small">{flag.message}</span>}
      </div>
      {flag.cleared ? (
        <div className="small muted" data-testid="flag-decision">
          Cleared by {flag.cleared.actor.name} {fmtTime(flag.cleared.at)}: {flag.cleared.reason}
        </div>
      ) : flag.confirmed ? (
        <div className="small" style={{ color: 'var(--danger)' }} data-testid="flag-decision">
          Confirmed by {flag.confirmed.actor.name} {fmtTime(flag.confirmed.at)}:{' '}
          {flag.confirmed.reason} — the trial is excluded for good.
        </div>
      ) : (
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            if (reason.trim()) clear.mutate(undefined);
          }}
        >
          {can.ok && (
            <input
              placeholder="Why is it fine?"
              value={reason}
              onChange={(e) => setReason(e.target.value)}
              style={{ flex: 1 }}
              aria-label="Reason for clearing or confirming"
            />
          )}
          <ActionButton
            action="clearFlag"
            type="submit"
            className="small"
            title="Checked: harmless. The trial becomes eligible to be best once no flag is open."
            disabled={!reason.trim() || clear.isPending || confirm.isPending}
          >
            Clear flag
          </ActionButton>
          <ActionButton
            action="confirmFlag"
            type="button"
            className="small danger"
            title="The problem is real: the trial is excluded for good."
            disabled={!reason.trim() || clear.isPending || confirm.isPending}
            onClick={() => confirm.mutate(undefined)}
          >
            Confirm
          </ActionButton>
        </form>
      )}
      {clear.error && <ErrorNote error={clear.error} />}
      {confirm.error && <ErrorNote error={confirm.error} />}
    </div>
  );
}

/**
 * The trial's trust state from its flags (domain/scoring.ts): under review while a flag is open,
 * excluded once a PI confirmed one. Eligible trials show nothing.
 */
function TrustPill({ flags }: { flags: Flag[] }) {
  const trust = trustState(flags);
  if (trust === 'eligible') return null;
  return (
    <span data-testid="trust" data-trust={trust}>
      <Pill
        tone={trust === 'excluded' ? 'danger' : 'warn'}
        title={
          trust === 'excluded'
            ? 'A PI confirmed a review flag: never best, never the target'
            : 'An open review flag: not best, not the target, not offered to strategies until a PI decides'
        }
      >
        {trust === 'excluded' ? 'excluded' : 'under review'}
      </Pill>
    </span>
  );
}

/** The campaign's feasibility verdict on the trial: met or violated constraints. */
function Feasibility({ feasible }: { feasible: boolean | null }) {
  if (feasible === null) return null;
  return (
    <span data-testid="feasibility" data-feasible={String(feasible)}>
      <Pill tone={feasible ? 'ok' : 'danger'}>{feasible ? 'feasible' : 'infeasible'}</Pill>
    </span>
  );
}

/** A hidden metric's value, withheld from this person until the campaign finishes. */
function Withheld() {
  return (
    <span
      className="tag-hidden"
      data-testid="withheld"
      title="Hidden metric: only PIs see its values until the campaign finishes"
    >
      hidden
    </span>
  );
}
