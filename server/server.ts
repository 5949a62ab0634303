/**
 * startServer: configuration, tokens, the Temporal client and the service (unless given), the
 * app, listen, and a graceful close. `gaplab server` and the demo call this.
 */
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { loadRegistry } from '../experiments/registry.js';
import { MlflowClient } from '../mlflow-ts-client/index.js';
import { mlflowCredentialsOption } from '../stack/mlflow-auth.js';
import { buildApp, type BuildAppOptions } from './app.js';
import {
  assertSafeBind,
  formatDevTokens,
  generateDevTokens,
  loadTokens,
  TokenTable,
  type TokenEntry,
} from './auth.js';
import { loadConfig, type ServerConfig, type ServerConfigInput } from './config.js';
import type { ApiService } from './context.js';
import { visibilityResolver } from './hidden.js';
import { GaplabService } from './service.js';
import { dataConverter } from '../temporal/data-converter.js';

/** How long close() waits for criteria lookups still retrying before it closes the connection. */
const LOOKUP_GRACE_MS = 30_000;

export interface StartServerOptions {
  /** Settings that take precedence over the environment (e.g. CLI flags). */
  config?: ServerConfigInput;
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
  /** The service layer; built from the configuration when absent (lazy Temporal connection, experiment registry). */
  service?: ApiService;
  /** @default a client of config.mlflowUri */
  mlflow?: BuildAppOptions['mlflow'];
  /** @default tokens from GAPLAB_TOKENS_FILE and GAPLAB_TOKENS, plus generated ones when devTokens is on */
  tokens?: TokenTable;
  /** @default fastify's pino logger at config.logLevel on stdout */
  logger?: BuildAppOptions['logger'];
  /** Where the address and generated tokens are printed. @default console.log */
  print?: (text: string) => void;
  /** Close gracefully on SIGINT/SIGTERM. @default false (the embedding program decides) */
  handleSignals?: boolean;
  /** How long close() waits for requests in flight before it drops the remaining connections. @default 10000 */
  closeGraceMs?: number;
}

export interface RunningServer {
  app: FastifyInstance;
  config: ServerConfig;
  /** e.g. http://127.0.0.1:8700 */
  url: string;
  port: number;
  tokens: TokenTable;
  /** Tokens generated at start (devTokens), empty otherwise. */
  devTokens: TokenEntry[];
  /** Stops accepting requests, ends event streams, waits for requests in flight, closes the Temporal connection. */
  close(): Promise<void>;
}

/**
 * Starts the API server.
 * @throws ConfigError, TokensConfigError, UnsafeBindError (non-loopback host without tokens)
 */
export async function startServer(opts: StartServerOptions = {}): Promise<RunningServer> {
  const config = loadConfig(opts.config ?? {}, opts.env ?? process.env);
  const print = opts.print ?? ((s: string) => console.log(s));
  const configured = opts.tokens ? [] : loadTokens({ file: config.tokensFile, env: config.tokens });
  const requested = config.devTokens ? generateDevTokens() : [];
  // Before anything connects or listens: a misconfiguration should fail fast and say why.
  assertSafeBind(config.host, opts.tokens ?? new TokenTable([...configured, ...requested]));
  // Every route needs a token: on loopback with none configured, the server makes one per role
  // and prints them.
  const devTokens =
    requested.length > 0 || opts.tokens || configured.length > 0 ? requested : generateDevTokens();
  const tokens = opts.tokens ?? new TokenTable([...configured, ...devTokens]);

  const cleanups: (() => Promise<void>)[] = [];
  let service = opts.service;
  if (!service) {
    // Lazy: the server starts while Temporal is still coming up, and /api/ready says so.
    const connection = Connection.lazy({ address: config.temporalAddress });
    cleanups.push(() => connection.close());
    const client = new Client({ connection, namespace: config.namespace, dataConverter });
    const registry = await loadRegistry(config.experimentsDir);
    service = new GaplabService({
      client,
      registry,
      taskQueue: config.taskQueue,
      indexed: config.indexed,
      webhookAllowHttp: config.webhookAllowHttp,
    });
  }
  const api = service;
  const mlflow =
    opts.mlflow ??
    new MlflowClient({
      trackingUri: config.mlflowUri,
      ...mlflowCredentialsOption(config.mlflowUri),
      retries: { attempts: 2 },
      timeoutMs: 120_000,
    });

  const app = await buildApp({
    service,
    mlflow,
    tokens,
    config,
    logger: opts.logger ?? { level: config.logLevel },
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // Graceful first; then drop what is left (e.g. a browser's pre-opened sockets that never sent a request).
      const force = setTimeout(() => app.server.closeAllConnections(), opts.closeGraceMs ?? 10_000);
      force.unref();
      await app.close();
      clearTimeout(force);
      // Criteria lookups that reads stopped waiting for (Temporal slow or unreachable) may still
      // be retrying on the connection: closing it under them would throw from their retry timer.
      let grace: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        visibilityResolver(api).settled(),
        new Promise<void>((resolve) => (grace = setTimeout(resolve, LOOKUP_GRACE_MS))),
      ]);
      clearTimeout(grace);
      for (const c of cleanups.reverse()) await c().catch(() => {});
    })());

  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `http://${host}:${port}`;

  print(`gaplab API on ${url}/api (docs ${url}/api/docs)`);
  if (devTokens.length > 0) print(formatDevTokens(devTokens, url));

  if (opts.handleSignals) {
    const onSignal = (signal: NodeJS.Signals) => {
      app.log.info(`${signal}: closing`);
      void close().then(() => process.exit(0));
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }

  return { app, config, url, port, tokens, devTokens, close };
}
