"""Removing an overlay network across hosts (``network rm`` of a global network).

``network rm`` on any host first marks the network ``removing/<id>`` in the
store (no lease: the mark outlives the host that asked), then tries to
*finish*: one etcd transaction that succeeds only if the mark is still
there and no endpoint record and no address claim of the network exists
anywhere (a compare over each key range).  It deletes, atomically, the
network record, its name, VNI and subnet claims, its address bookkeeping
and the mark itself.  Every host then drops its bridge and VXLAN device
when the watch shows the record gone.

If endpoints remain on other hosts the finish fails and the mark stays:
new endpoints are refused everywhere, inspect shows the pending removal,
and every host tries to finish again whenever an endpoint record or an
address claim of the network is deleted (a container left, or a dead
host's lease expired) and at each resync.  The compare on the mark makes
the finish happen once even when several hosts race for it, and never
touches a network created later with the same name, VNI or subnet.
"""

from __future__ import annotations

from ...core.clock import now_rfc3339
from ...model import Network
from ...store.etcd import EtcdClient, cmp_exists, cmp_range_empty, op_delete
from . import records as R
from .allocator import OPT_VNI


async def mark(etcd: EtcdClient, nw: Network, host: str) -> R.Removal:
    """Mark ``nw`` as being removed (the first mark wins); the mark in force."""
    rec = R.Removal(host=host, since=now_rfc3339())
    if await etcd.create_all({R.REMOVING + nw.id: R.ENC.encode(rec)}):
        return rec
    kv = await etcd.get(R.REMOVING + nw.id)
    return R.removal_dec.decode(kv.value) if kv else rec


async def try_finish(etcd: EtcdClient, nw: Network) -> bool:
    """Delete the marked network and all its keys if nothing uses it any more,
    in one transaction; True if this call removed it."""
    compare = [cmp_exists(R.REMOVING + nw.id),
               cmp_range_empty(f"{R.ENDPOINTS}{nw.id}/"), cmp_range_empty(f"{R.IPAM}{nw.id}/")]
    keys = [R.NETWORKS + nw.id, R.NETNAMES + nw.name, R.next_key(nw.id), R.next_key(nw.id, True),
            R.REMOVING + nw.id, *(R.subnet_key(p.subnet) for p in nw.pools)]
    if nw.options.get(OPT_VNI):
        keys.append(R.VNIS + nw.options[OPT_VNI])
    return await etcd.txn(compare, [op_delete(k) for k in keys])


async def users(etcd: EtcdClient, network_id: str) -> dict[str, int]:
    """Hosts still holding endpoints (or address claims) of a network, with counts."""
    out: dict[str, int] = {}
    kvs, _ = await etcd.get_prefix(f"{R.ENDPOINTS}{network_id}/")
    seen = set()
    for kv in kvs:
        rec = R.endpoint_dec.decode(kv.value)
        seen.add(rec.endpoint_id)
        out[rec.host] = out.get(rec.host, 0) + 1
    kvs, _ = await etcd.get_prefix(f"{R.IPAM}{network_id}/")
    for kv in kvs:
        cl = R.claim_dec.decode(kv.value)
        if cl.endpoint not in seen:  # a join in progress (claimed, not yet published)
            out[cl.host] = out.get(cl.host, 0) + 1
    return out
