/**
 * How a trial is written to MLflow and read back: the one place that knows the run name, tags,
 * params, metrics and artifacts of a trial run. activities/recording.ts does the IO with what
 * `encodeTrial` returns; server/lineage.ts reads runs with `decodeTrial`. Pure (no IO), so the
 * round trip is a unit property test (trial-codec.test.ts). The tag keys and every other MLflow
 * name are in names.ts.
 *
 * Facts travel as tags, never re-derived from ids: index, kind, feasibility and each constraint's
 * verdict, expected effect, the hidden metrics, and each parameter's type (MLflow params are strings: `gaplab.paramTypes` says
 * which ones are numbers or booleans, so `0.1`, `3` and `false` come back typed and a categorical
 * string `"1"` stays a string).
 *
 * Runs written before these tags existed (format 1) still decode: the index and kind fall back
 * to the trial id's shape (`t0042`, `v0107`, `baseline`, `optimum*`), feasibility to "feasible"
 * (what was assumed when it was not recorded), parameters stay the strings MLflow holds, and the
 * expected effect is empty. Runs without verdicts (written before they were recorded) decode with
 * none: readers say "not recorded" rather than judge again.
 */
import { z } from 'zod';
import type { Run } from '../mlflow-ts-client/index.js';
import type { Config, ParamValue, Pruned, SeedResult, Trial } from '../domain/schemas.js';
import { ConstraintVerdict, Estimate, Flag, TrustState } from '../domain/schemas.js';
import { withheldVerdict } from '../domain/constraints.js';
import { trustState } from '../domain/trust.js';
import { TrialRecord } from '../api/schemas.js';
import { TAG } from './names.js';

/** What a trial run's `trial.json` says instead of a text that may carry hidden values. */
export const WITHHELD = "(withheld: refers to hidden metrics; in the campaign's hidden record)";

/**
 * Flags whose messages may carry hidden values: the checks on hidden data, and failed seeds
 * (their message quotes the seeds' own error text, which an experiment may write a hidden score
 * into). Every flag's PI reasons are free text by someone who reads hidden values: withheld too.
 */
const HIDDEN_FLAGS: ReadonlySet<string> = new Set([
  'hidden_gap',
  'verification_gap',
  'failed_seeds',
]);

/** Longest diff kept in the run's tags (readers get it without an artifact read); the run's `diff.patch` has it whole. */
export const DIFF_TAG_CHARS = 32_000;

/** The trial encoding this module writes (see TAG.format). */
export const TRIAL_FORMAT = '2';

/** The param holding a trial's seeds (comma-separated): not a parameter of the experiment. */
export const SEEDS_PARAM = 'gaplab_seeds';

/** Metrics written about the trial itself rather than the experiment's metrics. */
export const META_METRICS: ReadonlySet<string> = new Set([
  'pgr',
  'pgr_stderr',
  'pgr_n',
  'pgr_ci_low',
  'pgr_ci_high',
  'objective_stderr',
  'compute_seconds',
]);

/** MLflow's limit on a run tag's value (mlflow-ts-client MLFLOW_LIMITS.tagValueLength). */
const TAG_VALUE_LENGTH = 8000;

/** What a trial run holds, as MLflow stores it (params as strings). */
export interface EncodedTrial {
  /** `campaignId/trialId`: finds the run an earlier attempt created. */
  key: string;
  runName: string;
  startTime: number;
  endTime: number;
  /** Tags set when the run is created: enough to find it and tell whose it is. */
  identityTags: Record<string, string>;
  /** Everything else about the trial, logged once its result is known. */
  tags: Record<string, string>;
  params: Record<string, string>;
  metrics: { key: string; value: number; step?: number }[];
  artifacts: { path: string; content: string; contentType?: string }[];
  /** The run's terminal status. */
  status: 'FINISHED' | 'FAILED' | 'KILLED';
  /**
   * When the campaign has hidden metrics: what goes to the trial's run in the hidden experiment
   * (hiddenExperimentName) instead: their metrics, the whole trial.json and the seeds' logs.
   */
  hidden?: {
    identityTags: Record<string, string>;
    /**
     * Logged with the metrics: the constraint verdicts whole when some are on hidden metrics, and
     * the texts the trial's run withholds (its failure reason), for the reader that may see them.
     */
    tags: Record<string, string>;
    metrics: EncodedTrial['metrics'];
    artifacts: EncodedTrial['artifacts'];
  };
}

export interface TrialToEncode {
  campaignId: string;
  problemId: string;
  trial: Trial;
  seeds: readonly SeedResult[];
  /** The campaign's hidden metrics (from its criteria), marked on every trial. */
  hiddenMetrics: readonly string[];
  /** Code trials: the snapshot that ran and the diff from the parent's (`source/...`, `diff.patch`). */
  source?: { files: Readonly<Record<string, string>>; diff: string };
  /** The recording deployment's harness key id (TAG.harnessKeyId). */
  harnessKeyId?: string;
}

/** Splits a long tag value over `key`, `key.1`, `key.2`, ... (MLflow caps a value at 8,000 characters). */
function chunked(key: string, value: string): Record<string, string> {
  const out: Record<string, string> = { [key]: value.slice(0, TAG_VALUE_LENGTH) };
  for (let i = 1; i * TAG_VALUE_LENGTH < value.length; i++)
    out[`${key}.${i}`] = value.slice(i * TAG_VALUE_LENGTH, (i + 1) * TAG_VALUE_LENGTH);
  return out;
}

function unchunked(tags: Readonly<Record<string, string>>, key: string): string | undefined {
  let value = tags[key];
  if (value === undefined) return undefined;
  for (let i = 1; tags[`${key}.${i}`] !== undefined; i++) value += tags[`${key}.${i}`];
  return value;
}

interface ParamTypes {
  number?: string[];
  boolean?: string[];
}

function paramTypesOf(params: Config): ParamTypes {
  const types: ParamTypes = {};
  for (const [name, v] of Object.entries(params)) {
    if (typeof v === 'number') (types.number ??= []).push(name);
    else if (typeof v === 'boolean') (types.boolean ??= []).push(name);
  }
  return types;
}

/**
 * What may change about a trial after it finished and was recorded: its review flags (a late
 * `verification_gap`, a PI's clear or confirm, with who and why), the trust state they give, and
 * its PGR (rescored as the references and the pooled spread become known). Written with the
 * trial and again on every change (`encodeTrialUpdate`), so the record says what the campaign
 * last said.
 */
export const TrialState = z.object({
  trust: TrustState,
  flags: z.array(Flag),
  pgr: Estimate.nullable(),
});
export type TrialState = z.infer<typeof TrialState>;

/** The parts of a trial its state is made of. */
export type TrialStateSource = Pick<Trial, 'flags' | 'pgr'> & { trust?: Trial['trust'] };

export function trialStateOf(t: TrialStateSource): TrialState {
  return { trust: t.trust ?? trustState(t.flags), flags: t.flags, pgr: t.pgr };
}

/** The PGR metrics of a trial run; `step` orders a later value after the first one. */
function pgrMetrics(pgr: Trial['pgr'], step?: number): EncodedTrial['metrics'] {
  if (!pgr) return [];
  const at = step === undefined ? {} : { step };
  return [
    { key: 'pgr', value: pgr.mean, ...at },
    { key: 'pgr_stderr', value: pgr.stderr, ...at },
    { key: 'pgr_n', value: pgr.n, ...at },
    { key: 'pgr_ci_low', value: pgr.ciLow, ...at },
    { key: 'pgr_ci_high', value: pgr.ciHigh, ...at },
  ];
}

/**
 * The state tags of a trial's run. A campaign with hidden metrics gets the flags as its trial.json
 * shows them (texts about hidden values withheld: see withoutHidden); the trial page takes those
 * texts from the hidden record ({@link withStateOf}).
 */
function stateTags(t: TrialStateSource, hiddenMetrics: readonly string[]): Record<string, string> {
  const state = trialStateOf(t);
  if (hiddenMetrics.length > 0) state.flags = state.flags.map(withheldFlag);
  return {
    [TAG.flags]: t.flags.map((f) => f.kind).join(','),
    [TAG.trust]: state.trust,
    ...chunked(TAG.state, JSON.stringify(state)),
  };
}

/**
 * A recorded trial's changed state, written over its run: the tags replace the old ones, and the
 * PGR metrics are logged at `step` (a time in ms, later than the first record's step 0) so that
 * MLflow's latest value of each, which readers decode, is the newest. Idempotent: writing the
 * same update again leaves the same latest values.
 */
export function encodeTrialUpdate(
  t: TrialStateSource,
  step: number,
  hiddenMetrics: readonly string[],
): { tags: Record<string, string>; metrics: EncodedTrial['metrics'] } {
  return { tags: stateTags(t, hiddenMetrics), metrics: pgrMetrics(t.pgr, step) };
}

/**
 * The state tag of a trial's hidden run (the campaign's hidden record): the whole state, flag
 * texts about hidden values included, for the trial page of those who may read them.
 */
export function encodeHiddenState(t: TrialStateSource): Record<string, string> {
  return chunked(TAG.state, JSON.stringify(trialStateOf(t)));
}

/**
 * A trial summary (from a trial.json) brought up to date with its run's state. A flag text the
 * state withholds (hidden values) is taken from the summary's flag of that kind when it has it
 * (the hidden record's trial.json, which only those who may read hidden values get).
 */
export function withStateOf<S extends { flags: Trial['flags'] }>(
  summary: S,
  state: TrialState,
): Omit<S, keyof TrialState> & TrialState {
  const known = new Map(summary.flags.map((f) => [f.kind, f]));
  const flags = state.flags.map((f) => {
    const k = known.get(f.kind);
    if (!k) return f;
    const reason = (d: typeof f.cleared, o: typeof f.cleared) =>
      d && d.reason === WITHHELD && o ? { ...d, reason: o.reason } : d;
    const cleared = reason(f.cleared, k.cleared);
    const confirmed = reason(f.confirmed, k.confirmed);
    return {
      ...f,
      message: f.message === WITHHELD ? k.message : f.message,
      ...(cleared ? { cleared } : {}),
      ...(confirmed ? { confirmed } : {}),
    };
  });
  return { ...summary, ...state, flags };
}

/** The state a run's tags hold (see TrialState), or null when it has none or it is unreadable. */
export function decodeTrialState(run: Run): TrialState | null {
  const text = unchunked(run.data.tags, TAG.state);
  if (text === undefined) return null;
  try {
    const parsed = TrialState.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** CURVE_PREFIX + `<seed index>/<metric>`: a seed's learning curve as MLflow metric history. */
export const CURVE_PREFIX = 'curve/';
export const curveKey = (seedIndex: number, metric: string) =>
  `${CURVE_PREFIX}${seedIndex}/${metric}`;
/** A per-seed metric key (`seed/<metric>`, a curve's): not one of the trial's metric means. */
const perSeedKey = (key: string) => key.startsWith('seed/') || key.startsWith(CURVE_PREFIX);
/** The seed index and metric of a curve's metric key, or null for another key. */
export function parseCurveKey(key: string): { seedIndex: number; metric: string } | null {
  const m = /^curve\/(\d+)\/(.+)$/.exec(key);
  return m ? { seedIndex: Number(m[1]), metric: m[2]! } : null;
}

/** The run of one trial: what recording.ts writes. */
export function encodeTrial(input: TrialToEncode): EncodedTrial {
  const t = input.trial;
  const key = `${input.campaignId}/${t.id}`;
  const metrics: EncodedTrial['metrics'] = [];
  for (const [name, mean] of Object.entries(t.metrics)) metrics.push({ key: name, value: mean });
  metrics.push(...pgrMetrics(t.pgr));
  if (t.objective) metrics.push({ key: 'objective_stderr', value: t.objective.stderr });
  metrics.push({ key: 'compute_seconds', value: t.computeSeconds });
  input.seeds.forEach((s, i) => {
    for (const [name, value] of Object.entries(s.metrics))
      metrics.push({ key: `seed/${name}`, value, step: i });
    // Learning curves: metric history with the reported steps (seed i of the trial's seeds).
    for (const [name, points] of Object.entries(s.curves ?? {}))
      for (const [step, value] of points) metrics.push({ key: curveKey(i, name), value, step });
  });
  const params: Record<string, string> = {};
  for (const [name, v] of Object.entries(t.params)) params[name] = String(v);
  params[SEEDS_PARAM] = t.seeds.join(',');
  // The curves are the runs' metric history, not repeated in trial.json.
  const trialJson = (trial: Trial, seeds: readonly SeedResult[]) => ({
    path: 'trial.json',
    content: JSON.stringify(
      { trial, seeds: seeds.map(({ curves: _c, ...rest }) => rest) },
      null,
      2,
    ),
    contentType: 'application/json',
  });
  const logs = input.seeds.flatMap((s) =>
    s.logTail ? [{ path: `logs/seed-${s.seed}.txt`, content: s.logTail }] : [],
  );
  const hiddenNames = new Set(input.hiddenMetrics);
  const isHidden = (metric: string) =>
    hiddenNames.has(metric) ||
    (metric.startsWith('seed/') && hiddenNames.has(metric.slice('seed/'.length))) ||
    hiddenNames.has(parseCurveKey(metric)?.metric ?? '');
  let hidden: EncodedTrial['hidden'];
  const artifacts: EncodedTrial['artifacts'] = [];
  if (hiddenNames.size > 0) {
    hidden = {
      identityTags: {
        [TAG.kind]: 'hidden-trial',
        [TAG.trialKey]: key,
        [TAG.campaignId]: input.campaignId,
        [TAG.problemId]: input.problemId,
        [TAG.trialId]: t.id,
      },
      tags: {
        ...(t.constraints?.some((v) => hiddenNames.has(v.metric))
          ? constraintTags(t.constraints)
          : {}),
        ...(t.failureReason ? { [TAG.failureReason]: t.failureReason } : {}),
      },
      metrics: metrics.filter((m) => isHidden(m.key)),
      artifacts: [trialJson(t, input.seeds), ...logs],
    };
    const kept = metrics.filter((m) => !isHidden(m.key));
    metrics.length = 0;
    metrics.push(...kept);
    artifacts.push(
      trialJson(
        withoutHidden(t, hiddenNames),
        input.seeds.map((sd) => seedWithoutHidden(sd, hiddenNames)),
      ),
    );
  } else artifacts.push(trialJson(t, input.seeds), ...logs);
  const source = input.source;
  if (source) {
    for (const [file, text] of Object.entries(source.files))
      artifacts.push({ path: `source/${file}`, content: text });
    artifacts.push({ path: 'diff.patch', content: source.diff, contentType: 'text/x-diff' });
  }
  const diffTag =
    source && source.diff.length > DIFF_TAG_CHARS
      ? `${source.diff.slice(0, DIFF_TAG_CHARS)}\n… (cut: the whole diff is the run's diff.patch)`
      : source?.diff;
  return {
    key,
    runName: `${t.id} ${t.title}`.slice(0, 250),
    startTime: Date.parse(t.startedAt),
    endTime: Date.parse(t.finishedAt),
    identityTags: {
      [TAG.kind]: 'trial',
      [TAG.trialKey]: key,
      [TAG.campaignId]: input.campaignId,
      [TAG.problemId]: input.problemId,
      [TAG.trialId]: t.id,
    },
    tags: {
      [TAG.format]: TRIAL_FORMAT,
      [TAG.index]: String(t.index),
      [TAG.trialKind]: t.kind,
      [TAG.parentTrialId]: t.parentTrialId ?? '',
      [TAG.title]: t.title,
      [TAG.rationale]: t.rationale,
      [TAG.expectedEffect]: t.expectedEffect ?? '',
      [TAG.author]: t.author.name,
      [TAG.authorKind]: t.author.kind,
      [TAG.status]: t.status,
      [TAG.feasible]: String(t.feasible),
      ...(t.constraints ? constraintTags(verdictsShown(t.constraints, hiddenNames)) : {}),
      ...stateTags(t, input.hiddenMetrics),
      [TAG.hiddenMetrics]: input.hiddenMetrics.join(','),
      ...chunked(TAG.paramTypes, JSON.stringify(paramTypesOf(t.params))),
      ...(t.failureReason
        ? { [TAG.failureReason]: hiddenNames.size > 0 ? WITHHELD : t.failureReason }
        : {}),
      ...(t.pruned ? prunedTags(t.pruned) : {}),
      ...(t.sourceHash ? { [TAG.sourceHash]: t.sourceHash } : {}),
      ...(t.parentSourceHash ? { [TAG.parentSourceHash]: t.parentSourceHash } : {}),
      ...(diffTag !== undefined ? chunked(TAG.diff, diffTag) : {}),
      ...(input.harnessKeyId ? { [TAG.harnessKeyId]: input.harnessKeyId } : {}),
    },
    params,
    metrics,
    artifacts,
    // A pruned trial ran to the end of its stage: finished, not failed.
    status:
      t.status === 'succeeded' || t.status === 'pruned'
        ? 'FINISHED'
        : t.status === 'cancelled'
          ? 'KILLED'
          : 'FAILED',
    ...(hidden ? { hidden } : {}),
  };
}

const omit = (values: Readonly<Record<string, number>>, names: ReadonlySet<string>) =>
  Object.fromEntries(Object.entries(values).filter(([k]) => !names.has(k)));

/** A flag as a trial run shows it: a text that may carry hidden values withheld. */
function withheldFlag(f: Trial['flags'][number]): Trial['flags'][number] {
  if (!HIDDEN_FLAGS.has(f.kind) && !f.cleared && !f.confirmed) return f;
  const withheld = (d: Trial['flags'][number]['cleared']) => d && { ...d, reason: WITHHELD };
  return {
    ...f,
    message: HIDDEN_FLAGS.has(f.kind) ? WITHHELD : f.message,
    ...(f.cleared ? { cleared: withheld(f.cleared) } : {}),
    ...(f.confirmed ? { confirmed: withheld(f.confirmed) } : {}),
  };
}

/** The constraint verdicts a trial run shows: those on hidden metrics withheld. */
function verdictsShown(
  verdicts: readonly ConstraintVerdict[],
  hidden: ReadonlySet<string>,
): ConstraintVerdict[] {
  return verdicts.map((v) => (hidden.has(v.metric) ? withheldVerdict(v) : v));
}

function constraintTags(verdicts: readonly ConstraintVerdict[]): Record<string, string> {
  return chunked(TAG.constraints, JSON.stringify(verdicts));
}

const ConstraintVerdicts = z.array(ConstraintVerdict);

/**
 * The verdicts a run's tags hold; undefined when it has none (written before verdicts were
 * recorded) or they do not parse (then they count as not recorded, never as a guess).
 */
function constraintsOf(tags: Readonly<Record<string, string>>): ConstraintVerdict[] | undefined {
  const text = unchunked(tags, TAG.constraints);
  if (text === undefined) return undefined;
  try {
    const parsed = ConstraintVerdicts.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The trial as its run's trial.json shows it: no hidden metric, no text that may carry hidden
 * values (its failure reason quotes the seeds' errors).
 */
function withoutHidden(t: Trial, hidden: ReadonlySet<string>): Trial {
  return {
    ...t,
    metrics: omit(t.metrics, hidden),
    flags: t.flags.map(withheldFlag),
    ...(t.constraints ? { constraints: verdictsShown(t.constraints, hidden) } : {}),
    ...(t.failureReason ? { failureReason: WITHHELD } : {}),
  };
}

/**
 * A seed as the trial run shows it: no hidden metric, and its log and error text (which an
 * experiment may print hidden values into) in the hidden run only.
 */
function seedWithoutHidden(s: SeedResult, hidden: ReadonlySet<string>): SeedResult {
  const { logTail: _log, ...rest } = s;
  return {
    ...rest,
    metrics: omit(s.metrics, hidden),
    ...(rest.error !== undefined ? { error: WITHHELD } : {}),
  };
}

/**
 * The trials with the hidden values of their hidden runs (written with {@link encodeTrial}'s
 * `hidden`): each trial's hidden metrics' means, and the failure reason its own run withholds.
 * Runs of other kinds, and trials without a hidden run, are left as they are; of two hidden runs
 * for one trial the oldest counts.
 */
export function mergeHiddenRuns(
  records: readonly TrialRecord[],
  hiddenRuns: readonly Run[],
): TrialRecord[] {
  const byId = new Map<string, Run>();
  for (const run of hiddenRuns) {
    if (run.data.tags[TAG.kind] !== 'hidden-trial') continue;
    const id = run.data.tags[TAG.trialId];
    if (id === undefined) continue;
    const prior = byId.get(id);
    if (!prior || (run.info.startTime ?? 0) < (prior.info.startTime ?? 0)) byId.set(id, run);
  }
  return records.map((r) => {
    const run = byId.get(r.id);
    if (!run) return r;
    const metrics = { ...r.metrics };
    for (const [k, v] of Object.entries(run.data.metrics))
      if (!perSeedKey(k) && !META_METRICS.has(k)) metrics[k] = num(v);
    const constraints = constraintsOf(run.data.tags);
    const reason = run.data.tags[TAG.failureReason];
    return {
      ...r,
      metrics,
      ...(constraints ? { constraints } : {}),
      ...(r.failureReason === WITHHELD && reason !== undefined ? { failureReason: reason } : {}),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

const TERMINAL = new Set(['FINISHED', 'FAILED', 'KILLED']);
const TRIAL_STATUS = new Set(['succeeded', 'failed', 'cancelled', 'pruned']);
const TRIAL_KINDS = new Set(['search', 'reference', 'verification']);

const num = (v: number | undefined): number | null =>
  typeof v === 'number' && Number.isFinite(v) ? v : null;
const iso = (ms: number | undefined): string | null =>
  typeof ms === 'number' && ms > 0 ? new Date(ms).toISOString() : null;
const list = (s: string | undefined): string[] =>
  s
    ? s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '')
    : [];

/**
 * Format 1 only (runs without `gaplab.index`): the index the workflow's id scheme carries
 * (baseline 0, optimum reference 1, search `t0002`..., verification `v0042`).
 */
function legacyIndex(id: string): number {
  const m = /^[tv](\d+)$/.exec(id);
  if (m) return Number(m[1]);
  return id.startsWith('optimum') ? 1 : 0;
}

/** Format 1 only (runs without `gaplab.trialKind`): the kind the id scheme implies. */
function legacyKind(id: string): TrialRecord['kind'] {
  if (id === 'baseline' || id.startsWith('optimum')) return 'reference';
  return /^v\d+$/.test(id) ? 'verification' : 'search';
}

function prunedTags(p: Pruned): Record<string, string> {
  return {
    [TAG.prunedStage]: String(p.stage),
    ...(p.score !== null ? { [TAG.prunedScore]: String(p.score) } : {}),
  };
}

/** Where a pruned trial stopped; undefined for other trials and runs written without the tags. */
function prunedOf(tags: Readonly<Record<string, string>>): Pruned | undefined {
  if (tags[TAG.status] !== 'pruned') return undefined;
  const stage = Number(tags[TAG.prunedStage]);
  if (!Number.isInteger(stage) || stage < 1) return undefined;
  const score = Number(tags[TAG.prunedScore]);
  return {
    stage,
    score: tags[TAG.prunedScore] !== undefined && Number.isFinite(score) ? score : null,
  };
}

function statusOf(run: Run): TrialRecord['status'] {
  const tag = run.data.tags[TAG.status];
  if (tag && TRIAL_STATUS.has(tag)) return tag as TrialRecord['status'];
  switch (run.info.status) {
    case 'FINISHED':
      return 'succeeded';
    case 'FAILED':
      return 'failed';
    case 'KILLED':
      return 'cancelled';
    default:
      return 'running';
  }
}

function parseParamTypes(text: string | undefined): ParamTypes | null {
  if (text === undefined) return null;
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
    const names = (x: unknown) =>
      Array.isArray(x) ? x.filter((n): n is string => typeof n === 'string') : [];
    return {
      number: names((v as ParamTypes).number),
      boolean: names((v as ParamTypes).boolean),
    };
  } catch {
    return null;
  }
}

/** Parameter values with their types (strings when the run does not say: format 1). */
function paramsOf(run: Run): Record<string, ParamValue> {
  const types = parseParamTypes(unchunked(run.data.tags, TAG.paramTypes));
  const numbers = new Set(types?.number);
  const booleans = new Set(types?.boolean);
  const out: Record<string, ParamValue> = {};
  for (const [k, v] of Object.entries(run.data.params)) {
    if (k === SEEDS_PARAM) continue;
    if (numbers.has(k)) {
      const n = Number(v);
      out[k] = v.trim() !== '' && Number.isFinite(n) ? n : v;
    } else if (booleans.has(k) && (v === 'true' || v === 'false')) out[k] = v === 'true';
    else out[k] = v;
  }
  return out;
}

/** PGR as recorded: `stderr` and `n` are absent from runs written before they were (format 1). */
function pgrOf(mean: number, metrics: Readonly<Record<string, number>>): TrialRecord['pgr'] {
  const n = metrics['pgr_n'];
  return {
    mean,
    ...('pgr_stderr' in metrics ? { stderr: num(metrics['pgr_stderr']) } : {}),
    ...(n !== undefined && Number.isInteger(n) ? { n } : {}),
    ciLow: num(metrics['pgr_ci_low']),
    ciHigh: num(metrics['pgr_ci_high']),
  };
}

/**
 * The trust state a run records; runs written before it was recorded count any flag as open
 * (what readers assumed then), so a flagged trial never reads as eligible.
 */
function trustOf(tags: Readonly<Record<string, string>>): TrialRecord['trust'] {
  const tag = TrustState.safeParse(tags[TAG.trust]);
  if (tag.success) return tag.data;
  return list(tags[TAG.flags]).length > 0 ? 'under_review' : 'eligible';
}

/** The trial a run holds (tags, params and metrics written by {@link encodeTrial}). */
export function decodeTrial(run: Run): TrialRecord {
  const { tags, metrics } = run.data;
  const id = tags[TAG.trialId] ?? run.info.runName.split(' ')[0] ?? run.info.runId;
  const experimentMetrics: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(metrics)) {
    if (!perSeedKey(k) && !META_METRICS.has(k)) experimentMetrics[k] = num(v);
  }
  const pgr = num(metrics['pgr']);
  const title =
    tags[TAG.title] ??
    (run.info.runName.startsWith(`${id} `)
      ? run.info.runName.slice(id.length + 1)
      : run.info.runName);
  const indexTag = tags[TAG.index];
  const index = indexTag !== undefined && /^\d+$/.test(indexTag) ? Number(indexTag) : undefined;
  const kindTag = tags[TAG.trialKind];
  const sourceHash = tags[TAG.sourceHash];
  const diff = unchunked(tags, TAG.diff);
  const constraints = constraintsOf(tags);
  const pruned = prunedOf(tags);
  return {
    id,
    index: index ?? legacyIndex(id),
    kind: kindTag && TRIAL_KINDS.has(kindTag) ? (kindTag as TrialRecord['kind']) : legacyKind(id),
    parentTrialId: tags[TAG.parentTrialId] || null,
    title,
    rationale: tags[TAG.rationale] ?? '',
    expectedEffect: tags[TAG.expectedEffect] ?? '',
    author: { name: tags[TAG.author] ?? '', kind: tags[TAG.authorKind] ?? '' },
    status: statusOf(run),
    params: paramsOf(run),
    metrics: experimentMetrics,
    pgr: pgr === null ? null : pgrOf(pgr, metrics),
    feasible: tags[TAG.feasible] !== 'false',
    ...(constraints ? { constraints } : {}),
    flags: list(tags[TAG.flags]),
    trust: trustOf(tags),
    computeSeconds: num(metrics['compute_seconds']),
    failureReason: tags[TAG.failureReason] ?? null,
    ...(pruned ? { pruned } : {}),
    hiddenMetrics: list(tags[TAG.hiddenMetrics]),
    mlflowRunId: run.info.runId,
    startedAt: iso(run.info.startTime),
    finishedAt: TERMINAL.has(run.info.status) ? iso(run.info.endTime) : null,
    ...(sourceHash && /^[0-9a-f]{64}$/.test(sourceHash) ? { sourceHash } : {}),
    ...(diff !== undefined ? { diff } : {}),
  };
}

/**
 * The trials of a campaign's runs (any runs: the campaign's parent and foreign runs are skipped),
 * one per trial id, sorted by index then id. Of two runs for one trial (racing retries) the
 * oldest stays, as recording keeps it.
 */
export function decodeTrials(runs: readonly Run[]): TrialRecord[] {
  const byId = new Map<string, Run>();
  for (const run of runs) {
    if (run.data.tags[TAG.kind] !== 'trial') continue;
    const id = run.data.tags[TAG.trialId] ?? run.info.runId;
    const prior = byId.get(id);
    if (!prior || (run.info.startTime ?? 0) < (prior.info.startTime ?? 0)) byId.set(id, run);
  }
  return [...byId.values()]
    .map(decodeTrial)
    .sort((a, b) => a.index - b.index || a.id.localeCompare(b.id));
}

// ---------------------------------------------------------------------------------------------
// The records snapshot
// ---------------------------------------------------------------------------------------------

/**
 * Artifact on a finished campaign's parent run holding its decoded trials: one download instead
 * of a search that costs MLflow about 3 ms per run (half a minute at 10,000 trials). Written once
 * when the campaign ends (recording.ts `recordRecordsSnapshot`); readers use it when present and
 * search the runs otherwise. Snapshots of another format (1: without feasibility or typed params;
 * 2: without each trial's trust) are ignored, so those campaigns are searched.
 */
export const RECORDS_SNAPSHOT = 'gaplab/trial-records.json';
export const RECORDS_SNAPSHOT_FORMAT = 'gaplab.trial-records/3';
export const RecordsSnapshot = z.object({
  format: z.literal(RECORDS_SNAPSHOT_FORMAT),
  campaignId: z.string(),
  records: z.array(TrialRecord),
});
export type RecordsSnapshot = z.infer<typeof RecordsSnapshot>;

/** The snapshot document of a campaign's runs. */
export function encodeSnapshot(
  campaignId: string,
  runs: readonly Run[],
  hiddenRuns: readonly Run[] = [],
): RecordsSnapshot {
  return {
    format: RECORDS_SNAPSHOT_FORMAT,
    campaignId,
    records: mergeHiddenRuns(decodeTrials(runs), hiddenRuns),
  };
}

/** The records of a snapshot's text, or null when it is unreadable, of another format or campaign. */
export function decodeSnapshot(text: string, campaignId: string): TrialRecord[] | null {
  try {
    const doc = RecordsSnapshot.safeParse(JSON.parse(text));
    return doc.success && doc.data.campaignId === campaignId ? doc.data.records : null;
  } catch {
    return null;
  }
}
