#!/usr/bin/env python3
"""Write boxnet's default seccomp profile (src/boxnet/runtime/seccomp_default.json).

How the profile is made, so a reviewer can re-make it and diff:
- every system call of the x86_64 and i386 tables of the kernel headers
  (Debian 12 linux-libc-dev 6.1: /usr/include/x86_64-linux-gnu/asm/unistd_{64,32}.h),
  plus the few ordinary ones added since (NEWER);
- minus BLOCKED: the calls docs.docker.com ("Seccomp security profiles for
  Docker") lists as blocked for every container, io_uring (blocked by Docker
  since 25.0), and obsolete or never-implemented calls;
- minus the calls of CAP_GROUPS, allowed only to a container holding that
  capability (Docker's capability-dependent exceptions);
- SPECIAL calls get argument rules: personality (Linux personas only),
  socket (not AF_ALG nor AF_VSOCK, as Docker 29), clone (no CLONE_NEW* flags
  without CAP_SYS_ADMIN), clone3 (ENOSYS without CAP_SYS_ADMIN), ptrace (from
  kernel 4.8).
Everything else gets EPERM (defaultAction SCMP_ACT_ERRNO, errno 1).

Usage: python3 scripts/seccomp_profile.py [--check]   (--check: exit 1 if it differs)
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HEADERS = ["/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
           "/usr/include/x86_64-linux-gnu/asm/unistd_32.h"]
OUT = Path(__file__).resolve().parent.parent / "src/boxnet/runtime/seccomp_default.json"
NEWER = ["cachestat", "fchmodat2", "map_shadow_stack", "futex_wake", "futex_wait",
         "futex_requeue", "mseal"]
BLOCKED = {
    "keyring (not namespaced)": ["add_key", "keyctl", "request_key"],
    "obsolete module calls": ["create_module", "get_kernel_syms", "query_module"],
    "loading a new kernel": ["kexec_load", "kexec_file_load"],
    "swap (host-wide)": ["swapon", "swapoff"],
    "userspace page-fault handling": ["userfaultfd"],
    "io_uring": ["io_uring_setup", "io_uring_enter", "io_uring_register"],
    "NUMA page moves": ["move_pages"],
    "x86 real-mode VM": ["vm86", "vm86old"],
    "obsolete": ["nfsservctl", "sysfs", "_sysctl", "ustat", "uselib", "bdflush",
                 "epoll_ctl_old", "epoll_wait_old"],
    "never implemented": ["afs_syscall", "break", "ftime", "getpmsg", "gtty", "idle", "lock",
                          "mpx", "prof", "profil", "putpmsg", "security", "stty", "tuxcall",
                          "ulimit", "vserver"],
}
CAP_GROUPS = [
    ("CAP_SYS_ADMIN", "mounts, namespaces, host name, quotas, tracing: privileged",
     ["bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
      "lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at",
      "open_tree", "perf_event_open", "pivot_root", "quotactl", "quotactl_fd",
      "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare"]),
    ("CAP_SYS_BOOT", "reboot the host", ["reboot"]),
    ("CAP_SYS_CHROOT", "chroot", ["chroot"]),
    ("CAP_SYS_MODULE", "kernel modules", ["delete_module", "init_module", "finit_module"]),
    ("CAP_SYS_PACCT", "process accounting", ["acct"]),
    ("CAP_SYS_PTRACE", "inspecting other processes",
     ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev",
      "ptrace"]),
    ("CAP_SYS_RAWIO", "I/O privilege levels", ["iopl", "ioperm"]),
    ("CAP_SYS_TIME", "the clock is not namespaced",
     ["settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime",
      "clock_adjtime64"]),
    ("CAP_SYS_TTY_CONFIG", "tty hang-up", ["vhangup"]),
    ("CAP_SYS_NICE", "NUMA memory policy",
     ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node", "migrate_pages"]),
    ("CAP_SYSLOG", "kernel log", ["syslog"]),
    ("CAP_BPF", "BPF programs", ["bpf"]),
    ("CAP_PERFMON", "performance monitoring", ["perf_event_open"]),
    ("CAP_DAC_READ_SEARCH", "file handles (the 'shocker' breakout)", ["open_by_handle_at"]),
]
SPECIAL = {"personality", "socket", "clone", "clone3", "ptrace"}


def _names(path: str) -> set[str]:
    with open(path) as f:
        return set(re.findall(r"#define __NR_(\w+)\s+\d+", f.read()))


def _rule(comment: str, names: list[str], action: str = "SCMP_ACT_ALLOW", **extra) -> dict:
    return {"comment": comment, "names": names, "action": action, **extra}


def profile() -> dict:
    """The profile, in Docker's profile format."""
    known = set(NEWER).union(*(_names(h) for h in HEADERS))
    excluded = set(SPECIAL).union(*BLOCKED.values(), *(g[2] for g in CAP_GROUPS))
    missing = sorted(excluded - SPECIAL - known)
    if missing:
        raise SystemExit(f"not in the syscall tables: {missing}")
    rules = [_rule("ordinary system calls (x86_64 and i386 tables of Linux 6.1, and newer "
                   "ones that are ordinary), allowed for every container",
                   sorted(known - excluded))]
    for v in (0, 8, 0x20000, 0x20008, 0xffffffff):
        rules.append(_rule("personality: only PER_LINUX, UNAME26, ADDR_NO_RANDOMIZE, their "
                           "sum, and the query (no BSD emulation)", ["personality"],
                           args=[{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]))
    for comment, value, op in (("every family below AF_ALG (38)", 38, "SCMP_CMP_LT"),
                               ("family 39 (between AF_ALG and AF_VSOCK)", 39, "SCMP_CMP_EQ"),
                               ("every family above AF_VSOCK (40); AF_ALG (kernel crypto, "
                                "CVE-2026-31431) and AF_VSOCK (the hypervisor) stay refused",
                                40, "SCMP_CMP_GT")):
        rules.append(_rule(f"socket: {comment}", ["socket"],
                           args=[{"index": 0, "value": value, "op": op}]))
    rules.append(_rule("ptrace of one's own children: safe from kernel 4.8 on (seccomp is "
                       "re-checked after a tracer changes a call)", ["ptrace"],
                       includes={"minKernel": "4.8"}))
    rules.append(_rule("clone without CAP_SYS_ADMIN: threads and processes, no new namespace "
                       "(CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET = "
                       "0x7E020000)", ["clone"],
                       args=[{"index": 0, "value": 0x7E020000, "valueTwo": 0,
                              "op": "SCMP_CMP_MASKED_EQ"}],
                       excludes={"caps": ["CAP_SYS_ADMIN"]}))
    rules.append(_rule("clone3 without CAP_SYS_ADMIN: its flags are behind a pointer seccomp "
                       "cannot read, so ENOSYS makes the C library fall back to clone "
                       "(filtered above)", ["clone3"], "SCMP_ACT_ERRNO", errnoRet=38,
                       excludes={"caps": ["CAP_SYS_ADMIN"]}))
    for cap, why, names in CAP_GROUPS:
        rules.append(_rule(f"only with {cap}: {why}", sorted(names), includes={"caps": [cap]}))
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                         "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64",
                         "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": rules}


def render(p: dict) -> str:
    """JSON with one line per list of names (reviewable diffs)."""
    text = json.dumps(p, indent=1)
    return re.sub(r'"names": \[\n([^\]]*)\]', lambda m: '"names": [' + ", ".join(
        x.strip().rstrip(",") for x in m.group(1).splitlines() if x.strip()) + "]",
        text) + "\n"


def main() -> int:
    """Write the profile, or with --check compare it with the committed one."""
    text = render(profile())
    if "--check" in sys.argv[1:]:
        same = OUT.read_text() == text
        print(f"{OUT}: {'up to date' if same else 'DIFFERS from the generator'}")
        return 0 if same else 1
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
