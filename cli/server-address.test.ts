/** The CLI finds the server it should talk to: GAPLAB_URL, else what a local server recorded. */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'gaplab-home-'));
process.env.GAPLAB_HOME = home;
delete process.env.GAPLAB_URL;
const { ApiClient, recordServerAddress, SERVER_FILE } = await import('./api.js');

afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe('the server address the CLI uses', () => {
  it('is the default with no record', () => {
    expect(new ApiClient({ token: 't' }).url).toBe('http://127.0.0.1:8700');
  });

  it('is what a running local server recorded', () => {
    recordServerAddress('http://127.0.0.1:18777');
    expect(SERVER_FILE.startsWith(home)).toBe(true);
    expect(new ApiClient({ token: 't' }).url).toBe('http://127.0.0.1:18777');
  });

  it('is not what a server that has stopped recorded', () => {
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    fs.writeFileSync(
      SERVER_FILE,
      JSON.stringify({ url: 'http://127.0.0.1:1', pid: Number(gone.stdout) }),
    );
    expect(new ApiClient({ token: 't' }).url).toBe('http://127.0.0.1:8700');
  });

  it('is GAPLAB_URL when set, over any record', () => {
    recordServerAddress('http://127.0.0.1:18777');
    process.env.GAPLAB_URL = 'http://10.0.0.5:8700/';
    try {
      expect(new ApiClient({ token: 't' }).url).toBe('http://10.0.0.5:8700');
    } finally {
      delete process.env.GAPLAB_URL;
    }
  });
});
