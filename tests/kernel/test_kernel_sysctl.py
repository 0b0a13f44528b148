"""sysctls are read and written in the netns asked for, nowhere else."""

import pytest

from boxnet.errors import KernelError
from boxnet.kernel.sysctl import read_sysctl, sysctl_path, write_sysctl


def test_write_is_per_netns(make_netns, sh):
    a, b = make_netns(), make_netns()
    assert read_sysctl("net.ipv4.ip_forward", netns=a) == "0"
    write_sysctl("net.ipv4.ip_forward", "1", netns=a)
    assert read_sysctl("net.ipv4.ip_forward", netns=a) == "1"
    assert sh(a, "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "1"
    assert read_sysctl("net.ipv4.ip_forward", netns=b) == "0"


def test_caller_netns(host_ns, in_netns):
    def body():
        write_sysctl("net.ipv6.conf.all.forwarding", "1")
        return read_sysctl("net.ipv6.conf.all.forwarding")
    assert in_netns(host_ns, body) == "1"
    assert read_sysctl("net.ipv6.conf.all.forwarding", netns=host_ns) == "1"


def test_keys_and_errors(host_ns):
    assert sysctl_path("net.ipv4.conf.all.forwarding") == "/proc/sys/net/ipv4/conf/all/forwarding"
    assert sysctl_path("net/ipv4/conf/eth0.5/rp_filter") == "/proc/sys/net/ipv4/conf/eth0.5/rp_filter"
    with pytest.raises(KernelError):
        sysctl_path("net/../../etc/passwd")
    with pytest.raises(KernelError, match="net.ipv4.nosuchkey"):
        read_sysctl("net.ipv4.nosuchkey", netns=host_ns)
