/**
 * The local stack: the Temporal dev server (SQLite file, UI on) and the MLflow tracking server
 * (SQLite backend, or with `postgres` a PostgreSQL cluster of the stack's own; proxied local
 * artifact store), run as processes the project starts, checks and stops itself. Used by the
 * demo, the tests, the benchmarks and `gaplab stack up|down|status`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { ensureInstalled, ensurePostgres, type Log } from './install.js';
import {
  credentialsPath,
  mlflowAuthEnv,
  prepareMlflowAuth,
  provisionMlflowUsers,
  readCredentialsFile,
  type MlflowRole,
} from './mlflow-auth.js';
import type { MlflowCredentials } from '../mlflow-ts-client/index.js';
import { paths, STATE_DIR } from './paths.js';
import { PostgresCluster } from './postgres.js';
import {
  describeHolder,
  isAlive,
  killGroup,
  logTail,
  portHolder,
  portOpen,
  startDetached,
  stopGroup,
  waitUntil,
} from './process.js';

export interface StackOptions {
  /**
   * Folder for this stack's data, logs and pid files. @default <state>/stack, or
   * <state>/stack-<temporalPort>-<mlflowPort> on other ports
   */
  dir?: string;
  /** @default 127.0.0.1 */
  host?: string;
  /** Temporal frontend gRPC port. @default GAPLAB_TEMPORAL_PORT, else 7233 */
  temporalPort?: number;
  /** Temporal Web UI port. @default GAPLAB_TEMPORAL_UI_PORT, else temporalPort + 1000 */
  temporalUiPort?: number;
  /** MLflow tracking server port. @default 5050 */
  mlflowPort?: number;
  /** Start-up timeout per service. @default 120000 */
  startTimeoutMs?: number;
  /**
   * MLflow's backend store on a PostgreSQL cluster of the stack's own instead of SQLite.
   * @default GAPLAB_POSTGRES=1
   */
  postgres?: boolean;
  /** PostgreSQL port (loopback). @default GAPLAB_POSTGRES_PORT or 5433 */
  postgresPort?: number;
  /**
   * Run MLflow with its basic-auth app: no anonymous access, generated passwords (stack/mlflow-auth.ts).
   * @default true, unless GAPLAB_MLFLOW_AUTH=0
   */
  mlflowAuth?: boolean;
  /**
   * Use a healthy Temporal or MLflow already on the stack's ports that this stack did not start
   * (no pid file of its own). Without it such a server is refused, naming who holds the port:
   * on a shared machine it may be someone else's. @default GAPLAB_ADOPT=1
   */
  adopt?: boolean;
  log?: Log;
}

export type ServiceName = 'temporal' | 'mlflow' | 'postgres';

export interface ServiceStatus {
  name: ServiceName;
  healthy: boolean;
  /** Our own process (pid file) or one already listening that we did not start. */
  owner: 'stack' | 'external' | 'none';
  pid?: number;
  address: string;
  ui?: string;
  logFile: string;
}

export interface StackInfo {
  temporalAddress: string;
  temporalUi: string;
  mlflowUri: string;
  /** Where the MLflow users' passwords are (0600), when this stack runs MLflow with auth. */
  mlflowCredentialsFile?: string;
  services: ServiceStatus[];
}

/** Custom search attributes campaigns are indexed by. */
export const SEARCH_ATTRIBUTES = {
  GaplabProblem: 'Keyword',
  GaplabStrategy: 'Keyword',
  GaplabStatus: 'Keyword',
} as const;

export async function temporalHealthy(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  if (!(await portOpen(Number(port), host))) return false;
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 2000 });
    const res = await connection.healthService.check({});
    return res.status === 1; // SERVING
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => {});
  }
}

export async function mlflowHealthy(uri: string): Promise<boolean> {
  try {
    const res = await fetch(`${uri}/health`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

export class Stack {
  readonly dir: string;
  readonly host: string;
  readonly temporalPort: number;
  readonly temporalUiPort: number;
  readonly mlflowPort: number;
  readonly postgres: boolean;
  readonly postgresPort: number;
  readonly mlflowAuth: boolean;
  readonly adopt: boolean;
  private readonly startTimeoutMs: number;
  private readonly log: Log;

  constructor(opts: StackOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    this.temporalPort = opts.temporalPort ?? Number(process.env.GAPLAB_TEMPORAL_PORT || 7233);
    this.temporalUiPort =
      opts.temporalUiPort ??
      Number(process.env.GAPLAB_TEMPORAL_UI_PORT || this.temporalPort + 1000);
    this.mlflowPort = opts.mlflowPort ?? Number(process.env.GAPLAB_MLFLOW_PORT || 5050);
    // A stack on other ports keeps its data and pid files apart: two Temporal servers on one
    // SQLite file lock each other out.
    this.dir =
      opts.dir ??
      path.join(
        STATE_DIR,
        this.temporalPort === 7233 && this.mlflowPort === 5050
          ? 'stack'
          : `stack-${this.temporalPort}-${this.mlflowPort}`,
      );
    this.startTimeoutMs = opts.startTimeoutMs ?? 120_000;
    this.postgres = opts.postgres ?? process.env.GAPLAB_POSTGRES === '1';
    this.postgresPort = opts.postgresPort ?? Number(process.env.GAPLAB_POSTGRES_PORT || 5433);
    this.mlflowAuth = opts.mlflowAuth ?? process.env.GAPLAB_MLFLOW_AUTH !== '0';
    this.adopt = opts.adopt ?? process.env.GAPLAB_ADOPT === '1';
    this.log = opts.log ?? (() => {});
  }

  get temporalAddress(): string {
    return `${this.host}:${this.temporalPort}`;
  }
  get temporalUi(): string {
    return `http://${this.host}:${this.temporalUiPort}`;
  }
  get mlflowUri(): string {
    return `http://${this.host}:${this.mlflowPort}`;
  }

  /**
   * The MLflow credentials of the service account or of a role's user, from the stack's
   * credentials file; undefined when this stack has not run MLflow with auth.
   */
  mlflowCredentials(role: MlflowRole | 'service' = 'service'): MlflowCredentials | undefined {
    const creds = readCredentialsFile(credentialsPath(this.dir));
    if (!creds) return undefined;
    return role === 'service' ? creds.service : creds.roles[role];
  }

  private pidFile(name: ServiceName): string {
    return path.join(this.dir, 'run', `${name}.pid`);
  }
  logFile(name: ServiceName): string {
    return path.join(this.dir, 'logs', `${name}.log`);
  }
  private readPid(name: ServiceName): number | undefined {
    try {
      const pid = Number(fs.readFileSync(this.pidFile(name), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }
  private writePid(name: ServiceName, pid: number): void {
    fs.mkdirSync(path.dirname(this.pidFile(name)), { recursive: true });
    fs.writeFileSync(this.pidFile(name), String(pid));
  }

  /**
   * Whether to start a service on `port`: 'start' when the port is free; 'reuse' when a healthy
   * one runs that this stack started (its pid file), or that the caller adopts. Anything else on
   * the port is refused with who holds it and how to go on.
   */
  private async claim(
    name: 'temporal' | 'mlflow',
    port: number,
    healthy: boolean,
  ): Promise<'start' | 'reuse'> {
    const what = name === 'temporal' ? 'Temporal' : 'MLflow';
    const address = name === 'temporal' ? this.temporalAddress : this.mlflowUri;
    const portEnv = name === 'temporal' ? 'GAPLAB_TEMPORAL_PORT' : 'GAPLAB_MLFLOW_PORT';
    const pid = this.readPid(name);
    if (healthy && pid !== undefined) {
      this.log(`${what} already running at ${address} (started by this stack, pid ${pid})`);
      return 'reuse';
    }
    if (healthy && this.adopt) {
      this.log(`${what} at ${address} was not started by this stack: using it as it is (adopt)`);
      return 'reuse';
    }
    if (!healthy && !(await portOpen(port, this.host))) return 'start';
    const holder = describeHolder(portHolder(port));
    if (healthy)
      throw new Error(
        `a ${what} server this stack did not start answers at ${address}: ${holder}. ` +
          `gaplab uses only servers it started itself (${this.dir}) unless told to. ` +
          `To use this one on purpose: gaplab stack up --adopt (or GAPLAB_ADOPT=1). ` +
          `To start your own beside it: ${portEnv}=<free port>.`,
      );
    if (pid !== undefined)
      throw new Error(
        `this stack's ${what} (pid ${pid}) holds port ${port} but does not answer as a healthy ${what}: ` +
          `gaplab stack down, then up again (log: ${this.logFile(name)}).`,
      );
    throw new Error(
      `port ${port} is in use by ${holder}, which is not a healthy ${what} server: ` +
        `stop it, or start the stack on another port (${portEnv}=<free port>).`,
    );
  }

  async status(): Promise<StackInfo> {
    const [t, m, pg] = await Promise.all([
      temporalHealthy(this.temporalAddress),
      mlflowHealthy(this.mlflowUri),
      this.postgres || this.readPid('postgres') !== undefined
        ? portOpen(this.postgresPort, this.host)
        : Promise.resolve(false),
    ]);
    const describe = (
      name: ServiceName,
      healthy: boolean,
      address: string,
      ui?: string,
    ): ServiceStatus => {
      const pid = this.readPid(name);
      return {
        name,
        healthy,
        owner: pid !== undefined ? 'stack' : healthy ? 'external' : 'none',
        ...(pid !== undefined ? { pid } : {}),
        address,
        ...(ui ? { ui } : {}),
        logFile: this.logFile(name),
      };
    };
    return {
      temporalAddress: this.temporalAddress,
      temporalUi: this.temporalUi,
      mlflowUri: this.mlflowUri,
      ...(fs.existsSync(credentialsPath(this.dir))
        ? { mlflowCredentialsFile: credentialsPath(this.dir) }
        : {}),
      services: [
        describe('temporal', t, this.temporalAddress, this.temporalUi),
        describe('mlflow', m, this.mlflowUri),
        ...(this.postgres || this.readPid('postgres') !== undefined
          ? [describe('postgres', pg, `${this.host}:${this.postgresPort}`)]
          : []),
      ],
    };
  }

  /**
   * Installs what is missing, then starts each service, or reuses one this stack started that is
   * still healthy; a server it did not start is used only with `adopt`.
   */
  async up(): Promise<StackInfo> {
    const installed = await ensureInstalled(this.log);
    this.log(`Temporal CLI: ${installed.temporal.path} (${installed.temporal.source})`);
    const results = await Promise.allSettled([
      this.upTemporal(installed.temporal.path),
      this.upMlflow(),
    ]);
    const failures = results.flatMap((r, i) =>
      r.status === 'rejected'
        ? [`${i === 0 ? 'Temporal' : 'MLflow'}: ${(r.reason as Error).message}`]
        : [],
    );
    if (failures.length > 0) {
      throw new Error(`The stack did not start:\n${failures.join('\n')}`);
    }
    return this.status();
  }

  async upTemporal(binary: string): Promise<void> {
    const healthy = await temporalHealthy(this.temporalAddress);
    if ((await this.claim('temporal', this.temporalPort, healthy)) === 'reuse') return;
    if (await portOpen(this.temporalUiPort, this.host)) {
      throw new Error(
        `port ${this.temporalUiPort} (for Temporal's web UI) is in use by ${describeHolder(portHolder(this.temporalUiPort))}: ` +
          `stop it, or give the UI another port (GAPLAB_TEMPORAL_UI_PORT=<free port>).`,
      );
    }
    const dataDir = path.join(this.dir, 'data');
    fs.mkdirSync(dataDir, { recursive: true });
    const args = [
      'server',
      'start-dev',
      '--ip',
      this.host,
      '--port',
      String(this.temporalPort),
      '--ui-port',
      String(this.temporalUiPort),
      '--db-filename',
      path.join(dataDir, 'temporal.db'),
      '--log-level',
      'warn',
      // Larger payloads and histories stay within the dev server's defaults; search attributes
      // let the API list campaigns by problem, strategy and status.
      ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([k, v]) => ['--search-attribute', `${k}=${v}`]),
      // Eager activity dispatch: the worker that schedules an experiment (or strategy call) in a
      // workflow task gets the activity in the task's reply, without a round trip through the
      // server's matching (about 110 ms to 0.2 ms from scheduled to started, at concurrency 8).
      // The SDK asks for it by default; the dev server honours it only when enabled.
      '--dynamic-config-value',
      'system.enableActivityEagerExecution=true',
    ];
    const proc = startDetached(binary, args, { logFile: this.logFile('temporal') });
    this.writePid('temporal', proc.pid);
    this.log(
      `Starting Temporal (pid ${proc.pid}) at ${this.temporalAddress}, UI ${this.temporalUi}`,
    );
    await waitUntil(() => temporalHealthy(this.temporalAddress), {
      timeoutMs: this.startTimeoutMs,
      pid: proc.pid,
      what: 'Temporal dev server',
      logFile: proc.logFile,
      log: this.log,
      waitingFor: `its gRPC health check at ${this.temporalAddress}`,
    });
  }

  /** The stack's PostgreSQL cluster (created and started when needed); returns MLflow's URI. */
  async upPostgres(): Promise<string> {
    const cluster = new PostgresCluster({
      dir: path.join(this.dir, 'postgres'),
      host: this.host,
      port: this.postgresPort,
      binDir: await ensurePostgres(this.log),
    });
    await cluster.init();
    if (!(await cluster.ready())) {
      if (await portOpen(this.postgresPort, this.host))
        throw new Error(
          `port ${this.postgresPort} is in use by something that is not this stack's PostgreSQL`,
        );
      const proc = startDetached(cluster.serverBinary, cluster.serverArgs(), {
        logFile: this.logFile('postgres'),
        ...(cluster.runAs ?? {}),
      });
      this.writePid('postgres', proc.pid);
      this.log(`Starting PostgreSQL (pid ${proc.pid}) at ${this.host}:${this.postgresPort}`);
      await waitUntil(() => cluster.ready(), {
        timeoutMs: this.startTimeoutMs,
        pid: proc.pid,
        what: 'PostgreSQL',
        logFile: proc.logFile,
        log: this.log,
        waitingFor: `it to accept connections on ${this.host}:${this.postgresPort}`,
      });
    }
    await cluster.ensureDatabase();
    return cluster.uri();
  }

  async upMlflow(): Promise<void> {
    const healthy = await mlflowHealthy(this.mlflowUri);
    if ((await this.claim('mlflow', this.mlflowPort, healthy)) === 'reuse') {
      if (this.postgres)
        this.log('(MLflow reused as it is: stop it first to move it onto PostgreSQL)');
      return;
    }
    const dataDir = path.join(this.dir, 'data');
    const artifacts = path.join(dataDir, 'mlflow-artifacts');
    fs.mkdirSync(artifacts, { recursive: true });
    const auth = this.mlflowAuth ? prepareMlflowAuth(this.dir, dataDir, this.mlflowUri) : undefined;
    const args = [
      'server',
      ...(auth ? ['--app-name', 'basic-auth'] : []),
      '--host',
      this.host,
      '--port',
      String(this.mlflowPort),
      '--backend-store-uri',
      this.postgres ? await this.upPostgres() : `sqlite:///${path.join(dataDir, 'mlflow.db')}`,
      '--artifacts-destination',
      artifacts,
      '--serve-artifacts',
      // Gunicorn's synchronous workers rather than uvicorn (MLflow 3's default): MLflow's
      // handlers are synchronous, and uvicorn runs them through a thread pool and logs every
      // request. Trial records per second on 2 cores, 8 in parallel: 25-32 with uvicorn, 36-49
      // with gunicorn (docs/decisions/0007-local-mlflow-gunicorn-fresh-connections.md). Four
      // workers, so a slow request (a large search, a log download) holds one of four; a request
      // over 120 s is cut off.
      '--workers',
      '4',
      '--gunicorn-opts',
      '--timeout 120',
    ];
    const proc = startDetached(paths.venvBin('mlflow'), args, {
      logFile: this.logFile('mlflow'),
      // MLflow's job runner (GenAI scorers) starts ~8 Python processes of ~230 MB each; gaplab
      // does not use it.
      env: {
        ...process.env,
        MLFLOW_TRACKING_URI: '',
        PYTHONUNBUFFERED: '1',
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
        ...(auth ? mlflowAuthEnv(auth.configPath, auth.credentials) : {}),
      },
    });
    this.writePid('mlflow', proc.pid);
    this.log(`Starting MLflow (pid ${proc.pid}) at ${this.mlflowUri}`);
    await waitUntil(() => mlflowHealthy(this.mlflowUri), {
      timeoutMs: this.startTimeoutMs,
      pid: proc.pid,
      what: 'MLflow server',
      logFile: proc.logFile,
      log: this.log,
      waitingFor: `${this.mlflowUri}/health`,
    });
    if (auth) {
      await provisionMlflowUsers(this.mlflowUri, auth.credentials);
      this.log(
        `MLflow users (service account, pi, researcher, viewer): ${credentialsPath(this.dir)}`,
      );
    }
  }

  /** Stops the services this stack started (never one it found running). */
  async down(only?: ServiceName): Promise<void> {
    const stop = async (name: ServiceName) => {
      const pid = this.readPid(name);
      if (pid !== undefined) {
        this.log(`Stopping ${name} (pid ${pid})`);
        await stopGroup(pid);
      }
      fs.rmSync(this.pidFile(name), { force: true });
    };
    if (only) return stop(only);
    await Promise.all([stop('temporal'), stop('mlflow')]);
    // Last: PostgreSQL's shutdown waits for MLflow's connections to close.
    await stop('postgres');
  }

  /** Kills a service hard (for failure tests): SIGKILL to its process group. */
  /** Stops a service at once: SIGKILL to its process group when `hard`, else SIGTERM without grace. */
  async kill(name: ServiceName, opts: { hard?: boolean } = {}): Promise<void> {
    const pid = this.readPid(name);
    if (pid === undefined) return;
    await (opts.hard ? killGroup(pid) : stopGroup(pid, 0));
    fs.rmSync(this.pidFile(name), { force: true });
  }

  tail(name: ServiceName, lines = 20): string {
    return logTail(this.logFile(name), lines);
  }
}
