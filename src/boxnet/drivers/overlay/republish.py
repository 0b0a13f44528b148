"""Re-publishing this host's own overlay state after a resync (cluster.py):
endpoint records and address claims (IPv4 and IPv6) are re-put on the
current lease, stale ones deleted.  This is how a host that was away (lost lease, daemon restart,
etcd outage) reconciles its part of the store.
"""

from __future__ import annotations

import ipaddress
import logging
import time

from . import records as R

log = logging.getLogger(__name__)


async def publish_local(cl, mine_eps: dict, mine_claims: dict) -> None:
    """Re-put this host's endpoint records and address claims on the current lease
    and delete its stale ones (``cl``: the Cluster; ``mine_*``: what the store holds)."""
    ctl, drv, etcd, lease, me = cl.ctl, cl.driver, cl.etcd, cl.lease, cl.me
    want_eps, want_claims = {}, {}
    for ep in list(ctl.endpoints.values()):
        nw = ctl.networks.get(ep.network_id)
        if nw is None or nw.driver != drv.name or not (ep.ipv4 or ep.ipv6):
            continue
        for cidr in (ep.ipv4, ep.ipv6):  # every address claim, IPv4 and IPv6
            if cidr:
                want_claims[R.claim_key(nw.id, str(ipaddress.ip_interface(cidr).ip))] = ep
        if ep.mac:
            want_eps[R.endpoint_key(nw.id, ep.id)] = (nw, ep)
    for key, ep in want_claims.items():
        have = mine_claims.get(key)
        if have and have[0].endpoint == ep.id and have[1].lease == lease:
            continue
        val = R.ENC.encode(R.Claim(endpoint=ep.id, host=me))
        if have and have[0].endpoint == ep.id:
            await etcd.put(key, val, lease=lease)
        elif not await etcd.create_all({key: val}, lease=lease):
            log.error("address %s of endpoint %s was claimed by another host while this "
                      "host was away", key.rsplit("/", 1)[1], ep.id[:12])
    for key, (nw, ep) in want_eps.items():
        kv = mine_eps.get(key)
        val = R.ENC.encode(drv.record(nw, ep))
        if kv is None or kv.value != val or kv.lease != lease:
            await etcd.put(key, val, lease=lease)
    recent = time.monotonic() - 30
    for key, (claim, _) in mine_claims.items():
        if key not in want_claims and drv.gipam.recent.get(claim.endpoint, 0) < recent:
            await etcd.delete(key)
    for key in mine_eps:
        if key not in want_eps:
            await etcd.delete(key)

