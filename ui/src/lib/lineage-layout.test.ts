import { describe, expect, it } from 'vitest';
import { layoutLineage, searchLineage, type LineageInput } from './lineage-layout.js';
import { FAILED_COLOR, pgrBin, pgrColor, PGR_BINS } from './pgr-color.js';

const node = (
  id: string,
  parentTrialId: string | null,
  pgr: number | null,
  extra: Partial<LineageInput> = {},
): LineageInput => ({
  id,
  parentTrialId,
  title: `idea ${id}`,
  author: 'agent-1',
  status: pgr === null ? 'failed' : 'succeeded',
  pgr,
  ciLow: pgr === null ? null : pgr - 0.05,
  ciHigh: pgr === null ? null : pgr + 0.05,
  flags: [],
  kind: id === 'baseline' ? 'reference' : 'search',
  index: id === 'baseline' ? 0 : Number(id.slice(1)),
  ...extra,
});

describe('lineage layout', () => {
  const nodes = [
    node('baseline', null, null, { status: 'succeeded' }),
    node('t2', 'baseline', 0.2),
    node('t3', 'baseline', 0.5),
    node('t4', 't3', 0.8),
    node('t5', 't4', null),
    node('t6', 't2', 0.9, { ciLow: 0.1 }),
  ];

  it('places children one generation to the right of their parent and keeps parent links', () => {
    const l = layoutLineage(nodes);
    expect(l.nodes).toHaveLength(6);
    const at = (id: string) => l.indexById.get(id)!;
    expect(l.parent[at('baseline')]).toBe(-1);
    expect(l.parent[at('t4')]).toBe(at('t3'));
    expect(l.depth[at('t5')]).toBe(3);
    expect(l.x[at('t4')]! - l.x[at('t3')]!).toBeGreaterThan(0);
    expect(l.x[at('baseline')]).toBe(0);
  });

  it("marks the campaign's best and the path to it, never a trial it did not name", () => {
    // t6 and t4 outrank t3 by their bounds; the campaign (which knows their flags) named t3.
    const l = layoutLineage(nodes, 'tree', 't3');
    expect(l.nodes[l.best]!.id).toBe('t3');
    const onPath = l.nodes
      .filter((_, i) => l.onBestPath[i])
      .map((n) => n.id)
      .sort();
    expect(onPath).toEqual(['baseline', 't3']);
    expect(layoutLineage(nodes).best).toBe(-1);
    expect(layoutLineage(nodes, 'tree', 'gone').best).toBe(-1);
  });

  it('draws orphans and parent loops under the root instead of failing', () => {
    const l = layoutLineage([
      node('baseline', null, 0),
      node('t2', 'missing', 0.1),
      node('t3', 't4', 0.2),
      node('t4', 't3', 0.3),
    ]);
    expect(l.nodes).toHaveLength(4);
    expect(l.orphans).toBe(1);
    expect(l.parent[l.indexById.get('t2')!]).toBe(-1);
  });

  it('lays out 10,000 nodes with finite bounds (speed: bench/ui-render.ts)', () => {
    const many: LineageInput[] = [node('baseline', null, 0)];
    for (let i = 1; i < 10_000; i++)
      many.push(node(`t${i}`, i < 10 ? 'baseline' : `t${Math.floor(i / 3)}`, (i % 100) / 100));
    for (const mode of ['tree', 'radial'] as const) {
      const l = layoutLineage(many, mode);
      expect(l.nodes).toHaveLength(10_000);
      expect(Number.isFinite(l.bounds.maxX) && Number.isFinite(l.bounds.maxY)).toBe(true);
    }
  });

  it('searches titles, ids and authors case-insensitively', () => {
    const l = layoutLineage(nodes);
    expect(searchLineage(l.nodes, 'IDEA T4').map((i) => l.nodes[i]!.id)).toEqual(['t4']);
    expect(searchLineage(l.nodes, 'agent-1')).toHaveLength(6);
    expect(searchLineage(l.nodes, '  ')).toEqual([]);
  });

  it('puts a trial whose id or whole title matches before the ones that only contain it', () => {
    const l = layoutLineage([
      { id: 'baseline', parentTrialId: null, title: 'baseline', author: 'gaplab' },
      { id: 't0000', parentTrialId: 'baseline', title: 'lasso, relaxed', author: 'rae' },
      { id: 't0001', parentTrialId: 'baseline', title: 'lasso', author: 'rae' },
      {
        id: 'v0003',
        parentTrialId: 't0001',
        title: 'Verification of t0001: lasso',
        author: 'gaplab',
      },
    ] as LineageInput[]);
    const ids = (q: string) => searchLineage(l.nodes, q).map((i) => l.nodes[i]!.id);
    expect(ids('lasso')[0]).toBe('t0001');
    expect(ids('t0001')[0]).toBe('t0001');
    expect(ids('lasso')).toHaveLength(3);
  });
});

describe('PGR colour scale', () => {
  it('bins [0, 1] in order and gives below-baseline, above-optimum and failed their own bins', () => {
    expect(pgrBin(0)).toBe(0);
    expect(pgrBin(1)).toBe(PGR_BINS - 1);
    expect(pgrBin(0.5)).toBeLessThan(pgrBin(0.75));
    expect(pgrBin(-0.2)).toBe(PGR_BINS);
    expect(pgrBin(1.3)).toBe(PGR_BINS + 1);
    expect(pgrBin(null)).toBe(PGR_BINS + 2);
    expect(pgrColor(null)).toBe(FAILED_COLOR);
    expect(pgrColor(0)).not.toBe(pgrColor(1));
  });
});
