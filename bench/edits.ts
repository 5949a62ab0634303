/**
 * What the largest allowed edits cost the service: each edit of test/support/worst-edits.ts
 * (200 KB files built to make a line diff or a patch work hardest) applied and diffed as
 * resolveSource does, in a child process with a 256 MiB heap. Reports the time the event loop
 * is blocked (median of the runs) and the heap the child ended with.
 *
 *     npx tsx bench/edits.ts [--runs 5] [--write]
 *
 * `--write` replaces this benchmark's section of bench/RESULTS.md (and keeps a copy as
 * bench/results/edits.standalone.md, which `npm run bench` appends when it renders the file).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RESULTS_MD } from './results.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SECTION_START = '<!-- edits: written by `npx tsx bench/edits.ts --write` -->';
const SECTION_END = '<!-- /edits -->';

interface Row {
  name: string;
  outcome: string;
  medianMs: number;
  maxMs: number;
  heapMiB: number;
}

/** Runs every worst edit `runs` times in a child with a 256 MiB heap; one row per edit. */
function measure(runs: number): Row[] {
  const script = `
    const { applyEdits, checkedDiff } = await import(${JSON.stringify(path.join(ROOT, 'domain/code.ts'))});
    const { worstEdits } = await import(${JSON.stringify(path.join(ROOT, 'test/support/worst-edits.ts'))});
    for (const w of worstEdits()) {
      const ms = [];
      let outcome = '';
      for (let i = 0; i < ${runs}; i++) {
        const t = performance.now();
        try {
          const diff = checkedDiff(w.parent, applyEdits(w.parent, w.edits));
          outcome = 'diffed, ' + Math.round(diff.length / 1000) + ' KB';
        } catch (e) {
          outcome = 'refused: ' + e.name;
        }
        ms.push(performance.now() - t);
      }
      ms.sort((a, b) => a - b);
      console.log(JSON.stringify({ name: w.name, outcome, medianMs: ms[ms.length >> 1], maxMs: ms.at(-1), heapMiB: process.memoryUsage().heapUsed / 2 ** 20 }));
    }`;
  const r = spawnSync(
    process.execPath,
    ['--max-old-space-size=256', '--import', 'tsx', '--input-type=module', '-e', script],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`the child failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Row);
}

function render(rows: Row[], runs: number): string {
  const f = (x: number) => x.toFixed(0);
  return [
    `_${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ${os.cpus().length}x ${os.cpus()[0]?.model ?? 'cpu'}, load ${os.loadavg()[0]?.toFixed(2)} at start; node ${process.version}; ${runs} runs each, in one child with --max-old-space-size=256_`,
    '',
    'Each edit is applied to its parent and diffed as `resolveSource` does (`applyEdits` + `checkedDiff`, limits `DIFF_LIMITS`: 10,000 lines a file, 4,000 changed lines). The time is how long the event loop is blocked.',
    '',
    '| edit | outcome | median ms | max ms | heap after, MiB |',
    '| --- | --- | ---: | ---: | ---: |',
    ...rows.map(
      (r) => `| ${r.name} | ${r.outcome} | ${f(r.medianMs)} | ${f(r.maxMs)} | ${f(r.heapMiB)} |`,
    ),
    '',
    'Before the linear-space diff, "every line replaced (200 KB)" ran the worker out of a 256 MiB heap (FATAL ERROR: Reached heap limit, after 5 s); before the linear-time search, String.prototype.indexOf took 9.4 s for "one odd character in its middle" (node 20), for each of up to 64 edits.',
  ].join('\n');
}

function writeSection(body: string): void {
  const md = readFileSync(RESULTS_MD, 'utf8');
  const section = `${SECTION_START}\n\n## Edits: the largest allowed, applied and diffed\n\n${body}\n\n${SECTION_END}`;
  const a = md.indexOf(SECTION_START);
  const b = md.indexOf(SECTION_END);
  const next =
    a >= 0 && b > a
      ? `${md.slice(0, a)}${section}${md.slice(b + SECTION_END.length)}`
      : `${md.trimEnd()}\n\n${section}\n`;
  writeFileSync(RESULTS_MD, next);
  writeFileSync(path.join(ROOT, 'bench/results/edits.standalone.md'), `${section}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '5' }, write: { type: 'boolean', default: false } },
  });
  const runs = Number(values.runs);
  const body = render(measure(runs), runs);
  console.log(body);
  if (values.write) writeSection(body);
}
