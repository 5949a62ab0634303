/**
 * MLflow behind its own door: the stack runs MLflow's basic-auth app (`mlflow server --app-name
 * basic-auth`) with no anonymous access (`default_permission = NO_PERMISSIONS`), an admin whose
 * password is generated when the stack's auth database is first created, a service account that
 * gaplab writes with, and one MLflow user per gaplab role (pi, researcher, viewer). The
 * passwords live in `<stack dir>/mlflow-credentials.json`, mode 0600; the auth database in the
 * stack's data folder. What each role may read is granted per experiment by the recording
 * activities (activities/mlflow-access.ts).
 *
 * Clients find credentials in MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (the variables
 * MLflow's Python client reads) or, for a stack of this machine, in its credentials file
 * ({@link resolveMlflowCredentials}). Without either, requests go without auth: an MLflow of
 * the user's own without authentication keeps working.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { MlflowCredentials } from '../mlflow-ts-client/index.js';
import { STATE_DIR } from './paths.js';

/** gaplab's roles, each with an MLflow user of the same name. */
export const MLFLOW_ROLES = ['pi', 'researcher', 'viewer'] as const;
export type MlflowRole = (typeof MLFLOW_ROLES)[number];
/** The account gaplab's worker and server use: an MLflow admin, so it can grant the roles' reads. */
export const SERVICE_USER = 'gaplab';
export const ADMIN_USER = 'admin';

const Credential = z.object({ username: z.string().min(1), password: z.string().min(1) });
export const MlflowCredentialsFile = z.object({
  /** The tracking URI these credentials are for (how clients find the file of their server). */
  uri: z.string(),
  /** The Flask secret MLflow's auth app signs its forms with. */
  secretKey: z.string().min(16),
  admin: Credential,
  service: Credential,
  roles: z.object({ pi: Credential, researcher: Credential, viewer: Credential }),
});
export type MlflowCredentialsFile = z.infer<typeof MlflowCredentialsFile>;

export const CREDENTIALS_FILE = 'mlflow-credentials.json';
const AUTH_DB = 'mlflow-auth.db';
const AUTH_INI = 'mlflow-auth.ini';

/** 32 random bytes, URL-safe: well past MLflow's password policy. */
const secret = () => randomBytes(32).toString('base64url');

export function credentialsPath(stackDir: string): string {
  return path.join(stackDir, CREDENTIALS_FILE);
}

export function readCredentialsFile(file: string): MlflowCredentialsFile | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not JSON: ${(err as Error).message}`);
  }
  const parsed = MlflowCredentialsFile.safeParse(doc);
  if (!parsed.success)
    throw new Error(`${file} is not an MLflow credentials file: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * The auth app's files for a stack: its configuration, its database (in the data folder, so a
 * wiped data folder starts a fresh user store) and the credentials. Passwords are generated
 * when the auth database does not exist yet; otherwise the stored ones are kept, since the
 * database holds their hashes.
 */
export function prepareMlflowAuth(
  stackDir: string,
  dataDir: string,
  uri: string,
): { configPath: string; credentials: MlflowCredentialsFile } {
  const dbFile = path.join(dataDir, AUTH_DB);
  const file = credentialsPath(stackDir);
  let credentials = readCredentialsFile(file);
  if (!credentials || !fs.existsSync(dbFile)) {
    if (fs.existsSync(dbFile))
      throw new Error(
        `MLflow's auth database ${dbFile} exists but its credentials (${file}) are gone: restore the file, or delete the database to create new users`,
      );
    const user = (username: string) => ({ username, password: secret() });
    credentials = {
      uri,
      secretKey: secret(),
      admin: user(ADMIN_USER),
      service: user(SERVICE_USER),
      roles: { pi: user('pi'), researcher: user('researcher'), viewer: user('viewer') },
    };
  }
  credentials = { ...credentials, uri };
  fs.mkdirSync(stackDir, { recursive: true });
  fs.writeFileSync(file, JSON.stringify(credentials, null, 2), { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  const configPath = path.join(stackDir, AUTH_INI);
  fs.writeFileSync(
    configPath,
    [
      '[mlflow]',
      // Nobody reads or writes what they were not granted: no anonymous access, no default reads.
      'default_permission = NO_PERMISSIONS',
      `database_uri = sqlite:///${dbFile}`,
      `admin_username = ${credentials.admin.username}`,
      'authorization_function = mlflow.server.auth:authenticate_request_basic_auth',
      'grant_default_workspace_access = false',
      // A verified password is remembered for a minute per server worker: without it every request
      // pays a PBKDF2 hash (see bench/RESULTS.md for the records per second either way). A changed
      // password can still work for up to that minute on the workers that did not change it.
      'auth_cache_ttl_seconds = 60',
      '',
    ].join('\n'),
  );
  return { configPath, credentials };
}

/** The environment `mlflow server --app-name basic-auth` needs (the admin's password, the secret). */
export function mlflowAuthEnv(
  configPath: string,
  credentials: MlflowCredentialsFile,
): Record<string, string> {
  return {
    MLFLOW_AUTH_CONFIG_PATH: configPath,
    MLFLOW_AUTH_ADMIN_USERNAME: credentials.admin.username,
    MLFLOW_AUTH_ADMIN_PASSWORD: credentials.admin.password,
    MLFLOW_FLASK_SERVER_SECRET_KEY: credentials.secretKey,
  };
}

const basic = (c: MlflowCredentials) =>
  `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;

async function call(
  uri: string,
  as: MlflowCredentials,
  method: 'POST' | 'PATCH',
  route: string,
  body: unknown,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${uri}${route}`, {
    method,
    headers: { authorization: basic(as), 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, text: await res.text() };
}

/**
 * Creates the service account (an MLflow admin) and the role users when missing, and sets their
 * passwords to the stored ones. Idempotent: run at every stack start.
 */
export async function provisionMlflowUsers(
  uri: string,
  credentials: MlflowCredentialsFile,
): Promise<void> {
  const admin = credentials.admin;
  const users = [credentials.service, ...MLFLOW_ROLES.map((r) => credentials.roles[r])];
  for (const u of users) {
    const created = await call(uri, admin, 'POST', '/api/2.0/mlflow/users/create', u);
    if (created.status === 401)
      throw new Error(
        `MLflow at ${uri} refused the stack's admin credentials (${created.text.slice(0, 200)})`,
      );
    if (created.status >= 400) {
      if (!/RESOURCE_ALREADY_EXISTS|already exists/i.test(created.text))
        throw new Error(`creating MLflow user ${u.username}: ${created.text.slice(0, 300)}`);
      const updated = await call(uri, admin, 'PATCH', '/api/2.0/mlflow/users/update-password', u);
      if (updated.status >= 400)
        throw new Error(
          `setting MLflow user ${u.username}'s password: ${updated.text.slice(0, 300)}`,
        );
    }
  }
  const made = await call(uri, admin, 'PATCH', '/api/2.0/mlflow/users/update-admin', {
    username: credentials.service.username,
    is_admin: true,
  });
  if (made.status >= 400)
    throw new Error(`making ${credentials.service.username} an MLflow admin: ${made.text}`);
}

const sameUri = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

/** Credentials files of this machine's stacks (`<state>/<stack dir>/mlflow-credentials.json`). */
function localCredentialFiles(): string[] {
  try {
    return (
      fs
        .readdirSync(STATE_DIR, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => path.join(STATE_DIR, d.name, CREDENTIALS_FILE))
        .filter((f) => fs.existsSync(f))
        // Two stacks may have served one port in turn: the newest file is the running one's.
        .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)
    );
  } catch {
    return [];
  }
}

/**
 * Whose credentials a gaplab process uses for MLflow at `uri`: MLFLOW_TRACKING_USERNAME and
 * MLFLOW_TRACKING_PASSWORD when set; else the service account (or `role`'s user) of this
 * machine's stack serving `uri`; else none (an MLflow without authentication).
 */
export function resolveMlflowCredentials(
  uri: string,
  opts: { role?: MlflowRole | 'service'; env?: NodeJS.ProcessEnv } = {},
): MlflowCredentials | undefined {
  const env = opts.env ?? process.env;
  const role = opts.role ?? 'service';
  if (role === 'service' && env.MLFLOW_TRACKING_USERNAME && env.MLFLOW_TRACKING_PASSWORD)
    return { username: env.MLFLOW_TRACKING_USERNAME, password: env.MLFLOW_TRACKING_PASSWORD };
  for (const file of localCredentialFiles()) {
    let creds: MlflowCredentialsFile | undefined;
    try {
      creds = readCredentialsFile(file);
    } catch {
      continue;
    }
    if (creds && sameUri(creds.uri, uri))
      return role === 'service' ? creds.service : creds.roles[role];
  }
  return undefined;
}

/** `{ credentials }` for an MlflowClient of `uri` (see resolveMlflowCredentials), or nothing. */
export function mlflowCredentialsOption(uri: string): { credentials?: MlflowCredentials } {
  const credentials = resolveMlflowCredentials(uri);
  return credentials ? { credentials } : {};
}

/**
 * Puts the service account of a stack this process started into MLFLOW_TRACKING_USERNAME /
 * MLFLOW_TRACKING_PASSWORD (unless they are set), for the clients and child processes it makes.
 */
export function exportMlflowCredentials(credentials: MlflowCredentials | undefined): void {
  if (!credentials || process.env.MLFLOW_TRACKING_USERNAME) return;
  process.env.MLFLOW_TRACKING_USERNAME = credentials.username;
  process.env.MLFLOW_TRACKING_PASSWORD = credentials.password;
}
