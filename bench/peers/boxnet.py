"""boxnet's own daemon (boxnetd) as a peer, inside its own bench netns.

boxnetd takes dockerd's flags (--data-root, --exec-root, -H unix://, --pidfile,
--default-address-pool) and speaks the same Engine API, so the same client code drives it.
When boxnetd is missing or does not come up, the scenarios skip it with the reason.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from bench.peers.docker import ADDRESS_POOL
from bench.peers.engine import EnginePeer


def _boxnetd() -> list[str] | None:
    """How to start boxnetd: the venv's console script, else `python -m boxnet.daemon.main`."""
    exe = Path(sys.executable).with_name("boxnetd")
    if exe.exists():
        return [str(exe)]
    if shutil.which("boxnetd"):
        return [shutil.which("boxnetd")]
    try:
        import importlib.util
        if importlib.util.find_spec("boxnet.daemon.main") is not None:
            return [sys.executable, "-m", "boxnet.daemon.main"]
    except (ImportError, ValueError):
        pass
    return None


class BoxnetPeer(EnginePeer):
    """boxnetd driven through the Engine API."""

    name = "boxnet"
    daemon_names = ("boxnetd", "python", "python3")

    def available(self) -> tuple[bool, str]:
        """Whether boxnetd can be found (whether it works shows at start)."""
        if _boxnetd() is None:
            return False, "daemon not available (no boxnetd / boxnet.daemon.main)"
        return True, ""

    def daemon_argv(self) -> list[str]:
        """boxnetd confined to the bench host's temp dir and netns."""
        t = self.host.tmp
        return [*_boxnetd(),
                "--data-root", str(t / "data"),
                "--exec-root", str(t / "exec"),
                "--pidfile", str(t / "boxnetd.pid"),
                "-H", f"unix://{self.sock}",
                "--default-address-pool", ADDRESS_POOL]
