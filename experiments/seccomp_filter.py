"""The sandbox's seccomp filter, compiled by libseccomp (Debian's python3-seccomp).

Run by the worker with the system's python3 (`/usr/bin/python3 -I seccomp_filter.py [--pfc]`): writes the
BPF program bwrap loads with `--seccomp FD` to stdout, or with --pfc its readable form (what the
unit test checks against the deny list). Every refused call returns an error (EPERM, or ENOSYS for
clone3 so the C library falls back to clone, whose flags can be checked), never kills, so Python
raises a clean OSError. Calls of another architecture (i386, x32) are killed.

What is refused, and why:
- SysV IPC, POSIX message queues and memfd: memory outside any one process (the cgroup also
  counts it; this closes the door before it is reached);
- io_uring, userfaultfd, bpf, perf_event_open: large kernel surface a numeric method never needs;
- the kernel keyring: a channel between candidates;
- ptrace and reading or writing another process's memory;
- namespaces, mounts, chroot, modules, kexec, reboot, swap, accounting, syslog, clocks;
- sockets other than unix, IPv4 and IPv6 (netlink, packet, crypto, vsock, ...);
- file locks, leases, inotify and fanotify: on a file two sandboxes both see read-only these
  would be a channel between them.
"""
import errno
import sys

import seccomp

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
# F_SETLEASE 1024, F_GETLEASE 1025, F_NOTIFY 1026).
FCNTL_DENY = [5, 6, 7, 36, 37, 38, 1024, 1025, 1026]

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


def build():
    eperm = seccomp.ERRNO(errno.EPERM)
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for name in DENY:
        try:
            f.add_rule(eperm, name)
        except (RuntimeError, ValueError):
            # A call this kernel and libseccomp do not know cannot be made either.
            pass
    # The kernel reads these arguments as 32-bit ints: compare the low half only, or a value with
    # high bits set would pass the filter and still mean the refused family or command.
    for cmd in FCNTL_DENY:
        f.add_rule(eperm, "fcntl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, cmd))
    for name in ("socket", "socketpair"):
        for family in range(0, SOCKET_MAX_FAMILY + 1):
            if family not in SOCKET_ALLOWED:
                f.add_rule(
                    seccomp.ERRNO(errno.EAFNOSUPPORT),
                    name,
                    seccomp.Arg(0, seccomp.MASKED_EQ, 0xFFFFFFFF, family),
                )
    for bit in [1 << i for i in range(32) if CLONE_NAMESPACES & (1 << i)]:
        f.add_rule(eperm, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, bit, bit))
    f.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    return f


def main():
    f = build()
    if "--pfc" in sys.argv[1:]:
        f.export_pfc(sys.stdout)
    else:
        f.export_bpf(sys.stdout)


if __name__ == "__main__":
    main()
