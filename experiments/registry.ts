/**
 * The experiments a worker may run. They are discovered once, at start-up, from definition
 * files dropped into `experiments/<folder>/`:
 *
 * - `experiment.yaml`: a command experiment (argv with placeholders, never a shell line);
 * - `experiment.ts`: function or command experiments, `export default` one definition or an array.
 *
 * A problem spec only names an experiment; the registry refuses any name it did not load, so a
 * submitted spec can never make a worker run a command the worker does not already know.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { Name, Slug } from '../domain/schemas.js';
import { COMPILED, paths, PROJECT_ROOT, runnableModule } from '../stack/paths.js';
import { CodeSpecSchema, defineCodeExperiment, isCodeExperiment } from './code.js';
import { commandHarnessEvaluate, evolveBlockError, hasEvolveBlocks } from './python-harness.js';
import type { SourceSnapshot } from '../domain/code.js';
import type { ExperimentDefinition, MetricInfo, RegisteredExperiment } from './types.js';

/** The folder the built-in experiments live in. */
export const EXPERIMENTS_DIR = path.join(PROJECT_ROOT, 'experiments');

/** Thrown when a spec, a CLI or an activity names an experiment the registry did not load. */
export class UnknownExperimentError extends Error {
  override readonly name = 'UnknownExperimentError';
  constructor(
    readonly experiment: string,
    readonly known: readonly string[],
  ) {
    super(
      `unknown experiment "${experiment}"; registered experiments: ${known.length ? known.join(', ') : '(none)'}`,
    );
  }
}

/** Thrown when a definition file is invalid; names the file and the field. */
export class ExperimentDefinitionError extends Error {
  override readonly name = 'ExperimentDefinitionError';
  constructor(
    readonly file: string,
    readonly field: string,
    detail: string,
  ) {
    super(`${file}: ${field ? `${field}: ` : ''}${detail}`);
  }
}

const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not a valid environment variable name');

const MetricInfoSchema = z.object({
  name: Name,
  description: z.string().max(2000).default(''),
  direction: z.enum(['maximize', 'minimize']).optional(),
});

/** Schema of `experiment.yaml`. */
export const CommandExperimentFile = z
  .object({
    /** @default the folder's name */
    name: Slug.optional(),
    description: z.string().min(1).max(5000),
    metrics: z.array(MetricInfoSchema).min(1).max(200),
    /** @default 600 */
    defaultTimeoutSeconds: z
      .number()
      .positive()
      .max(30 * 86400)
      .default(600),
    taskQueue: z.string().min(1).max(200).optional(),
    /** Executable and arguments; placeholders {python}, {node}, {dir}, {project}. */
    command: z.array(z.string().min(1).max(4096)).min(1).max(256),
    /** Working directory, relative to the experiment folder. @default '.' */
    cwd: z.string().max(4096).optional(),
    env: z.record(EnvName, z.string().max(65536)).optional(),
    /** Worker environment variables the command needs; nothing else beyond PATH, HOME, LANG, TZ is inherited. */
    passEnv: z.array(EnvName).max(100).optional(),
    /** Problem spec and criteria shipped with the experiment, relative to its folder. */
    problem: z.object({ spec: z.string().min(1), criteria: z.string().min(1) }).optional(),
  })
  .strict();
export type CommandExperimentFile = z.infer<typeof CommandExperimentFile>;

/** Schema of an `experiment.yaml` with `kind: code`: editable source and a trusted harness command. */
export const CodeExperimentFile = z
  .object({
    kind: z.literal('code'),
    /** @default the folder's name */
    name: Slug.optional(),
    description: z.string().min(1).max(5000),
    metrics: z.array(MetricInfoSchema).min(1).max(200),
    /** Per seed, the harness and all its candidate calls. @default 600 */
    defaultTimeoutSeconds: z
      .number()
      .positive()
      .max(30 * 86400)
      .default(600),
    taskQueue: z.string().min(1).max(200).optional(),
    /** The trusted harness: argv run on the worker, outside the sandbox, once per seed. */
    harness: z.array(z.string().min(1).max(4096)).min(1).max(256),
    env: z.record(EnvName, z.string().max(65536)).optional(),
    passEnv: z.array(EnvName).max(100).optional(),
    code: z
      .object({
        language: z.literal('python').default('python'),
        /** What the candidate implements, for people and agents (Markdown); or interfaceFile. */
        interface: z.string().min(1).max(20_000).optional(),
        interfaceFile: z.string().min(1).optional(),
        /** Files an edit may change, relative to `source`. */
        editable: z.array(z.string().min(1)).min(1).max(32),
        /** Folder holding the starting source, relative to the experiment's. @default '.' */
        source: z.string().min(1).default('.'),
      })
      .strict()
      .refine((c) => (c.interface === undefined) !== (c.interfaceFile === undefined), {
        message: 'give exactly one of interface and interfaceFile',
      }),
    /** Ceilings of each candidate call (a harness asks for less, never more). */
    sandbox: z
      .object({
        /** @default 60 */
        cpuSeconds: z.number().positive().max(86_400).default(60),
        /** @default 2048 */
        memoryMiB: z
          .number()
          .int()
          .min(64)
          .max(1024 * 1024)
          .default(2048),
        /** @default 110 */
        wallSeconds: z.number().positive().max(86_400).default(110),
      })
      .strict()
      .default({ cpuSeconds: 60, memoryMiB: 2048, wallSeconds: 110 }),
    problem: z.object({ spec: z.string().min(1), criteria: z.string().min(1) }).optional(),
  })
  .strict();
export type CodeExperimentFile = z.infer<typeof CodeExperimentFile>;

/** Checks a definition from experiment.ts (the compiler cannot check a dynamic import). */
const DefinitionSchema = z.object({
  name: Slug,
  description: z.string().min(1).max(5000),
  metrics: z.array(MetricInfoSchema).min(1).max(200),
  defaultTimeoutSeconds: z
    .number()
    .positive()
    .max(30 * 86400),
  taskQueue: z.string().min(1).max(200).optional(),
  runner: z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('function'),
      run: z.custom<(...args: unknown[]) => unknown>(
        (f) => typeof f === 'function',
        'must be a function',
      ),
    }),
    z.object({
      kind: z.literal('command'),
      argv: z.array(z.string().min(1)).min(1),
      cwd: z.string().optional(),
      env: z.record(z.string(), z.string()).optional(),
      passEnv: z.array(EnvName).max(100).optional(),
    }),
  ]),
  problem: z.object({ spec: z.string().min(1), criteria: z.string().min(1) }).optional(),
  /** Code experiments (code.ts): editable source, its interface, the trusted harness. */
  code: CodeSpecSchema.optional(),
});

export interface PlaceholderValues {
  /** @default the project venv's python (stack/paths.ts) */
  python: string;
  /** @default the running node executable */
  node: string;
  /** The experiment's folder. */
  dir: string;
  /** @default the project root */
  project: string;
}

/** Replaces `{python}`, `{node}`, `{dir}` and `{project}`; any other `{word}` is an error naming the field. */
export function resolvePlaceholders(
  value: string,
  values: PlaceholderValues,
  file: string,
  field: string,
): string {
  return value.replace(/\{([A-Za-z_]+)\}/g, (_, key: string) => {
    if (key in values) return values[key as keyof PlaceholderValues];
    throw new ExperimentDefinitionError(
      file,
      field,
      `unknown placeholder {${key}}; use {python}, {node}, {dir} or {project}`,
    );
  });
}

function zodField(err: z.ZodError): { field: string; detail: string } {
  const issue = err.issues[0];
  const field = issue
    ? issue.path
        .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`))
        .join('')
    : '';
  return { field, detail: issue ? issue.message : z.prettifyError(err) };
}

/** What an agent may know about an experiment: no argv, no environment, no hidden metrics. */
export interface ExperimentDescription {
  name: string;
  description: string;
  metrics: MetricInfo[];
  defaultTimeoutSeconds: number;
  /** Code experiments: what a candidate implements and which files an edit may change. */
  code?: { language: string; interface: string; editable: string[] };
}

export class ExperimentRegistry {
  private readonly byName = new Map<string, RegisteredExperiment>();

  constructor(experiments: Iterable<RegisteredExperiment>) {
    for (const e of experiments) {
      const prior = this.byName.get(e.name);
      if (prior)
        throw new ExperimentDefinitionError(
          e.source,
          'name',
          `experiment "${e.name}" is also defined in ${prior.source}`,
        );
      this.byName.set(e.name, e);
    }
  }

  /** Builds a registry from in-memory definitions (tests, embedding). */
  static of(...defs: (ExperimentDefinition | RegisteredExperiment)[]): ExperimentRegistry {
    return new ExperimentRegistry(
      defs.map((d) => ('dir' in d ? d : { ...d, dir: EXPERIMENTS_DIR, source: '(in memory)' })),
    );
  }

  /** @throws UnknownExperimentError */
  get(name: string): RegisteredExperiment {
    const e = this.byName.get(name);
    if (!e) throw new UnknownExperimentError(name, this.names());
    return e;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  list(): RegisteredExperiment[] {
    return this.names().map((n) => this.byName.get(n) as RegisteredExperiment);
  }

  /** A description safe to show an agent; metrics named in `hiddenMetrics` are left out. */
  describe(name: string, opts: { hiddenMetrics?: readonly string[] } = {}): ExperimentDescription {
    const e = this.get(name);
    const hidden = new Set(opts.hiddenMetrics ?? []);
    return {
      name: e.name,
      description: e.description,
      metrics: e.metrics.filter((m) => !hidden.has(m.name)).map((m) => ({ ...m })),
      defaultTimeoutSeconds: e.defaultTimeoutSeconds,
      ...(isCodeExperiment(e)
        ? {
            code: {
              language: e.code.language,
              interface: e.code.interface,
              editable: [...e.code.editable],
            },
          }
        : {}),
    };
  }
}

export interface LoadRegistryOptions {
  /** Overrides for argv placeholders. */
  placeholders?: Partial<Omit<PlaceholderValues, 'dir'>>;
}

/** Parses one experiment.yaml. */
export async function loadCommandExperiment(
  file: string,
  opts: LoadRegistryOptions = {},
): Promise<RegisteredExperiment> {
  const dir = path.dirname(file);
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ExperimentDefinitionError(file, '', `not valid YAML: ${(err as Error).message}`);
  }
  if (raw !== null && typeof raw === 'object' && 'kind' in raw) {
    if ((raw as { kind: unknown }).kind === 'code') return loadCodeExperiment(file, raw, opts);
    throw new ExperimentDefinitionError(
      file,
      'kind',
      'the only kind is "code" (leave it out for a command experiment)',
    );
  }
  const parsed = CommandExperimentFile.safeParse(raw);
  if (!parsed.success) {
    const { field, detail } = zodField(parsed.error);
    throw new ExperimentDefinitionError(file, field, detail);
  }
  const f = parsed.data;
  const values: PlaceholderValues = {
    python: opts.placeholders?.python ?? paths.venvPython,
    node: opts.placeholders?.node ?? process.execPath,
    project: opts.placeholders?.project ?? PROJECT_ROOT,
    dir,
  };
  const argv = f.command.map((a, i) => resolvePlaceholders(a, values, file, `command[${i}]`));
  const cwd =
    f.cwd === undefined ? dir : path.resolve(dir, resolvePlaceholders(f.cwd, values, file, 'cwd'));
  return {
    name: f.name ?? path.basename(dir),
    description: f.description,
    metrics: f.metrics.map(stripUndefined),
    defaultTimeoutSeconds: f.defaultTimeoutSeconds,
    ...(f.taskQueue !== undefined ? { taskQueue: f.taskQueue } : {}),
    runner: {
      kind: 'command',
      argv,
      cwd,
      ...(f.env ? { env: f.env } : {}),
      ...(f.passEnv ? { passEnv: f.passEnv } : {}),
    },
    ...problemFiles(dir, f.problem),
    dir,
    source: file,
  };
}

/** Builds a code experiment from a parsed experiment.yaml with `kind: code`. */
async function loadCodeExperiment(
  file: string,
  raw: unknown,
  opts: LoadRegistryOptions,
): Promise<RegisteredExperiment> {
  const dir = path.dirname(file);
  const parsed = CodeExperimentFile.safeParse(raw);
  if (!parsed.success) {
    const { field, detail } = zodField(parsed.error);
    throw new ExperimentDefinitionError(file, field, detail);
  }
  const f = parsed.data;
  const name = f.name ?? path.basename(dir);
  const values: PlaceholderValues = {
    python: opts.placeholders?.python ?? paths.venvPython,
    node: opts.placeholders?.node ?? process.execPath,
    project: opts.placeholders?.project ?? PROJECT_ROOT,
    dir,
  };
  const argv = f.harness.map((a, i) => resolvePlaceholders(a, values, file, `harness[${i}]`));
  const sourceDir = path.resolve(dir, f.code.source);
  const initialSource: Record<string, string> = {};
  // The harness and the definition are trusted: no edit may ever change them.
  const trusted = new Set([file, ...argv.filter((a) => path.isAbsolute(a))]);
  for (const [i, rel] of f.code.editable.entries()) {
    const abs = path.resolve(sourceDir, rel);
    if (trusted.has(abs))
      throw new ExperimentDefinitionError(
        file,
        `code.editable[${i}]`,
        `${rel} is part of the trusted harness and cannot be editable`,
      );
    try {
      initialSource[rel] = await readFile(abs, 'utf8');
    } catch (err) {
      throw new ExperimentDefinitionError(
        file,
        `code.editable[${i}]`,
        `cannot read the starting source ${rel}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  }
  let iface = f.code.interface;
  if (f.code.interfaceFile !== undefined) {
    try {
      iface = await readFile(path.resolve(dir, f.code.interfaceFile), 'utf8');
    } catch (err) {
      throw new ExperimentDefinitionError(
        file,
        'code.interfaceFile',
        `cannot read it: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
  }
  const code = {
    language: f.code.language,
    interface: iface as string,
    editable: f.code.editable,
    initialSource,
    // OpenEvolve's layout: where the starting source marks EVOLVE-BLOCKs, only they may change.
    ...(Object.values(initialSource).some(hasEvolveBlocks)
      ? { compile: (s: SourceSnapshot) => Promise.resolve(evolveBlockError(initialSource, s)) }
      : {}),
    evaluate: commandHarnessEvaluate({
      experiment: name,
      argv,
      cwd: dir,
      ...(f.env ? { env: f.env } : {}),
      ...(f.passEnv ? { passEnv: f.passEnv } : {}),
      limits: {
        cpuSeconds: f.sandbox.cpuSeconds,
        memoryBytes: f.sandbox.memoryMiB * 1024 ** 2,
        wallSeconds: f.sandbox.wallSeconds,
      },
    }),
  };
  const checked = CodeSpecSchema.safeParse(code);
  if (!checked.success) {
    const { field, detail } = zodField(checked.error);
    throw new ExperimentDefinitionError(file, `code.${field}`, detail);
  }
  let def;
  try {
    def = defineCodeExperiment({
      name,
      description: f.description,
      metrics: f.metrics.map(stripUndefined),
      defaultTimeoutSeconds: f.defaultTimeoutSeconds,
      ...(f.taskQueue !== undefined ? { taskQueue: f.taskQueue } : {}),
      code,
    });
  } catch (err) {
    throw new ExperimentDefinitionError(file, 'code.editable', (err as Error).message);
  }
  return { ...def, ...problemFiles(dir, f.problem), dir, source: file };
}

function stripUndefined(m: z.infer<typeof MetricInfoSchema>): MetricInfo {
  return {
    name: m.name,
    description: m.description,
    ...(m.direction ? { direction: m.direction } : {}),
  };
}

/** Problem files: as named (relative to the folder), else problem.yaml + criteria.yaml when both exist. */
function problemFiles(
  dir: string,
  named: { spec: string; criteria: string } | undefined,
): { problem?: { spec: string; criteria: string } } {
  if (named)
    return {
      problem: { spec: path.resolve(dir, named.spec), criteria: path.resolve(dir, named.criteria) },
    };
  const spec = path.join(dir, 'problem.yaml');
  const criteria = path.join(dir, 'criteria.yaml');
  return existsSync(spec) && existsSync(criteria) ? { problem: { spec, criteria } } : {};
}

/**
 * Imports one experiment.ts: its compiled twin when the worker runs the build, else the source
 * (a TypeScript-aware runtime: tsx, vitest; the build registers tsx for experiments it lacks).
 */
export async function loadModuleExperiments(file: string): Promise<RegisteredExperiment[]> {
  const dir = path.dirname(file);
  const runnable = runnableModule(file);
  if (runnable.endsWith('.ts') && COMPILED) await registerTypeScript();
  const mod = (await import(pathToFileURL(runnable).href)) as { default?: unknown };
  if (mod.default === undefined)
    throw new ExperimentDefinitionError(
      file,
      'default',
      'export default an experiment definition or an array of them',
    );
  const items = Array.isArray(mod.default) ? (mod.default as unknown[]) : [mod.default];
  return items.map((item, i) => {
    const prefix = Array.isArray(mod.default) ? `default[${i}]` : 'default';
    const parsed = DefinitionSchema.safeParse(item);
    if (!parsed.success) {
      const { field, detail } = zodField(parsed.error);
      throw new ExperimentDefinitionError(file, field ? `${prefix}.${field}` : prefix, detail);
    }
    const def = item as ExperimentDefinition;
    const runner =
      def.runner.kind === 'command'
        ? { ...def.runner, cwd: path.resolve(dir, def.runner.cwd ?? '.') }
        : def.runner;
    const { problem: _ignored, ...rest } = def;
    return { ...rest, runner, ...problemFiles(dir, def.problem), dir, source: file };
  });
}

let tsxRegistered: Promise<void> | undefined;

/** Lets the compiled build import an experiment.ts that is not part of the build. */
function registerTypeScript(): Promise<void> {
  tsxRegistered ??= import('tsx/esm/api').then((m) => {
    m.register();
  });
  return tsxRegistered;
}

/**
 * Discovers the experiments under `dir`: every direct sub-folder holding an experiment.yaml
 * and/or an experiment.ts. A broken definition fails the whole load (a worker must not start
 * with a silently missing experiment).
 *
 * @param dir @default the built-in experiments folder
 */
export async function loadRegistry(
  dir: string = EXPERIMENTS_DIR,
  opts: LoadRegistryOptions = {},
): Promise<ExperimentRegistry> {
  const entries = await readdir(dir, { withFileTypes: true });
  const found: RegisteredExperiment[] = [];
  for (const entry of entries
    .filter((e) => e.isDirectory())
    .sort((a, b) => a.name.localeCompare(b.name))) {
    const folder = path.join(dir, entry.name);
    const yamlFile = path.join(folder, 'experiment.yaml');
    const tsFile = path.join(folder, 'experiment.ts');
    if (existsSync(yamlFile)) found.push(await loadCommandExperiment(yamlFile, opts));
    if (existsSync(tsFile)) found.push(...(await loadModuleExperiments(tsFile)));
  }
  return new ExperimentRegistry(found);
}
