/** Builds the web UI into ui/dist when it is missing or older than its sources. */
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../stack/paths.js';
import { withProgress } from '../stack/progress.js';

const UI = path.join(PROJECT_ROOT, 'ui');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    newest = Math.max(newest, fs.statSync(path.join(e.parentPath, e.name)).mtimeMs);
  }
  return newest;
}

/** True when ui/dist/index.html exists and is newer than ui/src, index.html and the config. */
export function uiBuildIsFresh(): boolean {
  const built = path.join(UI, 'dist', 'index.html');
  if (!fs.existsSync(built)) return false;
  const at = fs.statSync(built).mtimeMs;
  const sources = Math.max(
    newestMtime(path.join(UI, 'src')),
    fs.statSync(path.join(UI, 'index.html')).mtimeMs,
    fs.statSync(path.join(UI, 'vite.config.ts')).mtimeMs,
  );
  return at >= sources;
}

export async function ensureUiBuilt(log: (line: string) => void): Promise<void> {
  if (uiBuildIsFresh()) return;
  const { build } = await import('vite');
  // A caller under vitest has NODE_ENV=test, which would bundle React's development build.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await withProgress(
      log,
      '   Building the web UI',
      `vite build (${path.join(UI, 'dist')})`,
      () =>
        build({
          configFile: path.join(UI, 'vite.config.ts'),
          mode: 'production',
          logLevel: 'warn',
        }),
      { note: 'first run, or its sources changed' },
    );
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
}
