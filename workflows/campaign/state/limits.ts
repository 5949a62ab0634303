/**
 * The bounds of a campaign's state, declared once: what is carried over continue-as-new stays
 * under a quarter of Temporal's 2 MiB payload limit at any trial count and any amount of human
 * or agent input. Each part is bounded where it grows (workflows/README.md has the table).
 */
import type { Config } from '../../../domain/schemas.js';

/**
 * Byte budgets (JSON) of the state carried over continue-as-new. With the workflow input (spec,
 * criteria, strategy) the whole continue-as-new payload stays under a quarter of Temporal's
 * 2 MiB payload limit at any trial count and any amount of human input. Each part is bounded
 * where it grows (most recent kept, counts exact, evicted entries archived to MLflow); `carry()`
 * then fits the kept trials into what the other parts leave.
 */
export const CARRY_BUDGET = {
  /** The whole continue-as-new input: carried state and the workflow input. */
  total: 512 * 1024,
  /** Kept trials (references, verification runs, leaders and their ancestors, the most recent). */
  trials: 160 * 1024,
  /** Queued hypotheses and those waiting for approval. */
  queue: 96 * 1024,
  notebook: 32 * 1024,
  audit: 16 * 1024,
  dropped: 12 * 1024,
  verification: 64 * 1024,
} as const;
/** Texts kept in workflow state; longer ones are archived whole in MLflow and cut here. */
export const KEPT_CHARS = {
  note: 1000,
  rationale: 500,
  expectedEffect: 300,
  /** A kept trial's copy of its rationale (the hypothesis and MLflow keep more). */
  trialRationale: 200,
  title: 200,
  reason: 500,
  /** Reasons in the proposal audit's recent records (300 of them are kept). */
  proposalReason: 200,
  auditDetail: 500,
} as const;
/** Queued plus pending hypotheses at most (beyond: "retry once some have run"). */
export const QUEUE_LIMIT = 100;
/**
 * Temporal's default limit of updates per workflow run (dynamic config `history.maxTotalUpdates`,
 * 2000; `history.maxInFlightUpdates` allows 10 at once). The campaign continues as new well
 * before it, refuses other updates with "too many updates in this run, retry shortly" past
 * `refuseAt`, and keeps the rest for a PI's stop.
 */
export const UPDATE_LIMITS = { temporal: 2000, continueAt: 1500, refuseAt: 1800, stopUntil: 1990 };
/**
 * Log tails carried back from seeds: at most `perSeed` each and `perTrial` over a trial's seeds
 * (the full logs are MLflow artifacts).
 */
export const TAIL_BUDGET = { perSeed: 4096, perTrial: 64 * 1024 } as const;

export const NOTEBOOK_LIMIT = 500;
export const AUDIT_LIMIT = 2000;
export const DROPPED_LIMIT = 500;
/** Points of the PGR-over-trials series kept: every improvement of the best, then thinned. */
export const PGR_SERIES_LIMIT = 1000;
/** Hashes of archived configurations kept for duplicate checks (the most recent). */
export const ARCHIVED_LIMIT = 4096;
/** Verification results kept (the most recent; the report's verdict needs only the best's own). */
export const VERIFICATION_LIMIT = 60;
/** PI decisions on hypotheses kept (to tell "already decided" from "unknown"). */
export const DECISIONS_LIMIT = 500;
/**
 * Trials kept in workflow memory. Past this, the state keeps the references, the verification
 * runs, the most recent search trials and the leaders with their ancestors; MLflow keeps every
 * trial. This bounds the continue-as-new payload and what each strategy call carries.
 */
export const KEEP_TRIALS = 1200;
export const KEEP_RECENT = 600;
export const KEEP_TOP = 100;
/** Trials a strategy call carries at most: the leaders with their ancestors, then the most recent. */
export const VIEW_TRIALS = 500;
export const VIEW_TOP = 100;
/** Failed trials a strategy call carries at most beyond the leaders (failures are information). */
export const VIEW_FAILED = 100;
/** Consecutive strategy calls that yield nothing runnable before the campaign gives up. */
export const EMPTY_ROUNDS_LIMIT = 3;
export const SEED_SPACE = 2 ** 31 - 1;
/** Successful seed durations kept for adaptive timeouts: the most recent ones. */
export const SEED_DURATIONS = 200;
/** Trials waiting behind the running wave when seeds are batched (domain/batches.ts). */
export const MAX_BATCHED_IN_FLIGHT = 256;

export const pad = (n: number) => String(n).padStart(4, '0');

/** JSON size in UTF-16 code units: a close, cheap stand-in for the payload's bytes. */
export function jsonSize(value: unknown): number {
  return JSON.stringify(value)?.length ?? 0;
}

/** `text` cut to `max` characters, saying so. */
export function cut(text: string, max: number, note = ''): string {
  if (text.length <= max) return text;
  const tail = ` … [cut${note ? `; ${note}` : ''}]`;
  return text.slice(0, Math.max(0, max - tail.length)) + tail;
}

/** A configuration as a short stable hash (keys sorted; two FNV-style hashes, 40 bits, base 36). */
export function configHash(config: Config): string {
  return hashFingerprint(
    JSON.stringify(
      Object.keys(config)
        .sort()
        .map((k) => [k, config[k]]),
    ),
  );
}

/** The hash of a configuration's fingerprint (older runs carried whole fingerprints). */
export function hashFingerprint(fp: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < fp.length; i++) {
    const c = fp.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
  }
  return ((h2 & 0xff) * 0x100000000 + h1).toString(36);
}
