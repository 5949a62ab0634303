/**
 * The analysis charts Optuna Dashboard users look for: parameter importance bars, slice plots
 * (PGR against each parameter) and parallel coordinates. Plain SVG with d3-scale; as in
 * charts.tsx, marks of one kind are one <path> (per PGR colour bin), not an element per trial.
 */
import { scaleLinear, scaleLog, scalePoint } from 'd3-scale';
import { useMemo } from 'react';
import { fmtPgr, fmtValue } from '../lib/format.js';
import { binColors, pgrBin, pgrColor } from '../lib/pgr-color.js';
import type { Importance, TableCell } from '../types.js';
import { useWidth } from './charts.js';

export function ImportanceBars({ importance }: { importance: Importance }) {
  if (importance.importances.length === 0)
    return <div className="empty">{importance.note ?? 'No importance yet.'}</div>;
  const max = Math.max(...importance.importances.map((i) => i.importance), 1e-12);
  return (
    <div className="importance" data-testid="importance">
      {importance.importances.map((i) => (
        <div key={i.param} className="importance-row" data-param={i.param}>
          <span className="mono importance-name">{i.param}</span>
          <span className="importance-track">
            <span className="importance-bar" style={{ width: `${(100 * i.importance) / max}%` }} />
          </span>
          <span className="num importance-value">{(100 * i.importance).toFixed(1)}%</span>
        </div>
      ))}
    </div>
  );
}

/** A trial as the charts read it: its parameter values and its PGR. */
export interface ChartRow {
  id: string;
  pgr: number | null;
  values: Record<string, TableCell>;
}

type Axis =
  | { kind: 'number'; scale: (v: number) => number; ticks: number[]; format: (v: number) => string }
  | { kind: 'category'; scale: (v: string) => number; domain: string[] };

/** An axis over a parameter's values: log when every value is positive and they span 100×. */
function axisOf(values: TableCell[], range: [number, number]): Axis | null {
  const present = values.filter((v): v is string | number | boolean => v !== null);
  if (present.length === 0) return null;
  if (present.every((v) => typeof v === 'number')) {
    const nums = present as number[];
    let lo = Math.min(...nums);
    let hi = Math.max(...nums);
    if (lo > 0 && hi / lo >= 100) {
      const s = scaleLog().domain([lo, hi]).range(range).nice();
      return { kind: 'number', scale: (v) => s(v), ticks: s.ticks(4), format: (v) => fmtValue(v) };
    }
    if (lo === hi) [lo, hi] = [lo - 1, hi + 1];
    const s = scaleLinear().domain([lo, hi]).range(range).nice();
    return { kind: 'number', scale: (v) => s(v), ticks: s.ticks(5), format: (v) => fmtValue(v) };
  }
  const domain = [...new Set(present.map(String))].sort();
  const s = scalePoint<string>().domain(domain).range(range).padding(0.5);
  return { kind: 'category', scale: (v) => s(v) ?? range[0], domain };
}

const position = (axis: Axis, v: TableCell): number | null =>
  v === null
    ? null
    : axis.kind === 'number'
      ? typeof v === 'number'
        ? axis.scale(v)
        : null
      : axis.scale(String(v));

const dot = (x: number, y: number, r = 3.2) =>
  `M${x - r},${y}a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0`;

/** One small scatter per parameter: PGR (y) against the parameter's value (x). */
export function SlicePlots({ params, rows }: { params: string[]; rows: ChartRow[] }) {
  const scored = rows.filter((r) => r.pgr !== null);
  if (params.length === 0 || scored.length === 0)
    return <div className="empty">No scored trials to plot yet.</div>;
  return (
    <div className="slice-grid" data-testid="slice-plots">
      {params.map((p) => (
        <SlicePlot key={p} param={p} rows={scored} />
      ))}
    </div>
  );
}

function SlicePlot({ param, rows }: { param: string; rows: ChartRow[] }) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const h = 170;
  const m = { top: 8, right: 10, bottom: 30, left: 40 };
  const w = Math.max(width, 160);
  const body = useMemo(() => {
    const x = axisOf(
      rows.map((r) => r.values[param] ?? null),
      [m.left, w - m.right],
    );
    const pgrs = rows.map((r) => r.pgr!);
    const y = scaleLinear()
      .domain([Math.min(0, ...pgrs), Math.max(1, ...pgrs)])
      .range([h - m.bottom, m.top])
      .nice();
    const bins = new Map<number, string>();
    for (const r of rows) {
      const px = x ? position(x, r.values[param] ?? null) : null;
      if (px === null) continue;
      const b = pgrBin(r.pgr);
      bins.set(b, (bins.get(b) ?? '') + dot(px, y(r.pgr!)));
    }
    return { x, y, bins };
  }, [rows, param, w, m.left, m.right, m.top, m.bottom]);
  const colors = binColors();
  return (
    <div ref={ref} className="slice" data-param={param}>
      <svg width={w} height={h} role="img" aria-label={`PGR against ${param}`}>
        {body.y.ticks(4).map((t) => (
          <g key={t} transform={`translate(0,${body.y(t)})`} className="axis">
            <line x1={m.left} x2={w - m.right} stroke="#f0f0eb" />
            <text x={m.left - 6} dy="0.32em" textAnchor="end">
              {fmtPgr(t, 1)}
            </text>
          </g>
        ))}
        {body.x?.kind === 'number' &&
          body.x.ticks.map((t) => (
            <text
              key={t}
              className="axis"
              x={(body.x as { scale: (v: number) => number }).scale(t)}
              y={h - m.bottom + 14}
              textAnchor="middle"
            >
              {(body.x as { format: (v: number) => string }).format(t)}
            </text>
          ))}
        {body.x?.kind === 'category' &&
          body.x.domain.map((c) => (
            <text
              key={c}
              className="axis"
              x={(body.x as { scale: (v: string) => number }).scale(c)}
              y={h - m.bottom + 14}
              textAnchor="middle"
            >
              {c}
            </text>
          ))}
        {[...body.bins].map(([b, d]) => (
          <path key={b} d={d} fill={colors[b]} fillOpacity={0.8} />
        ))}
        <text className="axis-label" x={(m.left + w - m.right) / 2} y={h - 4} textAnchor="middle">
          {param}
        </text>
      </svg>
    </div>
  );
}

/** Parallel coordinates: one vertical axis per parameter and PGR last; a line per trial. */
export function ParallelCoordinates({ params, rows }: { params: string[]; rows: ChartRow[] }) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const h = 260;
  const m = { top: 22, bottom: 26, left: 40, right: 40 };
  const w = Math.max(width, 320);
  const axes = useMemo(() => [...params, 'PGR'], [params]);
  const layout = useMemo(() => {
    const xs = scalePoint<string>()
      .domain(axes)
      .range([m.left, w - m.right]);
    const scales = axes.map((a) =>
      axisOf(
        rows.map((r) => (a === 'PGR' ? r.pgr : (r.values[a] ?? null))),
        [h - m.bottom, m.top],
      ),
    );
    const bins = new Map<number, string>();
    for (const r of rows) {
      let d = '';
      let pen = false;
      axes.forEach((a, i) => {
        const s = scales[i];
        const y = s ? position(s, a === 'PGR' ? r.pgr : (r.values[a] ?? null)) : null;
        if (y === null) {
          pen = false;
          return;
        }
        d += `${pen ? 'L' : 'M'}${xs(a)},${y}`;
        pen = true;
      });
      const b = pgrBin(r.pgr);
      bins.set(b, (bins.get(b) ?? '') + d);
    }
    return { xs, scales, bins };
  }, [axes, rows, w, m.left, m.right, m.top, m.bottom]);
  if (rows.length === 0 || params.length === 0)
    return <div className="empty">No trials to draw yet.</div>;
  const colors = binColors();
  return (
    <div ref={ref} data-testid="parallel-coordinates">
      <svg width={w} height={h} role="img" aria-label="parallel coordinates of the trials">
        {[...layout.bins].map(([b, d]) => (
          <path key={b} d={d} fill="none" stroke={colors[b]} strokeOpacity={0.55} />
        ))}
        {axes.map((a, i) => {
          const x = layout.xs(a)!;
          const s = layout.scales[i];
          return (
            <g key={a} className="axis">
              <line x1={x} x2={x} y1={m.top} y2={h - m.bottom} stroke="#999" />
              <text x={x} y={m.top - 8} textAnchor="middle" className="axis-label">
                {a}
              </text>
              {s?.kind === 'number' &&
                s.ticks.map((t) => (
                  <text key={t} x={x + 4} y={s.scale(t)} dy="0.32em">
                    {s.format(t)}
                  </text>
                ))}
              {s?.kind === 'category' &&
                s.domain.map((c) => (
                  <text key={c} x={x + 4} y={s.scale(c)} dy="0.32em">
                    {c}
                  </text>
                ))}
            </g>
          );
        })}
      </svg>
      <div className="hint">
        Line colour is PGR: <span style={{ color: pgrColor(0) }}>baseline (0)</span> to{' '}
        <span style={{ color: pgrColor(1) }}>optimum (1)</span>.
      </div>
    </div>
  );
}
