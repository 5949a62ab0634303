/**
 * For unit tests only: states that no sequence of commands reaches cheaply (references set by
 * hand, a queue filled without the strategy path). Never imported by workflow code.
 */
import { CampaignState } from '../../workflows/campaign/state/campaign-state.js';
import type { CampaignInput, ReferenceResult } from '../../workflows/types.js';
import type { Carried, Clock } from '../../workflows/campaign/state/context.js';

/** The carried data, writable (workflow code only reads it through the parts). */
export function carriedOf(state: CampaignState): Carried {
  return state.context.data;
}

/** A state in the search phase with the quadratic fixture's references (baseline -40, optimum 10). */
export function searchingState(
  input: CampaignInput,
  references: { baseline?: ReferenceResult; optimum?: ReferenceResult } = {
    baseline: { score: { mean: -40 }, metrics: {} },
    optimum: { score: { mean: 10 }, metrics: {} },
  },
  now: Clock | number = 0,
): CampaignState {
  const state = new CampaignState(input, now);
  state.lifecycle.setPhase('running');
  Object.assign(carriedOf(state).references, references);
  return state;
}
