import type { Hypothesis } from '../../../domain/schemas.js';
import type { TrialSummary } from '../../types.js';

/** A trial about to run. */
export interface TrialRequest {
  id: string;
  index: number;
  kind: TrialSummary['kind'];
  label?: string;
  hypothesis: Hypothesis;
  seeds: number[];
  /** Each seed's time limit in seconds (search trials; else the experiment's own). */
  timeoutSeconds?: number;
  /** For verification: the trial it re-runs. */
  verifies?: string;
  /** For verification: the target was reached, or the end-of-campaign check. */
  trigger?: 'target' | 'final';
  /** For verification: its seeds were drawn in secret by a worker (domain/verdict.ts SeedAccount). */
  secretSeeds?: boolean;
}
