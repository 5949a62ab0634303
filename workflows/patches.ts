/**
 * Every patch id the workflows pass to `patched()`, with the change that added it and when it can
 * go. A deploy replays each campaign in flight against the new code; a change to the commands a
 * campaign issues is guarded by `patched(ID)` so that old histories take the old branch
 * (workflows/README.md, "Changing workflow code").
 *
 * A patch goes through three steps (Temporal's patching API):
 * 1. `patched(ID)` guards the new code, the old code stays in the else branch;
 * 2. once no campaign started before `added` can still be running (`deprecateWhen`; a Temporal
 *    visibility query: `WorkflowType = 'campaignWorkflow' AND ExecutionStatus = 'Running' AND
 *    StartTime < '<added date>'` returns nothing), the old branch goes and the call becomes
 *    `deprecatePatch(ID)`;
 * 3. once no campaign that ran through step 1 is still running, `deprecatePatch` goes too.
 *
 * The replay fixtures (test/fixtures/histories/) were recorded at 2278f5e: patches added after it
 * are exercised by their own time-skipping tests, not by the fixtures. There are no release tags
 * yet, so `added` names the commit (and its date) that introduced the guard.
 *
 * Workflow code never writes a patch id inline: the import-graph test (workflows/house.test.ts)
 * fails on a `patched('…')` literal and on an id used but not listed here.
 */
import { inWorkflowContext, patched } from '@temporalio/workflow';

/** `patched(id)` inside a workflow; true outside one (unit tests run the newest rules). */
export function patchedOrNew(id: string): boolean {
  return inWorkflowContext() ? patched(id) : true;
}

/** The records snapshot is written as the campaign ends (campaign/campaign.ts). */
export const RECORDS_SNAPSHOT_AT_END_PATCH = 'records-snapshot-at-end';
/** Cheap strategies are asked for a wave of trials ahead of need (campaign/campaign.ts). */
export const PROPOSALS_AHEAD_PATCH = 'proposals-ahead';
/**
 * Every phase obeys the deadline and a PI stop alike (the deadline ends verification,
 * `cancelRunning: false` holds in every phase). Campaigns started before it replay with the old
 * rules: the deadline did not reach verification, and stops cancelled measuring and verification
 * at once. Checked once as the campaign (or its new run) starts; workflows/README.md.
 */
export const PHASE_STOPS_PATCH = 'phase-stops';
/** Model-free samplers' short seeds run several to a slot (campaign/campaign.ts). */
export const SEED_BATCHES_PATCH = 'seed-batches';
/** Campaigns started before it record one trial per activity (recordTrial). */
export const RECORD_BATCHES_PATCH = 'record-batches';
/**
 * The patch (campaign.ts) under which a campaign starts this workflow; campaigns started before
 * it write the snapshot themselves, in an activity the campaign waits for.
 */
export const RECORDS_SNAPSHOT_CHILD_PATCH = 'records-snapshot-child';
/** Batches may run a tenth over; a lane's share is of the remaining seeds (campaign/lanes.ts). */
export const BATCH_SHARE_REMAINING_PATCH = 'batch-share-remaining';
/**
 * Campaigns started before it start search trials however far the records lag behind; since,
 * no new search trial starts while RECORD_BACKLOG trials wait to be recorded.
 */
export const RECORD_BACKPRESSURE_PATCH = 'record-backpressure';
/**
 * Campaigns started before it measure the references before their search starts; since, the
 * search of an unmoderated model-free strategy runs beside the measurement (its trials scored
 * once the references are known).
 */
export const SEARCH_BESIDE_REFERENCES_PATCH = 'search-beside-references';
/**
 * Campaigns started before it send a recording activity every waiting record (up to
 * RECORD_BATCH) as soon as it is free; since, at most an even share of them over
 * RECORD_BATCH.inFlight, so the next free activity takes the rest rather than idle.
 */
export const RECORD_SHARE_PATCH = 'record-share';
/**
 * A cancelled batch waits for its activity to say which seeds it finished (the details of its
 * CancelledFailure) and keeps their results; before, the whole batch was reported cancelled.
 */
export const BATCH_CANCEL_RESULTS_PATCH = 'batch-cancel-results';
/**
 * Campaigns started with it (decided once, carried as `seedScheme: 'hashed'`):
 * - derive their search and reference seeds as uniform 31-bit values from the campaign seed
 *   (`derivedSeed`), so a search seed looks like a verification seed (drawn in secret from the
 *   same range);
 * - score with the statistics an adversary cannot move: the pooled floor over eligible trials
 *   only, a one-seed measured reference makes PGR unbounded, the hidden-gap flag judged by its
 *   interval (domain/pgr.ts, domain/scoring.ts).
 * Campaigns started before keep consecutive seeds and the earlier rules.
 */
export const HASHED_SEEDS_PATCH = 'hashed-seeds';
/** Verification seeds drawn in secret by a worker (activities/seeds.ts) when verification starts. */
export const SECRET_VERIFICATION_SEEDS_PATCH = 'secret-verification-seeds';
/**
 * A PI's stop skips the final verification unless the stop asked for it (`verify`). Campaigns
 * started before it replay with the old rule: the best was verified after every stop.
 */
export const PI_STOP_SKIPS_VERIFICATION_PATCH = 'pi-stop-skips-verification';
/**
 * Campaigns started before it record a trial once, as it finished; since, every later change to a
 * recorded trial's flags, trust or PGR is written over its run (recordTrialUpdates).
 */
export const RECORD_UPDATES_PATCH = 'record-updates';

/**
 * Campaigns started with a webhook (`notify`) since it send its messages from a `sendWebhook`
 * activity (campaign/notifier.ts). Campaigns without one issue no new command; the guard keeps a
 * campaign whose history predates the notifier from scheduling one on replay.
 */
export const WEBHOOK_NOTIFY_PATCH = 'webhook-notify';

export interface PatchRecord {
  /** The commit that added the guard, and its date (UTC). */
  added: string;
  /** Whether the replay fixtures (recorded at 2278f5e) take the patched branch. */
  inFixtures: boolean;
  /** When the old branch can go (`deprecatePatch`). */
  deprecateWhen: string;
}

const noneBefore = (date: string) =>
  `no campaign started before ${date} is running, and the replay fixtures were re-recorded since`;

/** Every patch id in use, oldest first. */
export const PATCHES: Readonly<Record<string, PatchRecord>> = {
  [RECORDS_SNAPSHOT_AT_END_PATCH]: {
    added: '7a60a14 (2026-11-29)',
    inFixtures: true,
    deprecateWhen: noneBefore('2026-11-29 18:14'),
  },
  [PROPOSALS_AHEAD_PATCH]: {
    added: 'a542d53 (2026-11-29)',
    inFixtures: true,
    deprecateWhen: noneBefore('2026-11-29 20:32'),
  },
  [PHASE_STOPS_PATCH]: {
    added: '3a76a43 (2026-11-29)',
    inFixtures: true,
    deprecateWhen: noneBefore('2026-11-29 20:48'),
  },
  [SEED_BATCHES_PATCH]: {
    added: '7ad03ff (2026-11-29)',
    inFixtures: true,
    deprecateWhen: noneBefore('2026-11-29 23:16'),
  },
  [RECORD_BATCHES_PATCH]: {
    added: '7ad03ff (2026-11-29)',
    inFixtures: true,
    deprecateWhen: noneBefore('2026-11-29 23:16'),
  },
  [RECORDS_SNAPSHOT_CHILD_PATCH]: {
    added: '2278f5e (2026-11-30)',
    inFixtures: true,
    deprecateWhen: noneBefore('2026-11-30 02:10'),
  },
  [BATCH_SHARE_REMAINING_PATCH]: {
    added: '2278f5e (2026-11-30)',
    inFixtures: true,
    deprecateWhen: noneBefore('2026-11-30 02:10'),
  },
  [RECORD_BACKPRESSURE_PATCH]: {
    added: '0ce022a (2026-11-30)',
    inFixtures: false,
    deprecateWhen: noneBefore('2026-11-30 03:04'),
  },
  [SEARCH_BESIDE_REFERENCES_PATCH]: {
    added: '4fb34f4 (2026-11-30)',
    inFixtures: false,
    deprecateWhen: noneBefore('2026-11-30 05:04'),
  },
  [RECORD_SHARE_PATCH]: {
    added: '4fb34f4 (2026-11-30)',
    inFixtures: false,
    deprecateWhen: noneBefore('2026-11-30 05:04'),
  },
  [BATCH_CANCEL_RESULTS_PATCH]: {
    added: '4386bda (2026-11-30)',
    inFixtures: false,
    deprecateWhen: noneBefore('2026-11-30 08:44'),
  },
  [HASHED_SEEDS_PATCH]: {
    added: 'e5348ee (2026-12-07)',
    inFixtures: false,
    deprecateWhen: noneBefore('2026-12-07 01:12'),
  },
  [SECRET_VERIFICATION_SEEDS_PATCH]: {
    added: 'e5348ee (2026-12-07)',
    inFixtures: false,
    deprecateWhen: noneBefore('2026-12-07 01:12'),
  },
  [PI_STOP_SKIPS_VERIFICATION_PATCH]: {
    added: 'b9d6bc0 (2026-12-07)',
    inFixtures: false,
    deprecateWhen: noneBefore('2026-12-07 01:51'),
  },
  [RECORD_UPDATES_PATCH]: {
    added: '507c2ab (2026-12-07)',
    inFixtures: false,
    deprecateWhen: noneBefore('2026-12-07 01:57'),
  },
  [WEBHOOK_NOTIFY_PATCH]: {
    added: 'branch notify (2026-12-07)',
    inFixtures: false,
    deprecateWhen: noneBefore('2026-12-07 08:00'),
  },
};
