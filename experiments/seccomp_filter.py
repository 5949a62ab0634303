"""The sandbox's seccomp filter, compiled by libseccomp (Debian's python3-seccomp).

Run by the worker with the system's python3 (`/usr/bin/python3 -I seccomp_filter.py [--pfc]`): writes the
BPF program bwrap loads with `--seccomp FD` to stdout, or with --pfc its readable form (what the
unit test checks against the lists). Calls of another architecture (i386, x32) are killed; no
other call is.

An allow-list: a call not on `ALLOW` fails with ENOSYS, as if the kernel did not have it, so a
library that probes a newer call falls back as it would on an older kernel. `ALLOW` is the set
of calls a container runtime's default profile lets an unprivileged container make (Docker's
default seccomp profile, its unconditional group, kept here as data), less `DENY`, plus the few
x86-64 calls Python needs that the profile lists apart (`arch_prctl`, `get_mempolicy`). Four calls
are allowed on their arguments only: `socket` and `socketpair` (the families below), `fcntl` (no
locks or leases) and `clone` (no new namespaces); `clone3` hides its flags in memory, so it is
ENOSYS and the C library falls back to clone.

Refused with EPERM, so Python raises a clean OSError naming it (`DENY`), and why:
- SysV IPC, POSIX message queues and memfd: memory outside any one process (the cgroup also
  counts it; this closes the door before it is reached);
- io_uring, userfaultfd, bpf, perf_event_open: large kernel surface a numeric method never needs;
- the kernel keyring: a channel between candidates;
- ptrace and reading or writing another process's memory;
- namespaces, mounts, chroot, modules, kexec, reboot, swap, accounting, syslog, clocks;
- sockets other than unix, IPv4 and IPv6 (netlink, packet, crypto, vsock, ...: EAFNOSUPPORT);
- file locks, leases, inotify and fanotify: on a file two sandboxes both see read-only these
  would be a channel between them.
"""
import errno
import sys

import seccomp

ALLOW = [
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
    "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
    "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
    "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
    "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
    "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
    "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2",
    "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr",
    "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
    "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64",
    "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd", "getdents",
    "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
    "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
    "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
    "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
    "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "getxattrat",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
    "ioctl", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
    "ioprio_set", "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule",
    "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
    "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack",
    "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
    "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
    "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd",
    "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat",
    "_newselect", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
    "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
    "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
    "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
    "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "removexattrat", "rename", "renameat", "renameat2",
    "restart_syscall", "riscv_hwprobe", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl",
    "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64",
    "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid",
    "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid",
    "setregid32", "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid",
    "setreuid32", "setrlimit", "set_robust_list", "setsid", "setsockopt", "set_thread_area",
    "set_tid_address", "setuid", "setuid32", "setxattr", "setxattrat", "shmat", "shmctl", "shmdt",
    "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn",
    "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statmount",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
    "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
    "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime",
    "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid",
    "write", "writev",
    # x86-64 calls the profile lists apart: thread-local storage, and NUMA policy reads
    "arch_prctl", "get_mempolicy",
]

# Allowed on their arguments only (see build()).
CONDITIONAL = {"socket", "socketpair", "fcntl", "fcntl64", "clone", "clone3"}

DENY = [
    # SysV IPC and POSIX message queues
    "shmget", "shmat", "shmdt", "shmctl",
    "msgget", "msgsnd", "msgrcv", "msgctl",
    "semget", "semop", "semtimedop", "semctl",
    "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
    "memfd_create", "memfd_secret",
    # kernel surface
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "userfaultfd", "bpf", "perf_event_open",
    # keyring
    "keyctl", "add_key", "request_key",
    # other processes
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "process_madvise",
    # namespaces and mounts
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "name_to_handle_at", "open_by_handle_at",
    # the machine
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "reboot", "swapon", "swapoff", "acct", "syslog", "quotactl", "quotactl_fd",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "iopl", "ioperm", "uselib", "ustat", "sysfs", "_sysctl", "lookup_dcookie", "vhangup",
    "personality",
    # channels through files seen by several sandboxes
    "flock", "inotify_init", "inotify_init1", "inotify_add_watch",
    "fanotify_init", "fanotify_mark",
]

# fcntl commands that lock or lease (F_GETLK 5, F_SETLK 6, F_SETLKW 7, F_OFD_* 36-38,
# F_SETLEASE 1024, F_GETLEASE 1025, F_NOTIFY 1026): EPERM.
FCNTL_DENY = [5, 6, 7, 36, 37, 38, 1024, 1025, 1026]
# fcntl commands allowed: F_DUPFD 0, F_GETFD 1, F_SETFD 2, F_GETFL 3, F_SETFL 4, F_SETOWN 8,
# F_GETOWN 9, F_SETSIG 10, F_GETSIG 11, F_SETOWN_EX 15, F_GETOWN_EX 16, F_GETOWNER_UIDS 17,
# F_DUPFD_CLOEXEC 1030, F_SETPIPE_SZ 1031, F_GETPIPE_SZ 1032, F_ADD_SEALS 1033, F_GET_SEALS 1034,
# F_GET_RW_HINT 1035, F_SET_RW_HINT 1036, F_GET_FILE_RW_HINT 1037, F_SET_FILE_RW_HINT 1038.
# Any other command: ENOSYS.
FCNTL_ALLOW = [0, 1, 2, 3, 4, 8, 9, 10, 11, 15, 16, 17, *range(1030, 1039)]

# Socket families allowed: AF_UNIX 1, AF_INET 2, AF_INET6 10 (the network namespace holds only
# loopback). Everything else (AF_NETLINK 16, AF_PACKET 17, AF_ALG 38, AF_VSOCK 40, ...) is refused.
SOCKET_ALLOWED = {1, 2, 10}
# AF_MAX is 46 today, and the kernel refuses any family past it (NPROTO <= 64): every family
# below this one that is not allowed is refused by name.
SOCKET_MAX_FAMILY = 64

# clone flags that make namespaces (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
# NEWNET, NEWTIME): refused as clone arguments; clone3 hides its flags in memory, so it is ENOSYS.
CLONE_NAMESPACES = (
    0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080
)


def _add(f, action, name, *args):
    """Adds a rule; a call this kernel and libseccomp do not know cannot be made either."""
    try:
        f.add_rule(action, name, *args)
    except (RuntimeError, ValueError):
        pass


def build():
    eperm = seccomp.ERRNO(errno.EPERM)
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.ENOSYS))
    denied = set(DENY)
    for name in ALLOW:
        if name not in denied and name not in CONDITIONAL:
            _add(f, seccomp.ALLOW, name)
    for name in DENY:
        _add(f, eperm, name)
    # The kernel reads these arguments as 32-bit ints: compare the low half only, or a value with
    # high bits set would pass the filter and still mean the refused family or command.
    low32 = 0xFFFFFFFF
    for cmd in FCNTL_DENY:
        _add(f, eperm, "fcntl", seccomp.Arg(1, seccomp.MASKED_EQ, low32, cmd))
    for cmd in FCNTL_ALLOW:
        _add(f, seccomp.ALLOW, "fcntl", seccomp.Arg(1, seccomp.MASKED_EQ, low32, cmd))
    for name in ("socket", "socketpair"):
        for family in range(0, SOCKET_MAX_FAMILY + 1):
            action = seccomp.ALLOW if family in SOCKET_ALLOWED else seccomp.ERRNO(errno.EAFNOSUPPORT)
            _add(f, action, name, seccomp.Arg(0, seccomp.MASKED_EQ, low32, family))
    for bit in [1 << i for i in range(32) if CLONE_NAMESPACES & (1 << i)]:
        _add(f, eperm, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, bit, bit))
    _add(f, seccomp.ALLOW, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_NAMESPACES, 0))
    _add(f, seccomp.ERRNO(errno.ENOSYS), "clone3")
    return f


def main():
    f = build()
    if "--pfc" in sys.argv[1:]:
        f.export_pfc(sys.stdout)
    else:
        f.export_bpf(sys.stdout)


if __name__ == "__main__":
    main()
