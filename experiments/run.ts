/**
 * Runs a registered experiment by hand, exactly as a worker would (same registry, same runner):
 *
 *   npx tsx experiments/run.ts weak-to-strong --params '{"method":"bootstrap","lr":0.1}' --seed 1
 *   npx tsx experiments/run.ts weak-to-strong --config baseline --seeds 1,2,3,4,5
 *   npx tsx experiments/run.ts --list
 *
 * Prints one JSON line per seed ({seed, status, metrics, ...}) on stdout, then the mean of each
 * metric over succeeded seeds when there are several; progress, and where a cascade pruned a
 * seed ("[seed 2] pruned at stage 1 (score 0.412)"), go to stderr. Exits 1 when a seed failed or
 * was cancelled (a pruned seed ran as it should).
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { parse as parseYaml } from 'yaml';
import { formatPruned } from '../domain/format.js';
import { Config } from '../domain/schemas.js';
import { loadRegistry } from './registry.js';
import { runSeed } from './runner.js';
import type { SeedRunResult } from './types.js';

function parseSeeds(value: string): number[] {
  const seeds: number[] = [];
  for (const part of value.split(',')) {
    const range = /^(-?\d+)-(-?\d+)$/.exec(part.trim());
    if (range) for (let s = Number(range[1]); s <= Number(range[2]); s++) seeds.push(s);
    else if (/^-?\d+$/.test(part.trim())) seeds.push(Number(part));
    else throw new InvalidArgumentError(`"${part}" is not a seed or a range like 1-5`);
  }
  return seeds;
}

async function main(): Promise<number> {
  const program = new Command()
    .name('experiments/run.ts')
    .description('Run a registered experiment by hand, as a worker would.')
    .argument('[experiment]', 'registered experiment name')
    .option('--list', 'list the registered experiments')
    .option('--params <json>', 'parameters as a JSON object', '{}')
    .option(
      '--config <name>',
      "start from the shipped problem's `baseline` or a named configuration",
    )
    .option('--seed <n>', 'one seed', (v) => parseSeeds(v))
    .option('--seeds <list>', 'seeds, e.g. 1,2,3 or 1-5', (v) => parseSeeds(v))
    .option('--objective <metric>', 'fail a seed that does not report this metric')
    .option('--timeout <seconds>', 'per-seed time limit', Number)
    .option('--out <dir>', 'output folder', path.join(os.tmpdir(), 'gaplab-run'))
    .option('--experiments <dir>', 'the folder to load experiments from (default: the built-ins)')
    .option('--quiet', 'no progress on stderr');
  program.parse();
  const opts = program.opts<{
    list?: boolean;
    params: string;
    config?: string;
    seed?: number[];
    seeds?: number[];
    objective?: string;
    timeout?: number;
    out: string;
    quiet?: boolean;
    experiments?: string;
  }>();
  const registry = await loadRegistry(opts.experiments);
  if (opts.list || !program.args[0]) {
    for (const e of registry.list())
      console.log(
        `${e.name.padEnd(18)} ${e.runner.kind.padEnd(8)} ${e.description.split('\n')[0]?.slice(0, 100)}`,
      );
    return opts.list ? 0 : 2;
  }
  const def = registry.get(program.args[0]);
  let params: Config = {};
  if (opts.config) {
    if (!def.problem)
      throw new Error(`experiment "${def.name}" ships no problem spec to take --config from`);
    const spec = parseYaml(await readFile(def.problem.spec, 'utf8')) as {
      baseline?: Config;
      configurations?: Record<string, Config>;
    };
    const found = opts.config === 'baseline' ? spec.baseline : spec.configurations?.[opts.config];
    if (!found) throw new Error(`${def.problem.spec} has no configuration "${opts.config}"`);
    params = { ...found };
  }
  params = Config.parse({ ...params, ...(JSON.parse(opts.params) as object) });
  const seeds = opts.seeds ?? opts.seed ?? [1];
  const results: SeedRunResult[] = [];
  for (const seed of seeds) {
    const r = await runSeed(def, params, {
      seed,
      outDir: path.join(opts.out, def.name, `seed-${seed}`),
      ...(opts.timeout !== undefined ? { timeoutSeconds: opts.timeout } : {}),
      ...(opts.objective ? { objective: opts.objective } : {}),
      onProgress: (p) => {
        if (!opts.quiet && (p.fraction !== undefined || p.message))
          process.stderr.write(
            `[seed ${seed}] ${p.fraction !== undefined ? `${Math.round(p.fraction * 100)}% ` : ''}${p.message ?? ''}\n`,
          );
      },
    });
    results.push(r);
    const { logTail, ...shown } = r;
    console.log(JSON.stringify({ seed, ...shown }));
    if (r.pruned) process.stderr.write(`[seed ${seed}] ${formatPruned(r.pruned)}\n`);
    else if (r.status !== 'succeeded' && logTail) process.stderr.write(`${logTail}\n`);
  }
  const ok = results.filter((r) => r.status === 'succeeded');
  if (seeds.length > 1 && ok.length) {
    const mean: Record<string, number> = {};
    for (const k of Object.keys(ok[0]?.metrics ?? {}))
      mean[k] = ok.reduce((a, r) => a + (r.metrics[k] ?? Number.NaN), 0) / ok.length;
    console.log(JSON.stringify({ mean, seeds: ok.length }));
  }
  return results.every((r) => r.status === 'succeeded' || r.status === 'pruned') ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(2);
  },
);
