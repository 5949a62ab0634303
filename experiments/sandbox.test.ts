import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileSeccomp, UID_BASE } from './jail.js';
import { bwrapArgs, DEFAULT_LIMITS, findBwrap, reachableSource } from './sandbox.js';

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

describe('bwrapArgs with the worker-made parts', () => {
  it('binds the launcher-mounted scratch instead of making its own, and loads the seccomp filter', () => {
    const args = bwrapArgs(
      ['true'],
      DEFAULT_LIMITS,
      [],
      {},
      {
        scratch: { work: '/s/work', tmp: '/s/tmp' },
        seccompFd: 5,
      },
    );
    const part = args.slice(0, args.indexOf('--'));
    expect(after(part, '--bind')).toEqual(['/s/work', '/s/tmp']);
    expect(part[part.indexOf('/s/work') + 1]).toBe('/work');
    expect(part[part.indexOf('/s/tmp') + 1]).toBe('/tmp');
    expect(after(part, '--tmpfs')).toEqual([]);
    expect(after(part, '--seccomp')).toEqual(['5']);
  });
});

describe('the seccomp filter, as libseccomp compiled it', async () => {
  const pfc = (await compileSeccomp(true)).toString('utf8');
  const bpf = await compileSeccomp();
  /** The action libseccomp gives a call with no argument rule. */
  const action = (name: string): string | undefined => {
    const at = pfc.indexOf(`filter for syscall "${name}"`);
    if (at < 0) return undefined;
    return /action (\S+);/.exec(pfc.slice(at))?.[1];
  };

  it('refuses every call on the deny list with EPERM (clone3 with ENOSYS), never a kill', () => {
    const listed = [
      ...['shmget', 'shmat', 'shmctl', 'msgget', 'msgsnd', 'semget', 'semop', 'semctl'],
      ...['memfd_create', 'mq_open'],
      ...['io_uring_setup', 'io_uring_enter', 'io_uring_register', 'userfaultfd'],
      ...['keyctl', 'add_key', 'request_key'],
      ...['ptrace', 'process_vm_readv', 'process_vm_writev', 'bpf', 'perf_event_open'],
      ...['unshare', 'setns', 'mount', 'umount2', 'pivot_root', 'chroot'],
      ...['kexec_load', 'init_module', 'finit_module', 'reboot', 'swapon'],
      ...['flock', 'inotify_init1', 'fanotify_init'],
    ];
    for (const name of listed) expect(action(name), name).toBe('ERRNO(1)');
    // clone3 hides its flags in memory: no rule, so the default's ENOSYS (the C library falls
    // back to clone, whose flags are checked).
    expect(action('clone3')).toBeUndefined();
    // The one kill is for calls of another architecture (i386, x32).
    expect(pfc.match(/action KILL/g)?.length).toBe(1);
    expect(pfc).toMatch(/# invalid architecture action\s+action KILL;/);
  });

  it('is an allow-list: a call not on it fails with ENOSYS, the calls Python makes are allowed', () => {
    expect(pfc).toMatch(/# default action\s+action ERRNO\(38\);/);
    const python = [
      ...['read', 'write', 'openat', 'close', 'mmap', 'munmap', 'mprotect', 'brk', 'futex'],
      ...['execve', 'arch_prctl', 'rseq', 'getrandom', 'newfstatat', 'statx', 'ioctl'],
      ...['prlimit64', 'sched_getaffinity', 'wait4', 'kill', 'pipe2', 'dup2', 'getdents64'],
      ...['rt_sigaction', 'set_robust_list', 'set_tid_address', 'exit_group', 'vfork'],
    ];
    for (const name of python) expect(action(name), name).toBe('ALLOW');
    // Never listed, so the default refuses them: old or rare kernel surface.
    for (const name of ['modify_ldt', 'move_pages', 'migrate_pages', 'mbind', 'set_mempolicy'])
      expect(action(name), name).toBeUndefined();
  });

  it('checks arguments: netlink and other socket families, locking fcntl, namespace clone flags', () => {
    const rules = (name: string): string => {
      const at = pfc.indexOf(`filter for syscall "${name}"`);
      const next = pfc.indexOf('# filter for syscall', at + 1);
      return pfc.slice(at, next < 0 ? undefined : next);
    };
    const socket = rules('socket');
    for (const family of [16 /* netlink */, 17 /* packet */, 38 /* alg */, 40 /* vsock */])
      // The low 32 bits only, as the kernel reads them: high bits cannot slip a family past.
      expect(socket, `family ${family}`).toContain(`$a0.lo32 & 0xffffffff == ${family})`);
    for (const family of [1, 2, 10])
      expect(socket).toMatch(
        new RegExp(`\\$a0\\.lo32 & 0xffffffff == ${family}\\)\\s+action ALLOW;`),
      );
    expect(socket).not.toMatch(/\$a0.hi32 == 0/);
    const fcntl = rules('fcntl');
    for (const cmd of [6, 7, 37, 38, 1024])
      expect(fcntl, `F_ ${cmd}`).toContain(`$a1.lo32 & 0xffffffff == ${cmd})`);
    expect(rules('clone')).toContain('& 0x10000000'); // CLONE_NEWUSER
    // Allowed only without any namespace flag, and fcntl only on the commands named.
    expect(rules('clone')).toMatch(/\$a0\.lo32 & 0x7e020080 == 0\)\s+action ALLOW;/);
    expect(fcntl).toMatch(/\$a1\.lo32 & 0xffffffff == 1030\)\s+action ALLOW;/);
    for (const family of [1, 2, 10])
      expect(rules('socketpair'), `family ${family}`).toMatch(
        new RegExp(`\\$a0\\.lo32 & 0xffffffff == ${family}\\)\\s+action ALLOW;`),
      );
    expect(bpf.length % 8).toBe(0); // whole sock_filter instructions
    expect(bpf.length).toBeGreaterThan(8 * 50);
  });
});

describe('reachableSource', () => {
  it("mirrors a folder out of the sandbox user's reach, and drops the mirror once its source is gone", async () => {
    const made = (): string => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'gaplab-private-')); // 0700
      mkdirSync(path.join(dir, 'site'), { mode: 0o755 });
      writeFileSync(path.join(dir, 'site', 'numpy.py'), 'x = 1\n');
      return dir;
    };
    const [a, b] = [made(), made()];
    try {
      const ma = await reachableSource(path.join(a, 'site'), UID_BASE, UID_BASE);
      expect(ma).not.toBe(path.join(a, 'site'));
      expect(readFileSync(path.join(ma, 'numpy.py'), 'utf8')).toBe('x = 1\n');
      rmSync(a, { recursive: true });
      const mb = await reachableSource(path.join(b, 'site'), UID_BASE, UID_BASE);
      expect(existsSync(path.join(mb, 'numpy.py'))).toBe(true);
      expect(existsSync(ma)).toBe(false);
      rmSync(b, { recursive: true });
      // A folder it can reach is shown as it is.
      expect(await reachableSource('/usr/lib', UID_BASE, UID_BASE)).toBe('/usr/lib');
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });
});

describe('findBwrap', () => {
  it('an explicit path is the only candidate: missing means missing', () => {
    expect(findBwrap('/nonexistent/bwrap')).toBeUndefined();
  });
});
