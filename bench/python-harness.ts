/**
 * Harness overhead per seed for a no-op candidate: a Python harness on the gaplab_harness SDK
 * (venv python start, channel, one run_candidate round trip through the sandbox, report) against
 * a TypeScript harness doing the same (one runPythonCandidate of a driver that calls the no-op),
 * median of N seeds each, interleaved so both see the same machine load.
 *
 *     npx tsx bench/python-harness.ts [--runs 10]
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  candidateFailure,
  defineCodeExperiment,
  isCodeExperiment,
  runCodeSeed,
  runPythonCandidate,
} from '../experiments/code.js';
import { loadCommandExperiment } from '../experiments/registry.js';
import { checkSandbox } from '../experiments/sandbox.js';

const METHOD = 'def noop(x):\n    return x\n';
const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const runs = Number(values.runs);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

await checkSandbox();
const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'gaplab-bench-pyh-')), 'noop-py');
mkdirSync(dir);
writeFileSync(path.join(dir, 'method.py'), METHOD);
writeFileSync(
  path.join(dir, 'harness.py'),
  'import gaplab_harness as gh\ngh.report(score=float(gh.run_candidate("method.noop", args=(1,))))\n',
);
writeFileSync(
  path.join(dir, 'experiment.yaml'),
  `kind: code
description: no-op
metrics: [{ name: score }]
harness: ['{python}', '{dir}/harness.py']
code: { editable: [method.py], interface: noop(x) -> x }
`,
);
const py = await loadCommandExperiment(path.join(dir, 'experiment.yaml'));
if (!isCodeExperiment(py)) throw new Error('not a code experiment');
// Imports numpy as the SDK's driver and weak-to-strong-code's do, so the sandboxed parts match.
const DRIVER =
  'import os, sys\nimport numpy\nsys.path.insert(0, "/input/candidate")\nimport method\nos.write(3, str(method.noop(1)).encode())\n';
const ts = defineCodeExperiment({
  name: 'noop-ts',
  description: 'no-op',
  metrics: [{ name: 'score', description: '' }],
  defaultTimeoutSeconds: 60,
  code: {
    language: 'python',
    interface: 'noop(x) -> x',
    editable: ['method.py'],
    initialSource: { 'method.py': METHOD },
    async evaluate(source, _params, ctx) {
      const r = await runPythonCandidate({
        source,
        driver: DRIVER,
        inputs: {},
        signal: ctx.signal,
      });
      const f = candidateFailure(r);
      if (f) throw f;
      return { score: Number(r.result.toString()) };
    },
  },
});
const times: Record<string, number[]> = { python: [], typescript: [] };
for (let i = 0; i < runs + 1; i++) {
  for (const [name, def] of [
    ['python', py],
    ['typescript', ts],
  ] as const) {
    const t = performance.now();
    const r = await runCodeSeed(
      def,
      { 'method.py': METHOD },
      {},
      {
        seed: i + 1,
        outDir: mkdtempSync(path.join(os.tmpdir(), 'gaplab-bench-pyh-out-')),
        objective: 'score',
      },
    );
    if (r.status !== 'succeeded') throw new Error(`${name}: ${r.error}`);
    if (i > 0) times[name]!.push(performance.now() - t); // the first run warms caches
  }
}
const p = median(times.python!);
const t = median(times.typescript!);
console.log(`| harness | median per seed (${runs} seeds) |`);
console.log('| --- | --- |');
console.log(`| Python (SDK, venv python + channel + sandbox round trip) | ${p.toFixed(0)} ms |`);
console.log(`| TypeScript (runPythonCandidate in the worker) | ${t.toFixed(0)} ms |`);
console.log(`| difference | ${(p - t).toFixed(0)} ms |`);
