/**
 * Bearer tokens mapped to people: `{ token, name, role }`. Tokens come from a YAML/JSON file
 * (`tokens: [...]`), from `GAPLAB_TOKENS` (`token:name:role,...`) or are generated for a local
 * demo. Lookups compare SHA-256 digests in constant time and always scan the whole table, so
 * response timing says nothing about how much of a token was right.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatPath } from '../domain/errors.js';
import { ROLES, type PersonRole } from '../api/permissions.js';

/** The person a request acts for. */
export interface Principal {
  name: string;
  role: PersonRole;
}

/** Shortest token accepted: 16 characters keeps guessing out of reach even without rate limits. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Tokens copied unchanged from docker/tokens.example.yaml or a README (`replace-me-…`,
 * `change-me`, `changeme`, `example`, `placeholder`): the server refuses to start with them,
 * since anyone who read the example would hold a role.
 */
const PLACEHOLDER_TOKEN = /replace[-_]?me|change[-_]?me|placeholder|^(?:example|your)[-_]/i;

export const TokenEntry = z.object({
  token: z
    .string()
    .min(MIN_TOKEN_LENGTH, `a token needs at least ${MIN_TOKEN_LENGTH} characters`)
    .max(512)
    .regex(/^[\x21-\x7e]+$/, 'a token is printable ASCII without spaces')
    .refine(
      (t) => !PLACEHOLDER_TOKEN.test(t),
      'a placeholder from the example file: replace it with a long random token',
    ),
  name: z.string().trim().min(1).max(128),
  role: z.enum(ROLES),
});
export type TokenEntry = z.infer<typeof TokenEntry>;

export const TokensFile = z
  .object({ tokens: z.array(TokenEntry).max(10_000) })
  .superRefine((f, ctx) => {
    const seen = new Set<string>();
    f.tokens.forEach((t, i) => {
      if (seen.has(t.token))
        ctx.addIssue({ code: 'custom', path: ['tokens', i, 'token'], message: 'duplicate token' });
      seen.add(t.token);
    });
  });

/** Thrown when a tokens file or GAPLAB_TOKENS is malformed; the message names the source and field. */
export class TokensConfigError extends Error {
  override readonly name = 'TokensConfigError';
  constructor(
    readonly source: string,
    message: string,
  ) {
    super(`${source}: ${message}`);
  }
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** An immutable token → principal table. */
export class TokenTable {
  private readonly entries: { digest: Buffer; principal: Principal }[];

  constructor(entries: readonly TokenEntry[]) {
    const parsed = TokensFile.safeParse({ tokens: entries });
    if (!parsed.success) throw new TokensConfigError('tokens', issues(parsed.error));
    this.entries = parsed.data.tokens.map((e) => ({
      digest: digest(e.token),
      principal: { name: e.name, role: e.role },
    }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The principal of `token`, or null. Constant time in the token's content. */
  lookup(token: string): Principal | null {
    const d = digest(token);
    let found: Principal | null = null;
    for (const e of this.entries) {
      // No early exit: every entry is compared whatever matched before.
      if (timingSafeEqual(e.digest, d)) found = e.principal;
    }
    return found;
  }

  /** The principals in the table (never the tokens). */
  principals(): Principal[] {
    return this.entries.map((e) => ({ ...e.principal }));
  }
}

function issues(err: z.ZodError): string {
  return err.issues.map((i) => `${formatPath(i.path)}: ${i.message}`).join('; ');
}

/** Parses the text of a tokens file (YAML or JSON, `tokens: [{ token, name, role }]`). */
export function parseTokensFile(text: string, source = 'tokens file'): TokenEntry[] {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new TokensConfigError(source, `not valid YAML or JSON: ${(err as Error).message}`);
  }
  const parsed = TokensFile.safeParse(raw);
  if (!parsed.success) throw new TokensConfigError(source, issues(parsed.error));
  return parsed.data.tokens;
}

/** Parses `token:name:role,...` (a name may contain `:`; the role is the last field). */
export function parseTokensEnv(value: string, source = 'GAPLAB_TOKENS'): TokenEntry[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const entries = items.map((item, i) => {
    const first = item.indexOf(':');
    const last = item.lastIndexOf(':');
    if (first < 0 || first === last)
      throw new TokensConfigError(source, `entry ${i}: expected token:name:role`);
    return {
      token: item.slice(0, first),
      name: item.slice(first + 1, last),
      role: item.slice(last + 1),
    };
  });
  const parsed = TokensFile.safeParse({ tokens: entries });
  // Never echo a token back: the issue paths name the entry instead.
  if (!parsed.success)
    throw new TokensConfigError(source, issues(parsed.error).replace(/^tokens\./gm, 'entry '));
  return parsed.data.tokens;
}

export interface LoadTokensOptions {
  /** Path of a tokens file (GAPLAB_TOKENS_FILE). */
  file?: string | undefined;
  /** `token:name:role,...` (GAPLAB_TOKENS). */
  env?: string | undefined;
}

/** Tokens from the file and the env string together (either may be absent). */
export function loadTokens(opts: LoadTokensOptions): TokenEntry[] {
  const entries: TokenEntry[] = [];
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new TokensConfigError(
        opts.file,
        `cannot read the tokens file: ${(err as Error).message}`,
      );
    }
    entries.push(...parseTokensFile(text, opts.file));
  }
  if (opts.env) entries.push(...parseTokensEnv(opts.env));
  return entries;
}

/** A fresh random token, e.g. `glpi_3q2...`. */
export function newToken(prefix = 'gl'): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

/** One token per role for a local demo: names say they are demo identities. */
export function generateDevTokens(): TokenEntry[] {
  return [
    { token: newToken('glpi'), name: 'Demo PI', role: 'pi' },
    { token: newToken('glres'), name: 'Demo Researcher', role: 'researcher' },
    { token: newToken('glview'), name: 'Demo Viewer', role: 'viewer' },
  ];
}

/** Lines to print for generated tokens (with a ready-to-open UI link when `baseUrl` is given). */
export function formatDevTokens(entries: readonly TokenEntry[], baseUrl?: string): string {
  const lines = ['Demo tokens (valid until the server stops):'];
  for (const e of entries) {
    lines.push(
      `  ${e.role.padEnd(10)} ${e.name.padEnd(16)} ${e.token}${baseUrl ? `  ${baseUrl}/?token=${e.token}` : ''}`,
    );
  }
  return lines.join('\n');
}

/** Whether `host` only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

/** Thrown when the server would listen beyond this machine without any tokens configured. */
export class UnsafeBindError extends Error {
  override readonly name = 'UnsafeBindError';
  constructor(readonly host: string) {
    super(
      `refusing to listen on ${host} without tokens: anyone who can reach it could change campaigns. ` +
        'Configure tokens (GAPLAB_TOKENS_FILE or GAPLAB_TOKENS, or dev tokens) or bind to 127.0.0.1.',
    );
  }
}

/** @throws UnsafeBindError when `host` is not loopback and `tokens` is empty. */
export function assertSafeBind(host: string, tokens: TokenTable): void {
  if (tokens.size === 0 && !isLoopbackHost(host)) throw new UnsafeBindError(host);
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}
