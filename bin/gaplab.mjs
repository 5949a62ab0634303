#!/usr/bin/env node
// The gaplab command. It runs the compiled build (dist/, made by `npm run build:js`, which
// `npm ci` runs as the prepare step) when the build is newer than every source it was made
// from, and otherwise the TypeScript sources through tsx, in this process: a checkout that is
// being edited never runs stale code, and one that is not starts in a fraction of a second.
// GAPLAB_CLI_SOURCE=1 always runs the sources.
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildIsFresh } from './freshness.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

if (process.env.GAPLAB_CLI_SOURCE !== '1' && buildIsFresh(root)) {
  await import(pathToFileURL(path.join(root, 'dist', 'cli', 'main.js')).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(path.join(root, 'cli', 'main.ts')).href);
}
