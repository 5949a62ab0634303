/**
 * The import fences `npm run lint` enforces (eslint.config.mjs; `.ci/run` lints the whole tree),
 * checked with planted imports: an import that crosses a fence fails the lint, naming the rule
 * and the fence, and the imports each folder's README allows pass. The planted code is linted
 * as text with the project's own config; only type information is off (a planted file does not
 * exist, and no fence needs types), which keeps each check well under a second.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({
  cwd: import.meta.dirname,
  overrideConfig: [tseslint.configs.disableTypeChecked],
});

/** The messages of `source` linted as if it were the file at `filePath` (relative to the root). */
async function lint(filePath: string, source: string) {
  const [result] = await eslint.lintText(source, { filePath });
  if (!result) throw new Error(`ESLint returned no result for ${filePath}`);
  const fatal = result.messages.find((m) => m.fatal);
  if (fatal) throw new Error(`${filePath} did not parse: ${fatal.message}`);
  return result.messages.map((m) => ({ rule: m.ruleId, message: m.message }));
}

const fence = (message: RegExp) => ({
  rule: 'no-restricted-imports',
  message: expect.stringMatching(message) as unknown as string,
});

/** An import of `x` from `from`, used (as a value, or as a type) so that no other rule fires. */
const importing = (from: string, type = false) =>
  type
    ? `import type { x } from '${from}';\nexport type Used = x;\n`
    : `import { x } from '${from}';\nexport const used = x;\n`;

describe('lint fences', { timeout: 60_000 }, () => {
  it.each([
    ['workflows/planted.ts', 'node:fs', /Workflow code must not use Node built-ins/],
    ['workflows/campaign/planted.ts', '../../stack/index.js', /Workflows must not import IO code/],
    ['workflows/planted.ts', '../activities/recording.js', /Workflows import only activity types/],
    ['api/planted.ts', '../server/server.js', /api\/ imports only zod, domain\/ and api\//],
    [
      'server/planted.ts',
      '../activities/recording.js',
      /server\/ never imports activities\/ or worker\//,
    ],
    ['server/planted.ts', '../worker/index.js', /server\/ never imports activities\/ or worker\//],
    ['server/routes/planted.ts', '../../activities/strategies/index.js', /server\/ never imports/],
    ['server/planted.test.ts', '../activities/sources.js', /server\/ never imports/],
    ['activities/planted.ts', '../workflows/campaign.js', /activities\/ never imports workflows\//],
    [
      'activities/strategies/planted.ts',
      '../../workflows/types.js',
      /activities\/ never imports workflows\//,
    ],
    ['records/planted.ts', '../activities/recording.js', /records\/ imports only/],
    ['records/planted.ts', 'node:fs', /records\/ imports only/],
    ['temporal/planted.ts', '../activities/recording.js', /temporal\/ imports only/],
    ['domain/planted.ts', '../workflows/types.js', /domain\/ imports only/],
    ['domain/planted.ts', '../records/names.js', /domain\/ imports only/],
  ])('%s importing %s fails the lint', async (file, from, message) => {
    expect(await lint(file, importing(from))).toContainEqual(fence(message));
  });

  it('refuses a type import across the activities fence too', async () => {
    const messages = await lint('activities/planted.ts', importing('../workflows/types.js', true));
    expect(messages).toContainEqual(fence(/activities\/ never imports workflows\//));
  });

  it('lets workflows take types, and only types, from activities/', async () => {
    expect(await lint('workflows/planted.ts', importing('../activities/index.js', true))).toEqual(
      [],
    );
  });

  it('lets records/ take types, and only types, from the MLflow client', async () => {
    expect(
      await lint('records/planted.ts', importing('../mlflow-ts-client/index.js', true)),
    ).toEqual([]);
    expect(
      await lint('records/planted.ts', importing('../mlflow-ts-client/index.js')),
    ).toContainEqual(fence(/records\/ takes only types from mlflow-ts-client/));
  });

  it.each([
    ['workflows/planted.ts', '../domain/report.js'],
    ['api/planted.ts', '../domain/schemas.js'],
    ['server/planted.ts', '../records/names.js'],
    ['server/planted.ts', '../records/trial-codec.js'],
    ['server/planted.ts', '../temporal/data-converter.js'],
    ['server/routes/planted.ts', '../../domain/report.js'],
    ['server/planted.ts', '@temporalio/client'],
    ['activities/planted.ts', '../records/trial-codec.js'],
    ['activities/planted.ts', '../domain/report.js'],
    ['activities/planted.test.ts', '../workflows/campaign/recorder.js'],
    ['records/planted.ts', '../domain/schemas.js'],
    ['records/planted.ts', '../api/schemas.js'],
    ['records/planted.ts', 'zod'],
    ['temporal/planted.ts', '@temporalio/common'],
    ['temporal/planted.ts', 'node:zlib'],
    ['domain/planted.ts', './campaign.js'],
    ['domain/planted.ts', 'pure-rand/generator/mersenne'],
    ['worker/planted.ts', '../activities/index.js'],
    ['bench/planted.ts', '../records/names.js'],
  ])('%s importing %s passes', async (file, from) => {
    expect(await lint(file, importing(from))).toEqual([]);
  });

  it('fails an import that closes a cycle, naming the rule', async () => {
    // trial-codec.ts imports names.ts; names.ts importing a value of trial-codec.ts closes a loop.
    const names = await readFile(path.join(import.meta.dirname, 'records/names.ts'), 'utf8');
    const planted = `${names}\nimport { WITHHELD } from './trial-codec.js';\nexport const planted = WITHHELD;\n`;
    expect(await lint('records/names.ts', names)).toEqual([]);
    expect(await lint('records/names.ts', planted)).toContainEqual({
      rule: 'import-x/no-cycle',
      message: expect.stringMatching(/Dependency cycle/) as unknown as string,
    });
  });

  it.each([
    'workflows/index.ts',
    'server/lineage.ts',
    'server/routes/sources.ts',
    'activities/recording.ts',
    'records/trial-codec.ts',
    'temporal/data-converter.ts',
    'domain/report.ts',
  ])('lets the real %s through', async (file) => {
    const source = await readFile(path.join(import.meta.dirname, file), 'utf8');
    expect((await lint(file, source)).filter((m) => m.rule === 'no-restricted-imports')).toEqual(
      [],
    );
  });
});
