/**
 * mlflow-ts-client: a thin typed client for the MLflow tracking REST API 2.0 and its artifact
 * proxy. See README.md beside this file.
 */
export {
  MlflowClient,
  authorizationHeader,
  checkArtifactPath,
  proxiedArtifactRoot,
  type CreateExperimentOptions,
  type CreateRunOptions,
  type LogMetricOptions,
  type MlflowCredentials,
  type MlflowClientOptions,
  type RunViewType,
  type SearchRunsOptions,
  type SearchRunsPage,
  type UpdateRunOptions,
} from './client.js';
export {
  ClientErrorCode,
  MlflowError,
  MlflowValidationError,
  isAlreadyExists,
  isNotFound,
  type MlflowErrorInit,
} from './errors.js';
export {
  DEFAULT_RETRIES,
  DEFAULT_TIMEOUT_MS,
  backoffDelay,
  type RetryEvent,
  type RetryOptions,
} from './http.js';
export {
  MLFLOW_LIMITS,
  planBatch,
  type BatchChunk,
  type BatchInput,
  type KeyValueInput,
  type LongValuePolicy,
  type MetricInput,
} from './batch.js';
export {
  RunStatus,
  type Experiment,
  type FileInfo,
  type Metric,
  type Run,
  type RunInfo,
} from './schemas.js';
