/** How much of each budget a campaign has used: trials, time, dollars, compute (and iterations when capped). */
import { useEffect, useState } from 'react';
// Seconds run, frozen at the campaign's end with or without a wall budget (shared with the CLI).
import { elapsedSeconds } from '../../../domain/budget.js';
import { fmtDollars, fmtDuration } from '../lib/format.js';
import type { CampaignStatus } from '../types.js';

interface Gauge {
  key: string;
  label: string;
  used: number;
  limit: number | undefined;
  format: (v: number) => string;
}

export function BudgetGauges({ status }: { status: CampaignStatus }) {
  const [now, setNow] = useState(() => Date.now());
  const running = status.phase !== 'finished';
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [running]);
  const b = status.budgets;
  const gauges: Gauge[] = [
    {
      key: 'trials',
      label: 'Trials',
      used: status.ledger.trialsStarted,
      limit: b.maxTrials,
      format: (v) => String(Math.round(v)),
    },
    {
      key: 'time',
      label: 'Time',
      used: elapsedSeconds(status, now),
      limit: b.maxWallSeconds,
      format: fmtDuration,
    },
    {
      key: 'dollars',
      label: 'LLM dollars',
      used: status.ledger.dollars,
      limit: b.maxDollars,
      format: fmtDollars,
    },
    {
      key: 'compute',
      label: 'Compute',
      used: status.ledger.computeSeconds,
      limit: b.maxComputeSeconds,
      format: fmtDuration,
    },
  ];
  if (b.maxIterations !== undefined)
    gauges.splice(1, 0, {
      key: 'iterations',
      label: 'Iterations',
      used: status.ledger.iterations,
      limit: b.maxIterations,
      format: (v) => String(Math.round(v)),
    });
  return (
    <div className="gauges" data-testid="budgets">
      {gauges.map((g) => {
        const frac = g.limit ? Math.min(1, g.used / g.limit) : 0;
        const cls =
          g.limit === undefined ? 'unset' : frac >= 1 ? 'full' : frac >= 0.85 ? 'high' : '';
        return (
          <div key={g.key} className={`gauge ${cls}`} data-testid={`gauge-${g.key}`}>
            <div className="label">
              <span>{g.label}</span>
              <span className="value">
                {g.format(g.used)}
                <span className="faint">
                  {' '}
                  / {g.limit === undefined ? 'no limit' : g.format(g.limit)}
                </span>
              </span>
            </div>
            <div
              className="bar"
              role="meter"
              aria-valuemin={0}
              aria-valuemax={g.limit ?? 0}
              aria-valuenow={g.used}
              aria-label={g.label}
            >
              <div className="fill" style={{ width: `${(frac * 100).toFixed(1)}%` }} />
            </div>
          </div>
        );
      })}
      <div className="small muted" style={{ gridColumn: '1 / -1' }}>
        Concurrency {b.concurrency} · {status.trialsRunning} running now
      </div>
    </div>
  );
}
