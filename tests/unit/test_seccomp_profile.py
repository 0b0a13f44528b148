"""runtime/seccomp.py and secopts.py: boxnet's default profile blocks what
Docker documents as blocked, its capability exceptions follow the container's
capabilities, the 32-bit table is filtered too, and a user's profile (Docker's
format) is rendered or refused with a message naming the problem."""

from __future__ import annotations

import json

import pytest

from boxnet.errors import InvalidParameter
from boxnet.runtime import seccomp
from boxnet.runtime.bundle import DEFAULT_CAPS, build_config
from boxnet.runtime.api import ProcessSpec
from boxnet.runtime.secopts import parse_security_opts
from boxnet.runtime.users import ExecUser

# docs.docker.com "Seccomp security profiles for Docker", significant syscalls
# blocked by the default profile (ptrace there: blocked before kernel 4.8 only).
DOCUMENTED = """acct add_key bpf clock_adjtime clock_settime clone create_module
delete_module finit_module get_kernel_syms get_mempolicy init_module ioperm iopl kcmp
kexec_file_load kexec_load keyctl lookup_dcookie mbind mount move_pages nfsservctl
open_by_handle_at perf_event_open personality pivot_root process_vm_readv
process_vm_writev query_module quotactl reboot request_key set_mempolicy setns
settimeofday stime swapon swapoff sysfs _sysctl umount umount2 unshare uselib
userfaultfd ustat vm86 vm86old""".split()
X86 = ("amd64", "SCMP_ARCH_X86_64")


def default(caps=DEFAULT_CAPS, kernel=(6, 18)):
    return seccomp.render(seccomp.default_profile(), list(caps), kernel, X86)


def rules_for(oci: dict, name: str) -> list[dict]:
    return [r for r in oci["syscalls"] if name in r["names"]]


def test_default_is_an_allow_list_with_eperm_for_both_abis():
    """Everything unlisted is EPERM (errno 1); x86_64 plus its i386 and x32 ABIs."""
    oci = default()
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO" and oci["defaultErrnoRet"] == 1
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = seccomp.allowed_names(oci)
    assert {"read", "write", "execve", "socketcall", "_llseek", "mmap2", "chroot"} <= allowed


def test_documented_blocked_calls_are_not_allowed_for_boxnet_caps():
    """Every call Docker documents as blocked, io_uring too, has no unconditional
    allow rule for a container holding boxnet's (Docker's default) capabilities."""
    allowed = seccomp.allowed_names(default())
    blocked = set(DOCUMENTED) - {"clone", "personality"}   # argument-filtered below
    blocked |= {"io_uring_setup", "io_uring_enter", "io_uring_register", "clone3"}
    assert not blocked & allowed, blocked & allowed
    for name in blocked - {"clone3"}:
        assert not rules_for(default(), name), name


def test_capability_exceptions_follow_the_container():
    """CAP_SYS_CHROOT (held) allows chroot; CAP_SYS_ADMIN (not held) would allow
    mount, unshare, setns and any clone; CAP_SYS_PTRACE would allow process_vm_readv."""
    assert "chroot" in seccomp.allowed_names(default())
    assert "chroot" not in seccomp.allowed_names(default([c for c in DEFAULT_CAPS
                                                          if c != "CAP_SYS_CHROOT"]))
    admin = default([*DEFAULT_CAPS, "CAP_SYS_ADMIN"])
    assert {"mount", "unshare", "setns", "clone", "clone3"} <= seccomp.allowed_names(admin)
    assert "process_vm_readv" in seccomp.allowed_names(default([*DEFAULT_CAPS, "SYS_PTRACE"]))


def test_clone_without_namespaces_and_clone3_enosys():
    """Without CAP_SYS_ADMIN clone is allowed only without CLONE_NEW* flags and
    clone3 fails with ENOSYS (38) so the C library falls back to clone."""
    (clone,) = rules_for(default(), "clone")
    assert clone["args"] == [{"index": 0, "value": 0x7E020000, "valueTwo": 0,
                              "op": "SCMP_CMP_MASKED_EQ"}]
    (clone3,) = rules_for(default(), "clone3")
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38


def test_socket_refuses_af_alg_and_af_vsock():
    """socket(2) rules cover every family except AF_ALG (38) and AF_VSOCK (40)."""
    def allowed(family: int) -> bool:
        ops = {"SCMP_CMP_LT": family.__lt__, "SCMP_CMP_EQ": family.__eq__,
               "SCMP_CMP_GT": family.__gt__}
        return any(ops[r["args"][0]["op"]](r["args"][0]["value"])
                   for r in rules_for(default(), "socket"))
    assert [f for f in range(64) if not allowed(f)] == [38, 40]


def test_ptrace_needs_kernel_4_8():
    """ptrace is allowed on kernels from 4.8 on (the seccomp bypass was fixed there)."""
    assert "ptrace" in seccomp.allowed_names(default())
    assert "ptrace" not in seccomp.allowed_names(default(kernel=(4, 4)))


def test_user_profile_rendered():
    """A Docker-format profile: archMap picks the native arch, includes/excludes apply."""
    prof = seccomp.parse_profile(json.dumps({
        "defaultAction": "SCMP_ACT_ALLOW",
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"name": "chmod", "action": "SCMP_ACT_ERRNO", "includes": {"arches": ["arm64"]}},
            {"names": ["uname"], "action": "SCMP_ACT_ERRNO",
             "excludes": {"caps": ["CAP_SYS_ADMIN"]}, "comment": "why"}]}))
    oci = seccomp.render(prof, DEFAULT_CAPS, (6, 1), X86)
    assert oci == {"defaultAction": "SCMP_ACT_ALLOW",
                   "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                   "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                                {"names": ["uname"], "action": "SCMP_ACT_ERRNO"}]}


@pytest.mark.parametrize("profile,message", [
    ({"defaultAction": "SCMP_ACT_ALLOW", "sycalls": []}, "unknown field 'sycalls'"),
    ({"defaultAction": "SCMP_ACT_NOTIFY", "syscalls": []}, "defaultAction"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "NOPE"}]},
     "action"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "op": "SCMP_CMP_EQ"}]}]},
     "index"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["x"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "op": "EQ"}]}]}, "op"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"], "syscalls": []},
     "SCMP_ARCH_Z80"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"], "syscalls": []},
     "flags"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}, "both 'name' and 'names'"),
    ([], "JSON object"),
])
def test_bad_profiles_refused(profile, message):
    """Nothing in a profile is silently ignored: a mistake is a 400 naming it."""
    with pytest.raises(InvalidParameter, match=message):
        seccomp.parse_profile(json.dumps(profile))


@pytest.mark.parametrize("opts,seccomp_mode,nnp", [
    (None, "default", False), (["no-new-privileges"], "default", True),
    (["no-new-privileges:true"], "default", True), (["no-new-privileges=false"], "default", False),
    (["seccomp=unconfined"], "unconfined", False), (["seccomp:unconfined"], "unconfined", False),
    (["seccomp=builtin", "apparmor=unconfined", "label=disable"], "default", False),
])
def test_security_opts(opts, seccomp_mode, nnp):
    """SecurityOpt entries as dockerd reads them."""
    got = parse_security_opts(opts)
    assert (got.seccomp, got.no_new_privileges) == (seccomp_mode, nnp)


def test_config_carries_seccomp_user_caps_and_nnp():
    """config.json: the default filter, the resolved user, capabilities of root
    only in the effective/permitted sets, and noNewPrivileges."""
    spec = ProcessSpec(container_id="c1", rootfs="/x", args=["sh"], netns_path="/run/n",
                       no_new_privileges=True)
    cfg = build_config(spec, "rootfs", False, ExecUser(uid=1000, gid=100, additional_gids=[5]))
    proc = cfg["process"]
    assert proc["user"] == {"uid": 1000, "gid": 100, "additionalGids": [5]}
    assert proc["capabilities"]["effective"] == [] and proc["capabilities"]["permitted"] == []
    assert proc["capabilities"]["bounding"] == DEFAULT_CAPS and proc["noNewPrivileges"] is True
    assert cfg["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    root = build_config(spec, "rootfs", False)["process"]
    assert root["capabilities"]["effective"] == DEFAULT_CAPS and root["user"] == {"uid": 0, "gid": 0}
    spec.seccomp = "unconfined"
    assert "seccomp" not in build_config(spec, "rootfs", False)["linux"]
