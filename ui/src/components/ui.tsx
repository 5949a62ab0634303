/** Small building blocks every page uses: cards, pills, PGR chips, guarded buttons, errors. */
import type { ButtonHTMLAttributes, ReactNode } from 'react';
import { ApiError } from '../api.js';
import { useCan } from '../auth.js';
import {
  asInterval,
  fmtPgr,
  formatEstimate,
  formatInterval,
  formatMean,
  formatPruned,
} from '../lib/format.js';
import { pgrColor } from '../lib/pgr-color.js';
import type { Action } from '../lib/roles.js';
import type { CampaignStatus } from '../types.js';

export function Card({
  title,
  hint,
  actions,
  children,
  className,
  testId,
}: {
  title?: ReactNode;
  hint?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  testId?: string;
}) {
  return (
    <section className={`card ${className ?? ''}`} data-testid={testId}>
      {(title || actions) && (
        <div className="card-head">
          <div>
            {title && <h2>{title}</h2>}
            {hint && <div className="hint">{hint}</div>}
          </div>
          {actions && <div className="row">{actions}</div>}
        </div>
      )}
      {children}
    </section>
  );
}

export function Pill({
  tone = 'info',
  children,
  live,
  title,
}: {
  tone?: 'info' | 'ok' | 'warn' | 'danger' | 'neutral' | 'accent';
  children: ReactNode;
  live?: boolean;
  title?: string;
}) {
  return (
    <span className={`pill ${tone} ${live ? 'live' : ''}`} title={title}>
      {live !== undefined && <span className="dot" />}
      {children}
    </span>
  );
}

/**
 * A PGR value with its colour swatch and, when given, its confidence interval: written as every
 * screen writes it (domain/format.ts), at the precision the interval gives it.
 */
export function PgrChip({
  pgr,
  ciLow,
  ciHigh,
  testId,
}: {
  pgr: number | null | undefined;
  ciLow?: number | null | undefined;
  ciHigh?: number | null | undefined;
  testId?: string;
}) {
  const withInterval = ciLow !== undefined || ciHigh !== undefined;
  // A bound a record lacks (null) is no bound: written "[unbounded]".
  const e = typeof pgr === 'number' ? asInterval({ mean: pgr, ciLow, ciHigh }) : null;
  return (
    <span
      className="chip"
      data-testid={testId}
      title={e && withInterval ? `PGR ${formatEstimate(e)}` : undefined}
    >
      <span className="swatch" style={{ background: pgrColor(pgr) }} />
      <span className="pgr-mean">{withInterval ? formatMean(e) : fmtPgr(pgr)}</span>
      {e && withInterval && <span className="faint small pgr-interval">{formatInterval(e)}</span>}
    </span>
  );
}

/**
 * A button for an action that needs a role: disabled, with the reason as its tooltip, for
 * people who may not do it.
 */
export function ActionButton({
  action,
  children,
  title,
  disabled,
  ...rest
}: { action: Action } & ButtonHTMLAttributes<HTMLButtonElement>) {
  const can = useCan(action);
  const blocked = !can.ok;
  return (
    // A disabled button gets no hover events in some browsers: the wrapper carries the tooltip.
    <span
      title={blocked ? can.reason : title}
      style={{ display: 'inline-flex' }}
      data-blocked={blocked ? 'true' : undefined}
    >
      <button {...rest} disabled={blocked || disabled} aria-disabled={blocked || disabled}>
        {children}
      </button>
    </span>
  );
}

export function ErrorNote({ error, prefix }: { error: unknown; prefix?: string }) {
  if (!error) return null;
  const message = error instanceof Error ? error.message : String(error);
  const issues = error instanceof ApiError ? error.issues : [];
  return (
    <div className="notice error" role="alert">
      {prefix ? `${prefix}: ` : ''}
      {/* The message repeats the issues; the list reads better on its own. */}
      {issues.length > 0 ? `${issues.length} field${issues.length > 1 ? 's' : ''} to fix` : message}
      {issues.length > 0 && (
        <ul data-testid="issues">
          {issues.map((i, k) => (
            <li key={k}>
              {i.path && <code>{i.path}</code>} {i.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return <div className="empty">{what}…</div>;
}

/** The state of a query as a page section: spinner, error, or its content. */
export function QueryState<T>({
  q,
  children,
  what,
}: {
  q: { data: T | undefined; error: unknown; isPending: boolean };
  children: (data: T) => ReactNode;
  what?: string;
}) {
  if (q.error) return <ErrorNote error={q.error} />;
  if (q.isPending || q.data === undefined) return <Loading {...(what ? { what } : {})} />;
  return <>{children(q.data)}</>;
}

const PHASE_TONE: Record<string, 'info' | 'ok' | 'warn' | 'danger' | 'neutral' | 'accent'> = {
  starting: 'info',
  measuring: 'info',
  running: 'accent',
  paused: 'warn',
  verifying: 'info',
  finished: 'neutral',
};

export function PhasePill({
  status,
}: {
  status: Pick<CampaignStatus, 'phase' | 'paused' | 'stopReason'>;
}) {
  const phase = status.paused && status.phase !== 'finished' ? 'paused' : status.phase;
  const tone =
    phase === 'finished' && status.stopReason === 'error'
      ? 'danger'
      : (PHASE_TONE[phase] ?? 'info');
  return (
    <Pill tone={tone} live={phase !== 'finished' && phase !== 'paused'}>
      <span data-testid="phase">{phase}</span>
    </Pill>
  );
}

/**
 * A trial's status as a pill; a pruned trial says where its cascade stopped it ("pruned at stage
 * 1 (score 0.412)"): it ran, below a stage's threshold, and is neither a failure nor a result.
 */
export function TrialStatusPill({
  status,
  pruned,
}: {
  status: string;
  pruned?: { stage: number; score: number | null } | undefined;
}) {
  if (status === 'pruned')
    return (
      <span data-testid="trial-pruned">
        <Pill tone="warn">{pruned ? formatPruned(pruned) : 'pruned'}</Pill>
      </span>
    );
  return (
    <Pill tone={status === 'succeeded' ? 'ok' : status === 'running' ? 'info' : 'danger'}>
      {status}
    </Pill>
  );
}

/** Temporal workflow status (from the campaign list) as a pill. */
export function RunStatusPill({ status }: { status: string }) {
  const s = status.toLowerCase();
  const tone =
    s === 'running'
      ? 'accent'
      : s === 'completed'
        ? 'neutral'
        : s === 'failed' || s === 'terminated'
          ? 'danger'
          : 'warn';
  return <Pill tone={tone}>{s}</Pill>;
}

export function FlagPills({
  flags,
}: {
  flags: readonly { kind: string; message?: string; cleared?: unknown }[];
}) {
  if (flags.length === 0) return null;
  return (
    <span className="row" style={{ gap: 4, display: 'inline-flex' }}>
      {flags.map((f, i) => (
        <Pill
          key={i}
          tone={f.cleared ? 'neutral' : 'warn'}
          {...(f.message ? { title: f.message } : {})}
        >
          {f.cleared ? '✓ ' : '⚑ '}
          {f.kind.replace(/_/g, ' ')}
        </Pill>
      ))}
    </span>
  );
}

export function LiveIndicator({
  state,
}: {
  state: 'connecting' | 'live' | 'reconnecting' | 'closed';
}) {
  const tone = state === 'live' ? 'ok' : state === 'closed' ? 'neutral' : 'warn';
  return (
    <Pill tone={tone} live={state === 'live'} title="Updates from the server's event stream">
      <span data-testid="live">{state}</span>
    </Pill>
  );
}
