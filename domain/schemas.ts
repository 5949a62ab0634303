/**
 * The zod schemas of gaplab's core objects: the single source of truth for the HTTP API, the
 * CLI, the workflows, the agent's structured output and the UI.
 *
 * Pure: no IO, safe to import from workflow code.
 */
import { z } from 'zod';
import { Actor, Config, FiniteNumber, MAX_PARAMS, Name, ParamValue, Slug } from './atoms.js';

// The shared atoms (slugs, names, parameter values, configurations, actors) and the trial and its
// parts (hypothesis, seed result, estimate, flag, lineage node) live in their own modules; they
// are re-exported here so `domain/schemas.js` stays the one place to import schemas from.
export * from './atoms.js';
export * from './trial.js';

// ---------------------------------------------------------------------------------------------
// Search space
// ---------------------------------------------------------------------------------------------

/** A parameter exists only when its parent parameter takes one of the listed values. */
export const Condition = z.strictObject({
  parent: Name,
  values: z.array(ParamValue).min(1).max(256),
});
export type Condition = z.infer<typeof Condition>;

const paramBase = {
  name: Name,
  description: z.string().max(2000).optional(),
  condition: Condition.optional(),
};

export const FloatParam = z
  .strictObject({
    ...paramBase,
    kind: z.literal('float'),
    low: FiniteNumber,
    high: FiniteNumber,
    log: z.boolean().default(false),
  })
  .superRefine((p, ctx) => {
    if (!(p.low < p.high))
      ctx.addIssue({ code: 'custom', path: ['high'], message: 'high must be greater than low' });
    if (p.log && p.low <= 0)
      ctx.addIssue({
        code: 'custom',
        path: ['low'],
        message: 'a log-scale parameter needs low > 0',
      });
  });

export const IntParam = z
  .strictObject({
    ...paramBase,
    kind: z.literal('int'),
    low: z.number().int(),
    high: z.number().int(),
    log: z.boolean().default(false),
  })
  .superRefine((p, ctx) => {
    if (!(p.low < p.high))
      ctx.addIssue({ code: 'custom', path: ['high'], message: 'high must be greater than low' });
    if (p.log && p.low <= 0)
      ctx.addIssue({
        code: 'custom',
        path: ['low'],
        message: 'a log-scale parameter needs low > 0',
      });
  });

export const CategoricalParam = z
  .strictObject({
    ...paramBase,
    kind: z.literal('categorical'),
    choices: z
      .array(z.union([z.string().max(256), FiniteNumber]))
      .min(1)
      .max(256),
  })
  .superRefine((p, ctx) => {
    if (new Set(p.choices).size !== p.choices.length)
      ctx.addIssue({ code: 'custom', path: ['choices'], message: 'choices must be distinct' });
  });

export const BooleanParam = z.strictObject({ ...paramBase, kind: z.literal('boolean') });

export const Param = z.discriminatedUnion('kind', [
  FloatParam,
  IntParam,
  CategoricalParam,
  BooleanParam,
]);
export type Param = z.infer<typeof Param>;

export const SearchSpace = z
  .array(Param)
  .min(1)
  .max(MAX_PARAMS)
  .superRefine((params, ctx) => {
    const seen = new Map<string, number>();
    params.forEach((p, i) => {
      if (seen.has(p.name))
        ctx.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: `duplicate parameter "${p.name}"`,
        });
      seen.set(p.name, i);
    });
    params.forEach((p, i) => {
      if (!p.condition) return;
      const parentIndex = seen.get(p.condition.parent);
      if (parentIndex === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'condition', 'parent'],
          message: `unknown parent parameter "${p.condition.parent}"`,
        });
      } else if (parentIndex >= i) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'condition', 'parent'],
          message: 'a parent parameter must be declared before its children',
        });
      }
    });
  });
export type SearchSpace = z.infer<typeof SearchSpace>;

// ---------------------------------------------------------------------------------------------
// Problem spec (researcher)
// ---------------------------------------------------------------------------------------------

/** A problem spec's size as JSON at most: it travels with every continue-as-new of its campaigns. */
export const MAX_SPEC_BYTES = 64 * 1024;

export const ProblemSpec = z
  .strictObject({
    id: Slug,
    title: z.string().min(1).max(200),
    /** The research question, shown to agents. */
    question: z.string().min(1).max(5000),
    /** Background for agents: what is known, what has been tried, what matters. */
    context: z.string().max(20000).default(''),
    /** Name of an experiment registered on the workers. Never a command. */
    experiment: Slug,
    space: SearchSpace,
    /** The baseline configuration (values for every active parameter). */
    baseline: Config,
    /** Named extra configurations, e.g. `ceiling` for the strong model trained on ground truth. */
    configurations: z.record(Slug, Config).default({}),
    /** Task queue for this problem's experiments; the experiment's own queue when absent. */
    taskQueue: z.string().min(1).max(200).optional(),
    tags: z.array(z.string().max(64)).max(32).default([]),
  })
  .superRefine((spec, ctx) => {
    const size = JSON.stringify(spec).length;
    if (size > MAX_SPEC_BYTES)
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `the spec is ${Math.ceil(size / 1024)} KiB as JSON; at most ${MAX_SPEC_BYTES / 1024} KiB (shorten context, descriptions or configurations)`,
      });
  });
export type ProblemSpec = z.infer<typeof ProblemSpec>;
export type ProblemSpecInput = z.input<typeof ProblemSpec>;

// ---------------------------------------------------------------------------------------------
// Evaluation criteria (PI, versioned)
// ---------------------------------------------------------------------------------------------

/** A reference score: a number the PI gives, or measured by running a configuration on N seeds. */
export const Reference = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('value'), value: FiniteNumber }),
  z.strictObject({
    kind: z.literal('measure'),
    /** `baseline` or the name of one of the spec's configurations. */
    configuration: Slug,
    seeds: z.number().int().min(1).max(100).default(5),
  }),
]);
export type Reference = z.infer<typeof Reference>;

export const ConstraintOp = z.enum(['<=', '>=', '<', '>']);
export type ConstraintOp = z.infer<typeof ConstraintOp>;

export const Constraint = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('absolute'),
    metric: Name,
    op: ConstraintOp,
    value: FiniteNumber,
  }),
  /** Relative to the baseline's measured mean, e.g. latency <= 1.1 x baseline. */
  z.strictObject({
    kind: z.literal('relative'),
    metric: Name,
    op: ConstraintOp,
    factor: FiniteNumber.refine((f) => f > 0, 'factor must be > 0'),
  }),
]);
export type Constraint = z.infer<typeof Constraint>;

export const Budgets = z.strictObject({
  /** Search trials (reference measurements and verification do not count). */
  maxTrials: z.number().int().min(1).max(1_000_000).optional(),
  maxIterations: z.number().int().min(1).max(1_000_000).optional(),
  /** Trials run at once. @default 4 */
  concurrency: z.number().int().min(1).max(1000).default(4),
  /** Wall-clock limit from the campaign's start, in seconds. */
  maxWallSeconds: z
    .number()
    .positive()
    .max(365 * 86400)
    .optional(),
  /** LLM spend in US dollars. */
  maxDollars: z.number().nonnegative().max(1_000_000).optional(),
  /** Total experiment compute, summed over seeds, in seconds. */
  maxComputeSeconds: z.number().positive().max(1e9).optional(),
});
export type Budgets = z.infer<typeof Budgets>;

export const Stagnation = z.strictObject({
  /** Stop after this many consecutive iterations without a better best-by-lower-bound. */
  iterations: z.number().int().min(1).max(10_000),
  /** An improvement smaller than this (in PGR) does not count. @default 0.01 */
  minImprovement: z.number().nonnegative().default(0.01),
});
export type Stagnation = z.infer<typeof Stagnation>;

export const ApprovalMode = z.strictObject({
  enabled: z.boolean().default(false),
  /** How long a hypothesis may wait for a PI's decision. @default 86400 */
  timeoutSeconds: z
    .number()
    .positive()
    .max(30 * 86400)
    .default(86400),
  /** What happens to a hypothesis nobody decided on in time. @default 'reject' */
  onTimeout: z.enum(['reject', 'approve']).default('reject'),
});
export type ApprovalMode = z.infer<typeof ApprovalMode>;

/** See `EvaluationCriteria.hiddenMetricsVisibility`. */
export const HiddenMetricsVisibility = z.enum(['pi-until-finished', 'everyone']);
export type HiddenMetricsVisibility = z.infer<typeof HiddenMetricsVisibility>;

export const Verification = z.strictObject({
  /** How many top candidates (by PGR lower bound) to re-run on fresh seeds. @default 3 */
  topK: z.number().int().min(0).max(50).default(3),
  seeds: z.number().int().min(1).max(100).default(5),
});

export const EvaluationCriteria = z
  .strictObject({
    metric: Name,
    direction: z.enum(['maximize', 'minimize']),
    baseline: Reference,
    optimum: Reference,
    seedsPerTrial: z.number().int().min(1).max(100).default(5),
    /** Confidence level of the intervals on PGR. @default 0.95 */
    confidence: z.number().gt(0.5).lt(1).default(0.95),
    /** Metrics never shown to any agent; used for verification. */
    hiddenMetrics: z.array(Name).max(50).default([]),
    /**
     * The hidden metrics on the objective's scale (the objective measured elsewhere, e.g. on a
     * held-out split): each is checked for a hidden gap against the objective and gets a hidden
     * PGR at verification. A hidden metric in other units (a held-out PGR next to an accuracy) is
     * withheld like any hidden metric but left out of both. @default all of `hiddenMetrics`
     */
    hiddenGapMetrics: z.array(Name).max(50).optional(),
    /**
     * A stated optimum for a hidden gap metric: the best value it can reach (for a held-out
     * accuracy, for instance, the Bayes accuracy of the held-out split), set by a person like
     * the objective's optimum. It puts the metric's hidden PGR on its own gap, so a verification
     * whose hidden result is clearly beyond it is flagged, as a visible PGR above 1 is. Without it
     * (and without a measured optimum that reports the metric) no hidden PGR is judged above 1:
     * a held-out split's gap can differ from the objective's. Withheld with the hidden values.
     */
    hiddenOptima: z.record(Name, FiniteNumber).optional(),
    /**
     * Who sees the values of the hidden metrics in the API and UI (agents never do):
     * `pi-until-finished` shows them to PIs only while the campaign runs, so researchers cannot
     * steer by the held-out set, and to everyone once it has finished; `everyone` always shows
     * them to every person. @default 'pi-until-finished'
     */
    hiddenMetricsVisibility: HiddenMetricsVisibility.default('pi-until-finished'),
    constraints: z.array(Constraint).max(50).default([]),
    /** Stop once the best trial's PGR lower bound reaches this. @default 1 */
    targetPgr: FiniteNumber.default(1),
    budgets: Budgets,
    stagnation: Stagnation.optional(),
    approval: ApprovalMode.default({ enabled: false, timeoutSeconds: 86400, onTimeout: 'reject' }),
    verification: Verification.default({ topK: 3, seeds: 5 }),
  })
  .superRefine((c, ctx) => {
    if (c.hiddenMetrics.includes(c.metric))
      ctx.addIssue({
        code: 'custom',
        path: ['hiddenMetrics'],
        message: `the objective "${c.metric}" cannot be hidden from the agents that optimise it`,
      });
    (c.hiddenGapMetrics ?? []).forEach((m, i) => {
      if (!c.hiddenMetrics.includes(m))
        ctx.addIssue({
          code: 'custom',
          path: ['hiddenGapMetrics', i],
          message: `"${m}" is not a hidden metric: hiddenGapMetrics lists some of hiddenMetrics`,
        });
    });
    const gapMetrics = c.hiddenGapMetrics ?? c.hiddenMetrics;
    for (const m of Object.keys(c.hiddenOptima ?? {}))
      if (!gapMetrics.includes(m))
        ctx.addIssue({
          code: 'custom',
          path: ['hiddenOptima', m],
          message: `"${m}" is not a hidden gap metric: hiddenOptima states optima for ${gapMetrics.length ? gapMetrics.map((x) => `"${x}"`).join(', ') : 'the hidden gap metrics (there are none)'}`,
        });
    if (new Set(c.hiddenMetrics).size !== c.hiddenMetrics.length)
      ctx.addIssue({
        code: 'custom',
        path: ['hiddenMetrics'],
        message: 'hidden metrics must be distinct',
      });
    if (c.baseline.kind === 'value' && c.optimum.kind === 'value') {
      const gap = c.optimum.value - c.baseline.value;
      if (gap === 0)
        ctx.addIssue({
          code: 'custom',
          path: ['optimum', 'value'],
          message: 'optimum equals baseline: PGR is undefined',
        });
      else if (c.direction === 'maximize' && gap < 0)
        ctx.addIssue({
          code: 'custom',
          path: ['optimum', 'value'],
          message: 'for a metric to maximize, optimum must be above baseline',
        });
      else if (c.direction === 'minimize' && gap > 0)
        ctx.addIssue({
          code: 'custom',
          path: ['optimum', 'value'],
          message: 'for a metric to minimize, optimum must be below baseline',
        });
    }
    if (
      c.baseline.kind === 'measure' &&
      c.optimum.kind === 'measure' &&
      c.baseline.configuration === c.optimum.configuration
    )
      ctx.addIssue({
        code: 'custom',
        path: ['optimum', 'configuration'],
        message: 'optimum and baseline measure the same configuration',
      });
    c.constraints.forEach((k, i) => {
      if (c.hiddenMetrics.includes(k.metric))
        ctx.addIssue({
          code: 'custom',
          path: ['constraints', i, 'metric'],
          message: `constraint on hidden metric "${k.metric}" would leak it to agents`,
        });
    });
    if (
      c.budgets.maxTrials === undefined &&
      c.budgets.maxIterations === undefined &&
      c.budgets.maxWallSeconds === undefined &&
      c.budgets.maxComputeSeconds === undefined &&
      c.budgets.maxDollars === undefined
    )
      ctx.addIssue({
        code: 'custom',
        path: ['budgets'],
        message:
          'set at least one budget (maxTrials, maxIterations, maxWallSeconds, maxComputeSeconds or maxDollars)',
      });
  });
export type EvaluationCriteria = z.infer<typeof EvaluationCriteria>;
export type EvaluationCriteriaInput = z.input<typeof EvaluationCriteria>;

/** The hidden metrics checked against the objective (see `EvaluationCriteria.hiddenGapMetrics`). */
export const hiddenGapMetricsOf = (
  c: Pick<EvaluationCriteria, 'hiddenMetrics' | 'hiddenGapMetrics'>,
): readonly string[] => c.hiddenGapMetrics ?? c.hiddenMetrics;

export const CriteriaVersion = z.object({
  version: z.number().int().min(1),
  criteria: EvaluationCriteria,
  actor: Actor,
  reason: z.string().max(2000),
  createdAt: z.string(),
});
export type CriteriaVersion = z.infer<typeof CriteriaVersion>;
