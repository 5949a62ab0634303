/**
 * What withholding hidden values by value costs a request (server/hidden-match.ts,
 * server/hidden.ts): a 10,000-trial problem's hidden values (5 seeds and the mean of 2 hidden
 * metrics per trial, plus hidden PGR and shortfall per mean: 160,000 values) compiled into one
 * matcher, then used on a 64 KiB log tail full of numbers and on a 1,000-trial page.
 *
 *     npx tsx bench/hidden-match.ts            # prints the table
 *     npx tsx bench/hidden-match.ts --write    # and writes its section of bench/RESULTS.md
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HiddenRedactor } from '../server/hidden.js';
import { ValueMatcher } from '../server/hidden-match.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_MD = path.join(ROOT, 'bench/RESULTS.md');
const SECTION_START = '<!-- hidden-match: written by `npx tsx bench/hidden-match.ts --write` -->';
const SECTION_END = '<!-- /hidden-match -->';

/** A deterministic stream in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Median wall time of `fn` in ms over `runs` runs (after one warm-up). */
function time(fn: () => unknown, runs: number): number {
  fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

const rand = rng(7);
const TRIALS = 10_000;
const values: number[] = [];
for (let t = 0; t < TRIALS; t++)
  for (let h = 0; h < 2; h++) {
    const seeds = Array.from({ length: 5 }, () => 0.6 + rand() * 0.3);
    const mean = seeds.reduce((a, b) => a + b, 0) / seeds.length;
    values.push(...seeds, mean, (mean - 0.6) / 0.3, rand() - 0.5);
  }

const logTail = (() => {
  const lines: string[] = [];
  let bytes = 0;
  for (let i = 0; bytes < 64 * 1024; i++) {
    const line = `epoch ${i}: loss ${rand().toFixed(5)} dev_acc ${rand().toFixed(4)} (${(rand() * 100).toFixed(2)}%) lr ${(rand() / 100).toExponential(3)} step=${i * 64}`;
    lines.push(line);
    bytes += line.length + 1;
  }
  return lines.join('\n');
})();
const numbersInTail = logTail.match(/\d+(?:\.\d+)?/g)!.length;

const page = Array.from({ length: 1000 }, (_, i) => ({
  id: `t${i}`,
  title: `idea ${i}: lr ${(rand() / 100).toFixed(5)} with label smoothing ${rand().toFixed(3)}`,
  rationale: 'a longer rationale about why this could help, with a number 0.25 in it',
  metrics: { dev_acc: rand(), heldout_acc: values[i * 8]! },
  hiddenMetrics: ['heldout_acc'],
  pgr: { mean: rand(), ciLow: rand(), ciHigh: rand() },
  failureReason: null,
  flags: [],
}));

const buildMs = time(() => new ValueMatcher(values), 10);
const matcher = new ValueMatcher(values);
const scrubMs = time(() => ValueMatcher.scrub(logTail, [matcher], 'hidden'), 50);
const scrubEmptyMs = time(() => ValueMatcher.scrub(logTail, [ValueMatcher.EMPTY], 'hidden'), 50);
const withValues = new HiddenRedactor(['heldout_acc'], [matcher]);
const namesOnly = new HiddenRedactor(['heldout_acc']);
const pageMs = time(() => withValues.redact(page), 20);
const pageNamesMs = time(() => namesOnly.redact(page), 20);
const redactedTail = ValueMatcher.scrub(logTail, [matcher], 'hidden');
const marked = (redactedTail.match(/hidden/g) ?? []).length;

const fmt = (ms: number) => ms.toFixed(2);
const body = [
  `_${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${os.cpus().length}x ${os.cpus()[0]?.model ?? '?'}, load ${os.loadavg()[0]?.toFixed(2)} at the end; node ${process.version}; \`npx tsx bench/hidden-match.ts --write\`_`,
  '',
  `A 10,000-trial problem's hidden values: ${values.length.toLocaleString('en')} (5 seeds, the mean, hidden PGR and shortfall, for 2 hidden metrics per trial). Median wall time:`,
  '',
  '| what | ms |',
  '| --- | ---: |',
  `| compile them into one matcher (again once the values added since are a quarter of them) | ${fmt(buildMs)} |`,
  `| scrub a 64 KiB log tail (${numbersInTail.toLocaleString('en')} numbers) with it | ${fmt(scrubMs)} |`,
  `| the same tail with no values known | ${fmt(scrubEmptyMs)} |`,
  `| redact a 1,000-trial page with the matcher | ${fmt(pageMs)} |`,
  `| the same page by name and payload values only | ${fmt(pageNamesMs)} |`,
  '',
  `Random numbers of the tail that coincide with one of the values at the precision they are written with, and are withheld for it: ${marked} of ${numbersInTail.toLocaleString('en')} (the safe side: free text cannot say which number is which).`,
].join('\n');

process.stdout.write(`${body}\n`);

const { values: args } = parseArgs({ options: { write: { type: 'boolean', default: false } } });
if (args.write) {
  const md = readFileSync(RESULTS_MD, 'utf8');
  const section = `${SECTION_START}\n\n## Withholding hidden values by value\n\n${body}\n\n${SECTION_END}`;
  const a = md.indexOf(SECTION_START);
  const b = md.indexOf(SECTION_END);
  writeFileSync(
    RESULTS_MD,
    a >= 0 && b > a
      ? `${md.slice(0, a)}${section}${md.slice(b + SECTION_END.length)}`
      : `${md.trimEnd()}\n\n${section}\n`,
  );
  // Kept beside the suite's results too: `npm run bench` renders RESULTS.md from bench/results.
  writeFileSync(path.join(ROOT, 'bench/results/hidden-match.standalone.md'), `${section}\n`);
}
