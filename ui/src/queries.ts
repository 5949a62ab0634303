/** Data hooks over the API: one react-query key per resource, so the live stream can refresh them. */
import {
  useMutation,
  useQueries,
  useQuery,
  useQueryClient,
  type QueryKey,
} from '@tanstack/react-query';
import { api, enc } from './api.js';
import type {
  ApiConfig,
  AuditEntry,
  CampaignListItem,
  CampaignReport,
  CampaignStatus,
  Compare,
  CriteriaVersion,
  ExperimentSummary,
  Lineage,
  Note,
  PendingApproval,
  ProblemState,
  SourceView,
  TrialCurves,
  TrialDetail,
  TrialDiff,
  TrialsPage,
  TrialSummary,
} from './types.js';

export const keys = {
  config: ['config'] as const,
  problems: ['problems'] as const,
  problem: (id: string) => ['problem', id] as const,
  compare: (id: string) => ['problem', id, 'compare'] as const,
  campaigns: (problemId: string) => ['campaigns', problemId] as const,
  campaign: (id: string) => ['campaign', id] as const,
  status: (id: string) => ['campaign', id, 'status'] as const,
  trials: (id: string, offset: number, limit: number, kind?: string) =>
    ['campaign', id, 'trials', offset, limit, kind ?? 'all'] as const,
  leaderboard: (id: string) => ['campaign', id, 'leaderboard'] as const,
  approvals: (id: string) => ['campaign', id, 'approvals'] as const,
  notes: (id: string) => ['campaign', id, 'notes'] as const,
  audit: (id: string) => ['campaign', id, 'audit'] as const,
  report: (id: string) => ['campaign', id, 'report'] as const,
  lineage: (id: string) => ['campaign', id, 'lineage'] as const,
  trial: (id: string, trialId: string) => ['campaign', id, 'trial', trialId] as const,
  diff: (id: string, trialId: string) => ['campaign', id, 'trial', trialId, 'diff'] as const,
  curves: (id: string, trialId: string) => ['campaign', id, 'trial', trialId, 'curves'] as const,
  source: (id: string, ref: string) => ['campaign', id, 'source', ref] as const,
};

export const useUiConfig = () =>
  useQuery({
    queryKey: keys.config,
    queryFn: () => api<ApiConfig>('/config'),
    staleTime: Infinity,
  });
export const useExperiments = () =>
  useQuery({
    queryKey: ['experiments'],
    queryFn: () => api<ExperimentSummary[]>('/experiments'),
    staleTime: 60_000,
  });
export const useProblems = () =>
  useQuery({ queryKey: keys.problems, queryFn: () => api<ProblemState[]>('/problems') });
export const useProblem = (id: string | null | undefined) =>
  useQuery({
    queryKey: keys.problem(id ?? ''),
    queryFn: () => api<ProblemState>(`/problems/${enc(id!)}`),
    enabled: !!id,
  });
export const useCompare = (id: string, refetchInterval: number | false = false) =>
  useQuery({
    queryKey: keys.compare(id),
    queryFn: () => api<Compare>(`/problems/${enc(id)}/compare`),
    refetchInterval,
  });
export const useCampaigns = (problemId: string) =>
  useQuery({
    queryKey: keys.campaigns(problemId),
    queryFn: () => api<CampaignListItem[]>(`/campaigns?problemId=${enc(problemId)}`),
  });
export const useStatus = (id: string) =>
  useQuery({
    queryKey: keys.status(id),
    queryFn: () => api<CampaignStatus>(`/campaigns/${enc(id)}`),
  });
export const useTrials = (id: string, offset = 0, limit = 100, kind?: TrialSummary['kind']) =>
  useQuery({
    queryKey: keys.trials(id, offset, limit, kind),
    queryFn: () =>
      api<TrialsPage>(
        `/campaigns/${enc(id)}/trials?offset=${offset}&limit=${limit}${kind ? `&kind=${kind}` : ''}`,
      ),
  });
export const useLeaderboard = (id: string) =>
  useQuery({
    queryKey: keys.leaderboard(id),
    queryFn: () => api<TrialSummary[]>(`/campaigns/${enc(id)}/leaderboard`),
  });
export const useApprovals = (id: string) =>
  useQuery({
    queryKey: keys.approvals(id),
    queryFn: () => api<PendingApproval[]>(`/campaigns/${enc(id)}/approvals`),
  });
export const useNotes = (id: string) =>
  useQuery({ queryKey: keys.notes(id), queryFn: () => api<Note[]>(`/campaigns/${enc(id)}/notes`) });
export const useReport = (id: string, enabled: boolean) =>
  useQuery({
    queryKey: keys.report(id),
    queryFn: () => api<CampaignReport | null>(`/campaigns/${enc(id)}/report`),
    enabled,
  });
export const useAudit = (id: string) =>
  useQuery({
    queryKey: keys.audit(id),
    queryFn: () => api<AuditEntry[]>(`/campaigns/${enc(id)}/audit`),
  });
/** Time the last lineage request took (read by the lineage page's render timings). */
export const lineageTiming = { fetchMs: 0 };
export const useLineage = (id: string) =>
  useQuery({
    queryKey: keys.lineage(id),
    queryFn: async () => {
      const t0 = performance.now();
      const data = await api<Lineage>(`/campaigns/${enc(id)}/lineage`);
      lineageTiming.fetchMs = performance.now() - t0;
      return data;
    },
    staleTime: 10_000,
  });
/** A trial's detail; a null id (no parent, no baseline needed) asks nothing. */
export const useTrial = (id: string, trialId: string | null) =>
  useQuery({
    queryKey: keys.trial(id, trialId ?? ''),
    queryFn: () => api<TrialDetail>(`/campaigns/${enc(id)}/trials/${enc(trialId!)}`),
    enabled: trialId !== null,
  });

/** A code trial's whole diff from its parent's source; asked only when `enabled`. */
export const useTrialDiff = (id: string, trialId: string, enabled: boolean) =>
  useQuery({
    queryKey: keys.diff(id, trialId),
    queryFn: () => api<TrialDiff>(`/campaigns/${enc(id)}/trials/${enc(trialId)}/diff`),
    enabled,
    staleTime: Infinity,
  });
/** Several trials' learning curves (the compare page), one request per trial. */
export const useTrialsCurves = (id: string, trialIds: readonly string[]) =>
  useQueries({
    queries: trialIds.map((trialId) => ({
      queryKey: keys.curves(id, trialId),
      queryFn: () => api<TrialCurves>(`/campaigns/${enc(id)}/trials/${enc(trialId)}/curves`),
    })),
  });
/** A source snapshot by hash, or `initial` (the experiment's starting source); null asks nothing. */
export const useSource = (id: string, ref: string | null) =>
  useQuery({
    queryKey: keys.source(id, ref ?? ''),
    queryFn: () => api<SourceView>(`/campaigns/${enc(id)}/sources/${enc(ref!)}`),
    enabled: ref !== null,
    // A snapshot never changes: it is addressed by its content.
    staleTime: Infinity,
  });

/** A mutation that refreshes the given keys once it succeeds. */
export function useAction<TArgs, TResult = unknown>(
  fn: (args: TArgs) => Promise<TResult>,
  invalidate: QueryKey[],
) {
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: fn,
    // Not awaited: the caller's own onSuccess (e.g. navigating to what was created) should not
    // wait for lists to reload.
    onSuccess: () => {
      for (const queryKey of invalidate) void queryClient.invalidateQueries({ queryKey });
    },
  });
}

export const postCriteria = (problemId: string, criteria: unknown, reason?: string) =>
  api<CriteriaVersion>(`/problems/${enc(problemId)}/criteria`, {
    body: { criteria, ...(reason ? { reason } : {}) },
  });
