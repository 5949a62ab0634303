/**
 * The deployment's harness secret: the key of the streams (keyed.ts) that code experiments'
 * harnesses draw their data, their ground truth and the candidate's seed from. The worker holds
 * it; the sandbox never sees it (it is not in the sandbox's environment, files or inputs), and it
 * never goes to a log, to Temporal or to MLflow. Only its key id (the first 8 hex digits of its
 * SHA-256) is shown, so people can tell which key produced a result.
 *
 * Where it comes from, first match wins:
 * - `GAPLAB_HARNESS_SECRET`: at least 32 characters (say `openssl rand -hex 32`); every worker
 *   of a deployment needs the same value (docker-compose.yml passes it from `.env`);
 * - `<state>/secrets/harness.key`: created (256 random bits, hex, mode 0600) by `gaplab setup`
 *   and by the first worker that starts without one.
 *
 * Rotating it changes every code experiment's data: results before and after are not comparable.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { STATE_DIR } from '../../stack/paths.js';

export const HARNESS_SECRET_ENV = 'GAPLAB_HARNESS_SECRET';
/** Shortest secret accepted: 32 characters (128 bits as hex, more as random text). */
export const MIN_SECRET_CHARS = 32;

/** Thrown when the configured secret cannot be used; the message names the variable or file. */
export class HarnessSecretError extends Error {
  override readonly name = 'HarnessSecretError';
}

export interface SecretLocation {
  /** @default process.env */
  env?: Readonly<Record<string, string | undefined>>;
  /** @default the state folder (GAPLAB_HOME or <project>/.gaplab) */
  stateDir?: string;
}

export interface HarnessSecret {
  key: Buffer;
  /** First 8 hex digits of SHA-256(key): names the key without revealing it. */
  keyId: string;
  source: 'env' | 'file';
  /** The key file, when it came from one. */
  file?: string;
}

export function harnessKeyFile(stateDir: string = STATE_DIR): string {
  return path.join(stateDir, 'secrets', 'harness.key');
}

export function keyIdOf(key: Uint8Array): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

function parse(text: string, where: string): Buffer {
  const value = text.trim();
  if (value.length < MIN_SECRET_CHARS)
    throw new HarnessSecretError(
      `${where}: the harness secret must have at least ${MIN_SECRET_CHARS} characters (got ${value.length}); generate one with \`openssl rand -hex 32\``,
    );
  return Buffer.from(value, 'utf8');
}

function readKeyFile(file: string): Buffer {
  const st = fs.statSync(file);
  if (!st.isFile()) throw new HarnessSecretError(`${file}: the harness key is not a regular file`);
  if (st.mode & 0o077)
    throw new HarnessSecretError(
      `${file}: the harness key is readable by others (mode ${(st.mode & 0o777).toString(8)}); run \`chmod 600 ${file}\``,
    );
  return parse(fs.readFileSync(file, 'utf8'), file);
}

/** Creates the key file unless it exists; two processes racing both end up with the same key. */
function createKeyFile(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(tmp, file); // fails if another process created it first: keep theirs
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * The deployment's secret, creating the key file when neither the variable nor the file exists.
 *
 * @throws HarnessSecretError when the variable or the file is unusable (too short, readable by others)
 */
export function loadHarnessSecret(at: SecretLocation = {}): HarnessSecret {
  const env = at.env ?? process.env;
  const fromEnv = env[HARNESS_SECRET_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    const key = parse(fromEnv, HARNESS_SECRET_ENV);
    return { key, keyId: keyIdOf(key), source: 'env' };
  }
  const file = harnessKeyFile(at.stateDir);
  if (!fs.existsSync(file)) createKeyFile(file);
  const key = readKeyFile(file);
  return { key, keyId: keyIdOf(key), source: 'file', file };
}

let cached: { env: string | undefined; file: string; secret: HarnessSecret } | undefined;

/**
 * The secret this process's harnesses use (loadHarnessSecret with the defaults), read once and
 * again only when GAPLAB_HARNESS_SECRET changes.
 */
export function harnessSecret(): HarnessSecret {
  const env = process.env[HARNESS_SECRET_ENV];
  const file = harnessKeyFile();
  if (cached && cached.env === env && cached.file === file) return cached.secret;
  const secret = loadHarnessSecret();
  cached = { env, file, secret };
  return secret;
}

/** For `gaplab setup` and worker start: makes sure a secret exists; returns where and its key id. */
export function ensureHarnessSecret(): { keyId: string; where: string } {
  const s = harnessSecret();
  return { keyId: s.keyId, where: s.source === 'env' ? HARNESS_SECRET_ENV : (s.file as string) };
}
