import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  assertSafeBind,
  bearerToken,
  formatDevTokens,
  generateDevTokens,
  isLoopbackHost,
  loadTokens,
  parseTokensEnv,
  parseTokensFile,
  TokensConfigError,
  TokenTable,
  UnsafeBindError,
} from './auth.js';
import { ConfigError, loadConfig, uiLinks } from './config.js';
import { actionsOf, can } from '../api/permissions.js';

const T1 = 'aaaaaaaaaaaaaaaa-1';
const T2 = 'bbbbbbbbbbbbbbbb-2';

describe('tokens', () => {
  it('parses GAPLAB_TOKENS entries; names may contain colons and spaces', () => {
    expect(parseTokensEnv(`${T1}:Pat PI:pi, ${T2}:Dr. R: Smith:researcher`)).toEqual([
      { token: T1, name: 'Pat PI', role: 'pi' },
      { token: T2, name: 'Dr. R: Smith', role: 'researcher' },
    ]);
  });

  it('rejects bad entries without echoing the token', () => {
    const secret = 'short-secret';
    const err = (() => {
      try {
        parseTokensEnv(`${secret}:Pat:pi`);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(TokensConfigError);
    expect(err!.message).toMatch(/GAPLAB_TOKENS: entry 0\.token: a token needs at least 16/);
    expect(err!.message).not.toContain(secret);
    expect(() => parseTokensEnv(`${T1}:Pat:admin`)).toThrow(/role/);
    expect(() => parseTokensEnv('justatoken')).toThrow(/expected token:name:role/);
  });

  it('reads YAML and JSON token files and names the file and field on errors', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gaplab-tokens-'));
    const yamlFile = path.join(dir, 'tokens.yaml');
    writeFileSync(yamlFile, `tokens:\n  - {token: ${T1}, name: Pat, role: pi}\n`);
    const jsonFile = path.join(dir, 'tokens.json');
    writeFileSync(
      jsonFile,
      JSON.stringify({ tokens: [{ token: T2, name: 'Vic', role: 'viewer' }] }),
    );
    expect(loadTokens({ file: yamlFile, env: `${T2}:Rae:researcher` })).toHaveLength(2);
    expect(loadTokens({ file: jsonFile })[0]).toMatchObject({ name: 'Vic', role: 'viewer' });
    expect(() =>
      parseTokensFile(
        `tokens:\n  - {token: ${T1}, name: A, role: pi}\n  - {token: ${T1}, name: B, role: pi}\n`,
        'f.yaml',
      ),
    ).toThrow(/f\.yaml: tokens\.1\.token: duplicate token/);
    expect(() => loadTokens({ file: path.join(dir, 'missing.yaml') })).toThrow(
      /cannot read the tokens file/,
    );
  });

  it('refuses the example file and other placeholder tokens at start-up', () => {
    const example = readFileSync(
      path.join(import.meta.dirname, '..', 'docker', 'tokens.example.yaml'),
      'utf8',
    );
    expect(() => parseTokensFile(example, 'tokens.yaml')).toThrow(
      /tokens\.yaml: tokens\.0\.token: a placeholder from the example file/,
    );
    for (const t of ['change-me-0123456789', 'CHANGEME0123456789ab', 'your-token-0123456789'])
      expect(() => parseTokensEnv(`${t}:Pat:pi`)).toThrow(/entry 0\.token: a placeholder/);
    // Real random tokens pass, whatever letters they happen to contain.
    expect(parseTokensEnv(`glpi_Xreplac3me-not4:Pat:pi`)).toHaveLength(1);
  });

  it('looks tokens up exactly', () => {
    const table = new TokenTable([
      { token: T1, name: 'Pat', role: 'pi' },
      { token: T2, name: 'Vic', role: 'viewer' },
    ]);
    expect(table.lookup(T1)).toEqual({ name: 'Pat', role: 'pi' });
    expect(table.lookup(T2)?.role).toBe('viewer');
    expect(table.lookup(T1.slice(0, -1))).toBeNull();
    expect(table.lookup(`${T1} `)).toBeNull();
    expect(table.lookup('')).toBeNull();
    expect(table.principals()).toHaveLength(2);
  });

  it('generates one strong token per role for the demo', () => {
    const dev = generateDevTokens();
    expect(dev.map((d) => d.role).sort()).toEqual(['pi', 'researcher', 'viewer']);
    expect(new Set(dev.map((d) => d.token)).size).toBe(3);
    for (const d of dev) expect(d.token.length).toBeGreaterThanOrEqual(32);
    expect(() => new TokenTable(dev)).not.toThrow();
    expect(formatDevTokens(dev, 'http://127.0.0.1:8700')).toContain(
      `http://127.0.0.1:8700/?token=${dev[0]!.token}`,
    );
  });

  it('parses bearer headers', () => {
    expect(bearerToken(`Bearer ${T1}`)).toBe(T1);
    expect(bearerToken(`bearer   ${T1}`)).toBe(T1);
    expect(bearerToken(`Basic ${T1}`)).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });
});

describe('binding', () => {
  it('knows loopback hosts', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', 'app.localhost'])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of [
      '0.0.0.0',
      '::',
      '10.0.0.5',
      '192.168.1.2',
      'example.com',
      'localhost.evil.com',
    ])
      expect(isLoopbackHost(h), h).toBe(false);
  });

  it('refuses a non-loopback bind without tokens, with a clear error', () => {
    const empty = new TokenTable([]);
    expect(() => assertSafeBind('0.0.0.0', empty)).toThrow(UnsafeBindError);
    expect(() => assertSafeBind('0.0.0.0', empty)).toThrow(
      /refusing to listen on 0\.0\.0\.0 without tokens/,
    );
    expect(() => assertSafeBind('127.0.0.1', empty)).not.toThrow();
    expect(() =>
      assertSafeBind('0.0.0.0', new TokenTable([{ token: T1, name: 'Pat', role: 'pi' }])),
    ).not.toThrow();
  });
});

describe('permissions', () => {
  it('viewers change nothing, researchers do not do PI work', () => {
    expect(actionsOf('viewer')).toEqual([]);
    expect(can('researcher', 'inject')).toBe(true);
    for (const a of ['setCriteria', 'stop', 'changeBudgets', 'decide', 'clearFlag'] as const) {
      expect(can('researcher', a)).toBe(false);
      expect(can('pi', a)).toBe(true);
    }
    expect(can('system', 'pause')).toBe(false);
  });
});

describe('config', () => {
  it('reads the environment, lets overrides win, and applies defaults', () => {
    const c = loadConfig(
      { port: 9000 },
      {
        GAPLAB_PORT: '8000',
        GAPLAB_HOST: '0.0.0.0',
        GAPLAB_DEV_TOKENS: '1',
        MLFLOW_TRACKING_URI: 'http://m:5000/',
        GAPLAB_RATE_LIMIT: '',
      },
    );
    expect(c).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      devTokens: true,
      mlflowUri: 'http://m:5000',
      rateLimitPerMinute: 600,
      temporalAddress: '127.0.0.1:7233',
    });
  });

  it('takes log levels in any case (the worker uses upper case)', () => {
    expect(loadConfig({}, { GAPLAB_LOG_LEVEL: 'WARN' }).logLevel).toBe('warn');
  });

  it('names the setting and its variable on errors', () => {
    expect(() => loadConfig({}, { GAPLAB_PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({}, { GAPLAB_PORT: 'eighty' })).toThrow(/port \(GAPLAB_PORT\)/);
    expect(() => loadConfig({}, { MLFLOW_TRACKING_URI: 'ftp://x' })).toThrow(
      /mlflowUri \(MLFLOW_TRACKING_URI\)/,
    );
  });

  it('derives the Temporal UI from the frontend address', () => {
    expect(
      uiLinks(
        loadConfig(
          {},
          { TEMPORAL_ADDRESS: '127.0.0.1:27233', MLFLOW_TRACKING_URI: 'http://127.0.0.1:25050' },
        ),
      ),
    ).toEqual({
      temporalUi: 'http://127.0.0.1:28233',
      mlflowUi: 'http://127.0.0.1:25050',
    });
    expect(uiLinks(loadConfig({ temporalUi: 'https://t.example/' }, {})).temporalUi).toBe(
      'https://t.example',
    );
  });
});
