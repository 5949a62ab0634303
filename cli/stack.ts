import type { Command } from 'commander';
import { Stack, type StackInfo } from '../stack/index.js';
import {
  ensureBubblewrap,
  ensureChromium,
  ensureInstalled,
  ensurePostgres,
  resolveTimeSkippingServer,
} from '../stack/install.js';

const log = (line: string) => console.log(line);

export function printStack(info: StackInfo): void {
  for (const s of info.services) {
    const state = s.healthy ? 'healthy' : 'down';
    const owner =
      s.owner === 'external' ? ' (not started by gaplab)' : s.pid ? ` (pid ${s.pid})` : '';
    console.log(
      `${s.name.padEnd(9)} ${state.padEnd(8)} ${s.address}${s.ui ? `  UI ${s.ui}` : ''}${owner}`,
    );
    if (!s.healthy && s.owner !== 'none') console.log(`          log: ${s.logFile}`);
  }
}

export function registerStackCommands(program: Command): void {
  program
    .command('setup')
    .description(
      'Install what the stack needs (Temporal CLI, Python venv with MLflow and Optuna, bubblewrap for code experiments); idempotent.',
    )
    .option('--browser', 'also Chromium for the browser tests')
    .option('--postgres', "also PostgreSQL (Debian's package) for `stack up --postgres`")
    .option(
      '--time-skipping',
      "also Temporal's time-skipping test server for the workflow tests (from Maven Central; needs java and mvn)",
    )
    .action(async (o: { browser?: boolean; postgres?: boolean; timeSkipping?: boolean }) => {
      const res = await ensureInstalled(log);
      console.log(`Temporal CLI: ${res.temporal.path} (${res.temporal.source})`);
      console.log(`Python:       ${res.python}`);
      console.log(
        `Sandbox:      ${(await ensureBubblewrap(log)) ?? 'bubblewrap missing: code experiments refused'}`,
      );
      if (o.browser) console.log(`Chromium:     ${(await ensureChromium(log)) ?? 'not installed'}`);
      if (o.postgres) console.log(`PostgreSQL:   ${await ensurePostgres(log)}`);
      if (o.timeSkipping) {
        const server = await resolveTimeSkippingServer(log);
        console.log(`Test server:  ${server.path} (${server.source})`);
      }
    });

  const stack = program
    .command('stack')
    .description('The local Temporal dev server and MLflow server.');
  stack
    .command('up')
    .description(
      'Install if needed, start (or reuse) the services and wait until they are healthy.',
    )
    .option(
      '--postgres',
      "MLflow's records on a PostgreSQL cluster of the stack's own (port GAPLAB_POSTGRES_PORT, default 5433) instead of SQLite",
    )
    .action(async (o: { postgres?: boolean }) => {
      const info = await new Stack({ log, ...(o.postgres ? { postgres: true } : {}) }).up();
      printStack(info);
    });
  stack
    .command('down')
    .description('Stop the services this stack started.')
    .action(async () => {
      await new Stack({ log }).down();
    });
  stack
    .command('status')
    .description('Show each service and whether it is healthy.')
    .action(async () => {
      const info = await new Stack().status();
      printStack(info);
      if (info.services.some((s) => !s.healthy)) process.exitCode = 3;
    });
}
