import type { Command } from 'commander';
import type { StackInfo } from '../stack/index.js';
import { MLFLOW_ROLES, type MlflowRole } from '../stack/mlflow-auth.js';

// Loaded on use, so that `gaplab --help` and the API commands start fast.
const stackModule = () => import('../stack/index.js');
const installModule = () => import('../stack/install.js');

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
  if (info.mlflowCredentialsFile)
    console.log(
      `MLflow users: ${info.mlflowCredentialsFile} (gaplab stack credentials --role pi|researcher|viewer)`,
    );
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
      const {
        ensureBubblewrap,
        ensureChromium,
        ensureInstalled,
        ensurePostgres,
        resolveTimeSkippingServer,
      } = await installModule();
      const res = await ensureInstalled(log);
      console.log(`Temporal CLI: ${res.temporal.path} (${res.temporal.source})`);
      console.log(`Python:       ${res.python}`);
      console.log(
        `Sandbox:      ${(await ensureBubblewrap(log)) ?? 'incomplete (see above): code experiments refused'}`,
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
      'Install if needed, start the services (or reuse the ones this stack started) and wait until they are healthy.',
    )
    .option(
      '--adopt',
      'also use a healthy Temporal or MLflow on these ports that this stack did not start (env GAPLAB_ADOPT=1); without it such a server is refused',
    )
    .option(
      '--postgres',
      "MLflow's records on a PostgreSQL cluster of the stack's own (port GAPLAB_POSTGRES_PORT, default 5433) instead of SQLite",
    )
    .action(async (o: { postgres?: boolean; adopt?: boolean }) => {
      const info = await new (await stackModule()).Stack({
        log,
        ...(o.postgres ? { postgres: true } : {}),
        ...(o.adopt ? { adopt: true } : {}),
      }).up();
      printStack(info);
    });
  stack
    .command('down')
    .description('Stop the services this stack started.')
    .action(async () => {
      await new (await stackModule()).Stack({ log }).down();
    });
  stack
    .command('status')
    .description('Show each service and whether it is healthy.')
    .action(async () => {
      const info = await new (await stackModule()).Stack().status();
      printStack(info);
      if (info.services.some((s) => !s.healthy)) process.exitCode = 3;
    });
  stack
    .command('credentials')
    .description(
      "Print a role's MLflow user and password (MLflow's own UI and Python client take them; PI credentials read hidden metrics too).",
    )
    .option('--role <role>', `one of ${[...MLFLOW_ROLES, 'service'].join(', ')}`, 'viewer')
    .option('--env', 'print as MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD exports')
    .action(async (o: { role: string; env?: boolean }) => {
      const roles: readonly string[] = [...MLFLOW_ROLES, 'service'];
      if (!roles.includes(o.role))
        throw new Error(`--role must be one of ${roles.join(', ')}, not "${o.role}"`);
      const stack = new (await stackModule()).Stack();
      const creds = stack.mlflowCredentials(o.role as MlflowRole | 'service');
      if (!creds) {
        console.error(
          `No MLflow credentials in ${stack.dir}: this stack's MLflow runs without authentication (or has not started yet).`,
        );
        process.exitCode = 1;
        return;
      }
      if (o.env)
        console.log(
          `export MLFLOW_TRACKING_URI=${stack.mlflowUri}\nexport MLFLOW_TRACKING_USERNAME=${creds.username}\nexport MLFLOW_TRACKING_PASSWORD=${creds.password}`,
        );
      else
        console.log(
          `MLflow ${stack.mlflowUri}\nuser:     ${creds.username}\npassword: ${creds.password}`,
        );
    });
}
