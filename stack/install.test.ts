import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';

// The state folder is fixed when stack/paths.ts loads: each test imports the installer afresh
// with its own GAPLAB_HOME and PATH.
let home: string;
beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'gaplab-install-'));
  vi.resetModules();
  vi.stubEnv('GAPLAB_HOME', home);
  vi.stubEnv('GAPLAB_TEMPORAL_TEST_SERVER', '');
});
afterEach(() => {
  vi.unstubAllEnvs();
  fs.rmSync(home, { recursive: true, force: true });
});

describe('resolveTimeSkippingServer', () => {
  test('names java and mvn when neither is on PATH', async () => {
    vi.stubEnv('PATH', path.join(home, 'empty-bin'));
    const { resolveTimeSkippingServer } = await import('./install.js');
    await expect(resolveTimeSkippingServer()).rejects.toThrow(
      /needs java \(a JDK or JRE, 11 or newer\) and mvn \(Maven\) on PATH.*GAPLAB_TEMPORAL_TEST_SERVER/,
    );
  });

  test('uses GAPLAB_TEMPORAL_TEST_SERVER, and says so when it does not exist', async () => {
    const exe = path.join(home, 'my-test-server');
    vi.stubEnv('GAPLAB_TEMPORAL_TEST_SERVER', exe);
    const { resolveTimeSkippingServer } = await import('./install.js');
    await expect(resolveTimeSkippingServer()).rejects.toThrow(
      `GAPLAB_TEMPORAL_TEST_SERVER=${exe} does not exist`,
    );
    fs.writeFileSync(exe, '#!/bin/sh\n', { mode: 0o755 });
    await expect(resolveTimeSkippingServer()).resolves.toEqual({
      path: exe,
      source: 'GAPLAB_TEMPORAL_TEST_SERVER',
    });
  });

  test('a cached install is used without java or mvn', async () => {
    vi.stubEnv('PATH', path.join(home, 'empty-bin'));
    const { resolveTimeSkippingServer, timeSkippingServerPath } = await import('./install.js');
    const launcher = timeSkippingServerPath();
    expect(launcher.startsWith(home)).toBe(true);
    fs.mkdirSync(path.dirname(launcher), { recursive: true });
    fs.writeFileSync(launcher, '#!/bin/sh\n', { mode: 0o755 });
    await expect(resolveTimeSkippingServer()).resolves.toEqual({ path: launcher, source: 'cache' });
  });
});

describe('resolveTemporalBinary', () => {
  test('names a missing Go toolchain and how to get it', async () => {
    vi.stubEnv('PATH', path.join(home, 'empty-bin'));
    vi.stubEnv('TEMPORAL_CLI_PATH', '');
    // The release download is the last resort; here it fails at once, without the network.
    vi.stubGlobal('fetch', () => Promise.reject(new Error('offline')));
    const lines: string[] = [];
    const { resolveTemporalBinary } = await import('./install.js');
    const error = await resolveTemporalBinary((l) => lines.push(l)).then(
      () => null,
      (e: unknown) => e as Error,
    );
    vi.unstubAllGlobals();
    expect(lines[0]).toMatch(
      /^Go is not installed \(no `go` on PATH\), so the Temporal CLI cannot be built from source: install it \(https:\/\/go\.dev\/doc\/install; on Debian or Ubuntu: apt-get install golang-go\)/,
    );
    expect(lines).toContain('Downloading the Temporal CLI release archive...');
    expect(lines.at(-1)).toMatch(/^Downloading the Temporal CLI release archive: failed after/);
    expect(error?.message).toContain('- Go is not installed (no `go` on PATH)');
    expect(error?.message).toContain('- download failed: offline');
    expect(error?.message).toContain('Install Go (https://go.dev/doc/install');
  });
});
