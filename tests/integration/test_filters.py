"""List and prune filters through the API, as Docker documents them: networks by id,
name, driver, label, type (builtin/custom), scope and dangling; prune by label and until;
containers by id, name, network, status and label (and the CLI's --filter/-q)."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest

pytestmark = pytest.mark.kernel


def q(filters: dict) -> str:
    return urllib.parse.quote(json.dumps(filters))


def net_names(h, filters: dict) -> set[str]:
    return {n["Name"] for n in h.api_ok("GET", f"/networks?filters={q(filters)}")}


def ctr_names(h, filters: dict) -> set[str]:
    rows = h.api_ok("GET", f"/containers/json?all=1&filters={q(filters)}")
    return {r["Names"][0].lstrip("/") for r in rows}


@pytest.fixture(scope="module")
def fh(host):
    host.cli("network", "create", "--label", "tier=front", "fl-front")
    host.cli("network", "create", "--label", "tier=back", "fl-back")
    host.cli("network", "create", "fl-empty")
    host.cli("run", "-d", "--name", "fl-web", "--network", "fl-front", "--label", "app=web",
             "busybox", "sleep", "3600")
    host.cli("run", "-d", "--name", "fl-db", "--network", "fl-back", "busybox", "sleep", "3600")
    host.cli("run", "-d", "--name", "fl-done", "--network", "fl-back", "busybox", "true")
    for _ in range(100):
        if not host.inspect("fl-done")["State"]["Running"]:
            break
        time.sleep(0.05)
    yield host
    host.cli("rm", "-f", "fl-web", "fl-db", "fl-done")
    for n in ("fl-front", "fl-back", "fl-empty"):
        host.cli("network", "rm", n, check=False)


def test_network_filters(fh):
    h = fh
    ours = {"fl-front", "fl-back", "fl-empty"}
    front_id = h.network("fl-front")["Id"]
    assert net_names(h, {"id": [front_id[:10]]}) == {"fl-front"}
    assert net_names(h, {"name": ["fl-"]}) == ours
    assert net_names(h, {"label": ["tier=back"]}) == {"fl-back"}
    assert net_names(h, {"label": ["tier"]}) == {"fl-front", "fl-back"}
    assert net_names(h, {"type": ["builtin"]}) == {"bridge", "host", "none"}
    assert ours <= net_names(h, {"type": ["custom"]})
    assert not {"bridge", "host", "none"} & net_names(h, {"type": ["custom"]})
    assert net_names(h, {"driver": ["null"]}) == {"none"}
    assert ours <= net_names(h, {"scope": ["local"]})
    assert net_names(h, {"dangling": ["true"], "name": ["fl-"]}) == {"fl-empty"}
    assert net_names(h, {"dangling": ["false"], "name": ["fl-"]}) == {"fl-front", "fl-back"}
    st, body = h.api("GET", f"/networks?filters={q({'type': ['weird']})}")
    assert st == 400 and "weird" in body["message"], body


def test_network_prune_until_and_label(fh):
    h = fh
    h.cli("network", "create", "--label", "tmp=1", "fl-old")
    cutoff = int(time.time()) + 1
    time.sleep(1.2)
    h.cli("network", "create", "--label", "tmp=1", "fl-new")
    r = h.api_ok("POST", f"/networks/prune?filters={q({'until': [str(cutoff)]})}")
    gone = set(r["NetworksDeleted"] or [])
    assert "fl-old" in gone and "fl-new" not in gone, gone
    assert "fl-empty" in gone           # unused and older: pruned too, as in Docker
    assert not {"fl-front", "fl-back"} & gone   # in use: never pruned
    r = h.api_ok("POST", f"/networks/prune?filters={q({'label!': ['tmp=1']})}")
    assert "fl-new" not in set(r["NetworksDeleted"] or [])
    r = h.api_ok("POST", f"/networks/prune?filters={q({'label': ['tmp=1']})}")
    assert set(r["NetworksDeleted"] or []) == {"fl-new"}


def test_container_filters(fh):
    h = fh
    web_id = h.inspect("fl-web")["Id"]
    assert ctr_names(h, {"id": [web_id[:12]]}) == {"fl-web"}
    assert ctr_names(h, {"name": ["fl-d"]}) == {"fl-db", "fl-done"}
    # as in Docker, a stopped container still belongs to its networks
    assert ctr_names(h, {"network": ["fl-back"]}) == {"fl-db", "fl-done"}
    assert ctr_names(h, {"status": ["exited"], "name": ["fl-"]}) == {"fl-done"}
    assert ctr_names(h, {"status": ["running"], "name": ["fl-"]}) == {"fl-web", "fl-db"}
    assert ctr_names(h, {"label": ["app=web"]}) == {"fl-web"}
    out = h.cli("ps", "-q", "--filter", "name=fl-web", "--filter", "status=running").stdout
    assert out.split() == [web_id[:12]]
