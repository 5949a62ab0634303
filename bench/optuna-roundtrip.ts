/**
 * Round trip of one Optuna suggestion from TypeScript (JSON over the pipe, study update, TPE
 * sampling, reply), by history size: median and p95 over repeated calls.
 *
 *   npx tsx bench/optuna-roundtrip.ts [--sizes 0,100,1000,10000] [--calls 30] [--n 1]
 *
 * "cached" calls reuse the campaign's study (same key, history only grows by one trial per call,
 * as in a campaign); "cold" calls send no key, so the study is rebuilt from the full history.
 */
import { parseArgs } from 'node:util';
import type { Param } from '../domain/schemas.js';
import { OptunaService, type OptunaHistoryEntry } from '../stack/optuna-service.js';
import { seededRng } from '../domain/space.js';

const space: Param[] = [
  { name: 'lr', kind: 'float', low: 1e-4, high: 1, log: true },
  { name: 'epochs', kind: 'int', low: 1, high: 50, log: false },
  { name: 'optimizer', kind: 'categorical', choices: ['sgd', 'adam'] },
  {
    name: 'momentum',
    kind: 'float',
    low: 0,
    high: 0.99,
    log: false,
    condition: { parent: 'optimizer', values: ['sgd'] },
  },
  { name: 'aux', kind: 'boolean' },
  { name: 'w', kind: 'float', low: 0, high: 1, log: false },
];

function entry(rng: () => number): OptunaHistoryEntry {
  const sgd = rng() < 0.5;
  return {
    params: {
      lr: 10 ** (-4 + 4 * rng()),
      epochs: 1 + Math.floor(rng() * 50),
      optimizer: sgd ? 'sgd' : 'adam',
      ...(sgd ? { momentum: rng() * 0.99 } : {}),
      aux: rng() < 0.5,
      w: rng(),
    },
    value: rng() < 0.05 ? null : rng(),
    state: 'complete',
    feasible: rng() > 0.1,
  };
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))]!;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '0,100,1000,10000' },
      calls: { type: 'string', default: '30' },
      n: { type: 'string', default: '1' },
    },
  });
  const sizes = values.sizes!.split(',').map(Number);
  const calls = Number(values.calls);
  const n = Number(values.n);
  const service = new OptunaService();
  const rng = seededRng(1);
  try {
    const t0 = performance.now();
    await service.ping();
    console.log(`process start + first reply: ${(performance.now() - t0).toFixed(0)} ms`);
    console.log(`suggestions per call: ${n}; ${calls} calls per row (fewer for cold 10k)`);
    console.log(
      'history | mode | median ms | p95 ms | python study ms (median) | python sampling ms (median)',
    );
    for (const size of sizes) {
      for (const mode of ['cached', 'cold'] as const) {
        const history = Array.from({ length: size }, () => entry(rng));
        const times: number[] = [];
        const study: number[] = [];
        const sample: number[] = [];
        const rounds = mode === 'cold' && size >= 10_000 ? Math.min(calls, 8) : calls;
        const key = `bench-${size}-${mode}`;
        for (let i = 0; i < rounds + 1; i++) {
          const t = performance.now();
          const reply = await service.suggest({
            space,
            direction: 'maximize',
            history,
            sampler: 'tpe',
            seed: i,
            n,
            ...(mode === 'cached' ? { key } : {}),
          });
          const ms = performance.now() - t;
          // The first cached call builds the study; what a campaign pays per iteration is the rest.
          if (i > 0) {
            times.push(ms);
            study.push(reply.stats.studyMs);
            sample.push(reply.stats.sampleMs);
          }
          history.push(entry(rng));
        }
        console.log(
          `${size} | ${mode} | ${quantile(times, 0.5).toFixed(1)} | ${quantile(times, 0.95).toFixed(1)} | ${quantile(study, 0.5).toFixed(1)} | ${quantile(sample, 0.5).toFixed(1)}`,
        );
      }
    }
  } finally {
    await service.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
