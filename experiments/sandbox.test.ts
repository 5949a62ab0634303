import { describe, expect, it } from 'vitest';
import { bwrapArgs, DEFAULT_LIMITS, findBwrap } from './sandbox.js';

function after(args: string[], flag: string): string[] {
  const out: string[] = [];
  args.forEach((a, i) => {
    if (a === flag) out.push(args[i + 1] as string);
  });
  return out;
}

describe('bwrapArgs', () => {
  const args = bwrapArgs(
    ['/usr/bin/python3', '/input/driver.py'],
    { ...DEFAULT_LIMITS, cpuSeconds: 7, memoryBytes: 1e9, processes: 16 },
    [{ source: '/host/inputs/run-1', target: '/input' }],
    { PYTHONPATH: '/opt/x' },
  );
  const sandboxPart = args.slice(0, args.indexOf('--'));

  it('isolates everything: namespaces, environment, session, parent death', () => {
    for (const flag of [
      '--unshare-all',
      '--unshare-user',
      '--disable-userns',
      '--die-with-parent',
      '--new-session',
      '--clearenv',
    ])
      expect(sandboxPart).toContain(flag);
    expect(sandboxPart).not.toContain('--share-net');
  });

  it('shows the system and the chosen folders read-only, freezes / and /dev, and writes only to sized tmpfs', () => {
    expect(after(sandboxPart, '--bind')).toEqual([]); // no writable host folder at all
    expect(after(sandboxPart, '--ro-bind')).toEqual(
      expect.arrayContaining(['/usr', '/host/inputs/run-1']),
    );
    expect(after(sandboxPart, '--tmpfs')).toEqual(['/work', '/tmp']);
    expect(after(sandboxPart, '--size')).toEqual([
      String(DEFAULT_LIMITS.scratchBytes),
      String(DEFAULT_LIMITS.scratchBytes),
    ]);
    expect(after(sandboxPart, '--remount-ro')).toEqual(['/dev', '/']);
    // Freezing / must come after every mount that creates a mount point in it.
    expect(sandboxPart.lastIndexOf('--remount-ro')).toBeGreaterThan(
      sandboxPart.lastIndexOf('--ro-bind'),
    );
    expect(after(sandboxPart, '--chdir')).toEqual(['/work']);
  });

  it('sets only a minimal environment, plus what the harness passes', () => {
    const env: Record<string, string> = {};
    sandboxPart.forEach((a, i) => {
      if (a === '--setenv') env[sandboxPart[i + 1] as string] = sandboxPart[i + 2] as string;
    });
    expect(env).toMatchObject({ PATH: '/usr/bin:/bin', HOME: '/work', PYTHONPATH: '/opt/x' });
    expect(Object.keys(env).some((k) => /KEY|TOKEN|SECRET|TEMPORAL|MLFLOW/.test(k))).toBe(false);
  });

  it('runs the command under prlimit with the limits', () => {
    const cmd = args.slice(args.indexOf('--') + 1);
    expect(cmd.slice(0, 1)).toEqual(['/usr/bin/prlimit']);
    expect(cmd).toEqual(
      expect.arrayContaining(['--cpu=7:8', '--as=1000000000', '--nproc=16', '--core=0']),
    );
    expect(cmd.slice(-2)).toEqual(['/usr/bin/python3', '/input/driver.py']);
  });

  it('refuses a relative or escaping mount target', () => {
    expect(() => bwrapArgs(['true'], DEFAULT_LIMITS, [{ source: '/x', target: 'input' }])).toThrow(
      /absolute/,
    );
    expect(() =>
      bwrapArgs(['true'], DEFAULT_LIMITS, [{ source: '/x', target: '/input/../etc' }]),
    ).toThrow(/absolute/);
  });
});

describe('findBwrap', () => {
  it('an explicit path is the only candidate: missing means missing', () => {
    expect(findBwrap('/nonexistent/bwrap')).toBeUndefined();
  });
});
