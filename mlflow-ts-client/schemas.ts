import { z } from 'zod';

// Response shapes of MLflow REST API 2.0 (checked against mlflow 3.17). MLflow leaves out empty
// repeated fields and unset optionals, so nearly everything is optional with a default. The
// transforms turn snake_case arrays of {key, value} into camelCase objects and records.

/** int64 fields arrive as JSON numbers from MLflow, but as strings from some proto encoders. */
const int64 = z.union([z.number(), z.string().regex(/^-?\d+$/)]).transform(Number);

/** MLflow writes non-finite doubles as the strings "NaN", "Infinity", "-Infinity". */
export const metricValue = z.union([
  z.number(),
  z.enum(['NaN', 'Infinity', '-Infinity']).transform(Number),
]);

const keyValue = z.object({ key: z.string(), value: z.string().default('') });
const keyValues = z
  .array(keyValue)
  .default([])
  .transform(
    (list) => Object.fromEntries(list.map((t) => [t.key, t.value])) as Record<string, string>,
  );

export const RunStatus = z.enum(['RUNNING', 'SCHEDULED', 'FINISHED', 'FAILED', 'KILLED']);
export type RunStatus = z.infer<typeof RunStatus>;

export const LifecycleStage = z.enum(['active', 'deleted']);

export const MetricSchema = z
  .object({
    key: z.string(),
    value: metricValue,
    timestamp: int64.default(0),
    step: int64.default(0),
  })
  .transform((m) => ({ key: m.key, value: m.value, timestamp: m.timestamp, step: m.step }));
/** One recorded metric value. `value` may be NaN or +/-Infinity. */
export type Metric = z.output<typeof MetricSchema>;

export const ExperimentSchema = z
  .object({
    experiment_id: z.string(),
    name: z.string(),
    artifact_location: z.string().default(''),
    lifecycle_stage: LifecycleStage.default('active'),
    creation_time: int64.optional(),
    last_update_time: int64.optional(),
    tags: keyValues,
  })
  .transform((e) => ({
    experimentId: e.experiment_id,
    name: e.name,
    artifactLocation: e.artifact_location,
    lifecycleStage: e.lifecycle_stage,
    creationTime: e.creation_time,
    lastUpdateTime: e.last_update_time,
    tags: e.tags,
  }));
export type Experiment = z.output<typeof ExperimentSchema>;

export const RunInfoSchema = z
  .object({
    run_id: z.string().optional(),
    run_uuid: z.string().optional(),
    experiment_id: z.string(),
    run_name: z.string().default(''),
    user_id: z.string().default(''),
    status: RunStatus.default('RUNNING'),
    start_time: int64.optional(),
    end_time: int64.optional(),
    artifact_uri: z.string().default(''),
    lifecycle_stage: LifecycleStage.default('active'),
  })
  .refine((i) => (i.run_id ?? i.run_uuid) !== undefined, {
    message: 'run_id is missing',
    path: ['run_id'],
  })
  .transform((i) => ({
    runId: (i.run_id ?? i.run_uuid) as string,
    experimentId: i.experiment_id,
    runName: i.run_name,
    userId: i.user_id,
    status: i.status,
    startTime: i.start_time,
    endTime: i.end_time,
    artifactUri: i.artifact_uri,
    lifecycleStage: i.lifecycle_stage,
  }));
export type RunInfo = z.output<typeof RunInfoSchema>;

const RunDataSchema = z
  .object({
    metrics: z.array(MetricSchema).default([]),
    params: keyValues,
    tags: keyValues,
  })
  .transform((d) => ({
    /** Latest value of each metric; the full series comes from getMetricHistory. */
    metrics: Object.fromEntries(d.metrics.map((m) => [m.key, m.value])) as Record<string, number>,
    params: d.params,
    tags: d.tags,
  }));

export const RunSchema = z.object({
  info: RunInfoSchema,
  data: RunDataSchema.default({ metrics: {}, params: {}, tags: {} }),
});
/** A run: `info`, plus `data` with params, tags and the latest value of each metric as records. */
export type Run = z.output<typeof RunSchema>;

export const FileInfoSchema = z
  .object({ path: z.string(), is_dir: z.boolean().default(false), file_size: int64.optional() })
  .transform((f) => ({ path: f.path, isDir: f.is_dir, fileSize: f.file_size }));
/** An artifact entry; `path` is relative to the run's artifact root. */
export type FileInfo = z.output<typeof FileInfoSchema>;

// Envelopes of the individual endpoints.
export const GetExperimentResponse = z.object({ experiment: ExperimentSchema });
export const CreateExperimentResponse = z.object({ experiment_id: z.string() });
export const RunResponse = z.object({ run: RunSchema });
export const UpdateRunResponse = z.object({ run_info: RunInfoSchema });
export const SearchRunsResponse = z.object({
  runs: z.array(RunSchema).default([]),
  next_page_token: z.string().optional(),
});
export const MetricHistoryResponse = z.object({
  metrics: z.array(MetricSchema).default([]),
  next_page_token: z.string().optional(),
});
export const ListArtifactsResponse = z.object({
  root_uri: z.string().optional(),
  files: z.array(FileInfoSchema).default([]),
  next_page_token: z.string().optional(),
});
export const EmptyResponse = z.object({});
