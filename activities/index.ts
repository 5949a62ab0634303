/**
 * All activities, built from their dependencies. The worker is the only place that wires real
 * clients; tests wire fakes or real local services the same way.
 */
import type { MlflowClient } from '../mlflow-ts-client/index.js';
import { createExperimentActivities, type ExperimentActivityDeps } from './experiment.js';
import { createNotifyActivities, type NotifyDeps } from './notify.js';
import { createRecordingActivities } from './recording.js';
import { createSeedActivities } from './seeds.js';
import { createStrategyActivities, type StrategyDeps } from './strategies/index.js';

export interface ActivityDeps {
  experiments: ExperimentActivityDeps;
  strategies: StrategyDeps;
  mlflow: MlflowClient;
  /** The campaigns' webhooks (activities/notify.ts). */
  notify?: NotifyDeps;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createExperimentActivities(deps.experiments),
    ...createStrategyActivities(deps.strategies),
    ...createRecordingActivities({ mlflow: deps.mlflow }),
    ...createSeedActivities(),
    ...createNotifyActivities(deps.notify),
  };
}

export type Activities = ReturnType<typeof createActivities>;
