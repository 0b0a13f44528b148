"""The DNS forwarder's shared cache cannot be poisoned across containers (issue 14 item 9).

One daemon (--dns GOOD), two upstream stubs in an Outside netns (dns_spoof.py):
GOOD answers 203.0.113.N, OTHER answers 192.0.2.N, N telling the query's flags
apart. Containers: `ca` on n1 with the daemon's upstreams, `cb` on n2 and `cc` on
n1 with --dns OTHER. Queries are sent from inside the containers' netns to
127.0.0.11; no query leaves the test namespaces.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from integration import harness
from integration.outside import Outside

pytestmark = pytest.mark.kernel

HERE = Path(__file__).parent
GOOD, OTHER = "198.18.0.2", "198.18.0.10"
GOOD_NET, OTHER_NET = "203.0.113", "192.0.2"
POISON = "198.51.100.66"
SLEEP = ["busybox", "sleep", "3600"]


@pytest.fixture(scope="module")
def cache_host():
    """Daemon with --dns GOOD; stubs at GOOD and OTHER; containers ca, cb, cc."""
    if os.geteuid() != 0:
        pytest.skip("integration tests need root")
    h = harness.TestHost()
    try:
        o = Outside(h)
        h.sh(["ip", "route", "add", f"{OTHER}/32", "dev", o.host_ifname])
        o.sh(["ip", "addr", "add", f"{OTHER}/32", "dev", "eth0"])
        h.stub_log = h.dir / "spoof.log"
        o.popen([sys.executable, str(HERE / "dns_spoof.py"), "serve", "--log", str(h.stub_log),
                 "--addr", f"{GOOD}={GOOD_NET}", "--addr", f"{OTHER}={OTHER_NET}"])
        h.start("--dns", GOOD, "--dns-timeout", "3")
        h.cli("network", "create", "n1")
        h.cli("network", "create", "n2")
        h.cli("run", "-d", "--name", "ca", "--network", "n1", *SLEEP)
        h.cli("run", "-d", "--name", "cb", "--network", "n2", "--dns", OTHER, *SLEEP)
        h.cli("run", "-d", "--name", "cc", "--network", "n1", "--dns", OTHER, *SLEEP)
        end = time.monotonic() + 10
        while not (h.stub_log.exists() and "ready" in h.stub_log.read_text()):
            assert time.monotonic() < end, "the stub upstream never became ready"
            time.sleep(0.05)
        yield h
    finally:
        problems = h.teardown()
        assert not problems, problems


def ask(h, container: str, name: str, *flags: str) -> dict:
    """dns_spoof.py ask, run in the container's netns (nsenter --net=SandboxKey)."""
    key = h.inspect(container)["NetworkSettings"]["SandboxKey"]
    r = harness.run(["nsenter", f"--net={key}", sys.executable, str(HERE / "dns_spoof.py"),
                     "ask", name, *flags], timeout=30)
    return json.loads(r.stdout)


def asked(h, upstream: str, name: str) -> int:
    """How many times the stub at `upstream` was asked `name`."""
    return sum(1 for line in h.stub_log.read_text().splitlines()
               if line.startswith(f"{upstream} {name}. "))


def test_each_upstream_set_gets_its_own_answer(cache_host):
    """The same name asked by containers with different upstream sets: each gets its
    own upstream's answer, first and from the cache; one upstream set shares its entry
    across networks (cb on n2, cc on n1)."""
    h = cache_host
    rd = 2   # flag code of a plain recursive query
    for _ in range(2):   # the second round is served from the cache
        assert ask(h, "cb", "same.outside.test")["answers"] == [f"{OTHER_NET}.{rd}"]
        assert ask(h, "ca", "same.outside.test")["answers"] == [f"{GOOD_NET}.{rd}"]
        assert ask(h, "cc", "same.outside.test")["answers"] == [f"{OTHER_NET}.{rd}"]
    assert asked(h, GOOD, "same.outside.test") == 1
    assert asked(h, OTHER, "same.outside.test") == 1


def test_spoofed_upstream_replies_are_not_accepted_or_cached(cache_host):
    """Before its real answer the upstream sends replies with the right id that carry a
    poison address: from another port, from another address, with another name, another
    case, another type in the question, and with junk after a valid copy. None of them is
    taken, and the cache holds the real answer."""
    h = cache_host
    r = ask(h, "ca", "spoof1.outside.test")
    assert r["answers"] == [f"{GOOD_NET}.2"], r
    log = h.stub_log.read_text()
    assert f"decoys {GOOD} spoof1.outside.test." in log, log   # they were really sent
    assert ask(h, "ca", "spoof1.outside.test")["answers"] == [f"{GOOD_NET}.2"]
    assert asked(h, GOOD, "spoof1.outside.test") == 1           # the second one was cached
    # The decoy's question name did not get an entry either: asked, really answered.
    assert ask(h, "ca", "evil.outside.test")["answers"] == [f"{GOOD_NET}.2"]
    assert asked(h, GOOD, "evil.outside.test") == 1
    # A 0x20-style mixed-case query is checked with its own case, and shares the entry.
    assert ask(h, "ca", "SpOoF1.OutSide.TeSt")["answers"] == [f"{GOOD_NET}.2"]
    r = ask(h, "cc", "spoof2.outside.test")                      # the other upstream set too
    assert r["answers"] == [f"{OTHER_NET}.2"] and POISON not in r["answers"], r


def test_flag_variants_do_not_share_entries(cache_host):
    """RD, CD, AD and DO variants of one name are forwarded and cached separately: each
    gets the answer its own flags produced, then from the cache."""
    h = cache_host
    variants = {(): 2, ("--norec",): 1, ("--cd",): 4, ("--ad",): 6, ("--do",): 26}
    for _ in range(2):
        for flags, code in variants.items():
            r = ask(h, "ca", "flags.outside.test", *flags)
            assert r["answers"] == [f"{GOOD_NET}.{code}"], (flags, r)
    assert asked(h, GOOD, "flags.outside.test") == len(variants)
