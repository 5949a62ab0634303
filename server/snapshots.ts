/**
 * Code trials' source snapshots as readers find them: `sources/<hash>.json` on the campaign's
 * MLflow parent run (activities/sources.ts writes them), or the experiment's starting source from
 * the registry (stored in MLflow only once an edit was resolved against it). Every snapshot is
 * checked against its hash before it is used.
 */
import { hashSnapshot, SourceSnapshot } from '../domain/code.js';
import { isCodeExperiment } from '../experiments/code.js';
import { sourceArtifactPath } from '../records/names.js';
import type { CampaignSource } from './campaign-source.js';
import type { AppContext } from './context.js';

export interface SourcesOfCampaign {
  parentRunId: string | null;
  /** The experiment's starting source; null when the experiment is not a code experiment. */
  initial: SourceSnapshot | null;
}

/** Where the campaign's snapshots are, and its experiment's starting source. */
export async function campaignSources(
  ctx: Pick<AppContext, 'service'>,
  s: Pick<CampaignSource, 'problemId' | 'parentRunId'>,
): Promise<SourcesOfCampaign> {
  const { problemId, parentRunId } = s;
  let initial: SourceSnapshot | null = null;
  if (problemId) {
    const problem = await ctx.service.getProblem(problemId).catch(() => null);
    const def = problem
      ? ctx.service.registry.list().find((e) => e.name === problem.experiment.name)
      : undefined;
    if (def && isCodeExperiment(def)) initial = def.code.initialSource;
  }
  return { parentRunId, initial };
}

/** The snapshot with this hash, checked against it; null when neither the registry nor MLflow has it. */
export async function snapshotOf(
  ctx: Pick<AppContext, 'lineage'>,
  where: SourcesOfCampaign,
  hash: string,
): Promise<SourceSnapshot | null> {
  if (where.initial && hashSnapshot(where.initial) === hash) return where.initial;
  if (!where.parentRunId) return null;
  const text = await ctx.lineage.artifactText(where.parentRunId, sourceArtifactPath(hash));
  if (text === null) return null;
  try {
    const parsed = SourceSnapshot.safeParse(JSON.parse(text));
    return parsed.success && hashSnapshot(parsed.data) === hash ? parsed.data : null;
  } catch {
    return null;
  }
}
