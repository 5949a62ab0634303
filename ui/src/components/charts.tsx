/**
 * The PGR charts, in plain SVG with d3-scale. Each mark kind is one <path> however many trials
 * there are (no element per point), so a 10,000-trial campaign draws as fast as a small one.
 */
import { scaleLinear } from 'd3-scale';
import { useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { fmtDuration, fmtPgr, formatExact, formatRecorded } from '../lib/format.js';
import { ACCENT, BELOW_ZERO_COLOR, FAILED_COLOR, FLAG_COLOR } from '../lib/pgr-color.js';

/** Width of an element, kept up to date on resize. */
export function useWidth<T extends HTMLElement>(): [React.RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  return [ref, width];
}

const M = { top: 12, right: 64, bottom: 40, left: 46 };

function YAxis({
  y,
  width,
  format = (v: number) => fmtPgr(v, 1),
}: {
  y: ReturnType<typeof scaleLinear<number, number>>;
  width: number;
  format?: (v: number) => string;
}) {
  return (
    <g className="axis">
      {y.ticks(6).map((t) => (
        <g key={t} transform={`translate(0,${y(t)})`}>
          <line className="gridline" x1={0} x2={width} stroke="#f0f0eb" />
          <text x={-8} dy="0.32em" textAnchor="end">
            {format(t)}
          </text>
        </g>
      ))}
    </g>
  );
}

function XAxis({
  x,
  height,
  format = String,
  ticks = 8,
  integers = false,
}: {
  x: ReturnType<typeof scaleLinear<number, number>>;
  height: number;
  format?: (v: number) => string;
  ticks?: number;
  /** Only whole-number ticks (trial numbers). */
  integers?: boolean;
}) {
  return (
    <g className="axis" transform={`translate(0,${height})`}>
      <line x1={x.range()[0]} x2={x.range()[1]} />
      {x
        .ticks(ticks)
        .filter((t) => !integers || Number.isInteger(t))
        .map((t) => (
          <g key={t} transform={`translate(${x(t)},0)`}>
            <line y2={4} />
            <text y={16} textAnchor="middle">
              {format(t)}
            </text>
          </g>
        ))}
    </g>
  );
}

/** A horizontal reference line with its label at the right edge. */
function RefLine({
  y,
  value,
  width,
  label,
  color,
  dash,
}: {
  y: (v: number) => number;
  value: number;
  width: number;
  label: string;
  color: string;
  dash?: string;
}) {
  const py = y(value);
  return (
    <g>
      <line
        x1={0}
        x2={width}
        y1={py}
        y2={py}
        stroke={color}
        strokeWidth={1.2}
        strokeDasharray={dash}
      />
      <text x={width + 6} y={py} dy="0.32em" fontSize={11} fill={color}>
        {label}
      </text>
    </g>
  );
}

export interface PgrPoint {
  id: string;
  index: number;
  title: string;
  pgr: number | null;
  ciLow: number | null;
  ciHigh: number | null;
  failed: boolean;
  flagged: boolean;
}

/** Visible PGR range: always shows baseline 0 and optimum 1; wild outliers are pinned to the edge. */
function pgrDomain(points: readonly PgrPoint[], target: number | undefined): [number, number] {
  let lo = -0.1;
  let hi = 1.1;
  for (const p of points) {
    if (p.ciLow !== null && Number.isFinite(p.ciLow)) lo = Math.min(lo, p.ciLow);
    if (p.ciHigh !== null && Number.isFinite(p.ciHigh)) hi = Math.max(hi, p.ciHigh);
  }
  if (target !== undefined && Number.isFinite(target)) hi = Math.max(hi, target + 0.05);
  return [Math.max(lo, -1.5), Math.min(hi, 2.5)];
}

/**
 * Each search trial's PGR with its confidence interval as an error bar, the best lower bound so
 * far as a step line, and the baseline (0), optimum (1) and target marked.
 */
export function PgrChart({
  points,
  target,
  height = 300,
  onSelect,
}: {
  points: readonly PgrPoint[];
  target?: number;
  height?: number;
  onSelect?: (id: string) => void;
}) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const [hover, setHover] = useState<PgrPoint | null>(null);
  const sorted = useMemo(() => [...points].sort((a, b) => a.index - b.index), [points]);
  const innerW = Math.max(50, width - M.left - M.right);
  const innerH = height - M.top - M.bottom;
  const minIndex = sorted[0]?.index ?? 0;
  const maxIndex = Math.max(minIndex + 1, sorted.at(-1)?.index ?? 1);
  const x = useMemo(
    () =>
      scaleLinear()
        .domain([minIndex - 0.5, maxIndex + 0.5])
        .range([0, innerW]),
    [minIndex, maxIndex, innerW],
  );
  const y = useMemo(
    () => scaleLinear().domain(pgrDomain(sorted, target)).range([innerH, 0]).nice(),
    [sorted, target, innerH],
  );

  const paths = useMemo(() => {
    const [lo, hi] = y.domain() as [number, number];
    const clamp = (v: number) => Math.min(hi, Math.max(lo, v));
    const bars: string[] = [];
    const dots: string[] = [];
    const flagged: string[] = [];
    const below: string[] = [];
    const failed: string[] = [];
    const pinned: string[] = [];
    const best: [number, number][] = [];
    const r = sorted.length > 2000 ? 1.4 : sorted.length > 300 ? 2.2 : 3.2;
    const cap = sorted.length > 300 ? 0 : 3;
    let bestLow = -Infinity;
    for (const p of sorted) {
      const px = x(p.index);
      if (p.failed || p.pgr === null) {
        const py = innerH - 4;
        failed.push(`M${px - 3},${py - 3}l6,6m0,-6l-6,6`);
        continue;
      }
      if (p.ciLow !== null && p.ciHigh !== null) {
        const y1 = y(clamp(p.ciLow));
        const y2 = y(clamp(p.ciHigh));
        bars.push(`M${px},${y1}V${y2}`);
        if (cap) bars.push(`M${px - cap},${y1}h${cap * 2}M${px - cap},${y2}h${cap * 2}`);
        if (p.ciLow > bestLow) {
          bestLow = p.ciLow;
        }
      }
      if (Number.isFinite(bestLow)) best.push([px, y(clamp(bestLow))]);
      const v = p.pgr;
      if (v < lo || v > hi) {
        const py = v > hi ? y(hi) : y(lo);
        pinned.push(v > hi ? `M${px},${py}l-4,7h8z` : `M${px},${py}l-4,-7h8z`);
        continue;
      }
      const circle = `M${px - r},${y(v)}a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0`;
      (p.flagged ? flagged : v < 0 ? below : dots).push(circle);
    }
    // The best-so-far line is a step: it holds its value until a trial beats it.
    const step = best.map(([sx, sy], i) => (i === 0 ? `M${sx},${sy}` : `H${sx}V${sy}`));
    if (step.length > 0) step.push(`H${innerW}`);
    return {
      bars: bars.join(''),
      dots: dots.join(''),
      flagged: flagged.join(''),
      below: below.join(''),
      failed: failed.join(''),
      pinned: pinned.join(''),
      best: step.join(''),
    };
  }, [sorted, x, y, innerH, innerW]);

  function nearest(clientX: number, rect: DOMRect): PgrPoint | null {
    if (sorted.length === 0) return null;
    const idx = x.invert(clientX - rect.left - M.left);
    let lo = 0;
    let hi = sorted.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]!.index < idx) lo = mid + 1;
      else hi = mid;
    }
    const a = sorted[Math.max(0, lo - 1)]!;
    const b = sorted[lo]!;
    return Math.abs(a.index - idx) <= Math.abs(b.index - idx) ? a : b;
  }

  return (
    <div className="chart" ref={ref} data-testid="pgr-chart" data-points={sorted.length}>
      {width > 0 && (
        <svg width={width} height={height}>
          <g transform={`translate(${M.left},${M.top})`}>
            <YAxis y={y} width={innerW} />
            <XAxis x={x} height={innerH} integers />
            <RefLine y={y} value={0} width={innerW} label="baseline 0" color="#8a8a82" />
            <RefLine y={y} value={1} width={innerW} label="optimum 1" color="#3b7d3f" />
            {target !== undefined &&
              target !== 1 &&
              Number.isFinite(target) &&
              target <= (y.domain()[1] as number) && (
                <RefLine
                  y={y}
                  value={target}
                  width={innerW}
                  label={`target ${formatExact(target)}`}
                  color={ACCENT}
                  dash="4 3"
                />
              )}
            <path d={paths.bars} stroke="#9aa3b5" strokeWidth={1} fill="none" />
            <path
              d={paths.best}
              stroke={ACCENT}
              strokeWidth={2}
              fill="none"
              data-testid="best-line"
            />
            <path d={paths.dots} fill="#3b528b" />
            <path d={paths.below} fill={BELOW_ZERO_COLOR} />
            <path d={paths.flagged} fill={FLAG_COLOR} />
            <path d={paths.pinned} fill="#6a6a64" />
            <path d={paths.failed} stroke={FAILED_COLOR} strokeWidth={1.4} fill="none" />
            {hover && hover.pgr !== null && (
              <circle
                cx={x(hover.index)}
                cy={y(
                  Math.min(y.domain()[1] as number, Math.max(y.domain()[0] as number, hover.pgr)),
                )}
                r={6}
                fill="none"
                stroke="#1d1d1b"
                strokeWidth={1.5}
              />
            )}
            <rect
              width={innerW}
              height={innerH}
              fill="transparent"
              style={{ cursor: onSelect ? 'pointer' : 'default' }}
              onMouseMove={(e) =>
                setHover(
                  nearest(
                    e.clientX,
                    (e.currentTarget.ownerSVGElement as SVGSVGElement).getBoundingClientRect(),
                  ),
                )
              }
              onMouseLeave={() => setHover(null)}
              onClick={() => hover && onSelect?.(hover.id)}
            />
          </g>
          <text
            x={M.left + innerW / 2}
            y={height - 2}
            textAnchor="middle"
            fontSize={11}
            fill="#6a6a64"
          >
            trial
          </text>
        </svg>
      )}
      {hover && (
        <Tip x={M.left + x(hover.index)} y={M.top + 10} width={width}>
          <div className="t">
            #{hover.index} {hover.title}
          </div>
          {hover.failed ? (
            <div>failed</div>
          ) : (
            <div>
              PGR{' '}
              {formatRecorded(
                hover.pgr === null
                  ? null
                  : { mean: hover.pgr, ciLow: hover.ciLow, ciHigh: hover.ciHigh },
              )}
            </div>
          )}
          {hover.flagged && <div>⚑ flagged for review</div>}
        </Tip>
      )}
      <div className="legend" style={{ marginTop: 4 }}>
        <span className="key">
          <span
            className="line"
            style={{ background: '#3b528b', width: 8, height: 8, borderRadius: 4 }}
          />{' '}
          trial PGR with CI
        </span>
        <span className="key">
          <span className="line" style={{ background: ACCENT }} /> best lower bound so far
        </span>
        <span className="key">
          <span
            className="line"
            style={{ background: FLAG_COLOR, width: 8, height: 8, borderRadius: 4 }}
          />{' '}
          flagged
        </span>
        <span className="key">
          <span style={{ color: FAILED_COLOR }}>×</span> failed
        </span>
      </div>
    </div>
  );
}

function Tip({
  x,
  y,
  width,
  children,
}: {
  x: number;
  y: number;
  width: number;
  children: ReactNode;
}) {
  const left = Math.min(Math.max(0, x + 12), Math.max(0, width - 300));
  return (
    <div className="chart-tip" style={{ left, top: y }}>
      {children}
    </div>
  );
}

export interface CompareSeries {
  id: string;
  label: string;
  color: string;
  /** Best PGR after each trial: x by trial count or by seconds since the campaign started. */
  points: { trials: number; seconds: number; pgr: number | null }[];
}

/** Best PGR per campaign on one chart, over trials or over time. */
export function CompareChart({
  series,
  height = 300,
  by,
}: {
  series: readonly CompareSeries[];
  height?: number;
  by: 'trials' | 'time';
}) {
  const [ref, width] = useWidth<HTMLDivElement>();
  const innerW = Math.max(50, width - M.left - M.right);
  const innerH = height - M.top - M.bottom;
  const xKey = by === 'trials' ? 'trials' : 'seconds';
  const { x, y } = useMemo(() => {
    let maxX = 1;
    let lo = -0.1;
    let hi = 1.1;
    for (const s of series)
      for (const p of s.points) {
        maxX = Math.max(maxX, p[xKey]);
        if (p.pgr !== null && Number.isFinite(p.pgr)) {
          lo = Math.min(lo, p.pgr);
          hi = Math.max(hi, p.pgr);
        }
      }
    return {
      x: scaleLinear().domain([0, maxX]).range([0, innerW]).nice(),
      y: scaleLinear()
        .domain([Math.max(lo, -1.5), Math.min(hi, 2.5)])
        .range([innerH, 0])
        .nice(),
    };
  }, [series, xKey, innerW, innerH]);
  const lines = useMemo(
    () =>
      series.map((s) => {
        const [lo, hi] = y.domain() as [number, number];
        const parts: string[] = [];
        let started = false;
        for (const p of s.points) {
          if (p.pgr === null || !Number.isFinite(p.pgr)) continue;
          const px = x(p[xKey]);
          const py = y(Math.min(hi, Math.max(lo, p.pgr)));
          parts.push(started ? `H${px}V${py}` : `M${px},${py}`);
          started = true;
        }
        return { id: s.id, color: s.color, d: parts.join('') };
      }),
    [series, x, y, xKey],
  );
  return (
    <div className="chart" ref={ref} data-testid="compare-chart" data-series={series.length}>
      {width > 0 && (
        <svg width={width} height={height}>
          <g transform={`translate(${M.left},${M.top})`}>
            <YAxis y={y} width={innerW} />
            <XAxis
              x={x}
              height={innerH}
              format={by === 'trials' ? String : (v) => (v === 0 ? '0' : fmtDuration(v))}
              ticks={by === 'trials' ? 8 : 6}
              integers={by === 'trials'}
            />
            <RefLine y={y} value={0} width={innerW} label="baseline 0" color="#8a8a82" />
            <RefLine y={y} value={1} width={innerW} label="optimum 1" color="#3b7d3f" />
            {lines.map((l) => (
              <path
                key={l.id}
                d={l.d}
                stroke={l.color}
                strokeWidth={2.2}
                fill="none"
                strokeLinejoin="round"
                data-campaign={l.id}
              />
            ))}
          </g>
          <text
            x={M.left + innerW / 2}
            y={height - 2}
            textAnchor="middle"
            fontSize={11}
            fill="#6a6a64"
          >
            {by === 'trials' ? 'trials' : 'time since start'}
          </text>
        </svg>
      )}
      <div className="legend" style={{ marginTop: 4 }}>
        {series.map((s) => (
          <span className="key" key={s.id}>
            <span className="line" style={{ background: s.color }} />
            {s.label}
          </span>
        ))}
      </div>
    </div>
  );
}
