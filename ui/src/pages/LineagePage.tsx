/**
 * The lineage view: every hypothesis of a campaign as a tree from the baseline by parent trial,
 * coloured by PGR, failed and flagged trials marked, the path to the best trial highlighted.
 * Zoom, pan, search; click a node for its summary, double-click (or "Open trial") for the trial.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useLocation } from 'wouter';
import { enc } from '../api.js';
import { useCrumbs } from '../components/crumbs.js';
import { LineageCanvas, type LineageCanvasHandle } from '../components/LineageCanvas.js';
import {
  Card,
  ErrorNote,
  FlagPills,
  LiveIndicator,
  Loading,
  PgrChip,
  Pill,
} from '../components/ui.js';
import { formatRecorded } from '../lib/format.js';
import {
  defaultLayoutMode,
  layoutLineage,
  searchLineage,
  type LayoutMode,
} from '../lib/lineage-layout.js';
import {
  ABOVE_ONE_COLOR,
  BELOW_ZERO_COLOR,
  FAILED_COLOR,
  FLAG_COLOR,
  legendGradient,
} from '../lib/pgr-color.js';
import { useCampaignEvents } from '../live.js';
import { lineageTiming, useLineage } from '../queries.js';
import type { LineageTimings } from '../lib/lineage-timings.js';
import type { LineageNode } from '../types.js';

declare global {
  interface Window {
    __gaplabLineage?: LineageTimings;
  }
}

export function LineagePage({ campaignId }: { campaignId: string }) {
  const lineage = useLineage(campaignId);
  const finished = lineage.data?.finished ?? true;
  const live = useCampaignEvents(lineage.data && !finished ? campaignId : null);
  const problemId = lineage.data?.problemId ?? null;
  useCrumbs([
    ...(problemId ? [{ label: problemId, href: `/problems/${enc(problemId)}` }] : []),
    { label: campaignId, href: `/campaigns/${enc(campaignId)}` },
    { label: 'lineage' },
  ]);
  const [chosenMode, setMode] = useState<LayoutMode | null>(null);
  // The default is chosen once, from the first size seen: a live lineage does not flip layouts.
  const firstMode = useRef<LayoutMode | null>(null);
  if (firstMode.current === null && lineage.data)
    firstMode.current = defaultLayoutMode(lineage.data.nodes.length);
  const mode = chosenMode ?? firstMode.current ?? 'tree';
  const laid = useMemo(() => {
    if (!lineage.data) return null;
    const t0 = performance.now();
    // A run still being written has no parent tag yet: leave it out until it has one.
    const nodes = lineage.data.nodes.filter(
      (n) => n.status !== 'running' || n.parentTrialId !== null || n.kind === 'reference',
    );
    const l = layoutLineage<LineageNode>(nodes, mode, lineage.data.best?.trialId ?? null);
    return { layout: l, ms: performance.now() - t0 };
  }, [lineage.data, mode]);
  const layout = laid?.layout ?? null;

  const canvas = useRef<LineageCanvasHandle>(null);
  const [query, setQuery] = useState('');
  const matches = useMemo(
    () => (layout ? searchLineage(layout.nodes, query) : []),
    [layout, query],
  );
  // -1 until the first step through this query's matches: Enter then selects the first one.
  const [matchAt, setMatchAt] = useState(-1);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [hover, setHover] = useState<{ i: number; x: number; y: number } | null>(null);
  const [, navigate] = useLocation();
  const selected =
    layout && selectedId !== null ? (layout.indexById.get(selectedId) ?? null) : null;
  const selectedNode = selected !== null && layout ? layout.nodes[selected]! : null;
  /** A node's source hash (code experiments), to tell a code change from a parameter change. */
  const nodeSource = (id: string) => {
    const i = layout?.indexById.get(id);
    return i === undefined ? undefined : layout?.nodes[i]?.sourceHash;
  };

  useEffect(() => setMatchAt(-1), [query]);

  const openTrial = useCallback(
    (id: string) => navigate(`/campaigns/${enc(campaignId)}/trials/${enc(id)}`),
    [campaignId, navigate],
  );
  const lastClick = useRef<{ i: number; at: number } | null>(null);

  const onFirstDraw = useCallback(
    (drawMs: number) => {
      if (!laid) return;
      const { layout, ms } = laid;
      const timings: LineageTimings = {
        nodes: layout.nodes.length,
        fetchMs: lineageTiming.fetchMs,
        layoutMs: ms,
        drawMs,
        readyMs: performance.now(),
      };
      window.__gaplabLineage = timings;
      document.body.dataset.lineageReady = String(layout.nodes.length);
    },
    [laid],
  );

  function step(delta: number) {
    if (matches.length === 0) return;
    const next =
      matchAt < 0
        ? delta > 0
          ? 0
          : matches.length - 1
        : (matchAt + delta + matches.length) % matches.length;
    setMatchAt(next);
    const i = matches[next]!;
    setSelectedId(layout!.nodes[i]!.id);
    canvas.current?.focus(i, 1.4);
  }

  if (lineage.error)
    return (
      <main className="page">
        <ErrorNote error={lineage.error} />
      </main>
    );
  if (!layout || !lineage.data)
    return (
      <main className="page">
        <Loading what="Loading the lineage" />
      </main>
    );
  const best = layout.best >= 0 ? layout.nodes[layout.best]! : null;
  const hovered = hover ? layout.nodes[hover.i] : undefined;
  return (
    <main className="full">
      <div className="lineage" data-testid="lineage">
        <div className="lineage-toolbar">
          <strong>Lineage</strong>
          <span className="muted small">
            {layout.nodes.length.toLocaleString('en-US')} trials
            {layout.orphans > 0 ? ` · ${layout.orphans} without a recorded parent` : ''}
          </span>
          {!finished && <LiveIndicator state={live} />}
          <span style={{ flex: 1 }} />
          <form
            className="row"
            style={{ gap: 6 }}
            onSubmit={(e) => {
              e.preventDefault();
              step(1);
            }}
          >
            <input
              type="search"
              placeholder="Search title, id, author"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
              style={{ width: 230 }}
              data-testid="lineage-search"
              aria-label="Search the lineage"
            />
            <span className="small muted" style={{ minWidth: 70 }} data-testid="match-count">
              {query
                ? `${matches.length === 0 ? 0 : Math.max(matchAt, 0) + 1} / ${matches.length}`
                : ''}
            </span>
            <button
              type="button"
              className="small"
              onClick={() => step(-1)}
              disabled={matches.length === 0}
              aria-label="Previous match"
            >
              ↑
            </button>
            <button
              type="submit"
              className="small"
              disabled={matches.length === 0}
              aria-label="Next match"
            >
              ↓
            </button>
          </form>
          <span className="seg" role="group" aria-label="layout">
            <button
              type="button"
              className={mode === 'tree' ? 'on' : ''}
              onClick={() => setMode('tree')}
            >
              Tree
            </button>
            <button
              type="button"
              className={mode === 'radial' ? 'on' : ''}
              onClick={() => setMode('radial')}
            >
              Radial
            </button>
          </span>
          <button type="button" className="small" onClick={() => canvas.current?.fit()}>
            Fit
          </button>
          <button
            type="button"
            className="small"
            disabled={!best}
            onClick={() => {
              if (!best) return;
              setSelectedId(best.id);
              canvas.current?.focus(layout.best, 1.4);
            }}
          >
            Best trial
          </button>
        </div>
        <div className="lineage-canvas-wrap">
          <LineageCanvas
            ref={canvas}
            layout={layout}
            matches={matches}
            selected={selected}
            onFirstDraw={onFirstDraw}
            onHover={(i, at) => setHover(i === null || !at ? null : { i, ...at })}
            onSelect={(i) => {
              const id = layout.nodes[i]!.id;
              const now = performance.now();
              if (
                lastClick.current &&
                lastClick.current.i === i &&
                now - lastClick.current.at < 400
              )
                openTrial(id);
              lastClick.current = { i, at: now };
              setSelectedId(id);
            }}
          />
          {hovered && hover && (
            <div
              className="chart-tip"
              style={{ left: Math.min(hover.x + 14, window.innerWidth - 320), top: hover.y + 14 }}
            >
              <div className="t">{hovered.title}</div>
              <div>
                {hovered.id} · {hovered.author}
              </div>
              <div>
                {hovered.status === 'succeeded'
                  ? `PGR ${formatRecorded(hovered.pgr === null ? null : { mean: hovered.pgr, ciLow: hovered.ciLow, ciHigh: hovered.ciHigh })}`
                  : hovered.status}
              </div>
              {hovered.flags.length > 0 && <div>⚑ {hovered.flags.join(', ')}</div>}
            </div>
          )}
          <Legend />
          <div className="lineage-stats" data-testid="lineage-stats">
            {best ? (
              <>
                Best: <strong data-testid="best-id">{best.id}</strong> {best.title} · PGR{' '}
                <span data-testid="best-pgr">{formatRecorded(lineage.data.best?.pgr)}</span>
              </>
            ) : (
              'No scored trial yet'
            )}
          </div>
          {selectedNode && (
            <div className="lineage-side">
              <Card
                title={selectedNode.title}
                hint={`${selectedNode.id} · ${selectedNode.kind}`}
                actions={
                  <button
                    className="ghost small"
                    onClick={() => setSelectedId(null)}
                    aria-label="Close"
                  >
                    ✕
                  </button>
                }
                testId="lineage-selected"
              >
                <dl className="kv">
                  <dt>PGR</dt>
                  <dd>
                    <PgrChip
                      pgr={selectedNode.pgr}
                      ciLow={selectedNode.ciLow}
                      ciHigh={selectedNode.ciHigh}
                    />
                  </dd>
                  <dt>Status</dt>
                  <dd>
                    <Pill
                      tone={
                        selectedNode.status === 'succeeded'
                          ? 'ok'
                          : selectedNode.status === 'running'
                            ? 'info'
                            : 'danger'
                      }
                    >
                      {selectedNode.status}
                    </Pill>
                  </dd>
                  <dt>Author</dt>
                  <dd>
                    {selectedNode.author} <span className="faint">({selectedNode.authorKind})</span>
                  </dd>
                  <dt>Parent</dt>
                  <dd>
                    {selectedNode.parentTrialId ? (
                      <a
                        href="#"
                        onClick={(e) => {
                          e.preventDefault();
                          const p = layout.indexById.get(selectedNode.parentTrialId!);
                          if (p !== undefined) {
                            setSelectedId(selectedNode.parentTrialId);
                            canvas.current?.focus(p);
                          }
                        }}
                      >
                        {selectedNode.parentTrialId}
                      </a>
                    ) : (
                      '—'
                    )}
                  </dd>
                  {selectedNode.sourceHash && (
                    <>
                      <dt>Source</dt>
                      <dd data-testid="node-source">
                        <span className="mono small" title={selectedNode.sourceHash}>
                          {selectedNode.sourceHash.slice(0, 12)}
                        </span>{' '}
                        <span className="faint">
                          {selectedNode.parentTrialId !== null &&
                          nodeSource(selectedNode.parentTrialId) === selectedNode.sourceHash
                            ? "(the parent's)"
                            : '(code changed)'}
                        </span>
                      </dd>
                    </>
                  )}
                  {selectedNode.flags.length > 0 && (
                    <>
                      <dt>Flags</dt>
                      <dd>
                        <FlagPills flags={selectedNode.flags.map((kind) => ({ kind }))} />
                      </dd>
                    </>
                  )}
                </dl>
                <div className="row" style={{ marginTop: 12 }}>
                  <Link
                    href={`/campaigns/${enc(campaignId)}/trials/${enc(selectedNode.id)}`}
                    className="button"
                    data-testid="open-trial"
                  >
                    Open trial →
                  </Link>
                </div>
              </Card>
            </div>
          )}
        </div>
      </div>
    </main>
  );
}

function Legend() {
  return (
    <div
      className="legend"
      style={{
        position: 'absolute',
        left: 14,
        top: 12,
        background: 'rgba(255,255,255,0.88)',
        padding: '6px 10px',
        borderRadius: 6,
        border: '1px solid var(--border)',
      }}
    >
      <span className="key">
        PGR 0 <span className="scale-bar" style={{ background: legendGradient() }} /> 1
      </span>
      <span className="key">
        <span
          className="swatch"
          style={{ width: 10, height: 10, borderRadius: 5, background: BELOW_ZERO_COLOR }}
        />{' '}
        below baseline
      </span>
      <span className="key">
        <span style={{ width: 10, height: 10, borderRadius: 5, background: ABOVE_ONE_COLOR }} />{' '}
        above 1
      </span>
      <span className="key">
        <span
          style={{
            width: 10,
            height: 10,
            borderRadius: 5,
            border: `1.5px solid ${FAILED_COLOR}`,
            background: '#fff',
          }}
        />{' '}
        failed
      </span>
      <span className="key">
        <span
          style={{ width: 10, height: 10, borderRadius: 5, border: `2px solid ${FLAG_COLOR}` }}
        />{' '}
        flagged
      </span>
      <span className="key">
        <span className="line" style={{ background: '#0f766e' }} /> path to best
      </span>
    </div>
  );
}
