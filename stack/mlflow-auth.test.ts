import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  credentialsPath,
  mlflowAuthEnv,
  prepareMlflowAuth,
  resolveMlflowCredentials,
} from './mlflow-auth.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'gaplab-mlflow-auth-'));

describe('prepareMlflowAuth', () => {
  it('generates distinct passwords kept 0600, and an auth config with no anonymous access', () => {
    const dir = tmp();
    const { configPath, credentials } = prepareMlflowAuth(
      dir,
      path.join(dir, 'data'),
      'http://h:1',
    );
    expect(fs.statSync(credentialsPath(dir)).mode & 0o777).toBe(0o600);
    const passwords = [
      credentials.admin,
      credentials.service,
      ...Object.values(credentials.roles),
    ].map((c) => c.password);
    expect(new Set(passwords).size).toBe(5);
    for (const p of passwords) expect(p.length).toBeGreaterThanOrEqual(32);
    expect(passwords).not.toContain('password1234');
    const ini = fs.readFileSync(configPath, 'utf8');
    expect(ini).toMatch(/^default_permission = NO_PERMISSIONS$/m);
    expect(ini).toContain(`database_uri = sqlite:///${path.join(dir, 'data', 'mlflow-auth.db')}`);
    expect(ini).not.toContain(credentials.admin.password);
    expect(mlflowAuthEnv(configPath, credentials).MLFLOW_AUTH_ADMIN_PASSWORD).toBe(
      credentials.admin.password,
    );
  });

  it('keeps the passwords while the auth database lives, and new ones once it is gone', () => {
    const dir = tmp();
    const data = path.join(dir, 'data');
    const first = prepareMlflowAuth(dir, data, 'http://h:1').credentials;
    fs.mkdirSync(data, { recursive: true });
    fs.writeFileSync(path.join(data, 'mlflow-auth.db'), '');
    expect(prepareMlflowAuth(dir, data, 'http://h:1').credentials.admin).toEqual(first.admin);
    fs.rmSync(data, { recursive: true });
    expect(prepareMlflowAuth(dir, data, 'http://h:1').credentials.admin.password).not.toBe(
      first.admin.password,
    );
  });

  it('refuses an auth database whose credentials are gone, saying what to do', () => {
    const dir = tmp();
    const data = path.join(dir, 'data');
    fs.mkdirSync(data, { recursive: true });
    fs.writeFileSync(path.join(data, 'mlflow-auth.db'), '');
    expect(() => prepareMlflowAuth(dir, data, 'http://h:1')).toThrow(/credentials .* are gone/);
  });
});

describe('resolveMlflowCredentials', () => {
  it('takes MLFLOW_TRACKING_USERNAME / _PASSWORD first, and nothing for an unknown server', () => {
    const env = { MLFLOW_TRACKING_USERNAME: 'u', MLFLOW_TRACKING_PASSWORD: 'p' };
    expect(resolveMlflowCredentials('http://nowhere.invalid:1', { env })).toEqual({
      username: 'u',
      password: 'p',
    });
    expect(resolveMlflowCredentials('http://nowhere.invalid:1', { env: {} })).toBeUndefined();
  });
});
