/**
 * Search-space logic: which parameters are active, validation of configurations, building a
 * child configuration from a parent plus changes, normalisation, distances and duplicate
 * detection, uniform sampling, and the cross checks between a problem spec and its criteria.
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { mersenne } from 'pure-rand/generator/mersenne';
import type { Issue } from './errors.js';
import { InvalidConfigError } from './errors.js';
import type { Config, EvaluationCriteria, Param, ParamValue, ProblemSpec } from './schemas.js';

type Space = readonly Param[];
/** A configuration as it may arrive from outside (an agent, an API body): values not yet trusted. */
type LooseConfig = Readonly<Record<string, unknown>>;

const quote = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));
const has = (o: LooseConfig, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
/** Sets an own property even for a key like `__proto__` (a valid parameter name), which `o[k] = v` would not. */
const put = (o: Record<string, unknown>, k: string, v: unknown): void => {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
};

/**
 * The parameters active under a configuration, in space order. A parameter is active when it has
 * no condition, or when its parent is active and the configuration gives the parent one of the
 * condition's values (strict equality).
 */
export function activeParams(space: Space, config: LooseConfig): Param[] {
  const active = new Set<string>();
  const out: Param[] = [];
  for (const p of space) {
    const c = p.condition;
    if (!c || (active.has(c.parent) && c.values.some((v) => v === config[c.parent]))) {
      active.add(p.name);
      out.push(p);
    }
  }
  return out;
}

/** Why a value does not fit a parameter, or null when it fits. */
export function checkParamValue(p: Param, value: unknown): string | null {
  switch (p.kind) {
    case 'float':
    case 'int': {
      if (typeof value !== 'number' || !Number.isFinite(value))
        return `expected a finite number, got ${typeof value === 'number' ? String(value) : typeof value}`;
      if (p.kind === 'int' && !Number.isInteger(value)) return `expected an integer, got ${value}`;
      if (value < p.low) return `${value} is below the minimum ${p.low}`;
      if (value > p.high) return `${value} is above the maximum ${p.high}`;
      return null;
    }
    case 'categorical':
      return p.choices.some((c) => c === value)
        ? null
        : `${quote(value)} is not one of ${p.choices.map(quote).join(', ')}`;
    case 'boolean':
      return typeof value === 'boolean' ? null : `expected true or false, got ${typeof value}`;
  }
}

/**
 * Every way a configuration fails to fit the space, each with the parameter name as its path:
 * unknown parameters, missing active parameters, values given for inactive conditional
 * parameters, and values of the wrong type, out of range, not integers or not among the choices.
 */
export function validateConfig(space: Space, config: LooseConfig): Issue[] {
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    return [{ path: [], message: 'expected an object of parameter values' }];
  const issues: Issue[] = [];
  const known = new Set(space.map((p) => p.name));
  for (const k of Object.keys(config))
    if (!known.has(k)) issues.push({ path: [k], message: 'unknown parameter' });
  const active = new Set(activeParams(space, config).map((p) => p.name));
  for (const p of space) {
    const present = has(config, p.name);
    if (active.has(p.name)) {
      if (!present)
        issues.push({
          path: [p.name],
          message: `missing value for active parameter${conditionText(p)}`,
        });
      else {
        const problem = checkParamValue(p, config[p.name]);
        if (problem) issues.push({ path: [p.name], message: problem });
      }
    } else if (present) {
      issues.push({
        path: [p.name],
        message: `parameter is inactive${conditionText(p)}; remove it`,
      });
    }
  }
  return issues;
}

function conditionText(p: Param): string {
  return p.condition
    ? ` (applies only when ${p.condition.parent} is ${p.condition.values.map(quote).join(' or ')})`
    : '';
}

/** @throws InvalidConfigError naming every offending parameter. */
export function assertValidConfig(
  space: Space,
  config: LooseConfig,
  source = 'configuration',
): asserts config is Config {
  const issues = validateConfig(space, config);
  if (issues.length > 0) throw new InvalidConfigError(issues, source);
}

/**
 * The value a newly active parameter starts from: the baseline's value when the baseline gives a
 * valid one; otherwise the midpoint of the range (geometric midpoint on a log scale, rounded
 * for integers), the first choice, or false.
 */
export function defaultValue(p: Param, baseline?: LooseConfig): ParamValue {
  const fromBaseline = baseline?.[p.name];
  if (baseline && has(baseline, p.name) && checkParamValue(p, fromBaseline) === null)
    return fromBaseline as ParamValue;
  switch (p.kind) {
    case 'float':
      return p.log ? Math.sqrt(p.low * p.high) : (p.low + p.high) / 2;
    case 'int': {
      const mid = p.log ? Math.sqrt(p.low * p.high) : (p.low + p.high) / 2;
      return Math.min(p.high, Math.max(p.low, Math.round(mid)));
    }
    case 'categorical':
      return p.choices[0]!;
    case 'boolean':
      return false;
  }
}

export interface ApplyChangesOptions {
  /** Source of defaults for parameters that become active (see {@link defaultValue}). */
  baseline?: Config;
}

/**
 * The full configuration of a child: the parent's values overridden by the changes, with
 * conditional parameters resolved in space order. Parent values of parameters that became
 * inactive are dropped; parameters that became active and have no value get
 * {@link defaultValue}. A change that names an unknown parameter, or an inactive one, is kept so
 * that validation reports it.
 *
 * @throws InvalidConfigError when the result does not fit the space.
 */
export function applyChanges(
  space: Space,
  parentConfig: LooseConfig,
  changes: LooseConfig,
  options: ApplyChangesOptions = {},
): Config {
  const merged: Record<string, unknown> = {};
  for (const src of [parentConfig, changes])
    for (const k of Object.keys(src)) put(merged, k, src[k]);
  const out: Record<string, unknown> = {};
  const active = new Set<string>();
  for (const p of space) {
    const c = p.condition;
    if (!c || (active.has(c.parent) && c.values.some((v) => v === out[c.parent]))) {
      active.add(p.name);
      put(out, p.name, has(merged, p.name) ? merged[p.name] : defaultValue(p, options.baseline));
    } else if (has(changes, p.name)) {
      put(out, p.name, changes[p.name]);
    }
  }
  const known = new Set(space.map((p) => p.name));
  for (const k of Object.keys(merged)) if (!known.has(k)) put(out, k, merged[k]);
  assertValidConfig(space, out, 'configuration after changes');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Geometry: normalisation, distance, duplicates
// ---------------------------------------------------------------------------------------------

/** A numeric value's position in its range, in [0, 1], on the log scale when the parameter has one. */
function unitPosition(p: Extract<Param, { kind: 'float' | 'int' }>, v: number): number {
  const x = p.log
    ? (Math.log(v) - Math.log(p.low)) / (Math.log(p.high) - Math.log(p.low))
    : (v - p.low) / (p.high - p.low);
  return Math.min(1, Math.max(0, x));
}

/** Width of a parameter in the normalised vector. */
function width(p: Param): number {
  return p.kind === 'categorical' ? p.choices.length : 1;
}

/**
 * The configuration as a vector in [0, 1]: one coordinate per numeric parameter (position in
 * its range, log scale respected), one per boolean (0/1), and a one-hot block per categorical.
 * Inactive or missing parameters are all zeros; use {@link distance} to compare configurations,
 * it tells inactive from low.
 */
export function normalize(space: Space, config: LooseConfig): number[] {
  const active = new Set(activeParams(space, config).map((p) => p.name));
  const out: number[] = [];
  for (const p of space) {
    const v = config[p.name];
    const on = active.has(p.name) && checkParamValue(p, v) === null;
    if (p.kind === 'categorical') {
      for (const c of p.choices) out.push(on && c === v ? 1 : 0);
    } else if (p.kind === 'boolean') {
      out.push(on && v === true ? 1 : 0);
    } else {
      out.push(on ? unitPosition(p, v as number) : 0);
    }
  }
  return out;
}

/** Length of {@link normalize}'s vector. */
export function normalizedDimension(space: Space): number {
  return space.reduce((s, p) => s + width(p), 0);
}

/**
 * Distance between configurations in [0, 1]: the largest per-parameter difference (L∞), where a
 * numeric parameter differs by its normalised distance, a categorical or boolean by 0 or 1, and
 * a parameter active (or valid) in only one of them by 1. So two configurations are within d of
 * each other exactly when every parameter is within d of its range.
 */
export function distance(space: Space, a: LooseConfig, b: LooseConfig): number {
  return distanceFrom(space, side(space, a), b, 1);
}

/** One configuration's side of {@link distance}: which parameters it has, and where. */
interface Side {
  config: LooseConfig;
  /** Per parameter of the space: active and valid. */
  on: boolean[];
  /** Per numeric parameter that is on: its unit position. */
  pos: number[];
}

const isNumeric = (p: Param) => p.kind === 'float' || p.kind === 'int';

function activeSet(space: Space, c: LooseConfig): Set<string> | null {
  // Without conditions every parameter is active: no set to build.
  return space.some((p) => p.condition) ? new Set(activeParams(space, c).map((p) => p.name)) : null;
}

function side(space: Space, config: LooseConfig): Side {
  const active = activeSet(space, config);
  const on = space.map(
    (p) => (active === null || active.has(p.name)) && checkParamValue(p, config[p.name]) === null,
  );
  const pos = space.map((p, i) =>
    on[i] && isNumeric(p) ? unitPosition(p, config[p.name] as number) : 0,
  );
  return { config, on, pos };
}

/**
 * {@link distance} from a prepared side to `b`, stopped as soon as it exceeds `stopAbove` (the
 * value returned is then only known to be above it) or reaches 1.
 */
function distanceFrom(space: Space, a: Side, b: LooseConfig, stopAbove: number): number {
  const activeB = activeSet(space, b);
  let d = 0;
  for (let i = 0; i < space.length && d <= stopAbove && d < 1; i++) {
    const p = space[i]!;
    const vb = b[p.name];
    const onB = (activeB === null || activeB.has(p.name)) && checkParamValue(p, vb) === null;
    let dp: number;
    if (!a.on[i] && !onB) dp = 0;
    else if (a.on[i] !== onB) dp = 1;
    else if (isNumeric(p)) dp = Math.abs(a.pos[i]! - unitPosition(p, vb as number));
    else dp = a.config[p.name] === vb ? 0 : 1;
    if (dp > d) d = dp;
  }
  return d;
}

/**
 * The closest earlier configuration within `tolerance` (see {@link distance}), or null.
 * The default tolerance finds exact duplicates up to rounding; pass e.g. 0.01 for near duplicates
 * (every parameter within 1 % of its range).
 */
export function findDuplicate(
  space: Space,
  config: LooseConfig,
  tried: readonly LooseConfig[],
  tolerance = 1e-6,
): { index: number; distance: number } | null {
  // The new configuration's side is worked out once, and each comparison stops at the first
  // parameter beyond the closest match so far: a campaign checks every proposal against all
  // the trials it keeps.
  const a = side(space, config);
  let best: { index: number; distance: number } | null = null;
  tried.forEach((b, index) => {
    const bound = best === null ? tolerance : Math.min(tolerance, best.distance);
    const d = distanceFrom(space, a, b, bound);
    if (d <= bound && (best === null || d < best.distance)) best = { index, distance: d };
  });
  return best;
}

// ---------------------------------------------------------------------------------------------
// Sampling
// ---------------------------------------------------------------------------------------------

/** A source of uniform numbers in [0, 1). */
export type Rng = () => number;

/**
 * A deterministic generator (Mersenne Twister from pure-rand) seeded with a 32-bit integer;
 * other numbers are truncated to one. Safe in workflow code: same seed, same sequence.
 * (pure-rand's xoroshiro128+ is not used: seeded with small consecutive integers, as campaign
 * seed + iteration are, its first outputs are all close to 1 and correlated with the seed.)
 */
export function seededRng(seed: number): Rng {
  const g = mersenne(Math.trunc(seed) | 0);
  return () => uniformFloat64(g);
}

/**
 * A configuration drawn uniformly: floats uniform in their range (log-uniform on a log scale),
 * integers uniform over their values (log-uniform over [low, high + 1) then floored on a log
 * scale), categorical choices and booleans with equal odds. Only active parameters get values.
 */
export function sampleConfig(space: Space, rng: Rng): Config {
  const out: Config = {};
  const active = new Set<string>();
  for (const p of space) {
    const c = p.condition;
    if (c && !(active.has(c.parent) && c.values.some((v) => v === out[c.parent]))) continue;
    active.add(p.name);
    const u = rng();
    switch (p.kind) {
      case 'float': {
        const x = p.log
          ? Math.exp(Math.log(p.low) + u * (Math.log(p.high) - Math.log(p.low)))
          : p.low + u * (p.high - p.low);
        put(out, p.name, Math.min(p.high, Math.max(p.low, x)));
        break;
      }
      case 'int': {
        const x = p.log
          ? Math.floor(Math.exp(Math.log(p.low) + u * (Math.log(p.high + 1) - Math.log(p.low))))
          : Math.floor(p.low + u * (p.high - p.low + 1));
        put(out, p.name, Math.min(p.high, Math.max(p.low, x)));
        break;
      }
      case 'categorical':
        put(
          out,
          p.name,
          p.choices[Math.min(p.choices.length - 1, Math.floor(u * p.choices.length))],
        );
        break;
      case 'boolean':
        put(out, p.name, u < 0.5);
        break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cross checks between a problem spec and its criteria
// ---------------------------------------------------------------------------------------------

/**
 * Consistency of a (parsed) spec and criteria with each other and with the experiment, as
 * issues with paths rooted at `spec` or `criteria` (e.g. `criteria.constraints.0.metric`):
 * the baseline and every named configuration fit the space; the objective, constraint and
 * hidden metrics are emitted by the experiment (skipped when `experimentMetrics` is undefined,
 * i.e. the experiment does not declare its metrics); measured references name `baseline` or a
 * configuration of the spec; relative constraints have a measured baseline to be relative to.
 */
export function checkSpecAndCriteria(
  spec: Pick<ProblemSpec, 'space' | 'baseline' | 'configurations'>,
  criteria: Pick<
    EvaluationCriteria,
    'metric' | 'baseline' | 'optimum' | 'constraints' | 'hiddenMetrics'
  >,
  experimentMetrics?: readonly string[],
): Issue[] {
  const issues: Issue[] = [...checkSpecConfigs(spec)];
  if (experimentMetrics !== undefined) {
    const known = new Set(experimentMetrics);
    const list = experimentMetrics.length > 0 ? experimentMetrics.join(', ') : 'none';
    const unknown = (m: string) =>
      `the experiment does not report metric "${m}" (it reports: ${list})`;
    if (!known.has(criteria.metric))
      issues.push({ path: ['criteria', 'metric'], message: unknown(criteria.metric) });
    criteria.constraints.forEach((c, i) => {
      if (!known.has(c.metric))
        issues.push({ path: ['criteria', 'constraints', i, 'metric'], message: unknown(c.metric) });
    });
    criteria.hiddenMetrics.forEach((m, i) => {
      if (!known.has(m))
        issues.push({ path: ['criteria', 'hiddenMetrics', i], message: unknown(m) });
    });
  }
  for (const which of ['baseline', 'optimum'] as const) {
    const ref = criteria[which];
    if (
      ref.kind === 'measure' &&
      ref.configuration !== 'baseline' &&
      !has(spec.configurations, ref.configuration)
    ) {
      const names = ['baseline', ...Object.keys(spec.configurations)].map(quote).join(', ');
      issues.push({
        path: ['criteria', which, 'configuration'],
        message: `unknown configuration "${ref.configuration}" (the spec has ${names})`,
      });
    }
  }
  if (criteria.baseline.kind !== 'measure')
    criteria.constraints.forEach((c, i) => {
      if (c.kind === 'relative')
        issues.push({
          path: ['criteria', 'constraints', i],
          message:
            'a relative constraint needs a measured baseline (criteria.baseline.kind "measure")',
        });
    });
  return issues;
}

/** The spec's own consistency: the baseline and each named configuration fit the space. */
export function checkSpecConfigs(
  spec: Pick<ProblemSpec, 'space' | 'baseline' | 'configurations'>,
): Issue[] {
  const issues: Issue[] = validateConfig(spec.space, spec.baseline).map((i) => ({
    ...i,
    path: ['spec', 'baseline', ...i.path],
  }));
  for (const [name, config] of Object.entries(spec.configurations))
    issues.push(
      ...validateConfig(spec.space, config).map((i) => ({
        ...i,
        path: ['spec', 'configurations', name, ...i.path],
      })),
    );
  return issues;
}
