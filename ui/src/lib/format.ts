/** Small formatting helpers shared by the pages. */

// PGR estimates and numbers people set are written as everywhere else (report, CLI, demo).
import { STOP_REASON_TEXT as DOMAIN_STOP_REASON_TEXT } from '../../../domain/budget.js';
import { formatEstimate, type Interval } from '../../../domain/format.js';

export {
  formatEstimate,
  formatExact,
  formatInterval,
  formatMean,
  formatPruned,
} from '../../../domain/format.js';

/** What a record or lineage node holds of an estimate: a bound may be missing (null). */
export type RecordedInterval = {
  mean: number;
  ciLow?: number | null | undefined;
  ciHigh?: number | null | undefined;
};

/** The estimate as domain/format.ts takes it: a missing bound is no bound ("[unbounded]"). */
export function asInterval(e: RecordedInterval): Interval {
  return { mean: e.mean, ciLow: e.ciLow ?? Number.NaN, ciHigh: e.ciHigh ?? Number.NaN };
}

/** `formatEstimate` of a recorded estimate (missing bounds: "[unbounded]"). */
export function formatRecorded(e: RecordedInterval | null | undefined): string {
  return formatEstimate(e ? asInterval(e) : null);
}

export function fmtPgr(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return x.toFixed(digits);
}

export function fmtNum(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (x !== 0 && (Math.abs(x) >= 1e6 || Math.abs(x) < 1e-3)) return x.toExponential(2);
  return Number(x.toPrecision(digits)).toString();
}

export function fmtValue(v: unknown): string {
  if (typeof v === 'number') return fmtNum(v, 6);
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v === null || v === undefined) return '—';
  return JSON.stringify(v);
}

export function fmtDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, seconds);
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}

export function fmtDollars(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return `$${x < 10 ? x.toFixed(2) : Math.round(x).toLocaleString('en-US')}`;
}

export function fmtTime(iso: string | number | null | undefined): string {
  if (iso === null || iso === undefined) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  return d.toLocaleString('en-GB', {
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

export function fmtRelative(iso: string | number, now = Date.now()): string {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '';
  const s = Math.round((now - t) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

/** Stop reasons as a person reads them (declared once, in domain/budget.ts). */
export const STOP_REASON_TEXT: Record<string, string> = DOMAIN_STOP_REASON_TEXT;
