/** One live progress line for a campaign (rewritten in place on a terminal, printed on change otherwise). */
import type { CampaignStatus } from '../api/schemas.js';
import { elapsedSeconds } from '../domain/budget.js';
import { formatEstimate } from '../domain/format.js';

const bar = (fraction: number, width = 20) => {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
};

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 3600
    ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
    : s >= 60
      ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
      : `${s}s`;
}

export function progressLine(s: CampaignStatus, nowMs = Date.now()): string {
  const maxTrials = s.budgets.maxTrials;
  const trials = maxTrials
    ? `${bar(s.trialsDone / maxTrials)} ${s.trialsDone}/${maxTrials} trials`
    : `${s.trialsDone} trials`;
  const best = s.best ? `best ${s.best.trialId} PGR ${formatEstimate(s.best.pgr)}` : 'best PGR —';
  const parts = [
    `${s.phase}${s.paused ? ' (paused)' : ''}`,
    trials,
    `${s.trialsRunning} running`,
    best,
  ];
  // A finished campaign has nothing left to spend: it says what it used, frozen at its end.
  const finished = s.phase === 'finished';
  if (s.remaining.dollars != null && !finished)
    parts.push(`$${s.remaining.dollars.toFixed(2)} left`);
  else if (s.ledger.dollars > 0) parts.push(`$${s.ledger.dollars.toFixed(3)} spent`);
  if (s.remaining.wallSeconds != null && !finished)
    parts.push(`${duration(s.remaining.wallSeconds)} left`);
  else if (finished) parts.push(`ran ${duration(elapsedSeconds(s, nowMs))}`);
  if (s.pendingApprovals > 0) parts.push(`${s.pendingApprovals} awaiting approval`);
  // What it waits for, unless that is only the running trials the line already counts.
  if (s.waitingFor && !/^\d+ running trials?$/.test(s.waitingFor))
    parts.push(`waiting for ${s.waitingFor}`);
  if (s.stopReason) parts.push(`stop: ${s.stopReason}`);
  return parts.join(' · ');
}

/**
 * Rewrites the line in place on a terminal. Elsewhere (a pipe, a log file) it prints a line when
 * the campaign changed, not when only its countdown did: one line per event, not one a second.
 */
export class ProgressPrinter {
  private last = '';
  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  update(line: string): void {
    const key = this.out.isTTY ? line : line.replace(/ · [\dhms]+ left/, '');
    if (key === this.last) return;
    this.last = key;
    if (this.out.isTTY) this.out.write(`\r\x1b[2K${line}`);
    else this.out.write(`${line}\n`);
  }

  done(): void {
    if (this.out.isTTY && this.last) this.out.write('\n');
  }
}
