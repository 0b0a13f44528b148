"""Building the overlay driver and its cluster agent from boxnetd's config."""

from __future__ import annotations

import os

from ...errors import Unavailable
from ...store.etcd import EtcdClient
from .cluster import Cluster


async def connect(config, netlink, firewall):
    """Build the overlay driver and its cluster agent from the daemon config;
    Unavailable (the daemon does not start) when the store cannot be reached."""
    from ...kernel.vxlan import Vxlan
    from .allocator import GlobalIpam
    from .driver import OverlayDriver

    opts = config.cluster_opts
    etcd = EtcdClient(config.cluster_store, cafile=opts.get("kv.cacertfile", ""),
                      certfile=opts.get("kv.certfile", ""), keyfile=opts.get("kv.keyfile", ""))
    vx = await Vxlan.open()
    _, mtu = await vx.underlay(config.cluster_advertise)
    gipam = GlobalIpam(etcd, config.cluster_advertise)
    driver = OverlayDriver(netlink, vx, firewall, gipam, config.cluster_advertise,
                           config.data_path_port, mtu)
    cluster = Cluster(etcd, driver, int(opts.get("discovery.ttl", 20)),
                      os.path.join(config.data_root, "cluster.lease"))
    try:
        await cluster.connect()
    except Unavailable as exc:
        await etcd.close()
        vx.close()
        raise Unavailable(f"cannot join the cluster: {exc.message}") from None
    return driver, cluster
