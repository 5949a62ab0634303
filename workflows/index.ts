// The worker's workflowsPath: every workflow the worker runs, and nothing else.
export { campaignWorkflow } from './campaign/campaign.js';
export { problemWorkflow } from './problem.js';
export { recordsSnapshotWorkflow } from './records-snapshot.js';
