/**
 * Code hypotheses: a proposal's edits are resolved to a stored, content-addressed snapshot (the
 * `resolveSource` activity, on the experiment's queue) before the proposal is queued. The state
 * keeps the hashes only; a proposal whose edits do not apply is dropped with the reason.
 */
import { condition, proxyActivities } from '@temporalio/workflow';
import type { HypothesisProposalInput } from '../../domain/schemas.js';
import type { StrategyResult } from '../../domain/strategy.js';
import type { CampaignState } from './state/campaign-state.js';
import { DEFAULT_SCHEDULE_TO_START_SECONDS, presets } from '../options.js';
import type { SourceResolution } from './state/source-ref.js';
import type { CampaignInput } from '../types.js';
import type { Activities } from './activities.js';

export type { SourceResolution };

export type ResolveProposalSource = (
  proposal: HypothesisProposalInput,
) => Promise<SourceResolution>;

export function sourceResolver(input: CampaignInput, state: CampaignState): ResolveProposalSource {
  const acts = proxyActivities<Activities>(
    presets.sourceResolve(
      input.experiment.taskQueue,
      input.timing?.scheduleToStartSeconds ?? DEFAULT_SCHEDULE_TO_START_SECONDS,
    ),
  );
  return async (proposal) => {
    const edits = proposal.edits;
    // Without edits, or on an experiment without source, the state's own checks answer.
    if (!edits || !input.experiment.code) return undefined;
    let parentHash: string | undefined;
    try {
      parentHash = state.queue.parentSourceHash(proposal);
    } catch {
      return undefined; // an unknown parent: resolve() names it
    }
    // Snapshots are stored on the campaign's run: an idea that arrives while the run is being
    // created waits for it.
    if (input.mlflow !== false)
      await condition(() => state.context.data.mlflowParentRunId !== undefined);
    const runId = input.mlflow !== false ? state.context.data.mlflowParentRunId : undefined;
    const r = await acts.resolveSource({
      experiment: input.experiment.name,
      edits,
      ...(parentHash ? { parentHash } : {}),
      ...(runId ? { runId } : {}),
    });
    return r.ok ? { hash: r.hash, parentHash: r.parentHash } : { error: r.reason };
  };
}

/** Resolves the edits of every proposal of a strategy's result, in order. */
export async function resolveResultSources(
  result: StrategyResult,
  resolve: ResolveProposalSource,
): Promise<SourceResolution[]> {
  const out: SourceResolution[] = [];
  for (const p of result.proposals) {
    try {
      out.push(await resolve(p));
    } catch (err) {
      out.push({
        error: `edits not resolved: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }
  return out;
}
