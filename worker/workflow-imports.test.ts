/**
 * Workflow code may import the permission table and the failure types: the workflow bundler
 * (which refuses Node built-ins and other non-deterministic modules) accepts them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const dir = mkdtempSync(path.join(tmpdir(), 'gaplab-workflow-imports-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the bundler reported as errors during the last bundle. */
const errors: string[] = [];
const quiet = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error: (message: string, meta?: unknown) =>
    void errors.push(`${message} ${JSON.stringify(meta)}`),
};

async function bundle(imports: string): Promise<string> {
  const entry = path.join(dir, `entry-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(entry, imports);
  errors.length = 0;
  const { code } = await bundleWorkflowCode({
    workflowsPath: entry,
    logger: quiet,
    // The entry lives outside the checkout: packages resolve from the checkout's node_modules.
    webpackConfigHook: (config) => ({
      ...config,
      resolve: { ...config.resolve, modules: [path.join(ROOT, 'node_modules'), 'node_modules'] },
    }),
  });
  return code;
}

describe('modules workflow validators import', () => {
  it('the permission table, the failure types and the rejection helpers bundle as workflow code', async () => {
    const mod = (p: string) => JSON.stringify(path.join(ROOT, p));
    const code = await bundle(
      [
        `import { can, PERMISSIONS } from ${mod('api/permissions.js')};`,
        `import { FAILURE_TYPES } from ${mod('domain/failure-types.js')};`,
        `import { requirePermission } from ${mod('workflows/failures.js')};`,
        `export async function probe(role: string): Promise<string[]> {`,
        `  requirePermission({ name: 'p', role }, 'stop', 'stop a campaign');`,
        `  return [String(can(role, 'confirmFlag')), ...Object.keys(PERMISSIONS), ...Object.keys(FAILURE_TYPES)];`,
        `}`,
      ].join('\n'),
    );
    expect(errors).toEqual([]);
    expect(code).toContain('confirmFlag');
    expect(code).toContain('UnknownExperiment');
  }, 180_000);

  it('the bundler refuses a module that imports a Node built-in (what the check above would catch)', async () => {
    await expect(
      bundle(
        `import { readFileSync } from 'node:fs';\nexport async function probe() { return String(readFileSync); }`,
      ),
    ).rejects.toThrow(/Webpack finished with errors/);
    expect(errors.join('\n')).toMatch(/ERROR in node:fs/);
  }, 180_000);
});
