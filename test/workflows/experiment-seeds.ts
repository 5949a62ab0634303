/** A tiny workflow that runs seeds of a registered experiment through runExperimentSeed. */
import { proxyActivities } from '@temporalio/workflow';
import type {
  createExperimentActivities,
  ExperimentSeedResult,
  RunExperimentSeedInput,
} from '../../activities/experiment.js';

const { runExperimentSeed } = proxyActivities<ReturnType<typeof createExperimentActivities>>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '4s',
  retry: { maximumAttempts: 1 },
});

export interface RunSeedsInput extends Omit<RunExperimentSeedInput, 'seed'> {
  seeds: number[];
}

export async function runSeedsWorkflow(input: RunSeedsInput): Promise<ExperimentSeedResult[]> {
  const { seeds, ...rest } = input;
  return Promise.all(seeds.map((seed) => runExperimentSeed({ ...rest, seed })));
}
