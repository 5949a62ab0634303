// Whether the compiled build (dist/) is newer than every TypeScript source it is made from.
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

/** The source folders `npm run build:js` compiles (tsconfig.build.json's include). */
export const SOURCE_DIRS = [
  'api',
  'domain',
  'worker',
  'workflows',
  'activities',
  'experiments',
  'server',
  'cli',
  'stack',
  'mlflow-ts-client',
  'records',
  'temporal',
];

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/**
 * True when `<root>/dist/.built` (written at the end of a build) is newer than every
 * non-test .ts file under the source folders.
 */
export function buildIsFresh(root) {
  const built = mtime(path.join(root, 'dist', '.built'));
  if (built === undefined) return false;
  for (const dir of SOURCE_DIRS) {
    let entries;
    try {
      entries = readdirSync(path.join(root, dir), { recursive: true, withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (!e.isFile() || !e.name.endsWith('.ts') || e.name.endsWith('.test.ts')) continue;
      const m = mtime(path.join(e.parentPath ?? e.path, e.name));
      if (m !== undefined && m > built) return false;
    }
  }
  return true;
}
