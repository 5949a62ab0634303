/** The machine and the versions a benchmark ran with, recorded next to its numbers. */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { resolveTemporalBinary } from '../stack/install.js';
import { paths, PROJECT_ROOT } from '../stack/paths.js';

const run = promisify(execFile);

export interface Environment {
  date: string;
  machine: {
    cpuModel: string;
    cpus: number;
    memoryGiB: number;
    platform: string;
    release: string;
    /** 1-minute load average when the benchmark started (other work on the machine skews numbers). */
    loadAverage: number;
  };
  versions: {
    node: string;
    python: string | null;
    temporalCli: string | null;
    temporalServer: string | null;
    mlflow: string | null;
    optuna: string | null;
    gaplab: string | null;
  };
}

async function output(cmd: string, args: string[]): Promise<string | null> {
  try {
    const { stdout } = await run(cmd, args, { timeout: 30_000, cwd: PROJECT_ROOT });
    return stdout.trim();
  } catch {
    return null;
  }
}

export async function environment(): Promise<Environment> {
  const cpus = os.cpus();
  const py = await output(paths.venvPython, [
    '-c',
    'import sys, json, optuna, mlflow; print(json.dumps([sys.version.split()[0], optuna.__version__, mlflow.__version__]))',
  ]);
  const [python, optuna, mlflow] = py
    ? (JSON.parse(py) as [string, string, string])
    : [null, null, null];
  let temporal: string | null = null;
  try {
    temporal = await output((await resolveTemporalBinary()).path, ['--version']);
  } catch {
    temporal = null;
  }
  // "temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)"
  const m = temporal ? /version (\S+) \(Server ([^,]+),/.exec(temporal) : null;
  const commit = await output('git', ['rev-parse', '--short', 'HEAD']);
  const dirty = await output('git', ['status', '--porcelain', '--untracked-files=no']);
  return {
    date: new Date().toISOString(),
    machine: {
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      cpus: cpus.length,
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      platform: os.platform(),
      release: os.release(),
      loadAverage: Math.round(os.loadavg()[0]! * 100) / 100,
    },
    versions: {
      node: process.version,
      python,
      temporalCli: m ? m[1]! : temporal,
      temporalServer: m ? m[2]! : null,
      mlflow,
      optuna,
      gaplab: commit ? `${commit}${dirty ? ' (with local changes)' : ''}` : null,
    },
  };
}
