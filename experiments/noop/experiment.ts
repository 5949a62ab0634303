/**
 * Experiments that do (almost) nothing, for measuring orchestration overhead: `noop` returns at
 * once, `sleep` waits `seconds` (default 1) and so measures slot efficiency.
 * Both report `value` = the param `x` (default 0), so a search has something to optimise.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExperimentDefinition } from '../types.js';

const num = (v: unknown, fallback: number): number =>
  typeof v === 'number' && Number.isFinite(v) ? v : fallback;

const noop: ExperimentDefinition = {
  name: 'noop',
  description: 'Returns at once with value = x (default 0). For measuring orchestration overhead.',
  metrics: [{ name: 'value', description: 'the param x', direction: 'maximize' }],
  defaultTimeoutSeconds: 10,
  runner: {
    kind: 'function',
    async run(params) {
      return { value: num(params.x, 0) };
    },
  },
};

const sleepExperiment: ExperimentDefinition = {
  name: 'sleep',
  description:
    'Sleeps `seconds` (default 1), then reports value = x (default 0). For measuring slot efficiency.',
  metrics: [
    { name: 'value', description: 'the param x', direction: 'maximize' },
    { name: 'slept_seconds', description: 'measured sleep' },
  ],
  defaultTimeoutSeconds: 600,
  runner: {
    kind: 'function',
    async run(params, ctx) {
      const seconds = Math.max(0, num(params.seconds, 1));
      const started = performance.now();
      await sleep(seconds * 1000, undefined, { signal: ctx.signal });
      return { value: num(params.x, 0), slept_seconds: (performance.now() - started) / 1000 };
    },
  },
};

export default [noop, sleepExperiment];
