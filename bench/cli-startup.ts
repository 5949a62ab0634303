/**
 * Whole-process start-up of the `gaplab` command, as people and scripts call it: `gaplab --help`
 * and `gaplab status <campaign>` (against a real API server on loopback over a fake service, so
 * only the CLI's own cost is measured). Three ways to run the same command, interleaved so each
 * sees the same machine load, median of N runs each:
 * - build: `node bin/gaplab.mjs`, running the compiled build (dist/, `npm run build:js`);
 * - sources: the same launcher told to run the TypeScript sources through tsx in-process;
 * - tsx child: `tsx cli/main.ts` in a child process, how the launcher ran every command before
 *   the build existed.
 *
 *     npx tsx bench/cli-startup.ts [--runs 15]
 *
 * Target: `--help` and `status` answer in at most 0.5 s at the median on a quiet 2-core machine.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startServer } from '../server/server.js';
import { FakeService, testTokens, TOKENS } from '../test/support/fake-service.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function timed(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, argv, {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.once('error', reject);
    c.once('close', (code) =>
      code === 0
        ? resolve(performance.now() - t)
        : reject(new Error(`${argv.join(' ')} exited ${code}: ${err.slice(-500)}`)),
    );
  });
}

export interface CliStartup {
  runs: number;
  /** Median milliseconds per command and way of running it. */
  medianMs: Record<'help' | 'status', Record<'build' | 'sources' | 'tsxChild', number>>;
}

export async function benchCliStartup(runs = 15): Promise<CliStartup> {
  if (!existsSync(path.join(ROOT, 'dist', '.built')))
    throw new Error('no compiled build: run `npm run build:js` first');
  const server = await startServer({
    config: { host: '127.0.0.1', port: 0, logLevel: 'warn' },
    service: new FakeService(),
    tokens: testTokens(),
    print: () => {},
  });
  try {
    const env = { ...process.env, GAPLAB_URL: server.url, GAPLAB_TOKEN: TOKENS.viewer };
    const launcher = path.join(ROOT, 'bin', 'gaplab.mjs');
    const tsxCli = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const commands = { help: ['--help'], status: ['status', 'c1'] } as const;
    const ways = {
      build: (args: readonly string[]) => timed([launcher, ...args], env),
      sources: (args: readonly string[]) =>
        timed([launcher, ...args], { ...env, GAPLAB_CLI_SOURCE: '1' }),
      tsxChild: (args: readonly string[]) =>
        timed([tsxCli, path.join(ROOT, 'cli', 'main.ts'), ...args], env),
    };
    const samples: Record<string, number[]> = {};
    for (let i = 0; i < runs; i++) {
      for (const [c, args] of Object.entries(commands)) {
        for (const [w, run] of Object.entries(ways)) {
          (samples[`${c}.${w}`] ??= []).push(await run(args));
        }
      }
    }
    const m = (k: string) => median(samples[k] ?? []);
    return {
      runs,
      medianMs: {
        help: { build: m('help.build'), sources: m('help.sources'), tsxChild: m('help.tsxChild') },
        status: {
          build: m('status.build'),
          sources: m('status.sources'),
          tsxChild: m('status.tsxChild'),
        },
      },
    };
  } finally {
    await server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
  const r = await benchCliStartup(Number(values.runs));
  const f = (x: number) => `${(x / 1000).toFixed(2)} s`;
  console.log(`gaplab start-up, median of ${r.runs} whole processes each (target <= 0.5 s):`);
  console.log('| command | build (dist/) | sources via tsx, in-process | tsx child (before) |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const [c, w] of Object.entries(r.medianMs))
    console.log(
      `| \`gaplab ${c === 'help' ? '--help' : 'status <campaign>'}\` | ${f(w.build)} | ${f(w.sources)} | ${f(w.tsxChild)} |`,
    );
}
