/** Where gaplab keeps its state on this machine: binaries, the Python venv, service data, logs. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root folder (where package.json lives). */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

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
