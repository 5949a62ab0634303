/**
 * Data hooks of the analysis views (trial table, comparison, parameter importance). Their keys sit
 * under the campaign's, so the live stream refreshes them when trials arrive.
 */
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, ApiError, enc, getToken } from './api.js';
import type { Importance, TrialComparison, TrialTable } from './types.js';

export interface TableParams {
  sort: string;
  filter: string;
  q: string;
}

function tableQuery(p: TableParams, format: 'json' | 'csv'): string {
  const qs = new URLSearchParams({ sort: p.sort, format, limit: '100000' });
  if (p.filter.trim()) qs.set('filter', p.filter);
  if (p.q.trim()) qs.set('q', p.q);
  return qs.toString();
}

export const useTrialTable = (campaignId: string, p: TableParams) =>
  useQuery({
    queryKey: ['campaign', campaignId, 'table', p.sort, p.filter, p.q] as const,
    queryFn: () => api<TrialTable>(`/campaigns/${enc(campaignId)}/table?${tableQuery(p, 'json')}`),
    placeholderData: keepPreviousData,
    retry: (n, err) => !(err instanceof ApiError && err.status === 400) && n < 2,
  });

export const useImportance = (campaignId: string, evaluator: 'fanova' | 'ped-anova') =>
  useQuery({
    queryKey: ['campaign', campaignId, 'importance', evaluator] as const,
    queryFn: () =>
      api<Importance>(`/campaigns/${enc(campaignId)}/importance?evaluator=${evaluator}`),
    placeholderData: keepPreviousData,
  });

export const useTrialComparison = (campaignId: string, ids: readonly string[]) =>
  useQuery({
    queryKey: ['campaign', campaignId, 'compare-trials', ids.join(',')] as const,
    queryFn: () =>
      api<TrialComparison>(
        `/campaigns/${enc(campaignId)}/compare-trials?ids=${enc(ids.join(','))}`,
      ),
    enabled: ids.length >= 2,
  });

/**
 * Saves the table as the server exports it (the same sort and filter), as a file download: the
 * export needs the bearer token, which a plain link cannot send.
 */
export async function downloadTable(
  campaignId: string,
  p: TableParams,
  format: 'json' | 'csv',
): Promise<void> {
  const token = getToken();
  const res = await fetch(`/api/campaigns/${enc(campaignId)}/table?${tableQuery(p, format)}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  if (!res.ok) throw new ApiError(res.status, `export failed: ${res.status} ${await res.text()}`);
  const text =
    format === 'json' ? JSON.stringify(await res.json(), null, 2) + '\n' : await res.text();
  const blob = new Blob([text], {
    type: format === 'json' ? 'application/json' : 'text/csv;charset=utf-8',
  });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `${campaignId}-trials.${format}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
