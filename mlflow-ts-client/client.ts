import { z } from 'zod';
import { isLoopbackHttp } from './connections.js';
import {
  MLFLOW_LIMITS,
  checkKey,
  fitValue,
  planBatch,
  wireMetricValue,
  type BatchInput,
  type LongValuePolicy,
} from './batch.js';
import {
  ClientErrorCode,
  MlflowError,
  MlflowValidationError,
  isAlreadyExists,
  isNotFound,
} from './errors.js';
import {
  DEFAULT_RETRIES,
  DEFAULT_TIMEOUT_MS,
  Transport,
  type HttpRequest,
  type RetryEvent,
  type RetryOptions,
} from './http.js';
import {
  CreateExperimentResponse,
  EmptyResponse,
  GetExperimentResponse,
  ListArtifactsResponse,
  MetricHistoryResponse,
  RunResponse,
  SearchRunsResponse,
  UpdateRunResponse,
  type Experiment,
  type FileInfo,
  type Metric,
  type Run,
  type RunInfo,
  type RunStatus,
} from './schemas.js';

/** Options of {@link MlflowClient}. */
export interface MlflowClientOptions {
  /** Base URL of the tracking server, e.g. `http://127.0.0.1:5000` (a trailing `/` is ignored). */
  trackingUri: string;
  /**
   * The fetch implementation (tests inject fakes). @default globalThis.fetch, asking for a fresh
   * connection per request (`Connection: close`) for `http://` on loopback (connections.ts:
   * MLflow answers kept-alive connections 20-40 ms late)
   */
  fetch?: typeof globalThis.fetch;
  /** Retry policy for transient failures; partial values merge with the defaults. @default {attempts: 3, baseDelayMs: 200, maxDelayMs: 10000} */
  retries?: Partial<RetryOptions>;
  /** Timeout of one HTTP attempt in ms, body included. @default 30000 */
  timeoutMs?: number;
  /** Extra headers on every request, e.g. `{authorization: 'Bearer …'}`. @default {} */
  headers?: Record<string, string>;
  /**
   * HTTP basic auth for a server with authentication (`mlflow server --app-name basic-auth`);
   * `null` sends none. @default from MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD when
   * both are set (the variables MLflow's Python client reads), else MLFLOW_TRACKING_TOKEN as a
   * bearer token, else none
   */
  credentials?: MlflowCredentials | null;
  /** Aborts in-flight requests and retry waits; the abort reason is rethrown as is. @default undefined */
  signal?: AbortSignal;
  /** Called before each retry (for logs or Temporal heartbeats). @default undefined */
  onRetry?: (event: RetryEvent) => void;
  /** What to do with over-long param/tag values. @default 'truncate' */
  longValues?: LongValuePolicy;
  /** Random source for backoff jitter, in [0, 1). @default Math.random */
  random?: () => number;
}

/** A user of an MLflow server with basic auth. */
export interface MlflowCredentials {
  username: string;
  password: string;
}

/** The authorization header for `credentials`, or from the environment when they are undefined. */
export function authorizationHeader(
  credentials: MlflowCredentials | null | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  if (credentials === null) return undefined;
  const c =
    credentials ??
    (env.MLFLOW_TRACKING_USERNAME && env.MLFLOW_TRACKING_PASSWORD
      ? { username: env.MLFLOW_TRACKING_USERNAME, password: env.MLFLOW_TRACKING_PASSWORD }
      : undefined);
  if (c) return `Basic ${Buffer.from(`${c.username}:${c.password}`, 'utf8').toString('base64')}`;
  return env.MLFLOW_TRACKING_TOKEN ? `Bearer ${env.MLFLOW_TRACKING_TOKEN}` : undefined;
}

export interface CreateExperimentOptions {
  /** Where the experiment's artifacts go; omit to let the server choose (`mlflow-artifacts:/<id>` when proxying). */
  artifactLocation?: string;
  tags?: Readonly<Record<string, string>>;
}

export interface CreateRunOptions {
  experimentId: string;
  /** Stored as the run name and the `mlflow.runName` tag. */
  runName?: string;
  /** Epoch ms. @default Date.now() */
  startTime?: number;
  /** Makes this a nested run: sets the `mlflow.parentRunId` tag. */
  parentRunId?: string;
  tags?: Readonly<Record<string, string>>;
  userId?: string;
}

export interface UpdateRunOptions {
  status: RunStatus;
  /** Epoch ms. Defaults to now when `status` is terminal (FINISHED, FAILED, KILLED). */
  endTime?: number;
  runName?: string;
}

export type RunViewType = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';

export interface SearchRunsOptions {
  experimentIds: readonly string[];
  /** MLflow filter syntax, e.g. `tags.mlflow.parentRunId = '…' and metrics.pgr > 0.5`. */
  filter?: string;
  /** e.g. `['metrics.pgr DESC', 'attributes.start_time ASC']`. */
  orderBy?: readonly string[];
  /** Page size; the server's default is 1000 and its maximum 50000. */
  maxResults?: number;
  pageToken?: string;
  /** @default 'ACTIVE_ONLY' */
  runViewType?: RunViewType;
}

export interface SearchRunsPage {
  runs: Run[];
  /** Absent on the last page. */
  nextPageToken: string | undefined;
}

export interface LogMetricOptions {
  /** @default 0 */
  step?: number;
  /** Epoch ms. @default Date.now() */
  timestamp?: number;
}

const TERMINAL: ReadonlySet<RunStatus> = new Set(['FINISHED', 'FAILED', 'KILLED']);
const API = '/api/2.0/mlflow';
const ARTIFACTS_API = '/api/2.0/mlflow-artifacts/artifacts';
/** Runs whose artifact root is remembered; bounded so that long campaigns don't grow memory. */
const ARTIFACT_ROOT_CACHE_SIZE = 1000;

/**
 * A thin typed client for the MLflow tracking REST API 2.0 and the artifact proxy
 * (`mlflow server --serve-artifacts`). Every response is validated with zod; every failure is an
 * {@link MlflowError}. Transient failures (5xx, 429, timeouts, connection errors) are retried with
 * exponential backoff and jitter; 4xx never are.
 *
 * Retries make createRun at-least-once: if a create succeeded but its response was lost, the retry
 * creates a second run. Callers that need exactly-once should tag runs with their own id and look
 * them up first.
 */
export class MlflowClient {
  readonly trackingUri: string;
  /** The `authorization` header this client sends (for callers of endpoints it does not wrap). */
  readonly authorization: string | undefined;
  private readonly options: MlflowClientOptions;
  private readonly http: Transport;
  private readonly longValues: LongValuePolicy;
  private readonly artifactRoots = new Map<string, string>();

  constructor(options: MlflowClientOptions) {
    this.options = options;
    this.trackingUri = options.trackingUri.replace(/\/+$/, '');
    try {
      new URL(this.trackingUri);
    } catch {
      throw new MlflowValidationError(
        'trackingUri',
        `"${options.trackingUri}" is not a URL`,
        'new MlflowClient',
      );
    }
    const retries = { ...DEFAULT_RETRIES, ...options.retries };
    if (!(retries.attempts >= 1)) {
      throw new MlflowValidationError(
        'retries.attempts',
        'must be >= 1 (Infinity retries forever)',
        'new MlflowClient',
      );
    }
    this.longValues = options.longValues ?? 'truncate';
    const authorization = authorizationHeader(options.credentials);
    this.authorization = authorization;
    this.http = new Transport({
      baseUrl: this.trackingUri,
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
      retries,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      headers: {
        ...(!options.fetch && isLoopbackHttp(this.trackingUri) ? { connection: 'close' } : {}),
        ...(authorization ? { authorization } : {}),
        ...options.headers,
      },
      signal: options.signal,
      onRetry: options.onRetry,
      random: options.random ?? Math.random,
    });
  }

  /** A client on the same server with some options replaced, e.g. `withOptions({ signal, retries: { attempts: Infinity } })`. */
  withOptions(overrides: Partial<MlflowClientOptions>): MlflowClient {
    return new MlflowClient({ ...this.options, ...overrides });
  }

  // ---- server ---------------------------------------------------------------------------------

  /** True when `GET /health` answers 200 within the timeout. One attempt, never throws. */
  async health(): Promise<boolean> {
    try {
      const res = await this.http.config.fetch(`${this.trackingUri}/health`, {
        signal: AbortSignal.timeout(this.http.config.timeoutMs),
        headers: this.http.config.headers,
      });
      await res.arrayBuffer();
      return res.ok;
    } catch {
      return false;
    }
  }

  /** The server's MLflow version from `GET /version`, e.g. `3.17.2`. */
  async serverVersion(): Promise<string> {
    const res = await this.http.send({ method: 'GET', path: '/version' });
    return new TextDecoder().decode(res.body).trim();
  }

  // ---- experiments ----------------------------------------------------------------------------

  /** The experiment with this name (active or deleted), or null when there is none. */
  async getExperimentByName(name: string): Promise<Experiment | null> {
    try {
      const res = await this.call('GET', '/experiments/get-by-name', GetExperimentResponse, {
        query: { experiment_name: name },
      });
      return res.experiment;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async getExperiment(experimentId: string): Promise<Experiment> {
    const res = await this.call('GET', '/experiments/get', GetExperimentResponse, {
      query: { experiment_id: experimentId },
    });
    return res.experiment;
  }

  /** Creates an experiment and returns its id; throws RESOURCE_ALREADY_EXISTS when the name is taken. */
  async createExperiment(name: string, options: CreateExperimentOptions = {}): Promise<string> {
    const body: Record<string, unknown> = { name };
    if (options.artifactLocation !== undefined)
      body['artifact_location'] = options.artifactLocation;
    if (options.tags)
      body['tags'] = Object.entries(options.tags).map(([key, value]) => ({ key, value }));
    const res = await this.call('POST', '/experiments/create', CreateExperimentResponse, {
      json: body,
    });
    return res.experiment_id;
  }

  /**
   * The id of the active experiment with this name, created if needed. Safe under concurrent
   * callers: whoever loses the create race reads the winner's experiment. Throws
   * INVALID_STATE when the name belongs to a deleted experiment (restore or purge it first).
   */
  async getOrCreateExperiment(
    name: string,
    options: CreateExperimentOptions = {},
  ): Promise<string> {
    const existing = await this.getExperimentByName(name);
    if (existing) return this.activeId(existing);
    try {
      return await this.createExperiment(name, options);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      const winner = await this.getExperimentByName(name);
      if (!winner) throw err;
      return this.activeId(winner);
    }
  }

  private activeId(experiment: Experiment): string {
    if (experiment.lifecycleStage === 'active') return experiment.experimentId;
    throw new MlflowError(
      `experiment "${experiment.name}" (id ${experiment.experimentId}) is deleted; restore it or delete it permanently before reusing the name`,
      { errorCode: 'INVALID_STATE', endpoint: 'getOrCreateExperiment', retryable: false },
    );
  }

  async setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    checkKey(key, 'key', 'setExperimentTag');
    await this.call('POST', '/experiments/set-experiment-tag', EmptyResponse, {
      json: { experiment_id: experimentId, key, value },
    });
  }

  /**
   * Grants `username` a permission on an experiment (servers run with `--app-name basic-auth`;
   * the caller needs MANAGE on it, or to be an admin). Throws RESOURCE_ALREADY_EXISTS when the
   * user holds a permission on it already, RESOURCE_DOES_NOT_EXIST for an unknown user, and a
   * bare 404 from a server without authentication.
   */
  async grantExperimentPermission(
    experimentId: string,
    username: string,
    permission: 'READ' | 'USE' | 'EDIT' | 'MANAGE' | 'NO_PERMISSIONS',
  ): Promise<void> {
    await this.http.send({
      method: 'POST',
      path: '/api/3.0/mlflow/users/permissions/grant',
      json: { username, resource_type: 'experiment', resource_id: experimentId, permission },
    });
  }

  // ---- runs -----------------------------------------------------------------------------------

  async createRun(options: CreateRunOptions): Promise<Run> {
    const tags: Record<string, string> = { ...options.tags };
    if (options.parentRunId !== undefined) tags['mlflow.parentRunId'] = options.parentRunId;
    const tagList = Object.entries(tags).map(([key, value]) => {
      checkKey(key, `tags["${key}"]`, 'createRun');
      return {
        key,
        value: fitValue(
          value,
          MLFLOW_LIMITS.tagValueLength,
          this.longValues,
          `tags["${key}"].value`,
          'createRun',
        ),
      };
    });
    const body: Record<string, unknown> = {
      experiment_id: options.experimentId,
      start_time: options.startTime ?? Date.now(),
      tags: tagList,
    };
    if (options.runName !== undefined) body['run_name'] = options.runName;
    if (options.userId !== undefined) body['user_id'] = options.userId;
    const res = await this.call('POST', '/runs/create', RunResponse, { json: body });
    this.rememberArtifactRoot(res.run.info);
    return res.run;
  }

  async getRun(runId: string): Promise<Run> {
    const res = await this.call('GET', '/runs/get', RunResponse, { query: { run_id: runId } });
    this.rememberArtifactRoot(res.run.info);
    return res.run;
  }

  /** Sets status (and end time / name); returns the updated run info. */
  async updateRun(runId: string, options: UpdateRunOptions): Promise<RunInfo> {
    const body: Record<string, unknown> = { run_id: runId, status: options.status };
    const endTime = options.endTime ?? (TERMINAL.has(options.status) ? Date.now() : undefined);
    if (endTime !== undefined) body['end_time'] = endTime;
    if (options.runName !== undefined) body['run_name'] = options.runName;
    const res = await this.call('POST', '/runs/update', UpdateRunResponse, { json: body });
    return res.run_info;
  }

  /** Marks the run deleted (MLflow keeps it restorable until garbage collection). */
  async deleteRun(runId: string): Promise<void> {
    await this.call('POST', '/runs/delete', EmptyResponse, { json: { run_id: runId } });
    this.artifactRoots.delete(runId);
  }

  async setTag(runId: string, key: string, value: string): Promise<void> {
    checkKey(key, 'key', 'setTag');
    const fitted = fitValue(
      value,
      MLFLOW_LIMITS.tagValueLength,
      this.longValues,
      `tags["${key}"].value`,
      'setTag',
    );
    await this.call('POST', '/runs/set-tag', EmptyResponse, {
      json: { run_id: runId, key, value: fitted },
    });
  }

  /** Params are write-once: logging a different value for an existing key is INVALID_PARAMETER_VALUE. */
  async logParam(runId: string, key: string, value: string | number | boolean): Promise<void> {
    checkKey(key, 'key', 'logParam');
    const fitted = fitValue(
      String(value),
      MLFLOW_LIMITS.paramValueLength,
      this.longValues,
      `params["${key}"].value`,
      'logParam',
    );
    await this.call('POST', '/runs/log-parameter', EmptyResponse, {
      json: { run_id: runId, key, value: fitted },
    });
  }

  /** Logs one metric value; NaN and +/-Infinity are allowed. */
  async logMetric(
    runId: string,
    key: string,
    value: number,
    options: LogMetricOptions = {},
  ): Promise<void> {
    checkKey(key, 'key', 'logMetric');
    await this.call('POST', '/runs/log-metric', EmptyResponse, {
      json: {
        run_id: runId,
        key,
        value: wireMetricValue(value),
        timestamp: options.timestamp ?? Date.now(),
        step: options.step ?? 0,
      },
    });
  }

  /**
   * Logs any number of metrics, params and tags, split into as many requests as MLflow's
   * per-request limits need (1000 metrics, 100 params, 100 tags, 1000 entities, ~1 MB). Params and
   * tags are sent before metrics. Keys over 250 characters throw MlflowValidationError before
   * anything is sent; long values follow the `longValues` option. Not atomic across chunks: a
   * failure part-way leaves earlier chunks logged (re-sending the same batch is harmless).
   * Returns the number of requests made.
   */
  async logBatch(runId: string, batch: BatchInput): Promise<number> {
    const chunks = planBatch(batch, this.longValues, 'logBatch');
    for (const chunk of chunks) {
      await this.call('POST', '/runs/log-batch', EmptyResponse, {
        json: { run_id: runId, ...chunk },
      });
    }
    return chunks.length;
  }

  /** One page of runs. */
  async searchRuns(options: SearchRunsOptions): Promise<SearchRunsPage> {
    const body: Record<string, unknown> = {
      experiment_ids: options.experimentIds,
      run_view_type: options.runViewType ?? 'ACTIVE_ONLY',
    };
    if (options.filter !== undefined) body['filter'] = options.filter;
    if (options.orderBy !== undefined) body['order_by'] = options.orderBy;
    if (options.maxResults !== undefined) body['max_results'] = options.maxResults;
    if (options.pageToken !== undefined) body['page_token'] = options.pageToken;
    const res = await this.call('POST', '/runs/search', SearchRunsResponse, { json: body });
    return { runs: res.runs, nextPageToken: res.next_page_token || undefined };
  }

  /** Every matching run, fetched page by page as the caller iterates (`maxResults` is the page size). */
  async *iterateRuns(
    options: Omit<SearchRunsOptions, 'pageToken'>,
  ): AsyncGenerator<Run, void, undefined> {
    let pageToken: string | undefined;
    do {
      const page = await this.searchRuns(
        pageToken === undefined ? options : { ...options, pageToken },
      );
      yield* page.runs;
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
  }

  /** Every matching run in one array; prefer {@link iterateRuns} for large experiments. */
  async searchAllRuns(options: Omit<SearchRunsOptions, 'pageToken'>): Promise<Run[]> {
    const runs: Run[] = [];
    for await (const run of this.iterateRuns(options)) runs.push(run);
    return runs;
  }

  /** All values of one metric, in the server's order (by step, then timestamp). Empty when never logged. */
  async getMetricHistory(runId: string, metricKey: string): Promise<Metric[]> {
    const metrics: Metric[] = [];
    let pageToken: string | undefined;
    do {
      const query: Record<string, string> = { run_id: runId, metric_key: metricKey };
      if (pageToken !== undefined) query['page_token'] = pageToken;
      const res = await this.call('GET', '/metrics/get-history', MetricHistoryResponse, { query });
      metrics.push(...res.metrics);
      pageToken = res.next_page_token || undefined;
    } while (pageToken !== undefined);
    return metrics;
  }

  // ---- artifacts ------------------------------------------------------------------------------

  /**
   * Uploads one file to the run's artifact store through the server's artifact proxy
   * (`PUT /api/2.0/mlflow-artifacts/artifacts/<run artifact root>/<path>`). `path` is relative
   * to the run's artifact root, e.g. `logs/seed-1.txt`; an existing file is overwritten.
   */
  async uploadArtifact(
    runId: string,
    path: string,
    content: string | Uint8Array,
    contentType?: string,
  ): Promise<void> {
    const url = await this.artifactUrlPath(runId, path, 'uploadArtifact');
    const request: HttpRequest = { method: 'PUT', path: url, body: content };
    request.contentType =
      contentType ??
      (typeof content === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream');
    await this.http.send(request);
  }

  /** The direct children of `path` (the root when omitted); directories have `isDir: true`. */
  async listArtifacts(runId: string, path?: string): Promise<FileInfo[]> {
    const files: FileInfo[] = [];
    let pageToken: string | undefined;
    do {
      const query: Record<string, string> = { run_id: runId };
      if (path !== undefined && path !== '')
        query['path'] = checkArtifactPath(path, 'listArtifacts');
      if (pageToken !== undefined) query['page_token'] = pageToken;
      const res = await this.call('GET', '/artifacts/list', ListArtifactsResponse, { query });
      files.push(...res.files);
      pageToken = res.next_page_token || undefined;
    } while (pageToken !== undefined);
    return files;
  }

  /** The bytes of one artifact file; RESOURCE_DOES_NOT_EXIST when it is missing. */
  async downloadArtifact(runId: string, path: string): Promise<Uint8Array> {
    const url = await this.artifactUrlPath(runId, path, 'downloadArtifact');
    return (await this.http.send({ method: 'GET', path: url })).body;
  }

  /** {@link downloadArtifact} decoded as UTF-8. */
  async downloadArtifactText(runId: string, path: string): Promise<string> {
    return new TextDecoder().decode(await this.downloadArtifact(runId, path));
  }

  private async artifactUrlPath(runId: string, path: string, endpoint: string): Promise<string> {
    const relative = checkArtifactPath(path, endpoint);
    let root = this.artifactRoots.get(runId);
    if (root === undefined) {
      const info = (await this.getRun(runId)).info;
      root = proxiedArtifactRoot(info.artifactUri, endpoint);
    }
    const encoded = [...root.split('/'), ...relative.split('/')].map(encodeURIComponent).join('/');
    return `${ARTIFACTS_API}/${encoded}`;
  }

  private rememberArtifactRoot(info: RunInfo): void {
    let root: string;
    try {
      root = proxiedArtifactRoot(info.artifactUri, 'getRun');
    } catch {
      return; // Not proxied: artifact calls will report it when (if ever) they are used.
    }
    if (this.artifactRoots.size >= ARTIFACT_ROOT_CACHE_SIZE) {
      const oldest = this.artifactRoots.keys().next().value;
      if (oldest !== undefined) this.artifactRoots.delete(oldest);
    }
    this.artifactRoots.set(info.runId, root);
  }

  // ---- plumbing -------------------------------------------------------------------------------

  private async call<S extends z.ZodType>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    request: { query?: Record<string, string>; json?: unknown },
  ): Promise<z.output<S>> {
    const req: HttpRequest = { method, path: API + path };
    if (request.query) req.query = request.query;
    if (request.json !== undefined) req.json = request.json;
    const res = await this.http.send(req);
    const endpoint = `${method} ${API}${path}`;
    let parsed: unknown;
    try {
      const text = new TextDecoder().decode(res.body);
      parsed = text.trim() === '' ? {} : JSON.parse(text);
    } catch (cause) {
      throw new MlflowError(`${endpoint} returned a body that is not JSON`, {
        errorCode: ClientErrorCode.INVALID_RESPONSE,
        status: res.status,
        endpoint,
        retryable: false,
        cause,
      });
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      throw new MlflowError(
        `${endpoint} returned an unexpected body:\n${z.prettifyError(result.error)}`,
        {
          errorCode: ClientErrorCode.INVALID_RESPONSE,
          status: res.status,
          endpoint,
          retryable: false,
          cause: result.error,
        },
      );
    }
    return result.data;
  }
}

/**
 * The artifact-proxy path of a run's artifact root, from its artifact_uri:
 * `mlflow-artifacts:/1/<run>/artifacts` (or `mlflow-artifacts://host/1/…`) -> `1/<run>/artifacts`;
 * `http(s)://host/api/2.0/mlflow-artifacts/artifacts/1/<run>/artifacts` -> the same.
 */
export function proxiedArtifactRoot(artifactUri: string, endpoint = 'artifacts'): string {
  const proxied = /^mlflow-artifacts:(?:\/\/[^/]*)?\/*(.*)$/.exec(artifactUri);
  if (proxied) return proxied[1]!.replace(/\/+$/, '');
  const anchor = `${ARTIFACTS_API}/`;
  if (/^https?:\/\//.test(artifactUri) && artifactUri.includes(anchor)) {
    return decodeURIComponent(artifactUri.split(anchor)[1]!).replace(/^\/+|\/+$/g, '');
  }
  throw new MlflowError(
    `run artifact_uri "${artifactUri}" is not served by the tracking server; start it with --serve-artifacts and create the experiment without a custom artifact location`,
    { errorCode: ClientErrorCode.ARTIFACTS_NOT_PROXIED, endpoint, retryable: false },
  );
}

/** Accepts `a/b.txt`; rejects absolute paths, empty, `.` and `..` segments (no escaping the run's root). */
export function checkArtifactPath(path: string, endpoint: string): string {
  const segments = path.split('/');
  if (
    path.length === 0 ||
    path.includes('\0') ||
    segments.some((s) => s === '' || s === '.' || s === '..')
  ) {
    throw new MlflowValidationError(
      'path',
      `"${path}" must be a relative path like "dir/file.txt" without empty, "." or ".." segments`,
      endpoint,
    );
  }
  return path;
}
