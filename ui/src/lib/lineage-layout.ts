/**
 * Lays out a campaign's lineage (hypotheses by parent trial) for the canvas renderer.
 *
 * Built for 10,000+ nodes: d3-hierarchy computes positions once, and the result is kept in
 * flat typed arrays (positions, parent indices, colour bins) that the renderer walks without
 * allocating. Pure: no DOM, unit-tested.
 */
import { stratify, tree, type HierarchyPointNode } from 'd3-hierarchy';
import type { LineageNode } from '../types.js';
import { pgrBin } from './pgr-color.js';

/** What the layout needs of a lineage node: the API's compact node, picked. */
export type LineageInput = Pick<
  LineageNode,
  | 'id'
  | 'parentTrialId'
  | 'title'
  | 'author'
  | 'status'
  | 'pgr'
  | 'ciLow'
  | 'ciHigh'
  | 'flags'
  | 'kind'
  | 'index'
>;

export type LayoutMode = 'tree' | 'radial';

export interface LineageLayout<N extends LineageInput = LineageInput> {
  /** Nodes in layout order; index i matches the typed arrays. */
  nodes: N[];
  x: Float32Array;
  y: Float32Array;
  /** Index of each node's parent, -1 for roots. */
  parent: Int32Array;
  /** Colour bin of each node (see pgrBin). */
  bin: Uint8Array;
  depth: Uint16Array;
  /** 1 when the node is on the path from the root to the best trial. */
  onBestPath: Uint8Array;
  /** Index of the campaign's best trial (as the campaign names it), or -1. */
  best: number;
  /** Nodes whose parent is not in the lineage (drawn under the synthetic root). */
  orphans: number;
  bounds: { minX: number; minY: number; maxX: number; maxY: number };
  mode: LayoutMode;
  indexById: Map<string, number>;
}

/** Spacing in world units: between siblings, and between generations. */
export const NODE_GAP = 14;
export const LEVEL_GAP = 150;
/** A tree layout taller than this many times its width is stretched sideways. */
const TALL_RATIO = 1.5;

/** The layout that reads best for a lineage of this size: radial once a tree gets very wide. */
export function defaultLayoutMode(nodes: number): LayoutMode {
  return nodes > 1500 ? 'radial' : 'tree';
}

const ROOT = '\u0000root';

/**
 * `bestId` is the campaign's own best (the API's `Lineage.best`): the layout marks it and the
 * path to it, and never ranks the trials itself, so the lineage names the best every other
 * screen names.
 */
export function layoutLineage<N extends LineageInput>(
  input: readonly N[],
  mode: LayoutMode = 'tree',
  bestId: string | null = null,
): LineageLayout<N> {
  const ids = new Set<string>();
  const unique: N[] = [];
  for (const n of input) {
    if (ids.has(n.id)) continue;
    ids.add(n.id);
    unique.push(n);
  }
  // One synthetic root holds the real roots (baseline, references) and any orphans, so a
  // lineage with a missing parent still draws.
  let orphans = 0;
  type Row = { id: string; parentId: string | null; node: N | null };
  const rows: Row[] = [{ id: ROOT, parentId: null, node: null }];
  for (const n of unique) {
    let parentId = n.parentTrialId && n.parentTrialId !== n.id ? n.parentTrialId : null;
    if (parentId !== null && !ids.has(parentId)) {
      orphans++;
      parentId = null;
    }
    rows.push({ id: n.id, parentId: parentId ?? ROOT, node: n });
  }
  breakCycles(rows);

  const root = stratify<Row>()
    .id((r) => r.id)
    .parentId((r) => r.parentId)(rows);
  // Children in trial order, so the tree reads chronologically.
  root.sort((a, b) => (a.data.node?.index ?? -1) - (b.data.node?.index ?? -1));

  let laid: HierarchyPointNode<Row>;
  // With a single real root (the baseline), it sits at the centre of a radial layout.
  const singleRoot = (root.children?.length ?? 0) === 1;
  let ring = 0;
  /** Horizontal stretch of the tree layout, so a very wide tree still fits a screen in shape. */
  let stretch = 1;
  if (mode === 'radial') {
    const leaves = root.leaves().length;
    const radius = Math.max(
      200,
      (leaves * NODE_GAP) / (2 * Math.PI),
      (root.height + 1) * LEVEL_GAP * 0.6,
    );
    laid = tree<Row>()
      .size([2 * Math.PI, radius])
      .separation((a, b) => (a.parent === b.parent ? 1 : 2) / Math.max(1, a.depth))(root);
    if (singleRoot && root.height > 0) ring = radius / root.height;
  } else {
    laid = tree<Row>()
      .nodeSize([NODE_GAP, LEVEL_GAP])
      .separation((a, b) => (a.parent === b.parent ? 1 : 1.5))(root);
    let lo = Infinity;
    let hi = -Infinity;
    laid.each((d) => {
      if (d.x < lo) lo = d.x;
      if (d.x > hi) hi = d.x;
    });
    const levels = Math.max(1, root.height - 1);
    stretch = Math.max(1, (hi - lo) / (TALL_RATIO * levels * LEVEL_GAP));
  }

  const descendants = laid.descendants().filter((d) => d.data.node !== null);
  const count = descendants.length;
  const nodes: N[] = new Array(count);
  const x = new Float32Array(count);
  const y = new Float32Array(count);
  const parent = new Int32Array(count);
  const bin = new Uint8Array(count);
  const depth = new Uint16Array(count);
  const indexById = new Map<string, number>();
  descendants.forEach((d, i) => {
    indexById.set(d.data.id, i);
  });
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  descendants.forEach((d, i) => {
    const node = d.data.node!;
    nodes[i] = node;
    let px: number;
    let py: number;
    if (mode === 'radial') {
      // d.x is the angle, d.y the radius; depth 1 sits on the first ring.
      const r = Math.max(0, d.y - ring);
      px = r * Math.cos(d.x - Math.PI / 2);
      py = r * Math.sin(d.x - Math.PI / 2);
    } else {
      px = (d.y - LEVEL_GAP) * stretch; // the synthetic root's column is not drawn
      py = d.x;
    }
    x[i] = px;
    y[i] = py;
    parent[i] = d.parent && d.parent.data.node ? indexById.get(d.parent.data.id)! : -1;
    bin[i] = pgrBin(node.pgr);
    depth[i] = Math.max(0, d.depth - 1);
    if (px < minX) minX = px;
    if (py < minY) minY = py;
    if (px > maxX) maxX = px;
    if (py > maxY) maxY = py;
  });
  if (count === 0) {
    minX = minY = 0;
    maxX = maxY = 0;
  }

  const best = bestId === null ? -1 : (indexById.get(bestId) ?? -1);
  const onBestPath = new Uint8Array(count);
  for (let i = best, guard = 0; i >= 0 && guard <= count; i = parent[i]!, guard++)
    onBestPath[i] = 1;

  return {
    nodes,
    x,
    y,
    parent,
    bin,
    depth,
    onBestPath,
    best,
    orphans,
    bounds: { minX, minY, maxX, maxY },
    mode,
    indexById,
  };
}

/** A parent chain that loops (bad data) would make stratify throw: cut each loop at the root. */
function breakCycles(rows: { id: string; parentId: string | null }[]): void {
  const parentOf = new Map(rows.map((r) => [r.id, r.parentId]));
  const state = new Map<string, 1 | 2>(); // 1 = on the current walk, 2 = known to reach the root
  for (const r of rows) {
    const walk: string[] = [];
    let cur: string | null = r.id;
    while (cur !== null && state.get(cur) !== 2) {
      if (state.get(cur) === 1) {
        // cur closes a loop: attach it to the synthetic root.
        const row = rows.find((x) => x.id === cur)!;
        row.parentId = ROOT;
        parentOf.set(cur, ROOT);
        break;
      }
      state.set(cur, 1);
      walk.push(cur);
      cur = parentOf.get(cur) ?? null;
    }
    for (const id of walk) state.set(id, 2);
  }
}

/** Indices of nodes whose title, id or author contains the query (case-insensitive). */
export function searchLineage(
  nodes: readonly LineageInput[],
  query: string,
  limit = 5000,
): number[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  // Exact matches of an id or a title come first: searching "t0001" or a trial's whole title
  // selects that trial, not "Verification of t0001: ..." that happens to come earlier.
  const exact: number[] = [];
  const partial: number[] = [];
  for (let i = 0; i < nodes.length && exact.length + partial.length < limit; i++) {
    const n = nodes[i]!;
    const id = n.id.toLowerCase();
    const title = n.title.toLowerCase();
    if (id === q || title === q) exact.push(i);
    else if (id.includes(q) || title.includes(q) || n.author.toLowerCase().includes(q))
      partial.push(i);
  }
  return [...exact, ...partial];
}
