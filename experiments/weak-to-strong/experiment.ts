/**
 * The built-in weak-to-strong problem as a function experiment (see model.ts for the why).
 * A seed takes well under a second on one core.
 */
import { z } from 'zod';
import type { ExperimentDefinition } from '../types.js';
import { DEFAULT_PARAMS, runWeakToStrong, type W2SParams } from './model.js';

/**
 * Parameter names as the problem spec uses them; absent ones take the defaults of model.ts.
 * The student only ever trains on the weak labels: no parameter selects ground-truth training,
 * so no spec and no hypothesis can turn the score into the ceiling. The ceiling is measured by
 * the harness itself in every seed (`ceiling_dev_acc`, a fixed recipe no parameter reaches) and
 * the criteria use its documented mean (criteria.yaml). Strict: an unknown parameter is refused,
 * and problem specs naming one are refused at submission (see `params` below).
 */
export const W2SParamsSchema = z
  .object({
    method: z
      .enum(['naive', 'aux_conf', 'bootstrap', 'conf_filter'])
      .default(DEFAULT_PARAMS.method),
    lr: z.number().positive().max(100).default(DEFAULT_PARAMS.lr),
    epochs: z.number().int().min(1).max(2000).default(DEFAULT_PARAMS.epochs),
    batch_size: z.coerce.number().int().min(1).max(4096).default(DEFAULT_PARAMS.batchSize),
    l2: z.number().min(0).max(100).default(DEFAULT_PARAMS.l2),
    label_smoothing: z.number().min(0).max(0.5).default(DEFAULT_PARAMS.labelSmoothing),
    hard_labels: z.boolean().default(DEFAULT_PARAMS.hardLabels),
    aux_weight: z.number().min(0).max(1).default(DEFAULT_PARAMS.auxWeight),
    aux_warmup: z.number().min(0).max(1).default(DEFAULT_PARAMS.auxWarmup),
    conf_threshold: z.number().min(0).max(1).default(DEFAULT_PARAMS.confThreshold),
    bootstrap_rounds: z.number().int().min(1).max(20).default(DEFAULT_PARAMS.bootstrapRounds),
  })
  .strict();

export function toModelParams(raw: unknown): W2SParams {
  const p = W2SParamsSchema.parse(raw);
  return {
    method: p.method,
    lr: p.lr,
    epochs: p.epochs,
    batchSize: p.batch_size,
    l2: p.l2,
    labelSmoothing: p.label_smoothing,
    hardLabels: p.hard_labels,
    auxWeight: p.aux_weight,
    auxWarmup: p.aux_warmup,
    confThreshold: p.conf_threshold,
    bootstrapRounds: p.bootstrap_rounds,
  };
}

const definition: ExperimentDefinition = {
  name: 'weak-to-strong',
  description:
    'A small re-creation of weak-to-strong generalisation (Burns et al. 2023): a weak supervisor ' +
    '(logistic regression on a few surface features, trained on 200 ground-truth examples) labels ' +
    'data for a strong student (a linear head on a "pretrained" representation in which the true ' +
    'concept is salient). The student is trained on the weak labels only; its dev accuracy is the score.',
  metrics: [
    {
      name: 'student_dev_acc',
      description: 'strong student accuracy on the dev split (ground truth)',
      direction: 'maximize',
    },
    {
      name: 'student_heldout_acc',
      description: 'strong student accuracy on a held-out split',
      direction: 'maximize',
    },
    {
      name: 'weak_dev_acc',
      description: 'weak supervisor accuracy on the dev split',
      direction: 'maximize',
    },
    {
      name: 'ceiling_dev_acc',
      description: 'strong model trained on ground truth, dev accuracy',
      direction: 'maximize',
    },
    {
      name: 'pgr_dev',
      description: "this seed's (student - weak) / (ceiling - weak) on dev",
      direction: 'maximize',
    },
    {
      name: 'student_weak_agreement',
      description: 'share of dev examples where the student agrees with the weak supervisor',
    },
    { name: 'labels_used', description: 'share of weak labels the student trained on' },
    { name: 'train_seconds', description: 'wall time of the seed', direction: 'minimize' },
  ],
  defaultTimeoutSeconds: 60,
  params: W2SParamsSchema,
  runner: {
    kind: 'function',
    async run(params, ctx) {
      const modelParams = toModelParams(params);
      const checkAbort = (): void => {
        if (ctx.signal.aborted) throw ctx.signal.reason;
      };
      const metrics = runWeakToStrong(modelParams, ctx.seed, checkAbort);
      ctx.progress({ fraction: 1 });
      return { ...metrics };
    },
  },
};

export default definition;
