/**
 * Live updates: a campaign's server-sent events (`status`, `trial`) feed the query cache, so
 * the pages that show it update without reloading. Bursts of trial events are coalesced.
 */
import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { eventsUrl } from './api.js';
import { keys } from './queries.js';
import type { CampaignStatus } from './types.js';

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'closed';

/** Refresh at most this often during a burst of trial events. @default 750 */
const COALESCE_MS = 750;

/**
 * Subscribes to one campaign's events while mounted. `extraKeys` are refreshed on trial events
 * too (e.g. a problem's comparison). Returns the connection state for a small indicator.
 * `readAtOpen`: the page read its facts just before it opened the stream (it opens it once they
 * came), so a first status with none cached to compare with only fills the cache; without it,
 * such a status refreshes everything, since what changed cannot be told.
 */
export function useCampaignEvents(
  campaignId: string | null,
  extraKeys: readonly (readonly unknown[])[] = [],
  { readAtOpen = false }: { readAtOpen?: boolean } = {},
): LiveState {
  const queryClient = useQueryClient();
  const [state, setState] = useState<LiveState>('connecting');
  const extra = JSON.stringify(extraKeys);
  useEffect(() => {
    if (!campaignId) return;
    const source = new EventSource(eventsUrl(campaignId));
    let timer: ReturnType<typeof setTimeout> | null = null;
    const refresh = () => {
      timer = null;
      const prefix = keys.campaign(campaignId);
      // Everything under ['campaign', id] except the status, which the stream sets itself.
      void queryClient.invalidateQueries({
        queryKey: prefix,
        predicate: (q) => q.queryKey[2] !== 'status',
      });
      for (const k of JSON.parse(extra) as unknown[][])
        void queryClient.invalidateQueries({ queryKey: k });
    };
    const schedule = () => {
      timer ??= setTimeout(refresh, COALESCE_MS);
    };
    source.onopen = () => setState('live');
    source.addEventListener('error', (e) => {
      // A named `error` event from the server (unknown campaign…) ends the stream; a bare error
      // is a dropped connection that EventSource retries by itself.
      if (e instanceof MessageEvent) {
        source.close();
        setState('closed');
      } else setState(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
    });
    source.addEventListener('end', () => {
      // The campaign finished: refresh once more and stop (no reconnect loop).
      source.close();
      setState('closed');
      refresh();
    });
    source.addEventListener('status', (e) => {
      try {
        const status = JSON.parse((e as MessageEvent<string>).data) as CampaignStatus;
        const prev = queryClient.getQueryData<CampaignStatus>(keys.status(campaignId));
        queryClient.setQueryData(keys.status(campaignId), status);
        // Approvals, notes and budgets change without a trial finishing.
        if (prev ? changed(prev, status) : !readAtOpen) schedule();
      } catch {
        schedule();
      }
    });
    source.addEventListener('trial', schedule);
    return () => {
      if (timer) clearTimeout(timer);
      source.close();
      setState('closed');
    };
  }, [campaignId, queryClient, extra, readAtOpen]);
  return state;
}

const WATCHED = [
  'phase',
  'paused',
  'iteration',
  'trialsDone',
  'trialsRunning',
  'pendingApprovals',
  'stopReason',
  'runs',
] as const;
function changed(a: CampaignStatus, b: CampaignStatus): boolean {
  return (
    WATCHED.some((k) => a[k] !== b[k]) ||
    a.best?.trialId !== b.best?.trialId ||
    JSON.stringify(a.budgets) !== JSON.stringify(b.budgets)
  );
}
