/**
 * Server configuration: read once at start-up from the environment (and explicit overrides),
 * validated with one schema, so a typo fails the start with the variable's name instead of
 * surfacing later as odd behaviour. See server/.env.example.
 */
import path from 'node:path';
import { PROJECT_ROOT } from '../stack/paths.js';
import { z } from 'zod';

/** Where the UI build lands (`vite build --config ui/vite.config.ts`). */
export const DEFAULT_UI_DIR = path.join(PROJECT_ROOT, 'ui', 'dist');

const bool = z
  .union([z.boolean(), z.enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off', ''])])
  .transform((v) => v === true || v === '1' || v === 'true' || v === 'yes' || v === 'on');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const url = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''));

export const ServerConfig = z.object({
  /** Address to listen on. Non-loopback addresses need tokens. @default '127.0.0.1' */
  host: z.string().min(1).default('127.0.0.1'),
  /** Port to listen on; 0 picks a free one. @default 8700 */
  port: int(0, 65535).default(8700),
  /** Temporal frontend. @default '127.0.0.1:7233' */
  temporalAddress: z.string().min(1).default('127.0.0.1:7233'),
  /** @default 'default' */
  namespace: z.string().min(1).default('default'),
  /** MLflow tracking server. @default 'http://127.0.0.1:5050' */
  mlflowUri: url.default('http://127.0.0.1:5050'),
  /** Temporal Web UI for links. @default the Temporal address's host with port + 1000 */
  temporalUi: url.optional(),
  /** MLflow UI for links. @default mlflowUri */
  mlflowUi: url.optional(),
  /** Task queue the workers poll. @default 'gaplab' */
  taskQueue: z.string().min(1).default('gaplab'),
  /** Campaigns carry the Gaplab* search attributes. @default false */
  indexed: bool.default(false),
  /** Tokens file (YAML or JSON, `tokens: [{ token, name, role }]`). */
  tokensFile: z.string().min(1).optional(),
  /** Tokens as `token:name:role,...`. */
  tokens: z.string().optional(),
  /** Generate one token per role at start and print them (local demo). @default false */
  devTokens: bool.default(false),
  /** Requests per minute per client (token, else IP); 0 turns the limit off. @default 600 */
  rateLimitPerMinute: int(0, 1_000_000).default(600),
  /** Built UI to serve; ignored when the folder does not exist. @default ui/dist */
  uiDir: z.string().min(1).default(DEFAULT_UI_DIR),
  /** Experiments folder the server's registry is loaded from. @default the built-in folder */
  experimentsDir: z.string().min(1).optional(),
  /** @default 'info' */
  logLevel: z
    .preprocess(
      (v) => (typeof v === 'string' ? v.toLowerCase() : v),
      z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    )
    .default('info'),
  /**
   * The web UI's address as people open it, for links in webhook messages. @default the address
   * the start request came to
   */
  publicUrl: url.optional(),
  /** Campaign webhooks may use plain http to any host (else https, or http to this machine only). @default false */
  webhookAllowHttp: bool.default(false),
  /** Trust X-Forwarded-* from a reverse proxy. @default false */
  trustProxy: bool.default(false),
  /** How often an event stream polls the campaign. @default 1000 */
  sseIntervalMs: int(50, 60_000).default(1000),
  /** Heartbeat comment interval of event streams. @default 15000 */
  sseHeartbeatMs: int(100, 300_000).default(15_000),
  /** Event streams one token may hold open at once (429 beyond). @default 32 */
  sseStreamsPerToken: int(1, 100_000).default(32),
  /** How long the lineage of a running campaign is reused before MLflow is asked again. @default 2000 */
  lineageTtlMs: int(0, 3_600_000).default(2000),
  /** Read a finished campaign's trial records from the snapshot it wrote to MLflow when it ended, instead of searching its runs. @default true */
  lineageSnapshots: bool.default(true),
  /** Finished campaigns whose lineage stays in memory. @default 16 */
  lineageCacheCampaigns: int(0, 10_000).default(16),
});
export type ServerConfig = z.output<typeof ServerConfig>;
export type ServerConfigInput = z.input<typeof ServerConfig>;

/** Environment variable of each setting. */
export const ENV: Record<keyof ServerConfig, string> = {
  host: 'GAPLAB_HOST',
  port: 'GAPLAB_PORT',
  temporalAddress: 'TEMPORAL_ADDRESS',
  namespace: 'TEMPORAL_NAMESPACE',
  mlflowUri: 'MLFLOW_TRACKING_URI',
  temporalUi: 'GAPLAB_TEMPORAL_UI',
  mlflowUi: 'GAPLAB_MLFLOW_UI',
  taskQueue: 'GAPLAB_TASK_QUEUE',
  indexed: 'GAPLAB_INDEXED',
  tokensFile: 'GAPLAB_TOKENS_FILE',
  tokens: 'GAPLAB_TOKENS',
  devTokens: 'GAPLAB_DEV_TOKENS',
  rateLimitPerMinute: 'GAPLAB_RATE_LIMIT',
  uiDir: 'GAPLAB_UI_DIR',
  experimentsDir: 'GAPLAB_EXPERIMENTS_DIR',
  logLevel: 'GAPLAB_LOG_LEVEL',
  publicUrl: 'GAPLAB_PUBLIC_URL',
  webhookAllowHttp: 'GAPLAB_WEBHOOK_ALLOW_HTTP',
  trustProxy: 'GAPLAB_TRUST_PROXY',
  sseIntervalMs: 'GAPLAB_SSE_INTERVAL_MS',
  sseHeartbeatMs: 'GAPLAB_SSE_HEARTBEAT_MS',
  sseStreamsPerToken: 'GAPLAB_SSE_STREAMS_PER_TOKEN',
  lineageTtlMs: 'GAPLAB_LINEAGE_TTL_MS',
  lineageSnapshots: 'GAPLAB_LINEAGE_SNAPSHOTS',
  lineageCacheCampaigns: 'GAPLAB_LINEAGE_CACHE_CAMPAIGNS',
};

/** Thrown when the configuration is invalid; the message names each setting and its variable. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: { setting: string; env: string; message: string }[]) {
    super(
      `invalid server configuration: ${issues.map((i) => `${i.setting} (${i.env}): ${i.message}`).join('; ')}`,
    );
  }
}

/**
 * The configuration from `env`, with `overrides` (e.g. CLI flags) taking precedence.
 * @throws ConfigError
 */
export function loadConfig(
  overrides: ServerConfigInput = {},
  env: NodeJS.ProcessEnv = process.env,
): ServerConfig {
  const fromEnv: Record<string, unknown> = {};
  for (const [key, name] of Object.entries(ENV)) {
    const v = env[name];
    // Empty variables count as unset, as in most shells' `VAR= cmd`.
    if (v !== undefined && v !== '') fromEnv[key] = v;
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const parsed = ServerConfig.safeParse({ ...fromEnv, ...defined });
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const setting = String(i.path[0] ?? '(root)');
        return { setting, env: ENV[setting as keyof ServerConfig] ?? '', message: i.message };
      }),
    );
  }
  return parsed.data;
}

/** The Temporal Web UI and MLflow UI bases used in links (null when unknown). */
export function uiLinks(
  config: Pick<ServerConfig, 'temporalUi' | 'mlflowUi' | 'temporalAddress' | 'mlflowUri'>,
): { temporalUi: string | null; mlflowUi: string } {
  let temporalUi: string | null = config.temporalUi ?? null;
  if (!temporalUi) {
    const m = /^(.*):(\d+)$/.exec(config.temporalAddress);
    // The dev server's UI listens on the frontend port + 1000 (the stack uses the same rule).
    if (m) temporalUi = `http://${m[1]}:${Number(m[2]) + 1000}`;
  }
  return { temporalUi, mlflowUi: config.mlflowUi ?? config.mlflowUri };
}
