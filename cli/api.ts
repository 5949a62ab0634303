/** A small client of the gaplab HTTP API for the CLI. */
import fs from 'node:fs';
import path from 'node:path';
import { STATE_DIR } from '../stack/paths.js';

export const DEV_TOKENS_FILE = path.join(STATE_DIR, 'dev-tokens.json');
/** Where `gaplab server` and the demo record the address they listen on, for the local CLI. */
export const SERVER_FILE = path.join(STATE_DIR, 'server.json');

/** Records the address of a server this process runs (read back by {@link recordedServerUrl}). */
export function recordServerAddress(url: string): void {
  fs.mkdirSync(path.dirname(SERVER_FILE), { recursive: true });
  fs.writeFileSync(SERVER_FILE, JSON.stringify({ url, pid: process.pid }), { mode: 0o600 });
}

/** The address a local server recorded, while the process that recorded it is alive. */
export function recordedServerUrl(): string | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(SERVER_FILE, 'utf8')) as { url?: unknown; pid?: unknown };
    if (typeof r.url !== 'string' || typeof r.pid !== 'number') return undefined;
    process.kill(r.pid, 0); // throws when the process is gone
    return r.url;
  } catch {
    return undefined;
  }
}

/** The API the CLI talks to unless told: GAPLAB_URL, else what a local server recorded, else :8700. */
export function defaultApiUrl(): string {
  return (process.env.GAPLAB_URL || recordedServerUrl() || 'http://127.0.0.1:8700').replace(
    /\/$/,
    '',
  );
}

export interface ApiOptions {
  /** @default GAPLAB_URL, else the address a local `gaplab server` recorded, else http://127.0.0.1:8700 */
  url?: string;
  /** @default GAPLAB_TOKEN, else the local dev token of `as` */
  token?: string;
  /** Role whose local dev token to use when no token is given. @default 'pi' */
  as?: 'pi' | 'researcher' | 'viewer';
}

/** Thrown when the API answers with an error; carries the status and the API's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Dev tokens written by `gaplab server --dev-tokens` and the demo, for the CLI on this machine. */
export function readDevTokens(): { token: string; name: string; role: string }[] {
  try {
    return JSON.parse(fs.readFileSync(DEV_TOKENS_FILE, 'utf8')) as {
      token: string;
      name: string;
      role: string;
    }[];
  } catch {
    return [];
  }
}

export function writeDevTokens(
  entries: readonly { token: string; name: string; role: string }[],
): void {
  fs.mkdirSync(path.dirname(DEV_TOKENS_FILE), { recursive: true });
  fs.writeFileSync(DEV_TOKENS_FILE, JSON.stringify(entries, null, 2), { mode: 0o600 });
}

export class ApiClient {
  readonly url: string;
  private readonly token: string | undefined;

  constructor(opts: ApiOptions = {}) {
    this.url = opts.url ? opts.url.replace(/\/$/, '') : defaultApiUrl();
    this.token =
      opts.token ??
      process.env.GAPLAB_TOKEN ??
      readDevTokens().find((t) => t.role === (opts.as ?? 'pi'))?.token;
  }

  async request<T>(method: string, route: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}/api${route}`, {
        method,
        headers: {
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (err) {
      throw new Error(
        `cannot reach the gaplab API at ${this.url} (${(err as Error).message}); start it with \`gaplab server\` or set GAPLAB_URL`,
      );
    }
    const text = await res.text();
    const parsed = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const p = parsed as
        { message?: string; issues?: { path: string; message: string }[] } | undefined;
      // Field issues one per line (the message repeats them on one line, for logs).
      const issues = p?.issues ?? [];
      const text =
        issues.length > 0
          ? `${issues.length === 1 ? 'one problem' : `${issues.length} problems`} with the request (${res.status}):${issues.map((i) => `\n  ${i.path}: ${i.message}`).join('')}`
          : `${p?.message ?? res.statusText} (${res.status})`;
      throw new ApiError(res.status, text);
    }
    return parsed as T;
  }

  get<T>(route: string) {
    return this.request<T>('GET', route);
  }
  post<T>(route: string, body: unknown = {}) {
    return this.request<T>('POST', route, body);
  }
  patch<T>(route: string, body: unknown) {
    return this.request<T>('PATCH', route, body);
  }
}
