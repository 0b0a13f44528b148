"""System routes: _ping, version, info."""

from __future__ import annotations

import os
import platform

from aiohttp import web

from ...kernel.procfacts import host_facts
from ... import API_VERSION, MIN_API_VERSION, __version__
from .. import compat
from .common import ctl, reply
from .firewall import firewall_warnings
from ...registry.options import registry_config

# dockerd 29's: its ping handler (Cache-Control, Pragma, Builder-Version, Swarm)
# and its version/experimental middlewares (Api-Version, Ostype,
# Docker-Experimental); dockerd sends no minimum version header (that is
# /version's MinAPIVersion).
PING_HEADERS = {"Api-Version": API_VERSION, "Docker-Experimental": "false",
                "Ostype": "linux", "Builder-Version": "1", "Swarm": "inactive",
                "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"}


async def ping(request: web.Request) -> web.Response:
    """GET|HEAD /_ping."""
    if request.method == "HEAD":
        return web.Response(headers=PING_HEADERS, content_type="text/plain")
    return web.Response(text="OK", headers=PING_HEADERS, content_type="text/plain")


def version_info() -> dict:
    """GET /version body."""
    uname = platform.uname()
    return {
        "Platform": {"Name": "boxnet"},
        "Components": [{"Name": "Engine", "Version": __version__,
                        "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                    "Os": "linux", "Arch": "amd64",
                                    "KernelVersion": uname.release}}],
        "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        # BOXNET_BUILD names the build that runs (set by packaging; the
        # upgrade test tells two builds apart by it), as dockerd's GitCommit.
        "GitCommit": os.environ.get("BOXNET_BUILD", ""), "GoVersion": "python" + platform.python_version(), "Os": "linux",
        "Arch": "amd64" if uname.machine == "x86_64" else uname.machine,
        "KernelVersion": uname.release, "BuildTime": "",
    }


async def version(request: web.Request) -> web.Response:
    """GET /version."""
    return reply(version_info())


async def info(request: web.Request) -> web.Response:
    """GET /info."""
    c = ctl(request)
    states = [x.status for x in c.containers.values()]
    paused = sum(1 for x in c.containers.values() if x.paused and x.status == "running")
    cg = c.host_cgroups()   # what the host's cgroups can limit (kernel/cgroups.py)
    uname = platform.uname()
    return reply(compat.response(request, "system.info", {
        "ID": c.host_id, "Containers": len(states),
        "ContainersRunning": states.count("running") - paused, "ContainersPaused": paused,
        "ContainersStopped": len(states) - states.count("running"),
        "Images": len(c.images.list()), "Driver": "overlay", "DriverStatus": [],
        "Plugins": {"Volume": ["local"] if c.volumes is not None else [],
                    "Network": c.drivers.names(), "Authorization": None,
                    "Log": ["file"]},
        "MemoryLimit": "Memory" in cg.supported, "SwapLimit": "MemorySwap" in cg.supported,
        "KernelMemory": False, "KernelMemoryTCP": False,
        "CpuCfsPeriod": "CpuPeriod" in cg.supported, "CpuCfsQuota": "CpuQuota" in cg.supported,
        "CPUShares": "CpuShares" in cg.supported, "CPUSet": "CpusetCpus" in cg.supported,
        "PidsLimit": "PidsLimit" in cg.supported, "OomKillDisable": False,
        "IPv4Forwarding": True,
        "Debug": False, "NFd": len(os.listdir("/proc/self/fd")), "NGoroutines": 0,
        "SystemTime": "", "LoggingDriver": "file", "CgroupDriver": "cgroupfs",
        "CgroupVersion": str(cg.version), "NEventsListener": len(c.event_feed.clients), "KernelVersion": uname.release,
        "OperatingSystem": "boxnet on " + platform.system(), "OSType": "linux",
        "Architecture": uname.machine, "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config(c.config), "NCPU": os.cpu_count(),
        "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "DockerRootDir": c.config.data_root, "Name": uname.node, "Labels": [],
        "ExperimentalBuild": False, "ServerVersion": __version__,
        "DefaultRuntime": "runc", "Runtimes": {"runc": {"path": "runc"}},
        "LiveRestoreEnabled": True, "Isolation": "",
        "InitBinary": "docker-init" if host_facts().init_path else "",   # tini (--init)
        # Docker's wording: every container gets the built-in seccomp profile unless
        # it asks for another (runtime/seccomp.py).
        "SecurityOptions": ["name=seccomp,profile=builtin"], "Warnings": firewall_warnings(c) or None,
        "DefaultAddressPools": [{"Base": b, "Size": s} for b, s in c.config.default_pools],
    }))


def add_routes(add) -> None:
    """Register this module's routes."""
    add("GET", "/_ping", ping)
    add("HEAD", "/_ping", ping)
    add("GET", "/version", version)
    add("GET", "/info", info)
