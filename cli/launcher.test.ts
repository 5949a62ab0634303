/**
 * The `gaplab` launcher: compiled build when it is fresh, the sources otherwise; and output
 * piped into a reader that stops early ends the command quietly.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error a plain ES module of the launcher's, without types
import { buildIsFresh } from '../bin/freshness.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const fresh = buildIsFresh as (root: string) => boolean;

describe('buildIsFresh', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  function tree(): string {
    const root = mkdtempSync(path.join(os.tmpdir(), 'gaplab-launcher-'));
    dirs.push(root);
    mkdirSync(path.join(root, 'cli'));
    mkdirSync(path.join(root, 'domain', 'deep'), { recursive: true });
    writeFileSync(path.join(root, 'cli', 'main.ts'), '');
    writeFileSync(path.join(root, 'domain', 'deep', 'x.ts'), '');
    return root;
  }
  const at = (file: string, s: number) => utimesSync(file, s, s);

  it('is false without a build, true after one, false once a source changes', () => {
    const root = tree();
    expect(fresh(root)).toBe(false);
    mkdirSync(path.join(root, 'dist'));
    const stamp = path.join(root, 'dist', '.built');
    writeFileSync(stamp, '');
    at(path.join(root, 'cli', 'main.ts'), 1_000);
    at(path.join(root, 'domain', 'deep', 'x.ts'), 1_000);
    at(stamp, 2_000);
    expect(fresh(root)).toBe(true);
    // A nested source edited after the build: the sources run.
    at(path.join(root, 'domain', 'deep', 'x.ts'), 3_000);
    expect(fresh(root)).toBe(false);
  });

  it('ignores test files', () => {
    const root = tree();
    mkdirSync(path.join(root, 'dist'));
    writeFileSync(path.join(root, 'dist', '.built'), '');
    writeFileSync(path.join(root, 'cli', 'main.test.ts'), '');
    at(path.join(root, 'cli', 'main.ts'), 1_000);
    at(path.join(root, 'domain', 'deep', 'x.ts'), 1_000);
    at(path.join(root, 'dist', '.built'), 2_000);
    at(path.join(root, 'cli', 'main.test.ts'), 3_000);
    expect(fresh(root)).toBe(true);
  });
});

describe('gaplab piped into a reader that stops', () => {
  it('exits 0 without an EPIPE stack trace', () => {
    // `| true` has closed the pipe before the command writes its first line; `stack status`
    // writes after awaiting its health checks, so the write fails with EPIPE.
    const r = spawnSync(
      'bash',
      [
        '-c',
        `node ${JSON.stringify(path.join(ROOT, 'bin', 'gaplab.mjs'))} stack status | true; exit \${PIPESTATUS[0]}`,
      ],
      { encoding: 'utf8', env: { ...process.env, GAPLAB_CLI_SOURCE: '1' } },
    );
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(/EPIPE|Error/);
    // stack status exits 3 when a service is down; what matters is no crash (exit 1).
    expect([0, 3]).toContain(r.status);
  });
});

// `npm ci` builds dist/ (the prepare step), so CI always has a fresh build; a checkout being
// edited may not, and then this says so in its title.
const built = fresh(ROOT);
describe('the compiled build', () => {
  it.skipIf(!built)(
    `finds the Python files the sandbox runs (seccomp filter, tripwire), which the build does not copy${built ? '' : ' (skipped: dist/ is missing or older than the sources; run npm run build:js)'}`,
    () => {
      // A worker started by `gaplab worker` or `gaplab demo` runs from dist/: a Python file
      // looked up beside the compiled module is not there.
      const script = `
        const jail = await import(${JSON.stringify(path.join(ROOT, 'dist/experiments/jail.js'))});
        const code = await import(${JSON.stringify(path.join(ROOT, 'dist/experiments/code.js'))});
        const bpf = await jail.seccompFilter();
        console.log(JSON.stringify({ bpf: bpf.length, guard: code.tamperGuardSource().includes('class TamperError') }));`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toMatchObject({ guard: true });
      expect(JSON.parse(r.stdout).bpf).toBeGreaterThan(8 * 50);
    },
  );
});
