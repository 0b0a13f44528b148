"""Policies declared in compose (`x-boxnet: {policy: ...}`), proved from inside the
containers, and `compose check` computing the expected matrix from networks and
policies, probing port by port, and failing on a difference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.kernel
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "compose-policy" / "compose.yaml"


def compose(h, *args, check=True, timeout=120):
    """`boxnet compose ARGS` against the test host."""
    return h.cli("compose", *args, check=check, timeout=timeout)


def nc(host, container: str, target: str, port: int) -> str:
    """What a busybox nc in ``container`` reads from target:port ("" when blocked)."""
    r = host.exec(container, "sh", "-c", f"timeout 4 nc -w2 {target} {port} </dev/null",
                  timeout=30)
    return r.stdout.strip()


@pytest.fixture(scope="module")
def pol(host):
    """The policy example, up."""
    compose(host, "-f", str(EXAMPLE), "up", "-d")
    yield host
    compose(host, "-f", str(EXAMPLE), "down", "-t", "1")


def test_compose_policy_from_inside(pol):
    assert nc(pol, "pol-app-1", "db", 5432) == "db-ok"
    assert nc(pol, "pol-app-2", "db", 5432) == "db-ok"      # every replica
    assert nc(pol, "pol-tool-1", "db", 5432) == ""          # db's ingress
    assert nc(pol, "pol-app-1", "db", 5433) == ""           # only 5432
    assert nc(pol, "pol-app-1", "tool", 9000) == ""         # app's egress
    assert nc(pol, "pol-tool-1", "app", 8000) == "app-ok"   # app has no ingress policy
    assert nc(pol, "pol-db-1", "tool", 9000) == "tool-ok"   # db has no egress policy
    label = pol.inspect("pol-db-1")["Config"]["Labels"]["com.boxnet.policy"]
    assert json.loads(label)["ingress"][0]["service"] == "app"


def test_replaced_replica_allowed_at_once(pol):
    """A replica removed and brought back by `up` (a new container, maybe a new
    address) reaches db as soon as `up` returns."""
    pol.cli("rm", "-f", "pol-app-2")
    compose(pol, "-f", str(EXAMPLE), "up", "-d")
    assert nc(pol, "pol-app-2", "db", 5432) == "db-ok"


def test_check_passes_with_policies(pol):
    r = compose(pol, "-f", str(EXAMPLE), "check", "--format", "json", check=False)
    res = json.loads(r.stdout)
    assert res["ok"], r.stdout
    assert res["expected"]["app"]["db"] == {"ip": True, "name": True, "ports": {"5433": False}}
    assert res["observed"]["app"]["db"]["ports"] == {"5433": False}
    assert res["expected"]["tool"]["db"] == {"ip": False, "name": False}
    assert res["expected"]["app"]["tool"] == {"ip": False, "name": False}
    assert res["expected"]["tool"]["app"] == {"ip": True, "name": True}
    assert r.returncode == 0


def test_check_fails_when_the_kernel_differs(pol):
    """The policies' group sets emptied behind boxnet's back (the watch repairs only
    the verdict maps, whose loss would fail open): app no longer reaches db, and
    check reports exactly that difference and exits non-zero."""
    pol.sh("for s in $(nft list table inet boxnet | awk '/^\tset pg/ {print $2}'); do "
           "nft flush set inet boxnet $s; done")
    try:
        r = compose(pol, "-f", str(EXAMPLE), "check", "--format", "json", check=False)
        res = json.loads(r.stdout)
        assert r.returncode != 0 and not res["ok"]
        assert {"from": "app", "to": "db", "probe": "ip", "expected": True,
                "observed": False} in res["differences"], res["differences"]
    finally:
        pol.cli("restart", "-t", "1", "pol-db-1")   # its elements leave and come back
        pol.cli("restart", "-t", "1", "pol-app-1")
    assert nc(pol, "pol-app-1", "db", 5432) == "db-ok"


def test_unknown_service_and_bad_rule_refused(host, tmp_path):
    for body, words in (
            ("{service: nosuch, ports: ['5432/tcp']}", "unknown service 'nosuch'"),
            ("{service: app, ports: ['5432/tcp', '5000-6000/tcp']}", "overlapping ports")):
        f = tmp_path / "compose.yaml"
        f.write_text("name: bad\nservices:\n  app:\n    image: busybox\n"
                     "  db:\n    image: busybox\n    x-boxnet:\n      policy:\n"
                     f"        ingress:\n          - {body}\n")
        r = compose(host, "-f", str(f), "up", "-d", check=False)
        assert r.returncode != 0 and words in r.stderr + r.stdout, r.stderr
        assert ":8:" in r.stderr + r.stdout or "compose.yaml" in r.stderr + r.stdout
        assert host.api("GET", "/containers/json?all=1")[1] == [] or not any(
            c["Names"][0].startswith("/bad-") for c in host.api("GET", "/containers/json?all=1")[1])
        assert not any(n["Name"].startswith("bad_") for n in host.api("GET", "/networks")[1])
