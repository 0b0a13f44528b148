"""Probe what this kernel can do: link kinds and nftables.

Each probe creates and deletes throwaway objects inside a throwaway netns
(never in the daemon's netns nor the root netns): creating a link makes the
kernel load its module if it can, so a failure means the feature is really
missing. Results are cached for the life of the process.
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid

from boxnet.kernel import netns as _netns

LINK_KINDS = ("bridge", "veth", "macvlan", "ipvlan", "vxlan", "dummy", "vlan")
# Kernel module that provides each kind (for the error message).
MODULES = {"bridge": "bridge", "veth": "veth", "macvlan": "macvlan", "ipvlan": "ipvlan",
           "vxlan": "vxlan", "dummy": "dummy", "vlan": "8021q"}

_lock = threading.Lock()
_results: dict[str, tuple[bool, str]] = {}


def _scratch_netns() -> tuple[str, str]:
    base = "/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()
    d = tempfile.mkdtemp(prefix="boxnet-probe-", dir=base)
    path = os.path.join(d, "ns-" + uuid.uuid4().hex[:8])
    _netns.create_netns(path)
    return d, path


def _drop_scratch(d: str, path: str) -> None:
    _netns.delete_netns(path)
    try:
        os.rmdir(d)
    except OSError:
        pass


def _try_links(kinds: list[str]) -> dict[str, tuple[bool, str]]:
    """Runs inside the scratch netns (worker thread, no event loop there)."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    out: dict[str, tuple[bool, str]] = {}
    with IPRoute() as ipr:
        parent = None
        # veth first: its host end is the parent of macvlan/ipvlan/vlan.
        for kind in sorted(kinds, key=lambda k: k != "veth"):
            name = f"bxp-{kind}"[:15]
            spec: dict = {"ifname": name, "kind": kind}
            if kind == "veth":
                spec["peer"] = "bxp-peer"
            elif kind == "vxlan":
                spec.update(vxlan_id=42, vxlan_port=4789)
            elif kind in ("macvlan", "ipvlan", "vlan"):
                if parent is None:
                    out[kind] = (False, "no parent link (veth and bridge both failed)")
                    continue
                spec["link"] = parent
                if kind == "vlan":
                    spec["vlan_id"] = 10
                elif kind == "macvlan":
                    spec["macvlan_mode"] = "bridge"
                else:
                    spec["ipvlan_mode"] = 0  # l2
            try:
                ipr.link("add", **spec)
                ok, why = True, ""
            except NetlinkError as e:
                ok, why = False, f"{os.strerror(e.code)} (errno {e.code})"
            except Exception as e:  # noqa: BLE001 - pyroute2 encoding errors too
                ok, why = False, str(e)
            if ok and kind in ("veth", "bridge") and parent is None:
                parent = ipr.link_lookup(ifname=name)[0]  # keep it as the parent
            elif ok:
                ipr.link("del", ifname=name)
            out[kind] = (ok, why)
    return out


def _probe_all() -> None:
    d, path = _scratch_netns()
    try:
        res = _netns.run_in_netns(path, _try_links, list(LINK_KINDS))
    finally:
        _drop_scratch(d, path)
    _results.update({k: res[k] for k in LINK_KINDS if k in res})


def probe(kind: str) -> bool:
    """True if the kernel can create links of ``kind`` (one of LINK_KINDS); cached."""
    if kind not in LINK_KINDS:
        raise ValueError(f"unknown link kind {kind!r}; known: {', '.join(LINK_KINDS)}")
    with _lock:
        if kind not in _results:
            _probe_all()
        return _results[kind][0]


def missing_reason(kind: str) -> str:
    """Why ``kind`` is unavailable, for a user ("" if it is available)."""
    if probe(kind):
        return ""
    why = _results[kind][1]
    mod = MODULES[kind]
    return f"the kernel has no {kind} support (module {mod} not available: {why})"


def _try_nftables() -> tuple[bool, str]:
    from boxnet.errors import KernelError
    from boxnet.kernel.nft import Nft

    script = (
        "add table inet bxprobe\n"
        "add chain inet bxprobe nat_post { type nat hook postrouting priority 100; }\n"
        "add chain inet bxprobe filter_forward { type filter hook forward priority 0; }\n"
        "add rule inet bxprobe nat_post oifname \"lo\" masquerade\n"
        "add rule inet bxprobe filter_forward ct state established,related accept\n"
        "add rule inet bxprobe filter_forward fib daddr type local accept\n"
        "delete table inet bxprobe\n"
    )
    try:
        with Nft() as nft:
            nft.run(script)
        return True, ""
    except KernelError as e:
        return False, str(e)


def probe_nftables() -> bool:
    """True if libnftables is installed and the kernel takes nat/masquerade/ct/fib rules."""
    with _lock:
        if "nftables" not in _results:
            d, path = _scratch_netns()
            try:
                _results["nftables"] = _netns.run_in_netns(path, _try_nftables)
            finally:
                _drop_scratch(d, path)
        return _results["nftables"][0]


def nftables_missing_reason() -> str:
    """Why nftables is unavailable ("" if it works)."""
    return "" if probe_nftables() else f"nftables unusable: {_results['nftables'][1]}"
