/**
 * Live updates: a campaign's server-sent events (`status`, `trial`) feed the query cache, so
 * the pages that show it update without reloading. Bursts of trial events are coalesced.
 *
 * An event never cancels a read under way: a read slower than the time between events (a loaded
 * machine, a campaign finishing a trial a second) would otherwise be cancelled by each event and
 * never land, and each cancelled request would still hold one of the browser's few connections
 * to the server. A read under way when an event comes is made again once it has ended.
 */
import { useQueryClient, type QueryFilters } from '@tanstack/react-query';
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
    const cache = queryClient.getQueryCache();
    /** Reads that were under way at a refresh: each is made again once it has ended. */
    const again = new Set<string>();
    const unsubscribe = cache.subscribe((change) => {
      if (change.type !== 'updated' || change.query.state.fetchStatus !== 'idle') return;
      if (!again.delete(change.query.queryHash)) return;
      const queryKey = change.query.queryKey;
      // Outside the cache's notification: a read started from inside it would nest in it. A read
      // begun meanwhile is newer than the event: it is kept.
      setTimeout(
        () =>
          void queryClient.invalidateQueries({ queryKey, exact: true }, { cancelRefetch: false }),
        0,
      );
    });
    const invalidate = (filters: QueryFilters) => {
      for (const q of cache.findAll({ ...filters, type: 'active' }))
        if (q.state.fetchStatus !== 'idle') again.add(q.queryHash);
      void queryClient.invalidateQueries(filters, { cancelRefetch: false });
    };
    const refresh = () => {
      timer = null;
      const prefix = keys.campaign(campaignId);
      // Everything under ['campaign', id] except the status, which the stream sets itself.
      invalidate({ queryKey: prefix, predicate: (q) => q.queryKey[2] !== 'status' });
      for (const k of JSON.parse(extra) as unknown[][]) invalidate({ queryKey: k });
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
      unsubscribe();
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
  'waitingFor',
  'runs',
] as const;
function changed(a: CampaignStatus, b: CampaignStatus): boolean {
  return (
    WATCHED.some((k) => a[k] !== b[k]) ||
    a.best?.trialId !== b.best?.trialId ||
    JSON.stringify(a.budgets) !== JSON.stringify(b.budgets)
  );
}
