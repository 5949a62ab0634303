/**
 * `gaplab init code <name>`: scaffolds a code experiment a researcher can run as it is and then
 * edit in Python only: experiment.yaml (kind: code), the trusted harness (harness.py, the
 * gaplab_harness SDK), the starting method, problem.yaml and criteria.yaml. The files come from
 * python/harness/template/, with the name filled in.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { Slug } from '../domain/schemas.js';
import { EXPERIMENTS_DIR } from '../experiments/registry.js';
import { PROJECT_ROOT } from '../stack/paths.js';

/** The scaffold's files. */
export const CODE_TEMPLATE_DIR = path.join(PROJECT_ROOT, 'python', 'harness', 'template');

/** Writes a new code experiment folder `<parent>/<name>`; returns its path and its files. */
export async function initCodeExperiment(
  name: string,
  parent: string = EXPERIMENTS_DIR,
): Promise<{ dir: string; files: string[] }> {
  const slug = Slug.safeParse(name);
  if (!slug.success)
    throw new Error(
      `name: "${name}" is not a valid experiment name (${slug.error.issues[0]?.message ?? 'invalid'})`,
    );
  const dir = path.resolve(parent, name);
  if (existsSync(dir)) throw new Error(`${dir} already exists: choose another name or --dir`);
  await mkdir(dir, { recursive: true });
  const files = (await readdir(CODE_TEMPLATE_DIR)).sort();
  for (const f of files) {
    const text = await readFile(path.join(CODE_TEMPLATE_DIR, f), 'utf8');
    await writeFile(path.join(dir, f), text.replaceAll('__NAME__', name));
  }
  return { dir, files };
}

export function registerInitCommand(program: Command): void {
  const init = program.command('init').description('Scaffold a new problem folder.');
  init
    .command('code <name>')
    .description(
      'Scaffold a code experiment with a Python harness: experiment.yaml, harness.py, method.py, problem.yaml, criteria.yaml.',
    )
    .option(
      '--dir <folder>',
      'where to put it; without it, the experiments folder workers load (experiments/)',
    )
    .action(async (name: string, o: { dir?: string }) => {
      const { dir, files } = await initCodeExperiment(name, o.dir);
      console.log(`created ${dir}: ${files.join(', ')}`);
      console.log(
        [
          'Next:',
          `  edit ${path.join(dir, 'harness.py')} (your data and metrics) and method.py (the starting method)`,
          `  try it: npx tsx experiments/run.ts ${name} --config baseline --seeds 1-3${o.dir ? ` --experiments ${path.dirname(dir)}` : ''}`,
          '  restart the workers so they register it, then:',
          `  gaplab submit ${path.join(dir, 'problem.yaml')}`,
          `  gaplab criteria ${name} ${path.join(dir, 'criteria.yaml')}`,
          `  gaplab start ${name} --paused   # then gaplab propose <campaign> --patch change.diff`,
        ].join('\n'),
      );
    });
}
