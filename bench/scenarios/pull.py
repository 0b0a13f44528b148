"""Scenario: image pull from a local registry (issue 17, performance).

One registry storage, seeded once with `skopeo copy` from OCI layouts built
here; every peer gets Debian's docker-registry serving that storage on
127.0.0.1:5000 inside its own bench netns (loopback registries are insecure
by default for both daemons, so no flag differs).  Measured per peer:
- pull of a 5-layer image of ~50 MiB (gzip layers of random data): wall time
  of POST /images/create to the end of its stream, peak daemon RSS during it;
- pull of a second image sharing 4 of those layers (only the new layer moves);
- peak daemon RSS above idle during the pull of one big uncompressed layer
  (quick: 200 MiB, full: 500 MiB): a streamed pull stays flat.
skopeo (containers/image, what Podman uses) is timed copying the same image
to an OCI directory: it downloads and verifies blobs but applies no layer,
so it is a floor for the transfer, not an equal.  Each pull starts from an
empty image store (the image and its blobs removed between repetitions).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from bench.context import Context
from bench.peers.engine import _UnixConnection
from bench.peers.host import BenchHost, descendants, proc_name, rss_kib
from bench.stats import ratio

NAME = "pull"
TITLE = "18. Pull: image pull from a local registry"
REGISTRY = "/usr/bin/docker-registry"
SKOPEO = "/usr/bin/skopeo"
ADDR = "127.0.0.1:5000"
MS = 1000.0
RSS_LABEL = "peak RSS during the 5-layer pull (daemons; skopeo: its process)"


def _layout(root: Path, tag: str, layers: list[bytes], gz: bool) -> None:
    """An OCI layout at root holding one image (tests/integration/registryimages.py's shape)."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from integration import registryimages as ri
    lay = ri.Layout(root)
    lay.tag(tag, lay.image([ri.base_layer(), *layers], compress="gzip" if gz else "none"))


def _random_layer(name: str, size: int) -> bytes:
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from integration import registryimages as ri
    return ri.random_layer(name, size)


def _config(storage: Path, path: Path) -> Path:
    path.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
                    f"http:\n  addr: {ADDR}\n  secret: bench\n")
    return path


def _serve(host: BenchHost, cfg: Path) -> subprocess.Popen:
    p = host.popen([REGISTRY, "serve", str(cfg)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _wait_registry(host)
    return p


def _seed(work: Path, storage: Path, quick: bool) -> dict[str, str]:
    """Build and push the images; return {label: repo:tag}."""
    shared = [_random_layer(f"l{i}.bin", 10 << 20) for i in range(4)]
    big = (200 if quick else 500) << 20
    images = {"five": ("bench/five:1", shared + [_random_layer("l4.bin", 10 << 20)], True),
              "sibling": ("bench/sibling:1", shared + [_random_layer("l5.bin", 10 << 20)], True),
              "big": ("bench/big:1", [_random_layer("big.bin", big)], False)}
    with BenchHost("pull-seed") as h:
        _serve(h, _config(storage, work / "seed.yml"))
        for label, (ref, layers, gz) in images.items():
            d = work / f"layout-{label}"
            _layout(d, "1", layers, gz)
            r = h.run([SKOPEO, "--insecure-policy", "copy", "--dest-tls-verify=false",
                       f"oci:{d}:1", f"docker://{ADDR}/{ref}"], timeout=600)
            if r.returncode:
                raise RuntimeError(f"skopeo copy {ref}: {r.stderr[-400:]}")
    return {k: v[0] for k, v in images.items()}


class _Peak:
    """Samples the RSS of a peer's daemon processes every 20 ms."""

    def __init__(self, peer):
        self.peer, self.peak, self._stop = peer, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        """The daemon processes' RSS now (KiB)."""
        pids = {self.peer.proc.pid, *descendants(self.peer.proc.pid)}
        return sum(rss_kib(p) for p in pids if proc_name(p) in self.peer.daemon_names)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(0.02)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def _pull(peer, ref: str) -> tuple[float, int]:
    """(ms, peak daemon RSS KiB) of one pull through the Engine API."""
    name, tag = ref.rsplit(":", 1)
    query = urllib.parse.urlencode({"fromImage": f"{ADDR}/{name}", "tag": tag})
    with _Peak(peer) as peak:
        t0 = time.perf_counter()
        conn = _UnixConnection(peer.sock, 600)
        try:
            conn.request("POST", f"/images/create?{query}")
            resp = conn.getresponse()
            out = resp.read().decode(errors="replace")   # the whole progress stream
        finally:
            conn.close()
        ms = (time.perf_counter() - t0) * MS
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if resp.status != 200 or "error" in last or "Status:" not in last:
        raise RuntimeError(f"pull {ref}: {resp.status} {last[-300:]}")
    return ms, peak.peak


def _rmi(peer, *refs: str) -> None:
    """Remove the images (their blobs go with them: the next pull starts empty)."""
    for ref in refs:
        peer.api.request("DELETE", f"/images/{ADDR}/{ref}", query={"force": 1})


def _skopeo(work: Path, ref: str, reps: int) -> tuple[list[float], list[int]]:
    times, rss = [], []
    with BenchHost("pull-skopeo") as h:
        _serve(h, _config(work / "storage", work / "skopeo.yml"))
        for i in range(reps):
            dst = Path(tempfile.mkdtemp(dir=work))
            t0 = time.perf_counter()
            p = subprocess.Popen(h.cmd([SKOPEO, "--insecure-policy", "copy",
                                        "--src-tls-verify=false", f"docker://{ADDR}/{ref}",
                                        f"oci:{dst}:x"]), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            hwm = 0
            while p.poll() is None:           # VmHWM: skopeo's own peak (reset at exec)
                hwm = max(hwm, _hwm_kib(p.pid))
                time.sleep(0.01)
            times.append((time.perf_counter() - t0) * MS)
            if p.returncode:
                raise RuntimeError(f"skopeo copy {ref} exited {p.returncode}")
            rss.append(hwm)
            subprocess.run(["rm", "-rf", str(dst)])
    return times, rss


def _hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run(ctx: Context) -> dict:
    """Pull times and memory on boxnet and Docker, skopeo as a transfer floor."""
    res = ctx.begin(NAME, TITLE)
    reps = ctx.repetitions(3, 7)
    for tool in (REGISTRY, SKOPEO):
        if not os.path.exists(tool):
            ctx.note(f"{tool} missing: scenario not run")
            return res
    work = Path(tempfile.mkdtemp(prefix="bxb-pull-"))
    try:
        (work / "storage").mkdir()
        refs = _seed(work, work / "storage", ctx.quick)
        for name in ("boxnet", "docker"):
            with ctx.peer(name) as peer:
                if peer is None:
                    continue
                _serve(peer.host, _config(work / "storage", peer.host.tmp / "registry.yml"))
                five, sib, rss5, idle, big_peak = [], [], [], [], []
                for _ in range(reps):
                    ms, peak = _pull(peer, refs["five"])
                    five.append(ms)
                    rss5.append(peak)
                    ms, _ = _pull(peer, refs["sibling"])
                    sib.append(ms)
                    _rmi(peer, refs["sibling"], refs["five"])
                for _ in range(max(1, reps // 2)):
                    time.sleep(0.5)
                    idle_kib = _Peak(peer).now()
                    _, peak = _pull(peer, refs["big"])
                    idle.append(idle_kib)
                    big_peak.append(peak - idle_kib)
                    _rmi(peer, refs["big"])
                ctx.metric("pull_five", "pull, 5 layers ~50 MiB (gzip)", "ms", name, five)
                ctx.metric("pull_sibling", "pull, 4 of 5 layers already stored", "ms", name,
                           sib)
                ctx.metric("pull_rss", RSS_LABEL, "KiB", name,
                           [float(x) for x in rss5])
                ctx.metric("pull_big_rss", f"daemon RSS above idle, pull of one "
                           f"{ctx.pick(200, 500)} MiB layer", "KiB", name,
                           [float(x) for x in big_peak])
        t, r = _skopeo(work, refs["five"], reps)
        ctx.metric("pull_five", "pull, 5 layers ~50 MiB (gzip)", "ms", "skopeo", t)
        ctx.metric("pull_rss", RSS_LABEL, "KiB", "skopeo",
                   [float(x) for x in r])
    finally:
        subprocess.run(["rm", "-rf", str(work)])
    m = ctx.median_of
    ctx.goal("pull of a 5-layer ~50 MiB image: at most Docker's time",
             ratio(m("pull_five", "boxnet"), m("pull_five", "docker")), 1.0)
    ctx.goal("pull of an image sharing 4 of its 5 layers: at most 0.35x the full pull "
             "(only the new layer's time)",
             ratio(m("pull_sibling", "boxnet"), m("pull_five", "boxnet")), 0.35)
    big = m("pull_big_rss", "boxnet")
    ctx.goal("daemon memory during a big-layer pull within 30 MiB of idle",
             None if big is None else big / 1024, 30.0)
    ctx.note("skopeo copies to an OCI directory: download + digest verification, no layer "
             "extraction; the daemons also apply every layer to a root filesystem.")
    return res


def _wait_registry(host: BenchHost) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r = host.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1",
                      f"http://{ADDR}/v2/"])
        if r.stdout.strip() == "200":
            return
        time.sleep(0.1)
    raise RuntimeError("docker-registry did not come up in the peer's netns")

