/**
 * Learning curves: what seeds reported by step (experiments/README.md, "Learning curves"), one
 * metric at a time, in plain SVG with d3-scale. Each line is one <path>, however many points it
 * has. The trial page draws its seeds' curves; the compare page overlays several trials'.
 */
import { scaleLinear } from 'd3-scale';
import { useState } from 'react';
import { fmtNum } from '../lib/format.js';
import type { CurveSeries } from '../types.js';
import { Card } from './ui.js';
import { useWidth } from './charts.js';

/** One line: a label (a seed, a trial) and its points `[step, value]`. */
export interface CurveLine {
  label: string;
  points: readonly (readonly [number, number])[];
}

/** Line colours, in turn (Tableau 10, readable on white). */
const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1'];
const M = { top: 10, right: 16, bottom: 34, left: 56 };
const HEIGHT = 220;

/** The metrics of `curves`, the objective first. */
export function curveMetrics(curves: readonly CurveSeries[], objective?: string | null): string[] {
  const names = [...new Set(curves.map((c) => c.metric))];
  return names.sort(
    (a, b) => Number(b === objective) - Number(a === objective) || a.localeCompare(b),
  );
}

/** Lines of one metric on shared axes. */
export function CurveChart({ lines, metric }: { lines: readonly CurveLine[]; metric: string }) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const all = lines.flatMap((l) => l.points);
  const w = Math.max(0, width - M.left - M.right);
  const h = HEIGHT - M.top - M.bottom;
  const steps = all.map((p) => p[0]);
  const values = all.map((p) => p[1]);
  const x = scaleLinear()
    .domain([Math.min(...steps), Math.max(...steps, Math.min(...steps) + 1)])
    .range([0, w]);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = hi > lo ? (hi - lo) * 0.05 : Math.abs(hi) * 0.05 || 1;
  const y = scaleLinear()
    .domain([lo - pad, hi + pad])
    .range([h, 0])
    .nice();
  const d = (pts: CurveLine['points']) =>
    pts.map((p, i) => `${i ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
  return (
    <div ref={ref} data-testid="curve-chart" data-metric={metric}>
      {width > 0 && all.length > 0 && (
        <svg width={width} height={HEIGHT} role="img" aria-label={`${metric} by step`}>
          <g transform={`translate(${M.left},${M.top})`}>
            <g className="axis">
              {y.ticks(5).map((t) => (
                <g key={t} transform={`translate(0,${y(t)})`}>
                  <line x1={0} x2={w} stroke="#f0f0eb" />
                  <text x={-8} dy="0.32em" textAnchor="end">
                    {fmtNum(t, 3)}
                  </text>
                </g>
              ))}
            </g>
            <g className="axis" transform={`translate(0,${h})`}>
              <line x1={0} x2={w} />
              {x
                .ticks(8)
                .filter((t) => Number.isInteger(t))
                .map((t) => (
                  <g key={t} transform={`translate(${x(t)},0)`}>
                    <line y2={4} />
                    <text y={16} textAnchor="middle">
                      {t}
                    </text>
                  </g>
                ))}
              <text x={w / 2} y={30} textAnchor="middle" className="muted">
                step
              </text>
            </g>
            {lines.map((l, i) => (
              <path
                key={l.label}
                d={d(l.points)}
                fill="none"
                stroke={COLORS[i % COLORS.length]}
                strokeWidth={1.6}
                data-testid="curve-line"
                data-label={l.label}
              >
                <title>{l.label}</title>
              </path>
            ))}
          </g>
        </svg>
      )}
      <div className="row small" style={{ gap: 12, flexWrap: 'wrap' }}>
        {lines.map((l, i) => (
          <span key={l.label}>
            <span style={{ color: COLORS[i % COLORS.length] }}>━</span> {l.label}
          </span>
        ))}
      </div>
    </div>
  );
}

/** A metric picker over the charts' metrics; the chosen one is drawn. */
export function CurvesCard({
  metrics,
  lines,
  withheld,
  hint,
}: {
  metrics: string[];
  lines: (metric: string) => CurveLine[];
  /** Hidden metrics whose curves this person may not see now. */
  withheld: readonly string[];
  hint: string;
}) {
  const [chosen, setChosen] = useState<string | null>(null);
  const metric = chosen !== null && metrics.includes(chosen) ? chosen : metrics[0];
  if (metric === undefined && withheld.length === 0) return null;
  return (
    <Card title="Learning curves" hint={hint} testId="learning-curves">
      {metrics.length > 1 && (
        <div className="row" style={{ gap: 6, marginBottom: 8 }}>
          {metrics.map((m) => (
            <button
              key={m}
              className={m === metric ? 'primary small' : 'small'}
              onClick={() => setChosen(m)}
              data-testid="curve-metric"
            >
              {m}
            </button>
          ))}
        </div>
      )}
      {metric !== undefined && <CurveChart metric={metric} lines={lines(metric)} />}
      {withheld.length > 0 && (
        <div className="small muted section-gap" data-testid="curves-withheld">
          Curves of {withheld.join(', ')} are hidden while the campaign runs.
        </div>
      )}
    </Card>
  );
}

/** A trial's seeds' curves (the trial page). */
export function SeedCurves({
  curves,
  seeds,
  withheld,
  objective,
}: {
  curves: readonly CurveSeries[];
  /** The trial's seeds, for labels (`seed <n>`). */
  seeds: readonly number[];
  withheld: readonly string[];
  objective?: string | null;
}) {
  const metrics = curveMetrics(curves, objective);
  if (curves.length === 0) return null;
  return (
    <CurvesCard
      metrics={metrics}
      withheld={withheld.filter((m) => !metrics.includes(m))}
      hint="What each seed reported by step."
      lines={(metric) =>
        curves
          .filter((c) => c.metric === metric)
          .map((c) => ({
            label: `seed ${seeds[c.seedIndex] ?? `#${c.seedIndex + 1}`}`,
            points: c.points,
          }))
      }
    />
  );
}

/** The mean over a trial's seeds at each step any of them reported. */
export function meanBySeed(curves: readonly CurveSeries[], metric: string): [number, number][] {
  const byStep = new Map<number, number[]>();
  for (const c of curves)
    if (c.metric === metric)
      for (const [step, value] of c.points) byStep.set(step, [...(byStep.get(step) ?? []), value]);
  return [...byStep]
    .sort((a, b) => a[0] - b[0])
    .map(([step, vs]) => [step, vs.reduce((a, b) => a + b, 0) / vs.length]);
}

/** Several trials' curves overlaid, each trial's mean over its seeds (the compare page). */
export function CompareCurves({
  trials,
}: {
  trials: readonly {
    trialId: string;
    curves: readonly CurveSeries[];
    withheld: readonly string[];
  }[];
}) {
  const all = trials.flatMap((t) => t.curves);
  if (all.length === 0) return null;
  const metrics = curveMetrics(all);
  const withheld = [...new Set(trials.flatMap((t) => t.withheld))].filter(
    (m) => !metrics.includes(m),
  );
  return (
    <CurvesCard
      metrics={metrics}
      withheld={withheld}
      hint="Each trial's mean over its seeds, by step."
      lines={(metric) =>
        trials
          .map((t) => ({ label: t.trialId, points: meanBySeed(t.curves, metric) }))
          .filter((l) => l.points.length > 0)
      }
    />
  );
}
