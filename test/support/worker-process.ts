/** gaplab workers in processes of their own, for tests that kill them (see test/fixtures/). */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** The worker programs in test/fixtures/: the quadratic experiments, or the `sleeper` command. */
export type WorkerProgram = 'worker-process' | 'command-worker';

/**
 * Starts a worker program with `env` on top of this process's environment and resolves once it
 * polls ("worker ready"); fails with its output when it exits first or is not ready in two
 * minutes. The child is added to `started` at once, so a test's clean-up finds it either way.
 */
export async function spawnWorkerProcess(
  program: WorkerProgram,
  env: Record<string, string>,
  started: ChildProcess[],
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, '..', 'fixtures', `${program}.ts`)],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  started.push(child);
  let output = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      output += c.toString();
      if (output.includes('worker ready')) resolve();
    });
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}:\n${output}`)));
    setTimeout(() => reject(new Error(`worker did not start:\n${output}`)), 120_000);
  });
  return child;
}
