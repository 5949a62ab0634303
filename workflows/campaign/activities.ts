/**
 * What the campaign workflow depends on outside itself: the activities the worker registers
 * (activities/index.ts `createActivities`), as a type only. Every part of the campaign that calls
 * an activity takes this type from here, so the runner, the lanes, the recorder, the outbox and
 * the source resolver import none of each other for it. Their options are the presets in
 * workflows/options.ts.
 */
import type { createActivities } from '../../activities/index.js';

export type Activities = ReturnType<typeof createActivities>;
