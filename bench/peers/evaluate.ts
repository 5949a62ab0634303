/**
 * Evaluates registered function experiments for the Python peers, so Optuna used directly runs
 * exactly the same functions as gaplab's workers. JSON lines: request
 * {"experiment": "branin", "params": {...}, "seed": 1} on stdin, reply {"metrics": {...}} or
 * {"error": "..."} on stdout.
 */
import readline from 'node:readline';
import { benchRegistry } from '../experiments.js';

const registry = await benchRegistry();
const signal = new AbortController().signal;
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  let reply: unknown;
  try {
    const req = JSON.parse(line) as {
      experiment: string;
      params: Record<string, string | number | boolean>;
      seed: number;
    };
    const e = registry.get(req.experiment);
    if (e.runner.kind !== 'function')
      throw new Error(`${req.experiment} is not a function experiment`);
    const metrics = await e.runner.run(req.params, {
      seed: req.seed,
      outDir: '/tmp',
      signal,
      progress: () => {},
    });
    reply = { metrics };
  } catch (err) {
    reply = { error: err instanceof Error ? err.message : String(err) };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}
