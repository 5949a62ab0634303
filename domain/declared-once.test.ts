/**
 * Each concept is declared once: no exported interface (or object type literal) in domain/,
 * workflows/types.ts or api/ repeats the fields of a zod schema. An interface sharing three or
 * more field names with an exported zod object schema is a second declaration of it: derive it
 * with `z.infer` (and `.pick`/`.extend`/`.omit`) instead.
 *
 * How: the TypeScript compiler API lists exported interfaces and type literals with their
 * property names; the modules are imported and every exported zod object (and each option of an
 * exported union of objects) gives its field names.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The modules whose exports are checked. */
const FILES = [
  ...['domain', 'api'].flatMap((dir) =>
    readdirSync(path.join(root, dir))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
      .map((f) => `${dir}/${f}`),
  ),
  'workflows/types.ts',
];

/** At least this many shared field names make an interface a copy of a schema. */
const MIN_SHARED = 3;

/**
 * Interfaces that share field names with a schema without being a copy of it: a different idea
 * whose fields happen to be named alike. Each says why; anything else the check finds fails.
 */
const DIFFERENT_IDEAS: { iface: string; schema: string; why: string }[] = [
  {
    iface: 'CampaignInput',
    schema: 'StartCampaignBody',
    why: "the workflow's whole input (problem, criteria, identity, carried state), not the start request it was built from",
  },
  {
    iface: 'BudgetLeft',
    schema: 'BudgetLedger',
    why: 'what is left of each budget, not what was spent',
  },
  {
    iface: 'TrialPgrInput',
    schema: 'EvaluationCriteria',
    why: 'measured reference scores and a confidence level, not the criteria that name them',
  },
  {
    iface: 'DroppedProposal',
    schema: 'ProposalRecord',
    why: "a strategy's own account of a proposal it did not return; the audit records it later with a time",
  },
  {
    iface: 'StrategyView',
    schema: 'CampaignStatus',
    why: 'what a strategy is shown of the campaign (visible data only), not its status',
  },
  {
    iface: 'StrategyView',
    schema: 'CampaignReport',
    why: 'what a strategy is shown of the campaign (visible data only), not its report',
  },
  ...['CampaignRef', 'CampaignListItem', 'CompareCampaign', 'CampaignReport'].map((schema) => ({
    iface: 'CampaignInput',
    schema,
    why: 'the workflow input names its campaign, strategy and starter like every campaign summary does',
  })),
  ...['CampaignStatus', 'CampaignReport', 'EvaluationCriteria'].map((schema) => ({
    iface: 'CarriedState',
    schema,
    why: 'the state carried over continue-as-new holds what status and report are computed from',
  })),
  {
    iface: 'FailureLedger',
    schema: 'FailureSummary',
    why: "running failure totals carried by the workflow; the report's summary adds the regions",
  },
];

interface Declared {
  where: string;
  name: string;
  fields: string[];
}

/** Exported interfaces and `type X = { ... }` literals, with their own property names. */
function interfacesOf(
  file: string,
  text = readFileSync(path.join(root, file), 'utf8'),
): Declared[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Declared[] = [];
  const exported = (n: ts.Node) =>
    ts.canHaveModifiers(n) &&
    (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
  const names = (members: ts.NodeArray<ts.TypeElement>) =>
    members.flatMap((m) =>
      ts.isPropertySignature(m) && m.name && !ts.isComputedPropertyName(m.name)
        ? [m.name.getText(sf).replace(/^['"]|['"]$/g, '')]
        : [],
    );
  for (const st of sf.statements) {
    if (ts.isInterfaceDeclaration(st) && exported(st))
      out.push({ where: file, name: st.name.text, fields: names(st.members) });
    else if (ts.isTypeAliasDeclaration(st) && exported(st) && ts.isTypeLiteralNode(st.type))
      out.push({ where: file, name: st.name.text, fields: names(st.type.members) });
  }
  return out;
}

/** Field names of every exported zod object schema (and of each object in an exported union). */
async function schemasOf(file: string, seen: Set<unknown>): Promise<Declared[]> {
  const mod = (await import(pathToFileURL(path.join(root, file)).href)) as Record<string, unknown>;
  const out: Declared[] = [];
  const add = (name: string, o: unknown) => {
    // A schema re-exported by another module is the same object: listed once, where first seen.
    if (!(o instanceof z.ZodObject) || seen.has(o)) return;
    seen.add(o);
    out.push({ where: file, name, fields: Object.keys(o.shape as object) });
  };
  for (const [name, value] of Object.entries(mod)) {
    if (value instanceof z.ZodUnion || value instanceof z.ZodDiscriminatedUnion)
      (value.options as unknown[]).forEach((o, i) => add(`${name}[${i}]`, o));
    else add(name, value);
  }
  return out;
}

/** Every checked module's zod object schemas, each once. */
async function allSchemas(): Promise<Declared[]> {
  const seen = new Set<unknown>();
  const out: Declared[] = [];
  // In order, so a schema counts as declared where it is defined rather than where re-exported.
  for (const f of [...FILES].sort((a, b) => reexporters(a) - reexporters(b)))
    out.push(...(await schemasOf(f, seen)));
  return out;
}

/** Modules that mostly re-export others (index.ts, schemas.ts) are read last. */
const reexporters = (f: string) => (/\/(index|schemas)\.ts$/.test(f) ? 1 : 0);

/** Interfaces sharing MIN_SHARED or more field names with a schema, unless a different idea. */
function copiesOf(interfaces: Declared[], schemas: Declared[]): string[] {
  const copies: string[] = [];
  for (const i of interfaces) {
    for (const s of schemas) {
      const shared = i.fields.filter((f) => s.fields.includes(f));
      const different = DIFFERENT_IDEAS.some((d) => d.iface === i.name && d.schema === s.name);
      if (shared.length >= MIN_SHARED && !different)
        copies.push(`${i.where} ${i.name} repeats ${s.where} ${s.name}: ${shared.join(', ')}`);
    }
  }
  return copies;
}

describe('each concept is declared once', () => {
  it('finds the exported interfaces and zod schemas it checks', async () => {
    const interfaces = FILES.flatMap((f) => interfacesOf(f));
    const schemas = await allSchemas();
    // The check sees what it should: the trial schema, and interfaces that stay plain data.
    expect(schemas.find((s) => s.name === 'Trial')?.fields).toContain('parentTrialId');
    expect(schemas.find((s) => s.name === 'TrialRecord')?.fields).toContain('params');
    expect(interfaces.find((i) => i.name === 'CampaignInput')?.fields).toContain('campaignId');
    // Every exception still names an interface and a schema that exist.
    for (const d of DIFFERENT_IDEAS) {
      expect(
        interfaces.map((i) => i.name),
        d.iface,
      ).toContain(d.iface);
      expect(
        schemas.map((x) => x.name),
        d.schema,
      ).toContain(d.schema);
    }
  });

  it('catches an interface that repeats a schema', async () => {
    const copy = interfacesOf(
      'example.ts',
      'export interface SeedCopy { seed: number; status: string; metrics: Record<string, number> }',
    );
    expect(copiesOf(copy, await allSchemas())).toContain(
      'example.ts SeedCopy repeats domain/trial.ts SeedResult: seed, status, metrics',
    );
  });

  it(`no exported interface shares ${MIN_SHARED} or more field names with a zod schema`, async () => {
    const interfaces = FILES.flatMap((f) => interfacesOf(f));
    expect(copiesOf(interfaces, await allSchemas())).toEqual([]);
  });
});
