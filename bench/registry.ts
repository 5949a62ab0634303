/** The benchmarks, in the order they run and appear in RESULTS.md. */
import { agent } from './agent.js';
import { failures } from './failures.js';
import { overhead } from './overhead.js';
import { quality } from './quality.js';
import { scale } from './scale.js';
import { slots } from './slots.js';
import type { Benchmark } from './suite.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each benchmark has its own data shape
export const SUITE: Benchmark<any>[] = [overhead, slots, quality, scale, agent, failures];
