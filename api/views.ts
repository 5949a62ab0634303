/**
 * The contract of the analysis views a researcher opens next to the lineage: the trial table
 * (sorted, filtered, exported as CSV or JSON), selected trials side by side, and parameter
 * importance. All are computed on the server from the trials already recorded (server/views.ts);
 * the UI imports these types.
 */
import { z } from 'zod';
import { MaybeNumber } from '../domain/trial.js';
import { CampaignIdParam, DataSource, SeedRecord, TrialRecord, Withheld } from './schemas.js';

/** A cell of the trial table: typed as recorded (numbers stay numbers); null when empty. */
export const TableCell = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type TableCell = z.infer<typeof TableCell>;

/**
 * One column: `key` is what `sort` and `filter` name (`pgr`, `param.lr`, `metric.dev_acc`),
 * `label` what a person reads, `group` where it comes from.
 */
export const TableColumn = z.object({
  key: z.string(),
  label: z.string(),
  type: z.enum(['number', 'string', 'boolean']),
  group: z.enum(['trial', 'param', 'metric']),
});
export type TableColumn = z.infer<typeof TableColumn>;

export const TableFormat = z.enum(['json', 'csv']);

export const TrialTableQuery = z.object({
  /** A column key; `-` in front sorts descending (`-pgr`). @default 'index' */
  sort: z.string().max(200).default('index'),
  /**
   * Clauses separated by `;`, all of which a row must meet: `<column> <op> <value>` with `=`,
   * `!=`, `>`, `>=`, `<`, `<=` or `~` (contains, any case): `pgr >= 0.5; status = succeeded`.
   */
  filter: z.string().max(2000).optional(),
  /** Rows whose id or title contains this (any case). */
  q: z.string().max(200).optional(),
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
  limit: z.coerce.number().int().min(1).max(100_000).default(1000),
  format: TableFormat.default('json'),
});
export type TrialTableQuery = z.infer<typeof TrialTableQuery>;

export const TrialTable = z.object({
  campaignId: z.string(),
  source: DataSource,
  /** Trials in the campaign. */
  total: z.number().int(),
  /** Trials that meet the filter (before offset and limit). */
  matched: z.number().int(),
  sort: z.string(),
  columns: z.array(TableColumn),
  rows: z.array(z.record(z.string(), TableCell)),
  /** Hidden metrics whose columns were left out for this caller. */
  withheld: Withheld,
});
export type TrialTable = z.infer<typeof TrialTable>;

export const CompareTrialsQuery = z.object({
  /** Two to eight trial ids, separated by commas. */
  ids: z
    .string()
    .max(2000)
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(
      z
        .array(z.string().max(200))
        .min(2, 'name at least two trials to compare, separated by commas')
        .max(8, 'compare at most eight trials at once'),
    ),
});

/** One parameter or metric across the compared trials, in the order they were asked for. */
export const CompareRow = z.object({
  name: z.string(),
  values: z.array(TableCell),
  /** Not every trial has the same value. */
  differs: z.boolean(),
});
export type CompareRow = z.infer<typeof CompareRow>;

export const ComparedTrial = z.object({
  trial: TrialRecord,
  /** Per-seed results (from the trial's record; empty while it is being written). */
  seeds: z.array(SeedRecord),
});
export type ComparedTrial = z.infer<typeof ComparedTrial>;

export const TrialComparison = z.object({
  campaignId: z.string(),
  source: DataSource,
  trials: z.array(ComparedTrial),
  params: z.array(CompareRow),
  /** Metric means; per-seed values are in each trial's `seeds`. */
  metrics: z.array(CompareRow),
  /** Seeds any compared trial ran, ascending: the rows of the per-seed table. */
  seeds: z.array(z.number()),
  /**
   * Code trials: a unified diff from the first trial's source to each other one's, keyed by
   * trial id (only when both sources are recorded).
   */
  codeDiffs: z.record(z.string(), z.string()),
});
export type TrialComparison = z.infer<typeof TrialComparison>;

export const ImportanceQuery = z.object({
  /** Optuna's fANOVA (default) or PED-ANOVA evaluator. */
  evaluator: z.enum(['fanova', 'ped-anova']).default('fanova'),
});

export const ParamImportance = z.object({
  param: z.string(),
  /** Share of the variance of PGR the parameter explains (all of them sum to 1). */
  importance: z.number(),
});

export const Importance = z.object({
  campaignId: z.string(),
  evaluator: z.enum(['fanova', 'ped-anova']),
  /** What the importance is of: PGR, higher is better, over the campaign's succeeded search trials. */
  target: z.literal('pgr'),
  /** Trials the evaluator read (succeeded search trials with a PGR). */
  trials: z.number().int(),
  /** Most important first; empty below three trials or when no parameter varied. */
  importances: z.array(ParamImportance),
  /** Why the list is empty, in words. */
  note: z.string().nullable(),
  ms: MaybeNumber,
});
export type Importance = z.infer<typeof Importance>;

export const ViewsParams = z.object({ campaignId: CampaignIdParam });
