/**
 * Error codes the client itself produces when there is no MLflow error body to read. Server
 * codes (RESOURCE_DOES_NOT_EXIST, INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS, ...) pass
 * through unchanged.
 */
export const ClientErrorCode = {
  /** No HTTP response: connection refused/reset, DNS failure, socket closed. */
  NETWORK_ERROR: 'NETWORK_ERROR',
  /** The per-attempt timeout (`timeoutMs`) elapsed. */
  TIMEOUT: 'TIMEOUT',
  /** The server answered 2xx but the body did not match the expected shape. */
  INVALID_RESPONSE: 'INVALID_RESPONSE',
  /** The run's artifact_uri is not served by this tracking server (no `--serve-artifacts`). */
  ARTIFACTS_NOT_PROXIED: 'ARTIFACTS_NOT_PROXIED',
} as const;

/** Context carried by every {@link MlflowError}. */
export interface MlflowErrorInit {
  /** MLflow `error_code` (e.g. `RESOURCE_DOES_NOT_EXIST`) or a {@link ClientErrorCode}. */
  errorCode: string;
  /** HTTP status, or undefined when no response arrived. */
  status?: number | undefined;
  /** `METHOD /path` of the failed request, or the client method for client-side checks. */
  endpoint: string;
  /** Whether retrying the same request later may succeed (5xx, 429, network, timeout). */
  retryable: boolean;
  /** How many HTTP attempts were made before giving up. */
  attempts?: number;
  cause?: unknown;
}

/**
 * Thrown when an MLflow request fails: the server answered with an error, no response arrived
 * within the retry budget, or the response could not be understood. `retryable` tells callers
 * (e.g. Temporal activities) whether to mark the failure non-retryable.
 */
export class MlflowError extends Error {
  override readonly name: string = 'MlflowError';
  readonly errorCode: string;
  readonly status: number | undefined;
  readonly endpoint: string;
  readonly retryable: boolean;
  readonly attempts: number;

  constructor(message: string, init: MlflowErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.errorCode = init.errorCode;
    this.status = init.status;
    this.endpoint = init.endpoint;
    this.retryable = init.retryable;
    this.attempts = init.attempts ?? 1;
  }
}

/**
 * Thrown before any request is sent when an input breaks an MLflow limit that the client does
 * not repair (e.g. a key longer than 250 characters, an unsafe artifact path). `field` names the
 * offending input path, e.g. `params["lr"].key`.
 */
export class MlflowValidationError extends MlflowError {
  override readonly name: string = 'MlflowValidationError';
  readonly field: string;

  constructor(field: string, message: string, endpoint: string) {
    super(`${field}: ${message}`, {
      errorCode: 'INVALID_PARAMETER_VALUE',
      endpoint,
      retryable: false,
    });
    this.field = field;
  }
}

/** True when `err` says the experiment, run or artifact does not exist. */
export function isNotFound(err: unknown): err is MlflowError {
  // A bare 404 without this code means a wrong URL (ENDPOINT_NOT_FOUND), not a missing entity.
  return err instanceof MlflowError && err.errorCode === 'RESOURCE_DOES_NOT_EXIST';
}

/** True when `err` says the resource (e.g. an experiment name) is already taken. */
export function isAlreadyExists(err: unknown): err is MlflowError {
  return err instanceof MlflowError && err.errorCode === 'RESOURCE_ALREADY_EXISTS';
}

/** Falls back to a code from the HTTP status when the body is not an MLflow error document. */
export function errorCodeForStatus(status: number): string {
  if (status === 400) return 'BAD_REQUEST';
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'PERMISSION_DENIED';
  if (status === 404) return 'ENDPOINT_NOT_FOUND';
  if (status === 429) return 'REQUEST_LIMIT_EXCEEDED';
  if (status === 503) return 'TEMPORARILY_UNAVAILABLE';
  if (status >= 500) return 'INTERNAL_ERROR';
  return `HTTP_${status}`;
}
