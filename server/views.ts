/**
 * The analysis views computed from a campaign's trial records: the trial table (its columns,
 * filter, sort and CSV), and the rows of a side-by-side comparison. Pure: the route
 * (routes/views.ts) reads the records through reader.ts, redacts them for the caller, and hands
 * them here, so a view never shows what the records it was given do not.
 */
import type { TrialRecord } from '../api/schemas.js';
import type { CompareRow, TableCell, TableColumn } from '../api/views.js';
import { didYouMean } from '../domain/messages.js';
import { formatPruned } from '../domain/format.js';
import { ServiceError } from './errors.js';

type Row = Record<string, TableCell>;

const TRIAL_COLUMNS: readonly TableColumn[] = [
  { key: 'index', label: '#', type: 'number', group: 'trial' },
  { key: 'id', label: 'trial', type: 'string', group: 'trial' },
  { key: 'kind', label: 'kind', type: 'string', group: 'trial' },
  { key: 'title', label: 'title', type: 'string', group: 'trial' },
  { key: 'status', label: 'status', type: 'string', group: 'trial' },
  /** Pruned trials: where the cascade stopped them ("pruned at stage 1 (score 0.412)"). */
  { key: 'pruned', label: 'pruned', type: 'string', group: 'trial' },
  { key: 'trust', label: 'trust', type: 'string', group: 'trial' },
  { key: 'feasible', label: 'feasible', type: 'boolean', group: 'trial' },
  { key: 'pgr', label: 'PGR', type: 'number', group: 'trial' },
  { key: 'pgrLow', label: 'PGR low', type: 'number', group: 'trial' },
  { key: 'pgrHigh', label: 'PGR high', type: 'number', group: 'trial' },
  { key: 'author', label: 'author', type: 'string', group: 'trial' },
  { key: 'parent', label: 'parent', type: 'string', group: 'trial' },
  { key: 'flags', label: 'flags', type: 'string', group: 'trial' },
  { key: 'computeSeconds', label: 'compute s', type: 'number', group: 'trial' },
  { key: 'startedAt', label: 'started', type: 'string', group: 'trial' },
  { key: 'finishedAt', label: 'finished', type: 'string', group: 'trial' },
];

const typeOf = (v: unknown): TableColumn['type'] =>
  typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : 'string';

/**
 * The table's columns and rows: the trial's own fields, then one column per parameter and per
 * metric any record has (sorted by name). A value a record lacks is null.
 */
export function trialTable(records: readonly TrialRecord[]): {
  columns: TableColumn[];
  rows: Row[];
} {
  const params = new Map<string, TableColumn['type']>();
  const metrics = new Set<string>();
  for (const t of records) {
    for (const [k, v] of Object.entries(t.params)) if (!params.has(k)) params.set(k, typeOf(v));
    for (const k of Object.keys(t.metrics)) metrics.add(k);
  }
  const paramNames = [...params.keys()].sort();
  const metricNames = [...metrics].sort();
  const columns: TableColumn[] = [
    ...TRIAL_COLUMNS,
    ...paramNames.map((p) => ({
      key: `param.${p}`,
      label: p,
      type: params.get(p)!,
      group: 'param' as const,
    })),
    ...metricNames.map((m) => ({
      key: `metric.${m}`,
      label: m,
      type: 'number' as const,
      group: 'metric' as const,
    })),
  ];
  const rows = records.map((t): Row => {
    const row: Row = {
      index: t.index,
      id: t.id,
      kind: t.kind,
      title: t.title,
      status: t.status,
      pruned: t.pruned ? formatPruned(t.pruned) : null,
      trust: t.trust,
      feasible: t.feasible,
      pgr: t.pgr?.mean ?? null,
      pgrLow: t.pgr?.ciLow ?? null,
      pgrHigh: t.pgr?.ciHigh ?? null,
      author: t.author.name,
      parent: t.parentTrialId,
      flags: t.flags.join(' '),
      computeSeconds: t.computeSeconds,
      startedAt: t.startedAt,
      finishedAt: t.finishedAt,
    };
    for (const p of paramNames) row[`param.${p}`] = t.params[p] ?? null;
    for (const m of metricNames) row[`metric.${m}`] = t.metrics[m] ?? null;
    return row;
  });
  return { columns, rows };
}

/** The column a key names, or a 400 that says which keys there are (and the one likely meant). */
function columnOf(columns: readonly TableColumn[], key: string, field: string): TableColumn {
  const c = columns.find((x) => x.key === key);
  if (c) return c;
  const keys = columns.map((x) => x.key);
  const guess = didYouMean(key, keys);
  throw new ServiceError(
    'InvalidInput',
    `${field}: no column "${key}"${guess ? `: did you mean "${guess}"?` : ` (columns: ${keys.join(', ')})`}`,
  );
}

const OPS = ['>=', '<=', '!=', '=', '>', '<', '~'] as const;
type Op = (typeof OPS)[number];
export interface Clause {
  column: TableColumn;
  op: Op;
  value: string;
}

/** `pgr >= 0.5; status = succeeded` as clauses; a 400 naming the clause when one cannot be read. */
export function parseFilter(columns: readonly TableColumn[], filter: string): Clause[] {
  const out: Clause[] = [];
  for (const raw of filter.split(';')) {
    const text = raw.trim();
    if (!text) continue;
    const m = /^([A-Za-z0-9_.\-:/]+)\s*(>=|<=|!=|=|>|<|~)\s*(.*)$/.exec(text);
    if (!m)
      throw new ServiceError(
        'InvalidInput',
        `filter: cannot read "${text}": write <column> <op> <value>, op one of ${OPS.join(' ')} (e.g. "pgr >= 0.5")`,
      );
    const column = columnOf(columns, m[1]!, 'filter');
    const op = m[2] as Op;
    const value = m[3]!.trim();
    if (column.type === 'number' && op !== '~' && value !== '' && !Number.isFinite(Number(value)))
      throw new ServiceError(
        'InvalidInput',
        `filter: "${column.key}" holds numbers, so "${value}" in "${text}" must be a number`,
      );
    out.push({ column, op, value });
  }
  return out;
}

function meets(cell: TableCell, c: Clause): boolean {
  if (c.op === '~')
    return cell !== null && String(cell).toLowerCase().includes(c.value.toLowerCase());
  if (c.value === '' || c.value === 'null') {
    if (c.op === '=') return cell === null;
    if (c.op === '!=') return cell !== null;
  }
  if (cell === null) return false;
  if (c.column.type === 'number' && typeof cell === 'number') {
    const v = Number(c.value);
    switch (c.op) {
      case '=':
        return cell === v;
      case '!=':
        return cell !== v;
      case '>':
        return cell > v;
      case '>=':
        return cell >= v;
      case '<':
        return cell < v;
      case '<=':
        return cell <= v;
    }
  }
  const s = String(cell);
  switch (c.op) {
    case '=':
      return s === c.value;
    case '!=':
      return s !== c.value;
    case '>':
      return s > c.value;
    case '>=':
      return s >= c.value;
    case '<':
      return s < c.value;
    case '<=':
      return s <= c.value;
  }
}

/** The rows meeting every clause and containing `q` in their id or title. */
export function filterRows(rows: readonly Row[], clauses: readonly Clause[], q?: string): Row[] {
  const needle = q?.trim().toLowerCase();
  return rows.filter(
    (r) =>
      clauses.every((c) => meets(r[c.column.key] ?? null, c)) &&
      (!needle ||
        String(r.id).toLowerCase().includes(needle) ||
        String(r.title).toLowerCase().includes(needle)),
  );
}

/**
 * Rows sorted by a column (`-` in front: descending); empty cells last either way, then by
 * index, so the order is total and stable.
 */
export function sortRows(
  columns: readonly TableColumn[],
  rows: readonly Row[],
  sort: string,
): Row[] {
  const desc = sort.startsWith('-');
  const key = columnOf(columns, desc ? sort.slice(1) : sort, 'sort').key;
  const sign = desc ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = a[key] ?? null;
    const y = b[key] ?? null;
    if (x === null || y === null) {
      if (x !== y) return x === null ? 1 : -1;
    } else if (x !== y) {
      const cmp =
        typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      if (cmp !== 0) return sign * cmp;
    }
    return Number(a.index) - Number(b.index);
  });
}

/**
 * A CSV cell (RFC 4180): quoted when it holds a comma, quote or line break. Text a spreadsheet
 * would run as a formula (= + - @ at the start) gets a leading `'`; numbers are written as numbers.
 */
function csvCell(v: TableCell): string {
  if (v === null) return '';
  if (typeof v !== 'string') return String(v);
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** The table as CSV: a header of column keys, then one line per row, CRLF line ends. */
export function toCsv(columns: readonly TableColumn[], rows: readonly Row[]): string {
  const lines = [columns.map((c) => csvCell(c.key)).join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvCell(r[c.key] ?? null)).join(','));
  return lines.join('\r\n') + '\r\n';
}

const same = (a: TableCell, b: TableCell) =>
  typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b)
    ? true
    : a === b;

/** One row per name any trial has, values in trial order (null where a trial lacks it). */
export function compareRows(
  maps: ReadonlyArray<Readonly<Record<string, TableCell | undefined>>>,
): CompareRow[] {
  const names = [...new Set(maps.flatMap((m) => Object.keys(m)))].sort();
  return names.map((name) => {
    const values = maps.map((m) => m[name] ?? null);
    return { name, values, differs: values.some((v) => !same(v, values[0] ?? null)) };
  });
}
