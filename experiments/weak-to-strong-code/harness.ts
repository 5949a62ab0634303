/**
 * The trusted harness of the weak-to-strong code problem. It draws the data of a seed with the
 * built-in problem's generator (../weak-to-strong/model.ts: same world, same weak supervisor,
 * same ceiling), keeps the ground truth, hands the candidate only the student's features, the
 * weak supervisor's soft labels and unlabelled inputs to predict, and scores the predictions.
 *
 * The unlabelled inputs are the dev split and a held-out split, shuffled together. The held-out
 * split is drawn from a shifted distribution (the weak supervisor's surface factors move, and the
 * salient distractor no longer tracks the concept), so a method that leans on shortcuts or was
 * tuned to the dev split shows it on the hidden metric.
 *
 * ## Why a candidate cannot rebuild the labels
 *
 * A candidate has read this file and model.ts, and gets the features, the weak labels and a seed
 * of its own. What it does not have is the deployment's harness secret (lib/secret.ts), and
 * everything random here comes from streams keyed by it (lib/keyed.ts, AES-256-CTR under an
 * HMAC-SHA256-derived key per experiment, seed and purpose):
 *
 * - the samples: the latent factors z, the label noise eta in y = [z0 + 0.25 eta > 0], the weak
 *   supervisor's own noise. Replaying the public generator with any seed does not reproduce the
 *   features (a public generator's 32-bit seed falls to a brute force over a few rows), and
 *   the keystream cannot be predicted from its outputs without the key;
 * - the layout of the student's representation (`Layout`): a secret permutation and sign of its
 *   28 columns per seed, so "column 0 is the concept, positive" (true in model.ts) says nothing
 *   about these features. From the features alone the concept column is at best narrowed to a
 *   few candidates (its scale and its exact linear tie to the distractor) and its sign stays a
 *   coin flip: the labels are not a public function of the features. The weak labels settle
 *   both, which is what a legitimate learner does with them;
 * - the training order of the weak supervisor and the ceiling, the dev/held-out row order, and
 *   the candidate's own seed (`candidateSeed`: from its own stream, it reveals nothing of the
 *   others). Neither /input/call.json nor the candidate's rng carries the harness's seed.
 *
 * What remains is learning: given the features, y still depends on the keyed label noise eta, so
 * no method can beat the Bayes accuracy of the concept direction (about 0.92); the ceiling, a
 * logistic regression trained on the ground truth, comes within about a point of it, so a PGR
 * much above 1 cannot come from knowing more and is flagged. A permutation and signs (not a
 * dense rotation) keep the representation's coordinates meaningful: a sparse method that finds
 * the one salient coordinate is still a fair research answer, and the training methods here are
 * equivariant to it, so the problem's difficulty is unchanged.
 */
import { KeyedRng } from '../lib/keyed.js';
import { harnessSecret } from '../lib/secret.js';
import {
  accuracy,
  CEILING_RECIPE,
  predictProba,
  sampleSplit,
  STRONG_DIM,
  trainLogistic,
  WEAK_DIM,
  WORLD,
  type Split,
  type TrainOptions,
} from '../weak-to-strong/model.js';

/** The weak supervisor's recipe, as in the built-in problem: trained to convergence on 200 examples. */
const WEAK_RECIPE: TrainOptions = { lr: 0.5, epochs: 200, batchSize: 32, l2: 1e-4 };

export const CODE_SPLITS = {
  weakTrain: 200,
  studentTrain: 1000,
  dev: 2000,
  heldout: 2000,
} as const;

/** How the held-out split differs from training and dev (the concept y = [z0 + noise > 0] does not). */
export const SHIFT = {
  /** Mean shift of the latent factors behind the weak supervisor's surface features. */
  surfaceMeanShift: 0.75,
  /** The distractor's share of the concept on held-out data (0.6 elsewhere). */
  distractorConceptShare: 0,
} as const;

/** Applies the held-out shift to a split drawn by sampleSplit (in place). */
export function shiftSplit(s: Split): Split {
  const L = WORLD.latentDims;
  const k = WORLD.weakFeatures;
  const rest = Math.sqrt(1 - WORLD.surfaceCorrelation ** 2);
  const d = SHIFT.surfaceMeanShift;
  const share = SHIFT.distractorConceptShare;
  for (let i = 0; i < s.n; i++) {
    const o = i * STRONG_DIM;
    for (let j = 0; j < k; j++) {
      s.strong[o + 1 + j] = (s.strong[o + 1 + j] as number) + d;
      s.weak[i * WEAK_DIM + j] = (s.weak[i * WEAK_DIM + j] as number) + rest * d;
    }
    const z0 = (s.strong[o] as number) / WORLD.conceptScale;
    const zLast = s.strong[o + L - 1] as number;
    s.strong[o + STRONG_DIM - 1] =
      WORLD.distractorScale * (share * z0 + Math.sqrt(1 - share * share) * zLast);
  }
  return s;
}

/** What the candidate sees (row-major float64) and what only the harness keeps. */
export interface PreparedSeed {
  features: Float64Array;
  weakLabels: Float64Array;
  unlabelled: Float64Array;
  nTrain: number;
  nEval: number;
  dim: number;
  /** Row of the unlabelled inputs -> [split, index in split]; never leaves the harness. */
  key: { split: 'dev' | 'heldout'; index: number }[];
  dev: Split;
  heldout: Split;
  weakDev: Float64Array;
  weakHeldout: Float64Array;
  ceilingDevAcc: number;
  ceilingHeldoutAcc: number;
  /** Where model.ts's columns went in what the candidate sees; never leaves the harness. */
  layout: Layout;
}

/** The keyed streams a seed is prepared from, one per purpose (CodeRunContext.random). */
export type SeedStreams = (purpose: string) => KeyedRng;

/** The experiment's registered name: part of every stream's label. */
export const EXPERIMENT = 'weak-to-strong-code';

/**
 * The streams the worker's harness uses for `seed` (CodeRunContext.random), for benchmarks and
 * tests that prepare a seed outside a run.
 */
export function harnessStreams(
  seed: number,
  secret: Uint8Array = harnessSecret().key,
): SeedStreams {
  return (purpose) => new KeyedRng(secret, { experiment: EXPERIMENT, seed, purpose });
}

/**
 * Where each coordinate of the student's representation goes, and its sign: column `perm[j]` of
 * what the candidate sees is `sign[j]` times column j of model.ts's representation.
 */
export interface Layout {
  perm: Int32Array;
  sign: Float64Array;
}

export function drawLayout(rng: KeyedRng, dim: number = STRONG_DIM): Layout {
  const order = rng.shuffle(Array.from({ length: dim }, (_, i) => i));
  return {
    perm: Int32Array.from(order),
    sign: Float64Array.from({ length: dim }, () => (rng.uniform() < 0.5 ? -1 : 1)),
  };
}

/** Applies a layout to row-major features of width `perm.length`. */
export function applyLayout(x: Float64Array, layout: Layout): Float64Array {
  const dim = layout.perm.length;
  const out = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += dim)
    for (let j = 0; j < dim; j++)
      out[o + (layout.perm[j] as number)] = (layout.sign[j] as number) * (x[o + j] as number);
  return out;
}

export function prepareSeed(streams: SeedStreams): PreparedSeed {
  const dataRng = streams('data');
  const weakTrain = sampleSplit(CODE_SPLITS.weakTrain, dataRng);
  const layout = drawLayout(streams('layout'));
  const hide = (s: Split): Split => ({ ...s, strong: applyLayout(s.strong, layout) });
  const studentTrain = hide(sampleSplit(CODE_SPLITS.studentTrain, dataRng));
  const dev = hide(sampleSplit(CODE_SPLITS.dev, dataRng));
  const heldout = hide(shiftSplit(sampleSplit(CODE_SPLITS.heldout, dataRng)));
  const weakModel = trainLogistic(
    weakTrain.weak,
    Float64Array.from(weakTrain.y),
    WEAK_DIM,
    WEAK_RECIPE,
    streams('weak-model'),
  );
  const ceiling = trainLogistic(
    studentTrain.strong,
    Float64Array.from(studentTrain.y),
    STRONG_DIM,
    CEILING_RECIPE,
    streams('ceiling'),
  );
  const key: PreparedSeed['key'] = [
    ...Array.from({ length: dev.n }, (_, index) => ({ split: 'dev' as const, index })),
    ...Array.from({ length: heldout.n }, (_, index) => ({ split: 'heldout' as const, index })),
  ];
  streams('row-order').shuffle(key);
  const unlabelled = new Float64Array(key.length * STRONG_DIM);
  key.forEach((k, row) => {
    const src = k.split === 'dev' ? dev : heldout;
    unlabelled.set(
      src.strong.subarray(k.index * STRONG_DIM, (k.index + 1) * STRONG_DIM),
      row * STRONG_DIM,
    );
  });
  return {
    features: studentTrain.strong,
    weakLabels: predictProba(weakModel, studentTrain.weak, studentTrain.n),
    unlabelled,
    nTrain: studentTrain.n,
    nEval: key.length,
    dim: STRONG_DIM,
    key,
    dev,
    heldout,
    weakDev: predictProba(weakModel, dev.weak, dev.n),
    weakHeldout: predictProba(weakModel, heldout.weak, heldout.n),
    ceilingDevAcc: accuracy(predictProba(ceiling, dev.strong, dev.n), dev.y),
    ceilingHeldoutAcc: accuracy(predictProba(ceiling, heldout.strong, heldout.n), heldout.y),
    layout,
  };
}

/** Thrown when the candidate's predictions are not what the interface promises. */
export class BadPredictionsError extends Error {
  override readonly name = 'BadPredictionsError';
}

/** Decodes the result channel: little-endian float64, one probability per unlabelled row. */
export function decodePredictions(bytes: Buffer, n: number): Float64Array {
  if (bytes.length !== n * 8)
    throw new BadPredictionsError(
      `train() must return ${n} probabilities (one per row of unlabelled_features); got ${bytes.length / 8}`,
    );
  const p = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = bytes.readDoubleLE(i * 8);
    if (!Number.isFinite(v) || v < 0 || v > 1)
      throw new BadPredictionsError(
        `train() must return probabilities in [0, 1]; row ${i} is ${v}`,
      );
    p[i] = v;
  }
  return p;
}

/** Every metric, computed here from the predictions and the ground truth the harness kept. */
export function score(prep: PreparedSeed, predictions: Float64Array): Record<string, number> {
  const devP = new Float64Array(prep.dev.n);
  const hoP = new Float64Array(prep.heldout.n);
  prep.key.forEach((k, row) => {
    (k.split === 'dev' ? devP : hoP)[k.index] = predictions[row] as number;
  });
  const studentDev = accuracy(devP, prep.dev.y);
  const studentHo = accuracy(hoP, prep.heldout.y);
  const weakDev = accuracy(prep.weakDev, prep.dev.y);
  const weakHo = accuracy(prep.weakHeldout, prep.heldout.y);
  let agree = 0;
  for (let i = 0; i < prep.dev.n; i++)
    if ((devP[i] as number) > 0.5 === (prep.weakDev[i] as number) > 0.5) agree++;
  const pgr = (s: number, w: number, c: number): number => (c - w > 0 ? (s - w) / (c - w) : 0);
  return {
    student_dev_acc: studentDev,
    student_heldout_acc: studentHo,
    weak_dev_acc: weakDev,
    ceiling_dev_acc: prep.ceilingDevAcc,
    pgr_dev: pgr(studentDev, weakDev, prep.ceilingDevAcc),
    pgr_heldout: pgr(studentHo, weakHo, prep.ceilingHeldoutAcc),
    student_weak_agreement: agree / prep.dev.n,
  };
}

/** A .npy file (format 1.0) of little-endian float64. */
export function npy(data: Float64Array, shape: readonly number[]): Buffer {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '<f8', 'fortran_order': False, 'shape': (${dims}), }`;
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = `${header}${' '.repeat(total - 10 - header.length - 1)}\n`;
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(data.length * 8);
  for (let i = 0; i < data.length; i++) body.writeDoubleLE(data[i] as number, i * 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}
