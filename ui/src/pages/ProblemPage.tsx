/**
 * A problem: its spec, its versioned evaluation criteria (a PI edits them as YAML or JSON and
 * sees the API's field issues), its campaigns, and their best PGR compared on one chart.
 */
import { useMemo, useState } from 'react';
import { useLocation } from 'wouter';
import { api, enc } from '../api.js';
import { useCan } from '../auth.js';
import { CompareChart, type CompareSeries } from '../components/charts.js';
import { useCrumbs } from '../components/crumbs.js';
import { DocEditor, parseDoc, toText } from '../components/DocEditor.js';
import {
  ActionButton,
  Card,
  ErrorNote,
  Loading,
  PgrChip,
  Pill,
  QueryState,
  RunStatusPill,
} from '../components/ui.js';
import { fmtRelative, fmtTime, fmtValue, STOP_REASON_TEXT } from '../lib/format.js';
import { SERIES_COLORS } from '../lib/pgr-color.js';
import { useCampaignEvents } from '../live.js';
import { keys, postCriteria, useAction, useCampaigns, useCompare, useProblem } from '../queries.js';
import type { CompareCampaign, CriteriaVersion, ProblemSpec, ProblemState } from '../types.js';

export function ProblemPage({ problemId }: { problemId: string }) {
  const problem = useProblem(problemId);
  useCrumbs([{ label: problem.data?.spec.title ?? problemId }]);
  if (problem.error)
    return (
      <main className="page">
        <ErrorNote error={problem.error} />
      </main>
    );
  if (!problem.data)
    return (
      <main className="page">
        <Loading what="Loading the problem" />
      </main>
    );
  const p = problem.data;
  return (
    <main className="page" data-testid="problem-page">
      <div className="page-head">
        <div>
          <h1>{p.spec.title}</h1>
          <div className="sub">{p.spec.question}</div>
          <div className="small faint" style={{ marginTop: 4 }}>
            <span className="mono">{p.spec.id}</span> · experiment{' '}
            <span className="mono">{p.spec.experiment}</span> · submitted by {p.createdBy.name}{' '}
            {fmtRelative(p.createdAt)}
          </div>
        </div>
      </div>
      <div className="stack">
        <Campaigns problem={p} />
        <div className="grid two">
          <Criteria problem={p} />
          <Spec spec={p.spec} experiment={p.experiment} />
        </div>
      </div>
    </main>
  );
}

// ---- campaigns and comparison ------------------------------------------------------------------

function Campaigns({ problem }: { problem: ProblemState }) {
  const id = problem.spec.id;
  const campaigns = useCampaigns(id);
  const compare = useCompare(
    id,
    (campaigns.data ?? []).filter((c) => c.status === 'RUNNING').length > 1 ? 5000 : false,
  );
  const [by, setBy] = useState<'trials' | 'time'>('trials');
  const [starting, setStarting] = useState(false);
  const [, navigate] = useLocation();
  // One event stream (the newest running campaign) keeps the chart live; browsers allow only a
  // few connections per server, so other running campaigns are polled.
  const running = (campaigns.data ?? []).filter((c) => c.status === 'RUNNING');
  return (
    <Card
      title="Campaigns"
      hint="Best PGR of each campaign, by the lower confidence bound, side by side."
      actions={
        <>
          <span className="seg" role="group" aria-label="x axis">
            <button className={by === 'trials' ? 'on' : ''} onClick={() => setBy('trials')}>
              over trials
            </button>
            <button className={by === 'time' ? 'on' : ''} onClick={() => setBy('time')}>
              over time
            </button>
          </span>
          <ActionButton
            action="startCampaign"
            className="primary"
            onClick={() => setStarting((s) => !s)}
            disabled={problem.criteria.length === 0}
            title={
              problem.criteria.length === 0
                ? 'A PI must set the evaluation criteria first'
                : undefined
            }
            data-testid="new-campaign"
          >
            Start a campaign
          </ActionButton>
        </>
      }
      testId="campaigns"
    >
      {running[0] && (
        <LiveCampaign
          key={running[0].campaignId}
          campaignId={running[0].campaignId}
          problemId={id}
        />
      )}
      {starting && (
        <StartCampaign problem={problem} onDone={(cid) => navigate(`/campaigns/${enc(cid)}`)} />
      )}
      <QueryState q={compare} what="Comparing campaigns">
        {(cmp) =>
          cmp.campaigns.length === 0 ? (
            <div className="empty">No campaign yet.</div>
          ) : (
            <CompareView campaigns={cmp.campaigns} by={by} listed={campaigns.data ?? []} />
          )
        }
      </QueryState>
    </Card>
  );
}

/** Subscribes to a running campaign's stream so the comparison follows it live. */
function LiveCampaign({ campaignId, problemId }: { campaignId: string; problemId: string }) {
  useCampaignEvents(campaignId, [keys.compare(problemId), keys.campaigns(problemId)]);
  return null;
}

function CompareView({
  campaigns,
  by,
  listed,
}: {
  campaigns: CompareCampaign[];
  by: 'trials' | 'time';
  listed: { campaignId: string; status: string }[];
}) {
  const [, navigate] = useLocation();
  const ordered = useMemo(
    () => [...campaigns].sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? '')),
    [campaigns],
  );
  const series = useMemo<CompareSeries[]>(
    () =>
      ordered.map((c, i) => ({
        id: c.campaignId,
        label: c.label ? `${c.label} (${c.strategy})` : `${c.strategy} · ${c.campaignId.slice(-4)}`,
        color: SERIES_COLORS[i % SERIES_COLORS.length]!,
        points: c.series.map((p) => ({
          trials: p.n,
          seconds: p.seconds ?? 0,
          pgr: p.bestCiLow ?? p.bestMean,
        })),
      })),
    [ordered],
  );
  const statusOf = new Map(listed.map((l) => [l.campaignId, l.status]));
  return (
    <>
      <CompareChart series={series} by={by} />
      <table className="table section-gap" data-testid="campaign-table">
        <thead>
          <tr>
            <th />
            <th>Campaign</th>
            <th>Strategy</th>
            <th>Status</th>
            <th className="num">Trials</th>
            <th>Best PGR [CI]</th>
            <th>Verdict</th>
            <th>Started</th>
          </tr>
        </thead>
        <tbody>
          {ordered.map((c, i) => (
            <tr
              key={c.campaignId}
              className="clickable"
              onClick={() => navigate(`/campaigns/${enc(c.campaignId)}`)}
              data-campaign={c.campaignId}
            >
              <td>
                <span className="chip">
                  <span
                    className="swatch"
                    style={{ background: SERIES_COLORS[i % SERIES_COLORS.length] }}
                  />
                </span>
              </td>
              <td>
                <a href={`/campaigns/${enc(c.campaignId)}`} onClick={(e) => e.preventDefault()}>
                  {c.label ?? c.campaignId}
                </a>
                {c.label && <div className="small faint mono">{c.campaignId}</div>}
              </td>
              <td>
                <Pill tone="neutral">{c.strategy}</Pill>
              </td>
              <td>
                <RunStatusPill status={statusOf.get(c.campaignId) ?? c.status} />
                {c.stopReason && (
                  <div className="small muted">
                    {STOP_REASON_TEXT[c.stopReason] ?? c.stopReason}
                  </div>
                )}
              </td>
              <td className="num">{c.trials}</td>
              <td>
                {c.best ? (
                  <>
                    <PgrChip
                      pgr={c.best.mean}
                      ciLow={c.best.ciLow}
                      ciHigh={c.best.ciHigh}
                      testId="compare-best-pgr"
                    />
                    <div className="small faint mono" data-testid="compare-best-id">
                      {c.best.trialId}
                    </div>
                  </>
                ) : (
                  <span className="faint">—</span>
                )}
              </td>
              <td data-testid="compare-verdict">
                {c.verdict ? (
                  <span title={c.verdict.headline}>{c.verdict.verdict.replace('_', ' ')}</span>
                ) : (
                  <span className="faint">—</span>
                )}
              </td>
              <td className="small muted">
                {c.startedBy ?? ''} {c.startedAt ? fmtRelative(c.startedAt) : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function StartCampaign({
  problem,
  onDone,
}: {
  problem: ProblemState;
  onDone: (campaignId: string) => void;
}) {
  const [strategy, setStrategy] = useState<'random' | 'optuna' | 'claude'>('optuna');
  const [version, setVersion] = useState(String(problem.criteria.at(-1)?.version ?? ''));
  const [label, setLabel] = useState('');
  const [seed, setSeed] = useState('');
  const [paused, setPaused] = useState(false);
  const start = useAction(
    (body: unknown) => api<{ campaignId: string }>('/campaigns', { body }),
    [keys.compare(problem.spec.id), keys.campaigns(problem.spec.id), keys.problem(problem.spec.id)],
  );
  return (
    <form
      className="form card section-gap"
      style={{ background: 'var(--surface-2)', marginBottom: 16 }}
      data-testid="start-campaign"
      onSubmit={(e) => {
        e.preventDefault();
        const body = {
          problemId: problem.spec.id,
          strategy: { name: strategy },
          ...(version ? { criteriaVersion: Number(version) } : {}),
          ...(label.trim() ? { label: label.trim() } : {}),
          ...(seed.trim() ? { seed: Number(seed) } : {}),
          ...(paused ? { paused: true } : {}),
        };
        start.mutate(body, { onSuccess: (r) => onDone(r.campaignId) });
      }}
    >
      <div className="row">
        <label className="field">
          Strategy
          <select
            value={strategy}
            onChange={(e) => setStrategy(e.target.value as typeof strategy)}
            name="strategy"
          >
            <option value="optuna">optuna (TPE)</option>
            <option value="random">random (control)</option>
            <option value="claude">claude (research agents)</option>
          </select>
        </label>
        <label className="field">
          Criteria version
          <select
            value={version}
            onChange={(e) => setVersion(e.target.value)}
            name="criteriaVersion"
          >
            {[...problem.criteria].reverse().map((c) => (
              <option key={c.version} value={c.version}>
                v{c.version} · {c.reason || 'no reason given'}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Label
          <input
            value={label}
            onChange={(e) => setLabel(e.target.value)}
            name="label"
            placeholder="optional"
          />
        </label>
        <label className="field" style={{ maxWidth: 120 }}>
          Seed
          <input
            value={seed}
            onChange={(e) => setSeed(e.target.value)}
            name="seed"
            placeholder="random"
            inputMode="numeric"
          />
        </label>
      </div>
      <label className="row small">
        <input
          type="checkbox"
          name="paused"
          checked={paused}
          onChange={(e) => setPaused(e.target.checked)}
        />{' '}
        start paused: measure the baseline, then wait for ideas until resumed
      </label>
      {start.error && <ErrorNote error={start.error} prefix="Not started" />}
      <div className="row">
        <button
          type="submit"
          className="primary"
          disabled={start.isPending}
          data-testid="start-submit"
        >
          {start.isPending ? 'Starting…' : 'Start'}
        </button>
      </div>
    </form>
  );
}

// ---- criteria -------------------------------------------------------------------------------------

function Criteria({ problem }: { problem: ProblemState }) {
  const versions = problem.criteria;
  const [shown, setShown] = useState<number | null>(null);
  const [editing, setEditing] = useState(false);
  const current = versions.find((v) => v.version === shown) ?? versions.at(-1);
  return (
    <Card
      title="Evaluation criteria"
      hint={
        versions.length
          ? `${versions.length} version${versions.length > 1 ? 's' : ''}; campaigns keep the version they started with.`
          : 'Set by a PI before any campaign can start.'
      }
      actions={
        <ActionButton
          action="setCriteria"
          onClick={() => setEditing((e) => !e)}
          data-testid="edit-criteria"
        >
          {editing ? 'Close editor' : versions.length ? 'New version…' : 'Set criteria…'}
        </ActionButton>
      }
      testId="criteria"
    >
      {editing && <CriteriaEditor problem={problem} onDone={() => setEditing(false)} />}
      {versions.length > 1 && (
        <div className="row" style={{ marginBottom: 10, gap: 6 }}>
          {[...versions].reverse().map((v) => (
            <button
              key={v.version}
              className={`small ${current?.version === v.version ? 'primary' : ''}`}
              onClick={() => setShown(v.version)}
            >
              v{v.version}
            </button>
          ))}
        </div>
      )}
      {current ? (
        <CriteriaView version={current} />
      ) : (
        !editing && <div className="empty">No criteria yet.</div>
      )}
    </Card>
  );
}

function refText(r: CriteriaVersion['criteria']['baseline']): string {
  return r.kind === 'value' ? String(r.value) : `measure "${r.configuration}" on ${r.seeds} seeds`;
}

function CriteriaView({ version }: { version: CriteriaVersion }) {
  const c = version.criteria;
  const b = c.budgets;
  return (
    <div data-testid="criteria-view" data-version={version.version}>
      <div className="small muted" style={{ marginBottom: 8 }}>
        v{version.version} by {version.actor.name} · {fmtTime(version.createdAt)}
        {version.reason && <> · “{version.reason}”</>}
      </div>
      <dl className="kv">
        <dt>Objective</dt>
        <dd>
          <span className="mono">{c.metric}</span> ({c.direction})
        </dd>
        <dt>Baseline</dt>
        <dd>{refText(c.baseline)}</dd>
        <dt>Optimum</dt>
        <dd>{refText(c.optimum)}</dd>
        <dt>Seeds per trial</dt>
        <dd>
          {c.seedsPerTrial} · {Math.round(c.confidence * 100)}% intervals
        </dd>
        <dt>Target PGR</dt>
        <dd>{c.targetPgr}</dd>
        <dt>Hidden metrics</dt>
        <dd>
          {c.hiddenMetrics.length
            ? c.hiddenMetrics.map((m) => (
                <span key={m} className="mono" style={{ marginRight: 8 }}>
                  {m}
                  <span className="tag-hidden">hidden from agents</span>
                </span>
              ))
            : '—'}
          {c.hiddenMetrics.length > 0 && (
            <div className="faint small" data-testid="hidden-visibility">
              {c.hiddenMetricsVisibility === 'everyone'
                ? 'Their values are shown to every person.'
                : 'Their values are shown to PIs only until a campaign finishes.'}
            </div>
          )}
        </dd>
        <dt>Constraints</dt>
        <dd>
          {c.constraints.length
            ? c.constraints.map((k, i) => (
                <div key={i} className="mono small">
                  {k.kind === 'absolute'
                    ? `${k.metric} ${k.op} ${k.value}`
                    : `${k.metric} ${k.op} ${k.factor} × baseline`}
                </div>
              ))
            : '—'}
        </dd>
        <dt>Budgets</dt>
        <dd>
          {[
            b.maxTrials !== undefined && `${b.maxTrials} trials`,
            b.maxIterations !== undefined && `${b.maxIterations} iterations`,
            b.maxWallSeconds !== undefined && `${b.maxWallSeconds} s wall-clock`,
            b.maxDollars !== undefined && `$${b.maxDollars}`,
            b.maxComputeSeconds !== undefined && `${b.maxComputeSeconds} compute-s`,
            `concurrency ${b.concurrency}`,
          ]
            .filter(Boolean)
            .join(' · ')}
        </dd>
        {c.stagnation && (
          <>
            <dt>Stagnation</dt>
            <dd>
              stop after {c.stagnation.iterations} iterations without +{c.stagnation.minImprovement}
            </dd>
          </>
        )}
        <dt>Approval mode</dt>
        <dd>
          {c.approval.enabled
            ? `on · undecided after ${Math.round(c.approval.timeoutSeconds / 60)} min: ${c.approval.onTimeout}`
            : 'off'}
        </dd>
        <dt>Verification</dt>
        <dd>
          top {c.verification.topK} on {c.verification.seeds} fresh seeds
        </dd>
      </dl>
    </div>
  );
}

const CRITERIA_TEMPLATE = {
  metric: 'score',
  direction: 'maximize',
  baseline: { kind: 'measure', configuration: 'baseline', seeds: 5 },
  optimum: { kind: 'value', value: 1 },
  seedsPerTrial: 5,
  hiddenMetrics: [],
  targetPgr: 1,
  budgets: { maxTrials: 50, concurrency: 4 },
};

function CriteriaEditor({ problem, onDone }: { problem: ProblemState; onDone: () => void }) {
  const can = useCan('setCriteria');
  const latest = problem.criteria.at(-1)?.criteria;
  const [text, setText] = useState(() =>
    toText(
      latest ?? { ...CRITERIA_TEMPLATE, metric: problem.experiment.metrics[0]?.name ?? 'score' },
      'yaml',
    ),
  );
  const [reason, setReason] = useState('');
  const save = useAction(
    (doc: unknown) => postCriteria(problem.spec.id, doc, reason.trim() || undefined),
    [keys.problem(problem.spec.id), keys.problems],
  );
  const parsed = parseDoc(text);
  if (!can.ok) return null;
  return (
    <form
      className="form"
      style={{ marginBottom: 16 }}
      data-testid="criteria-editor"
      onSubmit={(e) => {
        e.preventDefault();
        if (parsed.error) return;
        save.mutate(parsed.value, { onSuccess: onDone });
      }}
    >
      <DocEditor text={text} onChange={setText} label="Criteria" rows={18} testId="criteria-text" />
      <div className="small muted">
        Metrics of <span className="mono">{problem.experiment.name}</span>:{' '}
        {problem.experiment.metrics.map((m) => m.name).join(', ')}
      </div>
      <label className="field">
        Why this version?
        <input value={reason} onChange={(e) => setReason(e.target.value)} name="criteria-reason" />
      </label>
      {save.error && <ErrorNote error={save.error} prefix="The criteria were not accepted" />}
      <div className="row">
        <button
          className="primary"
          type="submit"
          disabled={parsed.error !== null || save.isPending}
          data-testid="save-criteria"
        >
          {save.isPending ? 'Saving…' : 'Save as a new version'}
        </button>
      </div>
    </form>
  );
}

// ---- spec -----------------------------------------------------------------------------------------

function Spec({ spec, experiment }: { spec: ProblemSpec; experiment: ProblemState['experiment'] }) {
  const [raw, setRaw] = useState(false);
  return (
    <Card
      title="Problem spec"
      actions={
        <button className="small ghost" onClick={() => setRaw(!raw)}>
          {raw ? 'Table' : 'YAML'}
        </button>
      }
      testId="spec"
    >
      {raw ? (
        <pre className="mono" style={{ maxHeight: 520, overflow: 'auto' }}>
          {toText(spec, 'yaml')}
        </pre>
      ) : (
        <>
          {spec.context && (
            <p className="small" style={{ marginTop: 0, whiteSpace: 'pre-wrap' }}>
              {spec.context}
            </p>
          )}
          <div className="small muted" style={{ marginBottom: 6 }}>
            {experiment.description}
          </div>
          <table className="table">
            <thead>
              <tr>
                <th>Parameter</th>
                <th>Range</th>
                <th>Baseline</th>
              </tr>
            </thead>
            <tbody>
              {spec.space.map((p) => (
                <tr key={p.name}>
                  <td>
                    <span className="mono">{p.name}</span>
                    {p.description && <div className="small faint">{p.description}</div>}
                  </td>
                  <td className="small">
                    {p.kind === 'float' || p.kind === 'int'
                      ? `${p.kind} ${p.low} … ${p.high}${p.log ? ' (log)' : ''}`
                      : p.kind === 'categorical'
                        ? p.choices.join(' | ')
                        : 'true | false'}
                    {p.condition && (
                      <div className="faint">
                        when {p.condition.parent} ∈ {p.condition.values.join(', ')}
                      </div>
                    )}
                  </td>
                  <td className="mono small">{fmtValue(spec.baseline[p.name])}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {Object.keys(spec.configurations).length > 0 && (
            <div className="small muted section-gap">
              Named configurations:{' '}
              {Object.keys(spec.configurations).map((c) => (
                <span key={c} className="mono" style={{ marginRight: 8 }}>
                  {c}
                </span>
              ))}
            </div>
          )}
        </>
      )}
    </Card>
  );
}
