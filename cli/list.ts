/**
 * `gaplab list`: one line per campaign under a header, with what a person asks first: the
 * problem, the strategy, the phase, the best PGR, the verdict and why it stopped. The listing
 * (`GET /campaigns`) holds only Temporal's view; each campaign's status (a closed one's is read
 * from its report in MLflow, no worker) and a finished one's report fill in the rest, a few at
 * a time.
 */
import type { CampaignListItem, CampaignReport, CampaignStatus } from '../api/schemas.js';
import { formatEstimate } from '../domain/format.js';
import { verdictLabel } from '../domain/verdict.js';

export interface ListRow {
  item: CampaignListItem;
  status: CampaignStatus | null;
  report: CampaignReport | null;
  /** Why the status could not be read (the row still shows what the listing knows). */
  error?: string;
}

export const LIST_COLUMNS = [
  'CAMPAIGN',
  'PROBLEM',
  'STRATEGY',
  'PHASE',
  'BEST PGR',
  'VERDICT',
  'STOP REASON',
  'STARTED',
] as const;

/** The cells of one row, in LIST_COLUMNS order; `-` where there is nothing to say yet. */
export function listCells(r: ListRow): string[] {
  const s = r.status;
  const phase = s
    ? s.paused && s.phase !== 'finished'
      ? 'paused'
      : s.phase
    : r.error
      ? `? (${r.error})`
      : r.item.status.toLowerCase();
  const best = r.report?.best?.pgr ?? s?.best?.pgr ?? null;
  const verdict = r.report?.verdict ? verdictLabel(r.report.verdict).text : '-';
  return [
    r.item.campaignId,
    r.item.problemId,
    r.item.strategy,
    phase,
    best ? formatEstimate(best) : '-',
    verdict,
    r.report?.stopReason ?? s?.stopReason ?? '-',
    r.item.startedAt.replace(/\.\d+Z$/, 'Z'),
  ];
}

/** The header and rows as aligned text (two spaces between columns, the last not padded). */
export function renderList(rows: readonly ListRow[]): string {
  const table = [[...LIST_COLUMNS], ...rows.map(listCells)];
  const widths = LIST_COLUMNS.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Runs `fn` over `items`, at most `limit` at once, keeping their order. */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return out;
}

/** Each listed campaign with its status and, once finished, its report. */
export function listRows(
  items: readonly CampaignListItem[],
  get: <T>(path: string) => Promise<T>,
): Promise<ListRow[]> {
  return mapLimited(items, 6, async (item): Promise<ListRow> => {
    const id = encodeURIComponent(item.campaignId);
    try {
      const status = await get<CampaignStatus>(`/campaigns/${id}`);
      const report =
        status.phase === 'finished'
          ? await get<CampaignReport>(`/campaigns/${id}/report`).catch(() => null)
          : null;
      return { item, status, report };
    } catch (err) {
      return { item, status: null, report: null, error: (err as Error).message.slice(0, 80) };
    }
  });
}
