import { mkdtemp, rm } from 'node:fs/promises';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  HARNESS_SECRET_ENV,
  harnessKeyFile,
  HarnessSecretError,
  keyIdOf,
  loadHarnessSecret,
} from './secret.js';

let state: string;
beforeEach(async () => {
  state = await mkdtemp(path.join(os.tmpdir(), 'gaplab-secret-'));
});
afterEach(async () => {
  await rm(state, { recursive: true, force: true });
});

describe('the harness secret', () => {
  it('is created once in the state folder (256 bits, mode 0600) and read back the same', () => {
    const first = loadHarnessSecret({ env: {}, stateDir: state });
    const file = harnessKeyFile(state);
    expect(first).toMatchObject({ source: 'file', file });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(first.keyId).toMatch(/^[0-9a-f]{8}$/);
    expect(first.keyId).toBe(keyIdOf(first.key));
    const again = loadHarnessSecret({ env: {}, stateDir: state });
    expect(again.key.equals(first.key)).toBe(true);
    // Another deployment (another state folder) gets another key.
    const other = loadHarnessSecret({ env: {}, stateDir: path.join(state, 'other') });
    expect(other.key.equals(first.key)).toBe(false);
  });

  it('comes from GAPLAB_HARNESS_SECRET when set, without touching the state folder', () => {
    const value = 'x'.repeat(40);
    const s = loadHarnessSecret({ env: { [HARNESS_SECRET_ENV]: value }, stateDir: state });
    expect(s.source).toBe('env');
    expect(s.key.toString()).toBe(value);
    expect(fs.existsSync(harnessKeyFile(state))).toBe(false);
  });

  it('refuses a short secret, naming the variable or the file, without showing the value', () => {
    const short = 'hunter2-hunter2';
    let err: unknown;
    try {
      loadHarnessSecret({ env: { [HARNESS_SECRET_ENV]: short }, stateDir: state });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HarnessSecretError);
    expect(String(err)).toMatch(/^HarnessSecretError: GAPLAB_HARNESS_SECRET: .*at least 32/);
    expect(String(err)).not.toContain(short);
    const file = harnessKeyFile(state);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, 'short\n', { mode: 0o600 });
    expect(() => loadHarnessSecret({ env: {}, stateDir: state })).toThrow(
      new RegExp(`^${file}: the harness secret must have at least 32`),
    );
  });

  it('refuses a key file others can read', () => {
    const file = harnessKeyFile(state);
    loadHarnessSecret({ env: {}, stateDir: state });
    fs.chmodSync(file, 0o644);
    expect(() => loadHarnessSecret({ env: {}, stateDir: state })).toThrow(
      /readable by others \(mode 644\); run `chmod 600/,
    );
  });
});
