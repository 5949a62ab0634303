/**
 * A campaign's trials for analysis: the sortable, filterable table (exported as CSV or JSON as
 * the server sorts and filters it), trials picked for a side-by-side comparison, parameter
 * importance, slice plots and parallel coordinates. Everything is computed on the server from
 * the recorded trials; this page draws it.
 */
import { useMemo, useState } from 'react';
import { Link, useLocation } from 'wouter';
import { enc } from '../api.js';
import { useCrumbs } from '../components/crumbs.js';
import {
  ImportanceBars,
  ParallelCoordinates,
  SlicePlots,
  type ChartRow,
} from '../components/analysis-charts.js';
import {
  Card,
  ErrorNote,
  LiveIndicator,
  Loading,
  PgrChip,
  RunStatusPill,
} from '../components/ui.js';
import { fmtValue } from '../lib/format.js';
import { useCampaignEvents } from '../live.js';
import { useStatus } from '../queries.js';
import type { TableCell, TableColumn, TrialTable } from '../types.js';
import { downloadTable, useImportance, useTrialTable, type TableParams } from '../view-queries.js';

const DEFAULT_COLUMNS = ['index', 'id', 'title', 'status', 'pgr', 'trust'];

function cellText(c: TableColumn, v: TableCell): string {
  if (v === null) return '';
  if (c.key === 'pgr' || c.key === 'pgrLow' || c.key === 'pgrHigh')
    return typeof v === 'number' ? v.toFixed(3) : String(v);
  return fmtValue(v);
}

export function AnalysisPage({ campaignId }: { campaignId: string }) {
  const status = useStatus(campaignId);
  const problemId = status.data?.problemId ?? null;
  const live = useCampaignEvents(campaignId, []);
  useCrumbs([
    ...(problemId ? [{ label: problemId, href: `/problems/${enc(problemId)}` }] : []),
    { label: campaignId, href: `/campaigns/${enc(campaignId)}` },
    { label: 'trials' },
  ]);
  const [sort, setSort] = useState('index');
  const [filterDraft, setFilterDraft] = useState('');
  const [filter, setFilter] = useState('');
  const [q, setQ] = useState('');
  const params: TableParams = { sort, filter, q };
  const table = useTrialTable(campaignId, params);
  const [evaluator, setEvaluator] = useState<'fanova' | 'ped-anova'>('fanova');
  const importance = useImportance(campaignId, evaluator);
  const [selected, setSelected] = useState<string[]>([]);
  const [exportError, setExportError] = useState<unknown>(null);
  const [, navigate] = useLocation();

  const toggle = (id: string) =>
    setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id].slice(-8)));
  const onSort = (key: string) => setSort((s) => (s === key ? `-${key}` : key));
  const exportAs = (format: 'csv' | 'json') => {
    setExportError(null);
    downloadTable(campaignId, params, format).catch(setExportError);
  };

  return (
    <main className="page" data-testid="analysis-page">
      <div className="page-head">
        <div>
          <div className="row" style={{ gap: 8 }}>
            <h1>Trials of {campaignId}</h1>
            {status.data && status.data.phase !== 'finished' && <LiveIndicator state={live} />}
          </div>
          <div className="sub">
            Sort by a column (click again to reverse), filter with clauses like{' '}
            <code>pgr &gt;= 0.5; status = succeeded</code>, tick trials to compare them.
          </div>
        </div>
        <div className="row">
          <Link href={`/campaigns/${enc(campaignId)}`} className="button">
            Campaign
          </Link>
          <Link href={`/campaigns/${enc(campaignId)}/lineage`} className="button">
            Lineage
          </Link>
        </div>
      </div>

      <Card
        title="Parameter importance"
        hint={
          importance.data
            ? `Share of PGR's variance each parameter explains, by Optuna's ${importance.data.evaluator === 'fanova' ? 'fANOVA' : 'PED-ANOVA'} over ${importance.data.trials} succeeded search trials`
            : "By Optuna's importance evaluators over the succeeded search trials"
        }
        actions={
          <select
            value={evaluator}
            onChange={(e) => setEvaluator(e.target.value as 'fanova' | 'ped-anova')}
            aria-label="importance evaluator"
          >
            <option value="fanova">fANOVA</option>
            <option value="ped-anova">PED-ANOVA</option>
          </select>
        }
        testId="importance-card"
      >
        {importance.error ? (
          <ErrorNote error={importance.error} />
        ) : importance.data ? (
          <ImportanceBars importance={importance.data} />
        ) : (
          <Loading what="Computing importance" />
        )}
      </Card>

      {table.error && !table.data ? <ErrorNote error={table.error} /> : null}
      {table.data ? (
        <>
          <Plots table={table.data} />
          <Card
            title={`Trials (${table.data.matched} of ${table.data.total})`}
            hint={
              table.data.withheld?.length
                ? `Hidden until the campaign ends: ${table.data.withheld.join(', ')}`
                : undefined
            }
            actions={
              <>
                <button
                  disabled={selected.length < 2}
                  data-testid="compare-selected"
                  title={selected.length < 2 ? 'Tick two to eight trials' : undefined}
                  onClick={() =>
                    navigate(`/campaigns/${enc(campaignId)}/compare?ids=${enc(selected.join(','))}`)
                  }
                >
                  Compare {selected.length > 0 ? selected.length : ''} selected
                </button>
                <button data-testid="export-csv" onClick={() => exportAs('csv')}>
                  Export CSV
                </button>
                <button data-testid="export-json" onClick={() => exportAs('json')}>
                  Export JSON
                </button>
              </>
            }
            testId="trial-table-card"
          >
            <form
              className="row"
              style={{ gap: 8, marginBottom: 10 }}
              onSubmit={(e) => {
                e.preventDefault();
                setFilter(filterDraft);
              }}
            >
              <input
                style={{ flex: 2 }}
                placeholder="filter: pgr >= 0.5; status = succeeded; param.lr < 0.1"
                value={filterDraft}
                onChange={(e) => setFilterDraft(e.target.value)}
                onBlur={() => setFilter(filterDraft)}
                aria-label="filter"
                data-testid="table-filter"
              />
              <input
                style={{ flex: 1 }}
                placeholder="search id or title"
                value={q}
                onChange={(e) => setQ(e.target.value)}
                aria-label="search"
              />
            </form>
            {table.error ? <ErrorNote error={table.error} /> : null}
            {exportError ? <ErrorNote error={exportError} /> : null}
            <TrialTableView
              campaignId={campaignId}
              table={table.data}
              sort={sort}
              onSort={onSort}
              selected={selected}
              toggle={toggle}
            />
          </Card>
        </>
      ) : (
        !table.error && <Loading what="Loading the trials" />
      )}
    </main>
  );
}

function TrialTableView({
  campaignId,
  table,
  sort,
  onSort,
  selected,
  toggle,
}: {
  campaignId: string;
  table: TrialTable;
  sort: string;
  onSort: (key: string) => void;
  selected: string[];
  toggle: (id: string) => void;
}) {
  const columns = table.columns.filter(
    (c) => DEFAULT_COLUMNS.includes(c.key) || c.group !== 'trial',
  );
  const [, navigate] = useLocation();
  return (
    <div className="table-wrap">
      <table className="table" data-testid="trial-table" data-count={table.rows.length}>
        <thead>
          <tr>
            <th />
            {columns.map((c) => {
              const dir = sort === c.key ? '▲' : sort === `-${c.key}` ? '▼' : '';
              return (
                <th
                  key={c.key}
                  className={c.type === 'number' ? 'num sortable' : 'sortable'}
                  onClick={() => onSort(c.key)}
                  data-column={c.key}
                  title={`sort by ${c.key}`}
                >
                  {c.group === 'trial' ? c.label : <span className="mono">{c.label}</span>} {dir}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {table.rows.map((r) => {
            const id = String(r.id);
            return (
              <tr key={id} className="clickable" data-trial={id}>
                <td onClick={(e) => e.stopPropagation()}>
                  <input
                    type="checkbox"
                    checked={selected.includes(id)}
                    onChange={() => toggle(id)}
                    aria-label={`select ${id}`}
                  />
                </td>
                {columns.map((c) => (
                  <td
                    key={c.key}
                    className={c.type === 'number' ? 'num' : undefined}
                    onClick={() => navigate(`/campaigns/${enc(campaignId)}/trials/${enc(id)}`)}
                  >
                    {c.key === 'pgr' ? (
                      <PgrChip pgr={typeof r.pgr === 'number' ? r.pgr : null} />
                    ) : c.key === 'status' ? (
                      <RunStatusPill status={String(r.status)} />
                    ) : (
                      cellText(c, r[c.key] ?? null)
                    )}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** Slice plots and parallel coordinates over the search trials the table holds. */
function Plots({ table }: { table: TrialTable }) {
  const params = useMemo(
    () => table.columns.filter((c) => c.group === 'param').map((c) => c.key.slice('param.'.length)),
    [table.columns],
  );
  const rows = useMemo<ChartRow[]>(
    () =>
      table.rows
        .filter((r) => r.kind === 'search' && r.status === 'succeeded')
        .map((r) => ({
          id: String(r.id),
          pgr: typeof r.pgr === 'number' ? r.pgr : null,
          values: Object.fromEntries(params.map((p) => [p, r[`param.${p}`] ?? null])),
        })),
    [table.rows, params],
  );
  return (
    <div className="grid two">
      <Card
        title="Slice plots"
        hint="PGR against each parameter, one dot per succeeded search trial"
      >
        <SlicePlots params={params} rows={rows} />
      </Card>
      <Card title="Parallel coordinates" hint="Each line is a succeeded search trial">
        <ParallelCoordinates params={params} rows={rows} />
      </Card>
    </div>
  );
}
