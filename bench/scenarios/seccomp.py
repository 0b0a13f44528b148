"""Scenario: what the default seccomp filter costs (issue 14 item 12).

One busybox container per measurement runs `dd if=/dev/zero of=/dev/null bs=1
count=N` under busybox `time` (two system calls per byte: read and write), with
`seccomp=unconfined`, with the engine's default profile (boxnet's allow-list,
Docker's), and with a deny-list twin of boxnet's profile (default allow, the
calls Docker documents as blocked refused), sent as a profile through the API.
The result is nanoseconds per system call, start of the dd process included
(it is 1-2 ms of N in the millions).  This is the measurement behind boxnet's
choice of an allow-list: it costs what a deny-list costs, and blocks by default
the system calls the kernel adds later.
"""

from __future__ import annotations

import json
import re

from bench.context import Context
from bench.stats import ratio
from boxnet.runtime import seccomp

NAME = "seccomp"
TITLE = "12. Seccomp: cost of the default filter per system call"
DOCUMENTED_BLOCKED = """acct add_key bpf clock_adjtime clock_settime create_module delete_module
finit_module get_kernel_syms get_mempolicy init_module ioperm iopl kcmp kexec_file_load
kexec_load keyctl lookup_dcookie mbind mount move_pages nfsservctl open_by_handle_at
perf_event_open pivot_root process_vm_readv process_vm_writev query_module quotactl reboot
request_key set_mempolicy setns settimeofday stime swapon swapoff sysfs _sysctl umount umount2
unshare uselib userfaultfd ustat vm86 vm86old io_uring_setup io_uring_enter
io_uring_register""".split()


def deny_list() -> dict:
    """boxnet's profile turned inside out: allow by default, refuse the documented calls."""
    return {"defaultAction": "SCMP_ACT_ALLOW", "archMap": seccomp.default_profile()["archMap"],
            "syscalls": [{"names": DOCUMENTED_BLOCKED, "action": "SCMP_ACT_ERRNO",
                          "errnoRet": 1}]}


def _ns_per_call(peer, count: int, opts: list[str]) -> float:
    api = peer.api
    cid = api.request("POST", "/containers/create", body={
        "Image": "busybox:latest",
        "Cmd": ["time", "-f", "%e", "dd", "if=/dev/zero", "of=/dev/null", "bs=1",
                f"count={count}"],
        "HostConfig": {"NetworkMode": "none", "SecurityOpt": opts or None}})["Id"]
    try:
        api.request("POST", f"/containers/{cid}/start")
        code = api.request("POST", f"/containers/{cid}/wait")["StatusCode"]
        logs = api.request("GET", f"/containers/{cid}/logs", query={"stderr": 1, "stdout": 1})
    finally:
        peer.remove_container(cid)
    seconds = re.findall(r"(\d+\.\d+)\s*$", str(logs))
    if code != 0 or not seconds:
        raise RuntimeError(f"dd under seccomp {opts}: exit {code}, output {logs!r}")
    return float(seconds[-1]) * 1e9 / (2 * count)


def run(ctx: Context) -> dict:
    """Measure boxnet (and Docker when installed) under each profile."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(3, 7)
    count = ctx.pick(1_000_000, 3_000_000)
    modes = {"unconfined": ["seccomp=unconfined"], "default": [],
             "denylist": ["seccomp=" + json.dumps(deny_list())]}
    labels = {"unconfined": "seccomp=unconfined", "default": "default profile",
              "denylist": "deny-list twin of boxnet's profile"}
    for name in ("boxnet", "docker"):
        with ctx.peer(name) as peer:
            if peer is None:
                continue
            peer.ensure_busybox()
            values: dict[str, list[float]] = {m: [] for m in modes}
            for _ in range(reps):   # interleaved, so a drift of the machine hits all alike
                for mode, opts in modes.items():
                    values[mode].append(_ns_per_call(peer, count, opts))
            for mode in modes:
                ctx.metric(f"syscall_{mode}", f"read/write of 1 byte, {labels[mode]}",
                           "ns/call", peer.name, values[mode])
    m = ctx.median_of
    ctx.goal("boxnet's allow-list costs at most 10% more than its deny-list twin",
             ratio(m("syscall_default", "boxnet"), m("syscall_denylist", "boxnet")), 1.10)
    ctx.goal("boxnet's default filter: at most Docker's per-call cost",
             ratio(m("syscall_default", "boxnet"), m("syscall_default", "docker")), 1.05)
    ctx.note("Any filter puts a process on the kernel's slow system-call entry path; the "
             "kernel caches allow decisions that do not depend on arguments, so the length "
             "of the list matters little. busybox `time` has 10 ms resolution: N is chosen "
             "so that one run takes about a second.")
    return res
