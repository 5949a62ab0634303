/**
 * A small, faithful re-creation of weak-to-strong generalisation (Burns et al., 2023):
 * a weak supervisor trained on a little ground truth labels data for a strong student, and we
 * ask how much of the gap between the weak supervisor and the strong ceiling the student recovers.
 *
 * Why it is built this way (and not with, say, a bigger MLP as the student): a student that can
 * represent the weak labeler's rule and is trained to convergence just imitates it, whatever
 * the method. Weak-to-strong generalisation needs two things, as in pretrained language models:
 *
 * - the student's representation makes the true concept salient (it was "pretrained"): the
 *   concept is one high-variance direction of the student's features; and
 * - training does not run to full imitation: the weak labeler's systematic errors live in
 *   low-variance directions (surface features and the weak model's own noise) that the student
 *   can represent, but learns only late, and at a high weight-norm cost.
 *
 * Then early stopping, regularisation, the auxiliary confidence loss, bootstrapping and
 * confidence filtering move the student anywhere between imitation (PGR ~ 0) and the ceiling.
 *
 * Pure and synchronous apart from an optional abort check: the data, the weak model, the
 * student and the ceiling all derive from the seed. The "world" (how features relate to the
 * concept) is fixed for the problem; a seed redraws the samples and the training order.
 */
import { Rng, type Random } from '../lib/rng.js';

// ---------------------------------------------------------------------------------------------
// The world
// ---------------------------------------------------------------------------------------------

/** Fixed properties of the problem; changing these changes the research problem itself. */
export const WORLD = {
  /** Latent dimensions; z0 is the concept, z1..z(k) feed the weak model's surface features. */
  latentDims: 8,
  /** Surface features the weak supervisor sees. */
  weakFeatures: 3,
  /** Correlation of each surface feature with the concept. */
  surfaceCorrelation: 0.5,
  /** Noise the weak supervisor sees on top of each surface feature (its private errors). */
  weakNoise: 0.5,
  /** Label noise: y = [z0 + labelNoise * eta > 0]; sets the Bayes accuracy (~0.92). */
  labelNoise: 0.25,
  /** Scale of the concept direction in the student's representation (its salience). */
  conceptScale: 1.5,
  /** Scale at which the student's representation carries the weak model's noise. */
  weakNoiseScale: 0.5,
  /** Irrelevant features in the student's representation. */
  nuisanceDims: 16,
  /**
   * A salient feature that mixes the concept with an unrelated latent factor (the last one):
   * what a pretrained model also finds salient. Learning to discount it takes training, so
   * stopping as early as possible is not optimal either.
   */
  distractorScale: 1.5,
  distractorConceptShare: 0.6,
} as const;

export const SPLITS = {
  /** Ground-truth examples the weak supervisor is trained on. */
  weakTrain: 200,
  /** Examples the student is trained on, labelled by the weak supervisor (or by ground truth for the ceiling). */
  studentTrain: 1000,
  dev: 2000,
  heldout: 4000,
} as const;

/** A split: row-major student features, weak features, ground-truth labels. */
export interface Split {
  n: number;
  strong: Float64Array;
  weak: Float64Array;
  y: Uint8Array;
}

export const STRONG_DIM = WORLD.latentDims + WORLD.weakFeatures + WORLD.nuisanceDims + 1;
export const WEAK_DIM = WORLD.weakFeatures;

export function sampleSplit(n: number, rng: Random): Split {
  const {
    latentDims,
    weakFeatures: k,
    surfaceCorrelation: rho,
    weakNoise,
    labelNoise,
    conceptScale,
    weakNoiseScale,
    nuisanceDims,
  } = WORLD;
  const strong = new Float64Array(n * STRONG_DIM);
  const weak = new Float64Array(n * WEAK_DIM);
  const y = new Uint8Array(n);
  const z = new Float64Array(latentDims);
  const rest = Math.sqrt(1 - rho * rho);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < latentDims; d++) z[d] = rng.normal();
    const z0 = z[0] as number;
    y[i] = z0 + labelNoise * rng.normal() > 0 ? 1 : 0;
    const s = i * STRONG_DIM;
    strong[s] = conceptScale * z0;
    for (let d = 1; d < latentDims; d++) strong[s + d] = z[d] as number;
    for (let j = 0; j < k; j++) {
      const eps = rng.normal();
      weak[i * WEAK_DIM + j] = rho * z0 + rest * (z[j + 1] as number) + weakNoise * eps;
      // The student can represent everything the weak model computes, its noise included, at low variance.
      strong[s + latentDims + j] = weakNoiseScale * eps;
    }
    for (let m = 0; m < nuisanceDims; m++) strong[s + latentDims + k + m] = rng.normal();
    const share = WORLD.distractorConceptShare;
    strong[s + STRONG_DIM - 1] =
      WORLD.distractorScale *
      (share * z0 + Math.sqrt(1 - share * share) * (z[latentDims - 1] as number));
  }
  return { n, strong, weak, y };
}

// ---------------------------------------------------------------------------------------------
// Logistic regression trained by minibatch SGD
// ---------------------------------------------------------------------------------------------

export interface Linear {
  w: Float64Array;
  b: number;
}

const sigmoid = (x: number): number =>
  x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));

export function logit(model: Linear, x: Float64Array, i: number): number {
  const dim = model.w.length;
  let s = model.b;
  const o = i * dim;
  for (let d = 0; d < dim; d++) s += (model.w[d] as number) * (x[o + d] as number);
  return s;
}

export function predictProba(model: Linear, x: Float64Array, n: number): Float64Array {
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) p[i] = sigmoid(logit(model, x, i));
  return p;
}

export function accuracy(p: Float64Array, y: Uint8Array): number {
  let ok = 0;
  for (let i = 0; i < y.length; i++) if ((p[i] as number) > 0.5 === (y[i] === 1)) ok++;
  return ok / y.length;
}

export interface TrainOptions {
  lr: number;
  epochs: number;
  batchSize: number;
  l2: number;
  /**
   * Auxiliary confidence loss weight (Burns et al. 2023, eq. 1): the target becomes
   * (1 - a) * label + a * hardened own prediction, a warmed up linearly to this value.
   * @default 0
   */
  auxWeight?: number;
  /** Fraction of training over which the auxiliary weight warms up. @default 0.2 */
  auxWarmup?: number;
  /** Called every epoch; throw to abort. */
  onEpoch?: (epoch: number) => void;
}

/**
 * Trains a logistic regression on soft targets in [0, 1] with minibatch SGD.
 * Cross-entropy gradient with soft targets is (p - t) x, which covers hard, smoothed and soft labels.
 */
export function trainLogistic(
  x: Float64Array,
  targets: Float64Array,
  dim: number,
  opts: TrainOptions,
  rng: Random,
): Linear {
  const n = targets.length;
  const model: Linear = { w: new Float64Array(dim), b: 0 };
  const order = Array.from({ length: n }, (_, i) => i);
  const grad = new Float64Array(dim);
  const batchSize = Math.max(1, Math.min(opts.batchSize, n));
  const aux = opts.auxWeight ?? 0;
  const warmupSteps = Math.max(1, (opts.auxWarmup ?? 0.2) * opts.epochs * Math.ceil(n / batchSize));
  const batchLogits = new Float64Array(batchSize);
  let step = 0;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    opts.onEpoch?.(epoch);
    rng.shuffle(order);
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(n, start + batchSize);
      const m = end - start;
      for (let j = 0; j < m; j++) batchLogits[j] = logit(model, x, order[start + j] as number);
      // Burns et al. harden the student's predictions with an adaptive threshold so that the
      // batch keeps the label prior: the top share of logits (by the targets' mean) count as 1.
      let threshold = 0;
      const a = aux > 0 ? aux * Math.min(1, step / warmupSteps) : 0;
      if (a > 0) {
        let positives = 0;
        for (let j = 0; j < m; j++) positives += targets[order[start + j] as number] as number;
        const sorted = Array.from(batchLogits.subarray(0, m)).sort((p, q) => q - p);
        const k = Math.min(m - 1, Math.max(0, Math.round(positives) - 1));
        threshold = sorted[k] as number;
      }
      grad.fill(0);
      let gb = 0;
      for (let j = 0; j < m; j++) {
        const i = order[start + j] as number;
        const z = batchLogits[j] as number;
        let t = targets[i] as number;
        if (a > 0) t = (1 - a) * t + a * (z >= threshold ? 1 : 0);
        const r = sigmoid(z) - t;
        gb += r;
        const o = i * dim;
        for (let d = 0; d < dim; d++) grad[d] = (grad[d] as number) + r * (x[o + d] as number);
      }
      const scale = opts.lr / m;
      for (let d = 0; d < dim; d++)
        model.w[d] =
          (model.w[d] as number) -
          scale * (grad[d] as number) -
          opts.lr * opts.l2 * (model.w[d] as number);
      model.b -= scale * gb;
      step++;
    }
  }
  return model;
}

// ---------------------------------------------------------------------------------------------
// The experiment
// ---------------------------------------------------------------------------------------------

export type Method = 'naive' | 'aux_conf' | 'bootstrap' | 'conf_filter';

export interface W2SParams {
  method: Method;
  lr: number;
  epochs: number;
  batchSize: number;
  l2: number;
  labelSmoothing: number;
  /** Train on the weak model's hard labels instead of its probabilities. */
  hardLabels: boolean;
  auxWeight: number;
  auxWarmup: number;
  confThreshold: number;
  bootstrapRounds: number;
}

export const DEFAULT_PARAMS: W2SParams = {
  method: 'naive',
  lr: 0.5,
  epochs: 100,
  batchSize: 32,
  l2: 1e-5,
  labelSmoothing: 0,
  hardLabels: false,
  auxWeight: 0.75,
  auxWarmup: 0.2,
  confThreshold: 0.5,
  bootstrapRounds: 3,
};

/** The recipe the per-run ceiling metric uses: strong model, ground-truth labels, trained to convergence. */
export const CEILING_RECIPE: TrainOptions = { lr: 0.5, epochs: 100, batchSize: 32, l2: 1e-5 };

/** Weak supervisor: a logistic regression on its few surface features, trained to convergence on a little ground truth. */
const WEAK_RECIPE: TrainOptions = { lr: 0.5, epochs: 200, batchSize: 32, l2: 1e-4 };

export interface W2SMetrics {
  student_dev_acc: number;
  student_heldout_acc: number;
  weak_dev_acc: number;
  ceiling_dev_acc: number;
  /** (student - weak) / (ceiling - weak) on the dev split for this seed. */
  pgr_dev: number;
  /** How often the student agrees with the weak supervisor on the dev split (1 = pure imitation). */
  student_weak_agreement: number;
  /** Share of the weak labels the student was trained on. */
  labels_used: number;
  train_seconds: number;
}

function smooth(t: number, ls: number): number {
  return t * (1 - ls) + ls / 2;
}

/** Runs one seed of the weak-to-strong experiment. `checkAbort` is called once per epoch. */
export function runWeakToStrong(
  params: W2SParams,
  seed: number,
  checkAbort: () => void = () => {},
): W2SMetrics {
  const started = performance.now();
  const dataRng = new Rng(seed, 1);
  const weakTrain = sampleSplit(SPLITS.weakTrain, dataRng);
  const studentTrain = sampleSplit(SPLITS.studentTrain, dataRng);
  const dev = sampleSplit(SPLITS.dev, dataRng);
  const heldout = sampleSplit(SPLITS.heldout, dataRng);
  const onEpoch = (): void => checkAbort();

  const weakModel = trainLogistic(
    weakTrain.weak,
    Float64Array.from(weakTrain.y),
    WEAK_DIM,
    { ...WEAK_RECIPE, onEpoch },
    new Rng(seed, 2),
  );
  const weakDev = predictProba(weakModel, dev.weak, dev.n);
  const weakOnTrain = predictProba(weakModel, studentTrain.weak, studentTrain.n);

  const ceilingModel = trainLogistic(
    studentTrain.strong,
    Float64Array.from(studentTrain.y),
    STRONG_DIM,
    { ...CEILING_RECIPE, onEpoch },
    new Rng(seed, 3),
  );
  const ceilingDev = accuracy(predictProba(ceilingModel, dev.strong, dev.n), dev.y);

  // Labels the student trains on.
  const base = new Float64Array(studentTrain.n);
  for (let i = 0; i < studentTrain.n; i++) {
    const p = weakOnTrain[i] as number;
    base[i] = params.hardLabels ? (p > 0.5 ? 1 : 0) : p;
  }
  let keep = Array.from({ length: studentTrain.n }, (_, i) => i);
  if (params.method === 'conf_filter') {
    keep = keep.filter((i) => Math.abs(2 * (weakOnTrain[i] as number) - 1) >= params.confThreshold);
    // Never train on nothing: keep at least the most confident tenth.
    if (keep.length < studentTrain.n / 10) {
      keep = Array.from({ length: studentTrain.n }, (_, i) => i)
        .sort(
          (a, b) =>
            Math.abs(2 * (weakOnTrain[b] as number) - 1) -
            Math.abs(2 * (weakOnTrain[a] as number) - 1),
        )
        .slice(0, Math.ceil(studentTrain.n / 10));
    }
  }
  const x = new Float64Array(keep.length * STRONG_DIM);
  keep.forEach((i, r) =>
    x.set(studentTrain.strong.subarray(i * STRONG_DIM, (i + 1) * STRONG_DIM), r * STRONG_DIM),
  );
  let targets = Float64Array.from(keep, (i) => smooth(base[i] as number, params.labelSmoothing));

  const opts: TrainOptions = {
    lr: params.lr,
    epochs: params.epochs,
    batchSize: params.batchSize,
    l2: params.l2,
    onEpoch,
    ...(params.method === 'aux_conf'
      ? { auxWeight: params.auxWeight, auxWarmup: params.auxWarmup }
      : {}),
  };
  const studentRng = new Rng(seed, 4);
  let student = trainLogistic(x, targets, STRONG_DIM, opts, studentRng);
  if (params.method === 'bootstrap') {
    // Iterative self-labelling: each round a fresh student learns the previous student's hard labels.
    for (let round = 1; round < params.bootstrapRounds; round++) {
      const own = predictProba(student, x, keep.length);
      targets = Float64Array.from(own, (p) => smooth(p > 0.5 ? 1 : 0, params.labelSmoothing));
      student = trainLogistic(x, targets, STRONG_DIM, opts, studentRng);
    }
  }

  const studentDev = predictProba(student, dev.strong, dev.n);
  const studentDevAcc = accuracy(studentDev, dev.y);
  const weakDevAcc = accuracy(weakDev, dev.y);
  let agree = 0;
  for (let i = 0; i < dev.n; i++)
    if ((studentDev[i] as number) > 0.5 === (weakDev[i] as number) > 0.5) agree++;
  const gap = ceilingDev - weakDevAcc;
  return {
    student_dev_acc: studentDevAcc,
    student_heldout_acc: accuracy(predictProba(student, heldout.strong, heldout.n), heldout.y),
    weak_dev_acc: weakDevAcc,
    ceiling_dev_acc: ceilingDev,
    pgr_dev: gap > 0 ? (studentDevAcc - weakDevAcc) / gap : 0,
    student_weak_agreement: agree / dev.n,
    labels_used: keep.length / studentTrain.n,
    train_seconds: (performance.now() - started) / 1000,
  };
}
