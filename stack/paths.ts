/** Where gaplab keeps its state on this machine: binaries, the Python venv, service data, logs. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * True when this code runs from the compiled build (`npm run build:js`, into dist/), which
 * mirrors the source tree; data files (YAML, Python, the UI build) stay beside the sources.
 */
export const COMPILED = path.basename(path.dirname(HERE)) === 'dist';

/** The project's root folder (where package.json lives), from the sources or the build. */
export const PROJECT_ROOT = path.resolve(HERE, COMPILED ? '../..' : '..');

/**
 * The module to import for a source file: its compiled twin under dist/ when this process runs
 * the build and the twin exists, else the source itself (tsx and vitest import TypeScript).
 */
export function runnableModule(sourceFile: string): string {
  if (!COMPILED || !sourceFile.endsWith('.ts')) return sourceFile;
  const rel = path.relative(PROJECT_ROOT, sourceFile);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return sourceFile;
  const twin = path.join(PROJECT_ROOT, 'dist', rel.replace(/\.ts$/, '.js'));
  return existsSync(twin) ? twin : sourceFile;
}

/** State folder; git ignores it. @default <project>/.gaplab */
export const STATE_DIR = path.resolve(
  process.env.GAPLAB_HOME ?? path.join(PROJECT_ROOT, '.gaplab'),
);

export const paths = {
  state: STATE_DIR,
  bin: path.join(STATE_DIR, 'bin'),
  venv: path.join(STATE_DIR, 'venv'),
  venvPython: path.join(STATE_DIR, 'venv', 'bin', 'python'),
  venvBin: (name: string) => path.join(STATE_DIR, 'venv', 'bin', name),
  logs: path.join(STATE_DIR, 'logs'),
  run: path.join(STATE_DIR, 'run'),
  data: path.join(STATE_DIR, 'data'),
  requirements: path.join(PROJECT_ROOT, 'python', 'requirements.txt'),
  /** Temporal's Java time-skipping test server (jars and a launcher), one folder per version. */
  testServer: path.join(STATE_DIR, 'temporal-test-server'),
} as const;
