"""boxnetd's cluster flags (--cluster-store, --cluster-advertise,
--cluster-store-opt, --data-path-port), named as in dockerd, validated."""

from __future__ import annotations

import ipaddress

from ...errors import InvalidParameter
from ...store.etcd import parse_store_url

STORE_OPTS = {"discovery.ttl", "kv.cacertfile", "kv.certfile", "kv.keyfile"}


def add_cluster_flags(p) -> None:
    """Add the cluster flags to boxnetd's argparse parser."""
    p.add_argument("--cluster-store", default="", metavar="etcd://HOST:PORT[,HOST:PORT...]",
                   help="etcd cluster holding global state (enables overlay networks)")
    p.add_argument("--cluster-advertise", default="", metavar="ADDR",
                   help="this host's underlay address (VXLAN endpoint), one of its own IPs")
    p.add_argument("--cluster-store-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="discovery.ttl=SECONDS (lease TTL, default 20), kv.cacertfile=, "
                        "kv.certfile=, kv.keyfile= (TLS to etcd)")
    p.add_argument("--data-path-port", type=int, default=4789,
                   help="UDP port of VXLAN traffic (default 4789)")


def cluster_flags(args) -> dict:
    """DaemonConfig fields from the parsed flags; InvalidParameter on bad values."""
    opts = {}
    # each flag is KEY=VALUE or several of them comma-separated (kv.cacertfile=..,kv.certfile=..)
    for item in (i for arg in args.cluster_store_opt for i in arg.split(",") if i):
        key, sep, val = item.partition("=")
        if not sep or key not in STORE_OPTS:
            raise InvalidParameter(f"--cluster-store-opt {item}: expected one of "
                                   f"{', '.join(sorted(STORE_OPTS))} as KEY=VALUE")
        opts[key] = val
    if "discovery.ttl" in opts and (not opts["discovery.ttl"].isdigit()
                                    or not 2 <= int(opts["discovery.ttl"]) <= 3600):
        raise InvalidParameter("--cluster-store-opt discovery.ttl: 2..3600 seconds")
    if not 1 <= args.data_path_port <= 65535:
        raise InvalidParameter(f"--data-path-port {args.data_path_port}: not a UDP port")
    if bool(args.cluster_store) != bool(args.cluster_advertise):
        raise InvalidParameter("--cluster-store and --cluster-advertise go together")
    if args.cluster_store:
        parse_store_url(args.cluster_store)
        addr = args.cluster_advertise.rsplit(":", 1)[0] if args.cluster_advertise.count(":") == 1 \
            else args.cluster_advertise
        try:
            if ipaddress.ip_address(addr).version != 4:
                raise ValueError
        except ValueError:
            raise InvalidParameter(f"--cluster-advertise {args.cluster_advertise}: expected "
                                   f"an IPv4 address of this host") from None
        args.cluster_advertise = addr
    return {"cluster_store": args.cluster_store, "cluster_advertise": args.cluster_advertise,
            "cluster_opts": opts, "data_path_port": args.data_path_port}
