/** Runs the Python peers (bench/peers/*.py) with the project venv and reads their JSON result. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { paths } from '../stack/paths.js';

/** What bench/peers/optuna_trials.py prints: wall time and one record per trial (seconds). */
export interface OptunaTrialsOutput {
  wallSeconds: number;
  trials: number;
  errorCount: number;
  errors?: string[];
  records: { slot: number; start: number; objStart: number; objEnd: number; end: number }[];
}

export const PEERS_DIR = fileURLToPath(new URL('./peers/', import.meta.url));

/** Thrown when a peer script fails or prints something that is not its JSON result. */
export class PeerError extends Error {
  constructor(
    readonly script: string,
    message: string,
  ) {
    super(`${script}: ${message}`);
    this.name = 'PeerError';
  }
}

/**
 * Runs `bench/peers/<script>` with `args`; resolves with the JSON object it prints on stdout.
 * Its stderr is kept (last 4 kB) for the error message.
 */
export function runPeer<T>(
  script: string,
  args: readonly string[],
  opts: {
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    /** Written to its stdin. */ input?: string;
  } = {},
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const child = spawn(paths.venvPython, [`${PEERS_DIR}${script}`, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PYTHONUNBUFFERED: '1', ...opts.env },
    });
    child.stdin.end(opts.input ?? '');
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err = (err + c.toString('utf8')).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 3_600_000);
    child.on('error', (e) => reject(new PeerError(script, e.message)));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0)
        return reject(
          new PeerError(
            script,
            `exited with ${code ?? signal}: ${err.trim().split('\n').slice(-5).join(' | ')}`,
          ),
        );
      try {
        resolve(JSON.parse(out) as T);
      } catch {
        reject(new PeerError(script, `printed no JSON result: ${out.slice(0, 300)}`));
      }
    });
  });
}
