/**
 * The import fences `npm run lint` enforces (eslint.config.mjs), checked with planted imports:
 * workflow code may not reach Node built-ins or IO code, and the API contract imports only zod
 * and the domain. `.ci/run` runs the same lint over the whole tree.
 */
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const eslint = new ESLint({ cwd: ROOT });

/** The messages of the rule that keeps fences, for `code` linted as if it were `file`. */
async function fenceErrors(code: string, file: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => m.message);
}

describe('import fences', () => {
  it('refuse a Node built-in and IO code in workflow code', async () => {
    const errors = await fenceErrors(
      [
        "import fs from 'node:fs';",
        "import { Stack } from '../stack/index.js';",
        'export const planted = [fs, Stack];',
        '',
      ].join('\n'),
      'workflows/index.ts',
    );
    expect(errors).toEqual([
      expect.stringContaining('Workflow code must not use Node built-ins.'),
      expect.stringContaining('Workflows must not import IO code.'),
    ]);
  }, 120_000);

  it('refuse anything but zod and the domain in the API contract', async () => {
    const errors = await fenceErrors(
      "import { startServer } from '../server/server.js';\nexport const planted = startServer;\n",
      'api/schemas.ts',
    );
    expect(errors).toEqual([expect.stringContaining('api/ imports only zod, domain/ and api/.')]);
  }, 120_000);

  it('let the real files through', async () => {
    expect(await fenceErrors(await readSource('workflows/index.ts'), 'workflows/index.ts')).toEqual(
      [],
    );
  }, 120_000);
});

async function readSource(file: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(path.join(ROOT, file), 'utf8');
}
