/**
 * Benchmark functions with known optima, for measuring search quality (trials to PGR 0.9) of
 * the strategies against each other and against Optuna used directly.
 */

/** Branin-Hoo on x1 in [-5, 10], x2 in [0, 15]; three global minima of 0.397887. */
export function branin(x1: number, x2: number): number {
  const a = 1;
  const b = 5.1 / (4 * Math.PI ** 2);
  const c = 5 / Math.PI;
  const r = 6;
  const s = 10;
  const t = 1 / (8 * Math.PI);
  return a * (x2 - b * x1 ** 2 + c * x1 - r) ** 2 + s * (1 - t) * Math.cos(x1) + s;
}
export const BRANIN_MIN = 0.397887;

const H_ALPHA = [1.0, 1.2, 3.0, 3.2];
const H_A = [
  [10, 3, 17, 3.5, 1.7, 8],
  [0.05, 10, 17, 0.1, 8, 14],
  [3, 3.5, 1.7, 10, 17, 8],
  [17, 8, 0.05, 10, 0.1, 14],
];
const H_P = [
  [1312, 1696, 5569, 124, 8283, 5886],
  [2329, 4135, 8307, 3736, 1004, 9991],
  [2348, 1451, 3522, 2883, 3047, 6650],
  [4047, 8828, 8732, 5743, 1091, 381],
].map((row) => row.map((v) => v * 1e-4));

/** Hartmann 6-d on [0, 1]^6; global minimum -3.32237. */
export function hartmann6(x: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < 4; i++) {
    let inner = 0;
    for (let j = 0; j < 6; j++) inner += H_A[i]![j]! * ((x[j] ?? 0) - H_P[i]![j]!) ** 2;
    sum += H_ALPHA[i]! * Math.exp(-inner);
  }
  return -sum;
}
export const HARTMANN6_MIN = -3.32237;
export const HARTMANN6_ARGMIN = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573];

export interface MixedParams {
  family: 'a' | 'b' | 'c';
  x: number;
  /** Log-scale parameter in [1e-3, 10]. */
  scale: number;
  /** Only when family = a: in [0, 1]. */
  alpha?: number;
  /** Only when family = b: integer in [1, 8]. */
  order?: number;
  flag: boolean;
}

/**
 * A mixed categorical / conditional / log-scale function with a known minimum of 0 at
 * family = b, order = 3, flag = true, x = 1.5, scale = 0.1. Family a has its own basin with
 * floor 0.6 (a trap), family c a flat floor of 2.
 */
export function mixed(p: MixedParams): number {
  const base = (p.x - 1.5) ** 2 / 4 + 0.5 * (Math.log10(p.scale) + 1) ** 2;
  switch (p.family) {
    case 'a':
      return base + 0.6 + 2 * ((p.alpha ?? 0) - 0.3) ** 2;
    case 'b':
      return base + 0.25 * ((p.order ?? 1) - 3) ** 2 + (p.flag ? 0 : 0.5);
    case 'c':
      return base + 2;
  }
}
export const MIXED_MIN = 0;
