/**
 * The house rules the READMEs promise, checked over the whole checkout: no import loop in any
 * TypeScript file (type-only imports included: a loop of types is still a loop to read), no file
 * under workflows/ over 400 lines, every patch id declared once in workflows/patches.ts, and the
 * path a hypothesis takes (workflows/README.md) follows the imports.
 */
// A test that reads the checkout; never part of the workflow bundle.
/* eslint-disable no-restricted-imports */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
/* eslint-enable no-restricted-imports */
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { PATCHES } from './patches.js';

const ROOT = path.resolve(import.meta.dirname, '..');
/** Folders that hold no source of ours (installed, built or generated). */
const SKIPPED = new Set(['node_modules', 'dist', 'coverage', 'test-results', '__pycache__']);

/** Every .ts/.tsx file under `dir`, dot-folders and SKIPPED excluded. */
function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || SKIPPED.has(entry.name)) continue;
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(p, out);
    else if (/\.(ts|tsx|mts|cts)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The relative imports of every file (`import`, `import type`, `export … from`, `import()`). */
export function importGraph(dir: string): Map<string, string[]> {
  const files = sourceFiles(dir);
  const known = new Set(files);
  const resolve = (from: string, spec: string): string | null => {
    if (!spec.startsWith('.')) return null;
    const base = path.resolve(path.dirname(from), spec);
    const stem = base.replace(/\.(m|c)?jsx?$/, '');
    const candidates = [base, `${stem}.ts`, `${stem}.tsx`, `${stem}.mts`, `${base}/index.ts`];
    return candidates.find((c) => known.has(c)) ?? null;
  };
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles.map((i) => resolve(file, i.fileName));
    graph.set(file, [...new Set(targets.filter((t): t is string => t !== null))]);
  }
  return graph;
}

/** Each import loop once, as the files it passes through (Tarjan's strongly connected components). */
export function importLoops(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const loops: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) loops.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return loops;
}

/** Whether `to` is reachable from `from` over imports. */
function reaches(graph: Map<string, string[]>, from: string, to: string): boolean {
  const seen = new Set([from]);
  const todo = [from];
  while (todo.length > 0) {
    for (const w of graph.get(todo.pop()!) ?? []) {
      if (w === to) return true;
      if (!seen.has(w)) {
        seen.add(w);
        todo.push(w);
      }
    }
  }
  return false;
}

const rel = (f: string) => path.relative(ROOT, f);
const graph = importGraph(ROOT);

describe('the import graph of the whole checkout', () => {
  it('has no import loop, type-only imports included', () => {
    expect(graph.size).toBeGreaterThan(300);
    expect(importLoops(graph).map((loop) => loop.map(rel).join(' -> '))).toEqual([]);
  });

  const planted = mkdtempSync(path.join(tmpdir(), 'gaplab-loop-'));
  afterAll(() => rmSync(planted, { recursive: true, force: true }));

  it('finds a loop planted through a type-only import, and none once it is broken', () => {
    writeFileSync(path.join(planted, 'a.ts'), "import { b } from './b.js';\nexport const a = b;\n");
    writeFileSync(path.join(planted, 'c.ts'), 'export type C = number;\n');
    writeFileSync(
      path.join(planted, 'b.ts'),
      "import type { A } from './d.js';\nexport const b = 1 as A;\n",
    );
    writeFileSync(
      path.join(planted, 'd.ts'),
      "import type { a } from './a.js';\nexport type A = typeof a;\n",
    );
    const loops = importLoops(importGraph(planted));
    expect(loops.map((l) => l.map((f) => path.basename(f)))).toEqual([['a.ts', 'b.ts', 'd.ts']]);
    writeFileSync(path.join(planted, 'd.ts'), 'export type A = number;\n');
    expect(importLoops(importGraph(planted))).toEqual([]);
  });
});

describe('workflows/', () => {
  const files = [...graph.keys()].filter((f) => rel(f).startsWith(`workflows${path.sep}`));

  it('has no file over 400 lines', () => {
    const long = files
      .map((f) => ({ file: rel(f), lines: readFileSync(f, 'utf8').split('\n').length - 1 }))
      .filter((f) => f.lines > 400);
    expect(long).toEqual([]);
  });

  it("asks a strategy's declared traits (domain/strategy.ts), never its name", () => {
    const byName = files
      .filter((f) => !f.endsWith('.test.ts'))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .filter((line) => /'(claude|optuna|random)'|strategy\.name\s*[!=]==/.test(line))
          .map((line) => `${rel(f)}: ${line.trim()}`),
      );
    expect(byName).toEqual([]);
  });

  it('passes patched() only ids declared in workflows/patches.ts, each used', () => {
    const source = readFileSync(path.join(ROOT, 'workflows/patches.ts'), 'utf8');
    const constants = new Map(
      [...source.matchAll(/export const (\w+_PATCH) = '([^']+)';/g)].map((m) => [m[1]!, m[2]!]),
    );
    expect([...constants.values()].sort()).toEqual(Object.keys(PATCHES).sort());
    const used = new Set<string>();
    for (const f of files) {
      if (f.endsWith('.test.ts') || rel(f) === path.join('workflows', 'patches.ts')) continue;
      for (const m of readFileSync(f, 'utf8').matchAll(
        /\b(?:patched|patchedOrNew|deprecatePatch)\(([^)]*)\)/g,
      )) {
        const arg = m[1]!.trim();
        expect(
          constants.has(arg),
          `${rel(f)}: patched(${arg}) names no constant of patches.ts`,
        ).toBe(true);
        used.add(constants.get(arg)!);
      }
    }
    expect([...used].sort()).toEqual([...constants.values()].sort());
  });
});

describe('workflows/README.md, the path of a hypothesis', () => {
  const readme = readFileSync(path.join(ROOT, 'workflows/README.md'), 'utf8');
  const section = /<!-- hypothesis-path -->([\s\S]*?)<!-- \/hypothesis-path -->/.exec(readme);
  const listed = [...(section?.[1] ?? '').matchAll(/^\d+\. `([^`]+)`/gm)].map((m) => m[1]!);

  it('lists each module once, from a strategy to the UI', () => {
    expect(listed.length).toBeGreaterThan(10);
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed[0]).toMatch(/^activities\/strategies\//);
    expect(listed.at(-1)).toMatch(/^ui\//);
    for (const m of listed) expect(graph.has(path.join(ROOT, m)), `${m} exists`).toBe(true);
  });

  it('in an order the imports follow: each step imports the next or is imported by it', () => {
    const breaks: string[] = [];
    for (let i = 1; i < listed.length; i++) {
      const [a, b] = [path.join(ROOT, listed[i - 1]!), path.join(ROOT, listed[i]!)];
      if (!reaches(graph, a, b) && !reaches(graph, b, a))
        breaks.push(`${listed[i - 1]} / ${listed[i]}`);
    }
    expect(breaks).toEqual([]);
  });
});
