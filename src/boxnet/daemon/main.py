"""boxnetd entry point: lock the data root, wire the layers, serve the API,
shut down cleanly on SIGTERM/SIGINT.

Running containers are left running on shutdown (like dockerd's
live-restore): the next start re-adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import logging
import os
import signal
import sys
import uuid

from .. import __version__
from ..errors import BoxnetError
from .flags import parser, to_config

log = logging.getLogger("boxnetd")


def _lock(data_root: str):
    """Hold an exclusive lock on the data root for the daemon's lifetime."""
    os.makedirs(data_root, exist_ok=True)
    f = open(os.path.join(data_root, "boxnetd.lock"), "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        owner = f.read().strip() or "another process"
        raise SystemExit(f"boxnetd: the data root {data_root} is in use by another boxnetd "
                         f"(pid {owner}); stop it or pick another --data-root")
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def engine_id(data_root: str) -> str:
    """This daemon's engine ID (`/info` ID), as dockerd's: a UUID made at the
    first start and kept in <data-root>/engine-id."""
    path = os.path.join(data_root, "engine-id")
    try:
        with open(path) as f:
            value = f.read().strip()
        return str(uuid.UUID(value))
    except FileNotFoundError:
        pass
    except ValueError:
        log.warning("%s does not hold a UUID: a new engine ID is made", path)
    value = str(uuid.uuid4())
    with open(path + ".tmp", "w") as f:
        f.write(value + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)
    return value


async def _build(config, stack: contextlib.AsyncExitStack, pidfile: str = ""):
    """Wire store, IPAM, kernel, firewall, drivers, runtime, DNS, ports and the
    cluster into a Controller; each release goes on `stack` as it is acquired."""
    from ..core.controller import Controller
    from ..core.eventfeed import EventFeed
    from ..core.ports import PortMapper
    from ..dns import DnsService
    from ..drivers.bridge import BridgeDriver
    from ..drivers.host import HostDriver
    from ..drivers.null import NullDriver
    from ..drivers.registry import DriverRegistry
    from ..firewall.none import NoFirewall
    from ..ipam.default import DefaultIpam
    from ..ipam.ula import with_ula
    from ..kernel import sysctl
    from ..kernel.linkmark import owner_id
    from ..kernel.netlink import Netlink
    from ..registry.options import options_of
    from ..registry.service import RegistryService
    from ..runtime.hostimage import masked_paths
    from ..runtime.images import ImageStore
    from ..runtime.oci import OciRuntime
    from ..store.local import SqliteStore
    from ..volumes.store import VolumeStore

    owner = owner_id(config.data_root)     # the mark on every link this daemon creates
    nl = await Netlink.open(owner)
    stack.push_async_callback(nl.close)
    from ..kernel import cpproc
    stack.push_async_callback(cpproc.close)   # the docker cp worker kept warm, if any
    if config.firewall == "nftables":
        from ..firewall.nft import NftFirewall
        from ..firewall.nft.owner import claim_tables
        claim_tables(owner, config.data_root)   # refused if another live boxnetd owns them
        firewall = NftFirewall(allow_direct_routing=config.allow_direct_routing,
                               flow_log=config.flows)
    else:
        firewall = NoFirewall()
    # Routing between bridges (and later NAT) needs forwarding in this netns.
    sysctl.write_sysctl("net.ipv4.ip_forward", "1")
    sysctl.write_sysctl("net.ipv6.conf.all.forwarding", "1")
    images = ImageStore(config.data_root, allow_host_image=config.allow_host_image)
    await asyncio.to_thread(images.ensure_builtin)
    runtime = OciRuntime(os.path.join(config.data_root, "runtime"), host_masked_paths=masked_paths(
        config.data_root, config.exec_root, config.host[len("unix://"):], pidfile))
    stack.push_async_callback(runtime.close)
    store = SqliteStore(config.db_path)
    stack.callback(store.close)
    from ..drivers import overlay
    from ..drivers.lan import lan_drivers
    cluster = None
    if config.cluster_store:  # fails the start, clearly, when etcd is unreachable
        ovl, cluster = await overlay.connect(config, nl, firewall)
        stack.push_async_callback(cluster.stop)   # a start that fails later
    else:
        ovl = overlay.DisabledOverlay()
    from ..dhcp.leases import LeaseKeeper
    built: asyncio.Future = asyncio.get_running_loop().create_future()   # the controller

    async def readdressed(endpoint_id: str, lease) -> None:
        # a lease discovered again with another address: the core follows it (a lease
        # task may get there before the controller below is made)
        ctl = await built
        await ctl.readdress_endpoint(endpoint_id, lease.address, lease.router, list(lease.dns))
    # macvlan/ipvlan endpoints of "dhcp" IPAM networks
    leases = LeaseKeeper(store, nl, on_readdress=readdressed)
    stack.push_async_callback(leases.close)
    leases.restore()                  # renewal tasks of the leases kept across a restart
    drivers = DriverRegistry([BridgeDriver(nl, firewall), HostDriver(), NullDriver(),
                              *await lan_drivers(nl, leases), ovl])
    host_id = engine_id(config.data_root)
    # Docker 27: the host's ULA /48 joins the pools when none of them is IPv6
    ipam = DefaultIpam(pools=with_ula(config.default_pools or None, host_id))
    registry = RegistryService(config.data_root, images, options_of(config))
    stack.push_async_callback(registry.close)

    def dns(ctl) -> DnsService:
        return DnsService(ctl, ttl=config.dns_ttl, timeout=config.dns_timeout,
                          upstreams=config.dns)
    ctl = Controller(config, store, ipam, drivers, firewall, runtime, images, nl,
                     host_id=host_id, dns=dns, ports=PortMapper,
                     event_feed=EventFeed(), cluster=cluster,
                     registry=registry,
                     volumes=VolumeStore(os.path.join(config.data_root, "volumes")))
    stack.push_async_callback(ctl.close)
    built.set_result(ctl)
    return ctl


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot remove %s: %s", path, exc)


async def _run(config, pidfile: str, group: str = "", docker_plugin: str = "") -> None:
    """Start every layer, serve until SIGTERM/SIGINT, then release everything
    in the reverse order of its start (also when the start fails half-way)."""
    from ..api.server import make_app, serve_unix
    from ..firewall import watch
    async with contextlib.AsyncExitStack() as stack:
        ctl = await _build(config, stack, pidfile)
        await ctl.start()
        ctl.release_idle_volumes()   # a tmpfs volume whose container ended while we were down
        # Objects made at start live as long as the daemon: keep them out of the
        # cyclic GC's full collections, whose pauses show in DNS tail latency.
        gc.freeze()
        ctl.spawn(watch.watch(ctl.firewall, config.firewall_check_interval), "firewall watch")
        if ctl.cluster is not None:
            await ctl.cluster.start(ctl)
            stack.push_async_callback(ctl.cluster.stop)
        sock = config.host[len("unix://"):]
        stack.callback(_unlink, sock)
        app = make_app(ctl)
        from ..api.routes import flows as flows_route
        from ..flows.service import FlowService, controller_namer
        flowsvc = FlowService(controller_namer(ctl), enabled=config.flows)   # issue 20
        await flowsvc.start()
        stack.push_async_callback(flowsvc.close)
        flows_route.install(app, flowsvc)
        runner = await serve_unix(app, sock, group)
        stack.push_async_callback(runner.cleanup)
        if docker_plugin:   # Docker's remote network driver and IPAM (plugin/app.py)
            from ..plugin.app import make_plugin_app, serve_plugin
            await ctl.restore_external_endpoints()
            stack.push_async_callback(ctl.drop_spares)   # after the socket closed (spares.py)
            stack.callback(_unlink, docker_plugin)
            plugin_runner = await serve_plugin(make_plugin_app(ctl), docker_plugin)
            stack.push_async_callback(plugin_runner.cleanup)
            log.info("Docker plugin boxnet listening on %s", docker_plugin)
            if ctl.cluster is not None:   # boxnet-overlay beside it (plugin/overlay.py)
                from ..plugin.overlay import serve_overlay
                ov_close, ov_path = await serve_overlay(ctl, docker_plugin)
                stack.callback(_unlink, ov_path)
                stack.push_async_callback(ov_close)
        if pidfile:
            with open(pidfile, "w") as f:
                f.write(str(os.getpid()))
            stack.callback(_unlink, pidfile)
        log.info("boxnetd %s listening on %s", __version__, config.host)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down")


def main(argv: list[str] | None = None) -> int:
    """Parse flags and run the daemon until SIGTERM."""
    args = parser().parse_args(argv)
    if args.version:
        print(f"boxnetd version {__version__}")
        return 0
    level = {"warn": "WARNING", "fatal": "CRITICAL"}.get(args.log_level, args.log_level.upper())
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pyroute2").setLevel(logging.WARNING)
    try:
        config = to_config(args)
    except BoxnetError as exc:
        print(f"boxnetd: {exc.message}", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("boxnetd: must run as root (it creates namespaces, links and firewall rules)",
              file=sys.stderr)
        return 1
    lock = _lock(config.data_root)
    from ..kernel.malloc import tune_for_daemon
    tune_for_daemon()   # before any worker thread: RSS flat under churn (kernel/malloc.py)
    try:
        asyncio.run(_run(config, args.pidfile, args.group, args.docker_plugin))
    except BoxnetError as exc:
        log.error("fatal: %s", exc.message)
        return 1
    finally:
        lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
