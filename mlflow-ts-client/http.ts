import { ClientErrorCode, MlflowError, errorCodeForStatus } from './errors.js';

/** How failed requests are retried. Only 5xx, 429, timeouts and connection errors are retried. */
export interface RetryOptions {
  /**
   * Total HTTP attempts per call, the first one included. `Infinity` retries until the request
   * succeeds or the client's `signal` aborts (for callers that must wait out an outage; the
   * delay between attempts stays capped at `maxDelayMs`).
   * @default 3
   */
  attempts: number;
  /** Delay before the first retry; doubles each retry. @default 200 */
  baseDelayMs: number;
  /** Upper bound of any single delay, including one asked for by `Retry-After`. @default 10000 */
  maxDelayMs: number;
}

/** Passed to `onRetry` before the client sleeps and sends the request again. */
export interface RetryEvent {
  /** The attempt that just failed (1 = the first try). */
  attempt: number;
  delayMs: number;
  error: MlflowError;
}

export const DEFAULT_RETRIES: RetryOptions = { attempts: 3, baseDelayMs: 200, maxDelayMs: 10_000 };
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface TransportConfig {
  baseUrl: string;
  fetch: typeof globalThis.fetch;
  retries: RetryOptions;
  timeoutMs: number;
  headers: Readonly<Record<string, string>>;
  signal: AbortSignal | undefined;
  onRetry: ((event: RetryEvent) => void) | undefined;
  random: () => number;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path below the tracking URI, starting with `/`, already percent-encoded. */
  path: string;
  query?: Readonly<Record<string, string | number | undefined>>;
  json?: unknown;
  body?: string | Uint8Array;
  contentType?: string;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** The delay before retry number `retry` (1-based): exponential with "equal jitter". */
export function backoffDelay(retry: number, opts: RetryOptions, random: () => number): number {
  const ceiling = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (retry - 1));
  // Half fixed, half random: spreads concurrent clients without ever retrying immediately.
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 429;
}

function retryAfterMs(headers: Headers): number | undefined {
  const value = headers.get('retry-after');
  if (value === null) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Builds an MlflowError from a non-2xx response, reading MLflow's `{error_code, message}`. */
export function errorFromResponse(
  res: HttpResponse,
  endpoint: string,
  attempts: number,
): MlflowError {
  const text = new TextDecoder().decode(res.body);
  let errorCode = errorCodeForStatus(res.status);
  let message = text.trim().slice(0, 500) || `HTTP ${res.status}`;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null) {
      const doc = parsed as { error_code?: unknown; message?: unknown; detail?: unknown };
      if (typeof doc.error_code === 'string') errorCode = doc.error_code;
      if (typeof doc.message === 'string') message = doc.message;
      else if (typeof doc.detail === 'string') message = doc.detail; // FastAPI-style errors
    }
  } catch {
    // Not JSON (a proxy's HTML page, plain text): keep the status-derived code.
  }
  return new MlflowError(`${endpoint} failed with ${res.status} ${errorCode}: ${message}`, {
    errorCode,
    status: res.status,
    endpoint,
    retryable: isRetryableStatus(res.status),
    attempts,
  });
}

/** Sends requests with a per-attempt timeout and retries transient failures. */
export class Transport {
  constructor(readonly config: TransportConfig) {}

  url(path: string, query?: HttpRequest['query']): string {
    const url = new URL(this.config.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  /**
   * Returns the 2xx response with its body fully read (so a connection dropped mid-body is
   * retried too); throws MlflowError for anything else once retries are exhausted.
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const { retries, signal } = this.config;
    const endpoint = `${req.method} ${req.path}`;
    const url = this.url(req.path, req.query); // outside the loop: a bad URI is no network error
    for (let attempt = 1; ; attempt++) {
      let error: MlflowError;
      let waitAtLeast = 0;
      try {
        const res = await this.attempt(url, req);
        if (res.status >= 200 && res.status < 300) return res;
        error = errorFromResponse(res, endpoint, attempt);
        waitAtLeast = retryAfterMs(res.headers) ?? 0;
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        error = this.networkError(err, endpoint, attempt);
      }
      if (!error.retryable || attempt >= retries.attempts) throw error;
      const delayMs = Math.min(
        retries.maxDelayMs,
        Math.max(waitAtLeast, backoffDelay(attempt, retries, this.config.random)),
      );
      this.config.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, signal);
    }
  }

  private async attempt(url: string, req: HttpRequest): Promise<HttpResponse> {
    const headers: Record<string, string> = { ...this.config.headers };
    let body: string | Uint8Array<ArrayBuffer> | undefined;
    if (req.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(req.json);
    } else if (req.body !== undefined) {
      headers['content-type'] = req.contentType ?? 'application/octet-stream';
      body = typeof req.body === 'string' ? req.body : new Uint8Array(req.body);
    }
    const timeout = AbortSignal.timeout(this.config.timeoutMs);
    const signal = this.config.signal ? AbortSignal.any([this.config.signal, timeout]) : timeout;
    const init: RequestInit = { method: req.method, headers, signal };
    if (body !== undefined) init.body = body;
    const res = await this.config.fetch(url, init);
    return {
      status: res.status,
      headers: res.headers,
      body: new Uint8Array(await res.arrayBuffer()),
    };
  }

  private networkError(err: unknown, endpoint: string, attempts: number): MlflowError {
    const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
    const cause = (err as { cause?: { code?: unknown } } | null)?.cause;
    const detail =
      typeof cause?.code === 'string'
        ? cause.code
        : err instanceof Error
          ? err.message
          : String(err);
    const errorCode = timedOut ? ClientErrorCode.TIMEOUT : ClientErrorCode.NETWORK_ERROR;
    const what = timedOut
      ? `timed out after ${this.config.timeoutMs} ms`
      : `could not reach ${this.config.baseUrl} (${detail})`;
    return new MlflowError(`${endpoint} ${what}`, {
      errorCode,
      endpoint,
      retryable: true,
      attempts,
      cause: err,
    });
  }
}
