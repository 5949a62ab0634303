import { MlflowValidationError } from './errors.js';

/**
 * MLflow's limits (mlflow/utils/validation.py, unchanged from 2.x through 3.17). The server
 * rejects a log-batch request that breaks a count or size limit, and rejects over-long keys.
 * Over-long param/tag values it silently truncates only while MLFLOW_TRUNCATE_LONG_VALUES is on,
 * so the client applies its own policy (see {@link LongValuePolicy}) to behave the same against
 * any server configuration.
 */
export const MLFLOW_LIMITS = {
  metricsPerBatch: 1000,
  paramsPerBatch: 100,
  tagsPerBatch: 100,
  entitiesPerBatch: 1000,
  /** The server's cap is 1,000,000 bytes of request JSON; keep a margin for the envelope. */
  batchBytes: 900_000,
  keyLength: 250,
  paramValueLength: 6000,
  tagValueLength: 8000,
} as const;

/**
 * What to do with a param value over 6000 characters or a run tag value over 8000:
 * `truncate` keeps the first N characters (what the MLflow server and Python client do by
 * default); `error` throws MlflowValidationError before anything is sent.
 */
export type LongValuePolicy = 'truncate' | 'error';

/** A metric to log. `timestamp` defaults to now (ms), `step` to 0. */
export interface MetricInput {
  key: string;
  value: number;
  timestamp?: number;
  step?: number;
}

/** Params or tags: a record, or a list of pairs when order matters. Numbers and booleans are stringified. */
export type KeyValueInput =
  | Readonly<Record<string, string | number | boolean>>
  | ReadonlyArray<{ key: string; value: string | number | boolean }>;

export interface BatchInput {
  metrics?: readonly MetricInput[];
  params?: KeyValueInput;
  tags?: KeyValueInput;
}

/** One log-batch request body, minus run_id. */
export interface BatchChunk {
  metrics: WireMetric[];
  params: WireKeyValue[];
  tags: WireKeyValue[];
}

export interface WireMetric {
  key: string;
  /** Non-finite values travel as MLflow's strings, since JSON has no NaN/Infinity. */
  value: number | 'NaN' | 'Infinity' | '-Infinity';
  timestamp: number;
  step: number;
}

export interface WireKeyValue {
  key: string;
  value: string;
}

export function wireMetricValue(value: number): WireMetric['value'] {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  return value;
}

function pairs(input: KeyValueInput | undefined): Array<{ key: string; value: string }> {
  if (input === undefined) return [];
  const list = Array.isArray(input)
    ? (input as ReadonlyArray<{ key: string; value: string | number | boolean }>)
    : Object.entries(input).map(([key, value]) => ({ key, value }));
  return list.map(({ key, value }) => ({ key, value: String(value) }));
}

/** Checks a key against MLflow's 250-character limit; `field` names it in the error. */
export function checkKey(key: string, field: string, endpoint: string): void {
  if (key.length === 0) throw new MlflowValidationError(field, 'key must not be empty', endpoint);
  if (key.length > MLFLOW_LIMITS.keyLength) {
    throw new MlflowValidationError(
      field,
      `key is ${key.length} characters; MLflow allows at most ${MLFLOW_LIMITS.keyLength} (key starts "${key.slice(0, 40)}...")`,
      endpoint,
    );
  }
}

/** Applies the long-value policy to one param or tag value. */
export function fitValue(
  value: string,
  limit: number,
  policy: LongValuePolicy,
  field: string,
  endpoint: string,
): string {
  if (value.length <= limit) return value;
  if (policy === 'truncate') return value.slice(0, limit);
  throw new MlflowValidationError(
    field,
    `value is ${value.length} characters; MLflow allows at most ${limit}`,
    endpoint,
  );
}

/**
 * Validates a batch and splits it into requests that each respect MLflow's per-request limits.
 * Params and tags go first so that a run never shows metrics without the params behind them.
 */
export function planBatch(
  input: BatchInput,
  policy: LongValuePolicy,
  endpoint: string,
  now = Date.now(),
): BatchChunk[] {
  const params = pairs(input.params).map(({ key, value }) => {
    checkKey(key, `params["${key}"]`, endpoint);
    return {
      key,
      value: fitValue(
        value,
        MLFLOW_LIMITS.paramValueLength,
        policy,
        `params["${key}"].value`,
        endpoint,
      ),
    };
  });
  const tags = pairs(input.tags).map(({ key, value }) => {
    checkKey(key, `tags["${key}"]`, endpoint);
    return {
      key,
      value: fitValue(
        value,
        MLFLOW_LIMITS.tagValueLength,
        policy,
        `tags["${key}"].value`,
        endpoint,
      ),
    };
  });
  const metrics = (input.metrics ?? []).map((m, i): WireMetric => {
    checkKey(m.key, `metrics[${i}].key`, endpoint);
    if (typeof m.value !== 'number') {
      throw new MlflowValidationError(
        `metrics[${i}].value`,
        `must be a number, got ${typeof m.value}`,
        endpoint,
      );
    }
    return {
      key: m.key,
      value: wireMetricValue(m.value),
      timestamp: m.timestamp ?? now,
      step: m.step ?? 0,
    };
  });

  const chunks: BatchChunk[] = [];
  let current: BatchChunk = { metrics: [], params: [], tags: [] };
  let bytes = 0;
  const flush = (): void => {
    chunks.push(current);
    current = { metrics: [], params: [], tags: [] };
    bytes = 0;
  };
  const add = <K extends keyof BatchChunk>(
    kind: K,
    item: BatchChunk[K][number],
    max: number,
  ): void => {
    const size = Buffer.byteLength(JSON.stringify(item)) + 1; // the server counts UTF-8 bytes
    const total = current.metrics.length + current.params.length + current.tags.length;
    if (
      current[kind].length >= max ||
      total >= MLFLOW_LIMITS.entitiesPerBatch ||
      bytes + size > MLFLOW_LIMITS.batchBytes
    ) {
      flush();
    }
    (current[kind] as Array<BatchChunk[K][number]>).push(item);
    bytes += size;
  };
  for (const p of params) add('params', p, MLFLOW_LIMITS.paramsPerBatch);
  for (const t of tags) add('tags', t, MLFLOW_LIMITS.tagsPerBatch);
  for (const m of metrics) add('metrics', m, MLFLOW_LIMITS.metricsPerBatch);
  if (current.metrics.length + current.params.length + current.tags.length > 0) flush();
  return chunks;
}
