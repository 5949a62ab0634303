/** The workflow's recorder sizes its batches to what the recording activity writes at once. */
import { describe, expect, it } from 'vitest';
import { RECORD_BATCH } from '../workflows/campaign/recorder.js';
import { RECORD_PARALLEL } from './recording.js';

describe('recording batches', () => {
  it("the recorder's least share is the activity's parallel writes", () => {
    expect(RECORD_BATCH.parallel).toBe(RECORD_PARALLEL);
    expect(RECORD_BATCH.parallel).toBeLessThanOrEqual(RECORD_BATCH.items);
  });
});
