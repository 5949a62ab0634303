/**
 * The lineage tree on a <canvas>: no DOM per node, so 10,000 nodes pan and zoom smoothly.
 *
 * Nodes are grouped by colour bin once per layout and each bin is filled with one path; links
 * are one stroked path; everything off-screen is culled. d3-zoom handles pan and zoom, and a
 * d3-quadtree finds the node under the pointer.
 */
import { quadtree, type Quadtree } from 'd3-quadtree';
import { select } from 'd3-selection';
import {
  zoom,
  zoomIdentity,
  zoomTransform,
  type D3ZoomEvent,
  type ZoomBehavior,
  type ZoomTransform,
} from 'd3-zoom';
import { forwardRef, useEffect, useImperativeHandle, useMemo, useRef } from 'react';
import type { LineageLayout } from '../lib/lineage-layout.js';
import { binColors, FAILED_COLOR, FLAG_COLOR, PGR_BINS } from '../lib/pgr-color.js';
import type { LineageNode } from '../types.js';

export interface LineageCanvasHandle {
  fit(): void;
  focus(index: number, minScale?: number): void;
}

export interface LineageCanvasProps {
  layout: LineageLayout<LineageNode>;
  /** Indices of search matches (ringed). */
  matches: readonly number[];
  /** The node whose ancestry is highlighted besides the best path (e.g. the selected one). */
  selected: number | null;
  onHover?: (index: number | null, screen: { x: number; y: number } | null) => void;
  onSelect?: (index: number) => void;
  /** Called once per layout after its first frame, with the time the frame took. */
  onFirstDraw?: (drawMs: number) => void;
}

const BASE_RADIUS = 4.5;
const MIN_SCREEN_RADIUS = 1.6;
/** Zoomed in, nodes stop growing past this many pixels. */
const MAX_SCREEN_RADIUS = 7;
/** Node radius in world units at zoom k: constant in the world, clamped on screen. */
function nodeRadius(k: number): number {
  return Math.min(Math.max(BASE_RADIUS, MIN_SCREEN_RADIUS / k), MAX_SCREEN_RADIUS / k);
}

const LINK_COLOR = 'rgba(120, 120, 110, 0.38)';
const BEST_COLOR = '#0f766e';
const MATCH_COLOR = '#2563eb';
const SELECT_COLOR = '#1d1d1b';

export const LineageCanvas = forwardRef<LineageCanvasHandle, LineageCanvasProps>(
  function LineageCanvas({ layout, matches, selected, onHover, onSelect, onFirstDraw }, ref) {
    const canvasRef = useRef<HTMLCanvasElement>(null);
    const transformRef = useRef<ZoomTransform>(zoomIdentity);
    const sizeRef = useRef({ w: 0, h: 0, dpr: 1 });
    const zoomRef = useRef<ZoomBehavior<HTMLCanvasElement, unknown> | null>(null);
    const hoverRef = useRef<number | null>(null);
    const frameRef = useRef<number | null>(null);
    const firstDrawRef = useRef<LineageLayout<LineageNode> | null>(null);
    /** Layout mode last fitted to the view: a refreshed lineage keeps where the person was looking. */
    const fittedRef = useRef<string | null>(null);
    const prevLayoutRef = useRef<LineageLayout<LineageNode> | null>(null);
    const propsRef = useRef({ matches, selected, onHover, onSelect, onFirstDraw });
    propsRef.current = { matches, selected, onHover, onSelect, onFirstDraw };

    const colors = useMemo(() => binColors(), []);
    // Per-layout indexes: nodes of each colour bin, and a quadtree for hit tests.
    const index = useMemo(() => {
      const n = layout.nodes.length;
      const counts = new Array<number>(PGR_BINS + 3).fill(0);
      for (let i = 0; i < n; i++) counts[layout.bin[i]!]!++;
      const bins = counts.map((c) => new Int32Array(c));
      const fill = new Array<number>(PGR_BINS + 3).fill(0);
      for (let i = 0; i < n; i++) {
        const b = layout.bin[i]!;
        bins[b]![fill[b]!++] = i;
      }
      const failed: number[] = [];
      const flagged: number[] = [];
      const running: number[] = [];
      for (let i = 0; i < n; i++) {
        const node = layout.nodes[i]!;
        if (node.status === 'failed' || node.status === 'cancelled') failed.push(i);
        else if (node.status === 'running') running.push(i);
        if (node.flags.length > 0) flagged.push(i);
      }
      const qt: Quadtree<number> = quadtree<number>()
        .x((i) => layout.x[i]!)
        .y((i) => layout.y[i]!)
        .addAll(Array.from({ length: n }, (_, i) => i));
      return { bins, failed, flagged, running, qt };
    }, [layout]);

    function schedule() {
      if (frameRef.current !== null) return;
      frameRef.current = requestAnimationFrame(() => {
        frameRef.current = null;
        draw();
      });
    }

    function draw() {
      const canvas = canvasRef.current;
      if (!canvas) return;
      const ctx = canvas.getContext('2d');
      if (!ctx) return;
      const t0 = performance.now();
      const { w, h, dpr } = sizeRef.current;
      const { k, x: tx, y: ty } = transformRef.current;
      const { x, y, parent, nodes, onBestPath } = layout;
      const n = nodes.length;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, w, h);
      ctx.setTransform(dpr * k, 0, 0, dpr * k, dpr * tx, dpr * ty);

      const r = nodeRadius(k);
      const pad = r * 3;
      const vx0 = -tx / k - pad;
      const vy0 = -ty / k - pad;
      const vx1 = (w - tx) / k + pad;
      const vy1 = (h - ty) / k + pad;
      const visible = (i: number) => x[i]! >= vx0 && x[i]! <= vx1 && y[i]! >= vy0 && y[i]! <= vy1;
      const curved = layout.mode === 'tree';

      const link = (i: number) => {
        const p = parent[i]!;
        const px = x[p]!;
        const py = y[p]!;
        const cx = x[i]!;
        const cy = y[i]!;
        if (
          (px < vx0 && cx < vx0) ||
          (px > vx1 && cx > vx1) ||
          (py < vy0 && cy < vy0) ||
          (py > vy1 && cy > vy1)
        )
          return;
        ctx.moveTo(px, py);
        if (curved) {
          const mx = (px + cx) / 2;
          ctx.bezierCurveTo(mx, py, mx, cy, cx, cy);
        } else ctx.lineTo(cx, cy);
      };

      // Links.
      ctx.beginPath();
      for (let i = 0; i < n; i++) if (parent[i]! >= 0) link(i);
      ctx.strokeStyle = LINK_COLOR;
      ctx.lineWidth = 1 / k;
      ctx.stroke();

      // Path from the root to the best trial, and to the selected node.
      const path = (from: number | null, color: string, width: number) => {
        if (from === null || from < 0) return;
        ctx.beginPath();
        for (
          let i = from, guard = 0;
          i >= 0 && parent[i]! >= 0 && guard < n;
          i = parent[i]!, guard++
        )
          link(i);
        ctx.strokeStyle = color;
        ctx.lineWidth = width / k;
        ctx.stroke();
      };
      path(layout.best, BEST_COLOR, 3);
      const { selected: sel, matches: found } = propsRef.current;
      if (sel !== null && sel !== layout.best) path(sel, SELECT_COLOR, 2);
      if (hoverRef.current !== null && hoverRef.current !== sel)
        path(hoverRef.current, 'rgba(29,29,27,0.55)', 1.5);

      // Nodes, one fill per colour bin. Tiny on screen: squares are cheaper than arcs.
      const tiny = r * k < 2.2;
      for (let b = 0; b < index.bins.length; b++) {
        const list = index.bins[b]!;
        if (list.length === 0 || b === PGR_BINS + 2) continue;
        ctx.beginPath();
        for (let j = 0; j < list.length; j++) {
          const i = list[j]!;
          if (!visible(i)) continue;
          if (tiny) ctx.rect(x[i]! - r, y[i]! - r, 2 * r, 2 * r);
          else {
            ctx.moveTo(x[i]! + r, y[i]!);
            ctx.arc(x[i]!, y[i]!, r, 0, 2 * Math.PI);
          }
        }
        ctx.fillStyle = colors[b]!;
        ctx.fill();
      }
      // Failed and cancelled trials: hollow grey with a cross.
      ctx.beginPath();
      for (const i of index.failed) {
        if (!visible(i)) continue;
        ctx.moveTo(x[i]! + r, y[i]!);
        ctx.arc(x[i]!, y[i]!, r, 0, 2 * Math.PI);
        if (!tiny) {
          const d = r * 0.55;
          ctx.moveTo(x[i]! - d, y[i]! - d);
          ctx.lineTo(x[i]! + d, y[i]! + d);
          ctx.moveTo(x[i]! + d, y[i]! - d);
          ctx.lineTo(x[i]! - d, y[i]! + d);
        }
      }
      ctx.fillStyle = '#ffffff';
      ctx.fill();
      ctx.strokeStyle = FAILED_COLOR;
      ctx.lineWidth = 1.3 / k;
      ctx.stroke();
      // Trials still being recorded: hollow, dashed.
      if (index.running.length > 0) {
        ctx.beginPath();
        for (const i of index.running) {
          if (!visible(i)) continue;
          ctx.moveTo(x[i]! + r, y[i]!);
          ctx.arc(x[i]!, y[i]!, r, 0, 2 * Math.PI);
        }
        ctx.fillStyle = '#ffffff';
        ctx.fill();
        ctx.setLineDash([2 / k, 2 / k]);
        ctx.strokeStyle = '#2563eb';
        ctx.stroke();
        ctx.setLineDash([]);
      }

      const rings = (list: Iterable<number>, radius: number, color: string, width: number) => {
        ctx.beginPath();
        for (const i of list) {
          if (!visible(i)) continue;
          ctx.moveTo(x[i]! + radius, y[i]!);
          ctx.arc(x[i]!, y[i]!, radius, 0, 2 * Math.PI);
        }
        ctx.strokeStyle = color;
        ctx.lineWidth = width / k;
        ctx.stroke();
      };
      // Zoomed far out, rings would cover the tree: flags show once nodes have some size.
      if (r * k >= 3) rings(index.flagged, r + 2.2 / k, FLAG_COLOR, 1.8);
      const bestPathNodes: number[] = [];
      for (let i = layout.best; i >= 0 && bestPathNodes.length <= n; i = parent[i]!)
        if (onBestPath[i]) bestPathNodes.push(i);
      if (r * k >= 3) rings(bestPathNodes, r + 1.5 / k, BEST_COLOR, 1.5);
      if (layout.best >= 0) rings([layout.best], r + 5 / k, BEST_COLOR, 2.5);
      if (found.length > 0) rings(found, r + 4 / k, MATCH_COLOR, 2);
      if (sel !== null) rings([sel], r + 6 / k, SELECT_COLOR, 2);
      if (hoverRef.current !== null) rings([hoverRef.current], r + 3 / k, SELECT_COLOR, 1.5);

      // Labels once there is room for them, in screen space so text stays crisp.
      if (k * 14 >= 11) {
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.font = '11px ui-sans-serif, system-ui, sans-serif';
        ctx.fillStyle = '#3d3d38';
        ctx.textBaseline = 'middle';
        let drawn = 0;
        for (let i = 0; i < n && drawn < 600; i++) {
          if (!visible(i)) continue;
          const sx = x[i]! * k + tx;
          const sy = y[i]! * k + ty;
          if (sx < -200 || sx > w || sy < 0 || sy > h) continue;
          const node = nodes[i]!;
          const text = node.title.length > 42 ? `${node.title.slice(0, 40)}…` : node.title;
          ctx.fillText(text, sx + r * k + 5, sy);
          drawn++;
        }
      }

      if (firstDrawRef.current !== layout) {
        firstDrawRef.current = layout;
        propsRef.current.onFirstDraw?.(performance.now() - t0);
      }
    }

    function fitTransform(): ZoomTransform {
      const { w, h } = sizeRef.current;
      const { minX, minY, maxX, maxY } = layout.bounds;
      const bw = Math.max(1, maxX - minX);
      const bh = Math.max(1, maxY - minY);
      const margin = 40;
      const k = Math.min(4, Math.max(1e-4, Math.min((w - 2 * margin) / bw, (h - 2 * margin) / bh)));
      return zoomIdentity
        .translate(w / 2 - k * (minX + bw / 2), h / 2 - k * (minY + bh / 2))
        .scale(k);
    }

    useImperativeHandle(ref, () => ({
      fit() {
        const canvas = canvasRef.current;
        if (canvas && zoomRef.current)
          select(canvas).call(zoomRef.current.transform, fitTransform());
      },
      focus(i: number, minScale = 1.2) {
        const canvas = canvasRef.current;
        if (!canvas || !zoomRef.current || i < 0 || i >= layout.nodes.length) return;
        const { w, h } = sizeRef.current;
        const k = Math.max(transformRef.current.k, minScale);
        select(canvas).call(
          zoomRef.current.transform,
          zoomIdentity.translate(w / 2 - k * layout.x[i]!, h / 2 - k * layout.y[i]!).scale(k),
        );
      },
    }));

    // Size, zoom behaviour and pointer handling; rebuilt when the layout changes.
    useEffect(() => {
      const canvas = canvasRef.current!;
      const resize = () => {
        const dpr = window.devicePixelRatio || 1;
        const w = canvas.clientWidth;
        const h = canvas.clientHeight;
        sizeRef.current = { w, h, dpr };
        canvas.width = Math.round(w * dpr);
        canvas.height = Math.round(h * dpr);
        schedule();
      };
      resize();
      const ro = new ResizeObserver(resize);
      ro.observe(canvas);

      const fit = fitTransform();
      const behaviour = zoom<HTMLCanvasElement, unknown>()
        .scaleExtent([Math.min(fit.k * 0.5, 0.5), 12])
        .clickDistance(4)
        .on('zoom', (e: D3ZoomEvent<HTMLCanvasElement, unknown>) => {
          transformRef.current = e.transform;
          schedule();
        });
      zoomRef.current = behaviour;
      const sel = select(canvas);
      sel.call(behaviour).on('dblclick.zoom', null);
      const prev = prevLayoutRef.current;
      prevLayoutRef.current = layout;
      if (fittedRef.current !== layout.mode || !prev) {
        sel.call(behaviour.transform, fit);
        fittedRef.current = layout.mode;
      } else {
        // A refreshed lineage (new trials) moves nodes: keep the selected node, else the best,
        // else the root, where it was on screen, so nothing jumps under the pointer.
        const { selected } = propsRef.current;
        const anchor =
          (selected !== null ? layout.nodes[selected]?.id : undefined) ??
          (layout.best >= 0 ? layout.nodes[layout.best]!.id : layout.nodes[0]?.id);
        const before = anchor === undefined ? undefined : prev.indexById.get(anchor);
        const after = anchor === undefined ? undefined : layout.indexById.get(anchor);
        const t = zoomTransform(canvas);
        if (before !== undefined && after !== undefined) {
          sel.call(
            behaviour.transform,
            t.translate(prev.x[before]! - layout.x[after]!, prev.y[before]! - layout.y[after]!),
          );
        } else {
          transformRef.current = t;
          schedule();
        }
      }

      const pick = (ev: MouseEvent): number | null => {
        const rect = canvas.getBoundingClientRect();
        const t = transformRef.current;
        const [wx, wy] = t.invert([ev.clientX - rect.left, ev.clientY - rect.top]);
        const r = nodeRadius(t.k);
        const found = index.qt.find(wx, wy, r + 4 / t.k);
        return found === undefined ? null : found;
      };
      const move = (ev: MouseEvent) => {
        const i = pick(ev);
        if (i !== hoverRef.current) {
          hoverRef.current = i;
          canvas.classList.toggle('pointer', i !== null);
          schedule();
        }
        const rect = canvas.getBoundingClientRect();
        propsRef.current.onHover?.(
          i,
          i === null ? null : { x: ev.clientX - rect.left, y: ev.clientY - rect.top },
        );
      };
      const leave = () => {
        hoverRef.current = null;
        propsRef.current.onHover?.(null, null);
        schedule();
      };
      const click = (ev: MouseEvent) => {
        const i = pick(ev);
        if (i !== null) propsRef.current.onSelect?.(i);
      };
      canvas.addEventListener('mousemove', move);
      canvas.addEventListener('mouseleave', leave);
      canvas.addEventListener('click', click);
      return () => {
        ro.disconnect();
        sel.on('.zoom', null);
        canvas.removeEventListener('mousemove', move);
        canvas.removeEventListener('mouseleave', leave);
        canvas.removeEventListener('click', click);
        if (frameRef.current !== null) cancelAnimationFrame(frameRef.current);
        frameRef.current = null;
      };
    }, [layout, index]);

    // Redraw when what is highlighted changes.
    useEffect(() => {
      schedule();
    }, [matches, selected]);

    return (
      <canvas
        ref={canvasRef}
        data-testid="lineage-canvas"
        data-nodes={layout.nodes.length}
        aria-label={`Lineage of ${layout.nodes.length} trials`}
        role="img"
      />
    );
  },
);
