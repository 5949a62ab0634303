/**
 * The failure types: the names a failure carries across the Temporal boundary (an
 * ApplicationFailure's `type`) and in the API's error body (`error`). Workflow validators,
 * activities and the service throw these names; the server, retry policies and tests catch them
 * by name. Nothing here imports Temporal: the throw helpers live beside the code that throws
 * (workflows/failures.ts, activities/failures.ts).
 *
 * `retryable`: whether the same call can succeed later without changing it. Activities throw a
 * non-retryable type as non-retryable, and the activity presets stop retrying on it.
 * `thrownBy`: where the type is raised (see FailureSource).
 */

/**
 * Where failures are raised: `update` (a workflow's update validator or handler), `experiment`
 * (the experiment activity), `strategy` (the strategy activities: they report what no retry can
 * fix as a result's `fatalError`, so they throw no type of this table), `service` (the API's
 * service layer and routes), `notify` (the webhook activity, activities/notify.ts).
 */
export type FailureSource = 'update' | 'experiment' | 'strategy' | 'service' | 'notify';

export const FAILURE_TYPES = {
  InvalidInput: {
    meaning: 'the request or its input is malformed; the message names each field',
    retryable: false,
    thrownBy: ['update', 'service'],
  },
  Unauthorized: {
    meaning: 'no valid bearer token came with the request',
    retryable: false,
    thrownBy: ['service'],
  },
  Forbidden: {
    meaning: "the caller's role may not do this",
    retryable: false,
    thrownBy: ['update', 'service'],
  },
  NotFound: {
    meaning:
      'a named campaign, problem, trial, flag, hypothesis or criteria version does not exist',
    retryable: false,
    thrownBy: ['update', 'service'],
  },
  Conflict: {
    meaning: 'the request does not fit the current state (finished, already paused, exists)',
    retryable: false,
    thrownBy: ['update', 'service'],
  },
  RateLimited: {
    meaning: 'too many updates or queued ideas right now; the same request may pass shortly',
    retryable: true,
    thrownBy: ['update', 'service'],
  },
  Unavailable: {
    meaning:
      "a service the answer needs (MLflow, Temporal, a campaign's webhook) cannot be reached now",
    retryable: true,
    thrownBy: ['service', 'notify'],
  },
  WebhookRefused: {
    meaning:
      "a campaign's webhook answered with a client error (a 4xx but 408 and 429, or a redirect): the same message would be refused again",
    retryable: false,
    thrownBy: ['notify'],
  },
  UnknownExperiment: {
    meaning: 'no experiment of that name is registered on the worker',
    retryable: false,
    thrownBy: ['experiment'],
  },
  InvalidParams: {
    meaning: "the experiment's parameters or seed are not valid values",
    retryable: false,
    thrownBy: ['experiment'],
  },
} as const satisfies Record<
  string,
  {
    meaning: string;
    retryable: boolean;
    thrownBy: readonly FailureSource[];
  }
>;

export type FailureType = keyof typeof FAILURE_TYPES;

export const FAILURE_TYPE_NAMES = Object.keys(FAILURE_TYPES) as FailureType[];

export function isFailureType(name: unknown): name is FailureType {
  return typeof name === 'string' && Object.hasOwn(FAILURE_TYPES, name);
}

/** The non-retryable types a source throws: the retry policy's `nonRetryableErrorTypes`. */
export function nonRetryableTypes(source: FailureSource): FailureType[] {
  return FAILURE_TYPE_NAMES.filter((t) => {
    const d = FAILURE_TYPES[t];
    return !d.retryable && (d.thrownBy as readonly FailureSource[]).includes(source);
  });
}

/**
 * Thrown by pure code (domain, workflow state) that knows which failure type applies. At the
 * Temporal boundary, convert it with `rejectFrom` (workflows/failures.ts): Temporal itself would
 * name a plain error's failure after its class (`TypedFailure`), not after its type.
 */
export class TypedFailure extends Error {
  override readonly name = 'TypedFailure';
  constructor(
    readonly type: FailureType,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The error that names a failure type: the first on `err`'s `.cause` chain whose `type` (an
 * ApplicationFailure inside an ActivityFailure or WorkflowUpdateFailedError, a TypedFailure) or
 * `code` (a ServiceError) is in the table, with its message. Undefined when none is.
 */
export function typedFailureOf(err: unknown): { type: FailureType; message: string } | undefined {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (typeof e === 'object' && e !== null && !seen.has(e)) {
    seen.add(e);
    const { type, code, message } = e as { type?: unknown; code?: unknown; message?: unknown };
    const name = isFailureType(type) ? type : isFailureType(code) ? code : undefined;
    if (name !== undefined)
      return { type: name, message: typeof message === 'string' ? message : '' };
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The failure type named along `err`'s cause chain (see typedFailureOf). */
export function failureTypeOf(err: unknown): FailureType | undefined {
  return typedFailureOf(err)?.type;
}
