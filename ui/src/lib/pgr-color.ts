/**
 * The one PGR colour scale of the UI (lineage nodes, chips, legends): viridis from PGR 0
 * (baseline, dark violet) to 1 (optimum, yellow-green); below the baseline a muted brick red;
 * above the optimum a pink that reads as "suspicious until reviewed"; no PGR (failed) grey.
 */
import { interpolateViridis } from 'd3-scale-chromatic';

export const FAILED_COLOR = '#a3a3a3';
export const ABOVE_ONE_COLOR = '#db2777';
export const BELOW_ZERO_COLOR = '#b4533f';
export const FLAG_COLOR = '#ea580c';
export const ACCENT = '#0f766e';

/** Viridis is cut before its palest yellow so the top of the scale stays visible on white. */
const viridis = (t: number) => interpolateViridis(0.04 + 0.84 * t);

/** Colour of a PGR value; null means no PGR (failed or not scored). */
export function pgrColor(pgr: number | null | undefined): string {
  if (pgr === null || pgr === undefined || !Number.isFinite(pgr)) return FAILED_COLOR;
  if (pgr > 1.0001) return ABOVE_ONE_COLOR;
  if (pgr < 0) return BELOW_ZERO_COLOR;
  return viridis(pgr);
}

/** Number of colour bins the canvas renderer groups nodes into (one fill per bin). */
export const PGR_BINS = 24;

/**
 * Bin index of a PGR value for batched drawing: 0..PGR_BINS-1 for [0, 1], then one bin each
 * for below zero, above one and no PGR.
 */
export function pgrBin(pgr: number | null | undefined): number {
  if (pgr === null || pgr === undefined || !Number.isFinite(pgr)) return PGR_BINS + 2;
  if (pgr > 1.0001) return PGR_BINS + 1;
  if (pgr < 0) return PGR_BINS;
  return Math.min(PGR_BINS - 1, Math.floor(pgr * PGR_BINS));
}

/** The fill colour of each bin, in bin order. */
export function binColors(): string[] {
  const colors: string[] = [];
  for (let i = 0; i < PGR_BINS; i++) colors.push(viridis((i + 0.5) / PGR_BINS));
  colors.push(BELOW_ZERO_COLOR, ABOVE_ONE_COLOR, FAILED_COLOR);
  return colors;
}

/** Stops for a CSS linear-gradient legend of the [0, 1] part of the scale. */
export function legendGradient(): string {
  const stops = [0, 0.25, 0.5, 0.75, 1].map((t) => `${viridis(t)} ${t * 100}%`);
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

/** Categorical colours for campaigns compared on one chart (Tableau 10, colour-blind aware). */
export const SERIES_COLORS = [
  '#4e79a7',
  '#f28e2b',
  '#59a14f',
  '#e15759',
  '#76b7b2',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];
