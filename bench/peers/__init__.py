"""The peers: one module each, all run inside their own bench host netns.

PEERS maps a peer's name to its class. Each class has ``available() -> (ok, reason)``,
``start()`` and ``stop()``; the rest of its API depends on its kind ("engine", "plugin",
"floor"), and the scenarios use what a kind offers.
"""

from __future__ import annotations

from bench.peers.boxnet import BoxnetPeer
from bench.peers.cni import CniPeer
from bench.peers.docker import DockerPeer
from bench.peers.netavark import NetavarkPeer
from bench.peers.rawfloor import RawFloorPeer

PEERS = {
    "boxnet": BoxnetPeer,
    "docker": DockerPeer,
    "netavark": NetavarkPeer,
    "cni": CniPeer,
    "rawfloor": RawFloorPeer,
}
