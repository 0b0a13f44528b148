"""Entry point: ``python -m bench.run [--quick] [--only NAME ...]``.

Runs the registered scenarios (bench/scenarios/__init__.py) against boxnet and its peers,
each peer in its own bench netns, and writes bench/results/latest.{md,json} and the plots.
Must run as root (namespaces, bridges, daemons).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench import report
from bench.scenarios import SCENARIOS

# Scenarios an open issue still has to add (listed in the report as "still to come").
TO_COME: list[str] = []


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "not installed"


def machine() -> str:
    """CPU model, cores, memory and kernel, in one line."""
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
    except OSError:
        mem = 0
    return f"{cpu}, {os.cpu_count()} cores, {mem} MiB, Linux {platform.release()}, " \
           f"Python {platform.python_version()}"


def versions() -> dict:
    """Versions of the peers and tools measured."""
    from bench.peers.netavark import netavark_bin
    return {"dockerd": _version(["dockerd", "--version"]),
            "netavark": _version([netavark_bin() or "netavark", "--version"]),
            "cni-bridge": _version(["/usr/lib/cni/bridge", "--version"]),
            "runc": _version(["runc", "--version"]),
            "iperf3": _version(["iperf3", "--version"])}


def _interrupted(signum, _frame) -> None:
    """First SIGINT/SIGTERM: ignore any further one, then unwind through the teardowns."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"bench: interrupted by signal {signum}; tearing the peers down", file=sys.stderr,
          flush=True)
    sys.exit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the scenarios, write the results; exit code 0 unless it broke."""
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer reps and smaller scales (<5 min)")
    ap.add_argument("--only", action="append", choices=sorted(SCENARIOS),
                    help="run only this scenario (repeatable)")
    ap.add_argument("--peers", help="comma-separated subset of peers (default: all)")
    ap.add_argument("--reps", type=int, help="override the repetitions per measurement")
    ap.add_argument("--out", default=str(report.RESULTS), help="results directory")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench: must run as root (it creates namespaces and starts daemons)",
              file=sys.stderr)
        return 2
    # SIGTERM and SIGINT unwind like an exception, so every peer's teardown (kill our PIDs,
    # unmount, delete the netns) still runs; a second signal is ignored rather than
    # allowed to cut that teardown short and leave dockerd and its shims behind.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    from bench.context import Context
    ctx = Context(quick=args.quick, reps=args.reps,
                  peers=set(args.peers.split(",")) if args.peers else None)
    t0 = time.monotonic()
    results = {"meta": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                            timespec="seconds"),
                        "quick": args.quick, "machine": machine(), "versions": versions(),
                        "to_come": TO_COME},
               "scenarios": {}}
    for name in args.only or list(SCENARIOS):
        mod = SCENARIOS[name]
        print(f"== {mod.TITLE} ({'quick' if args.quick else 'full'})", flush=True)
        t = time.monotonic()
        results["scenarios"][name] = mod.run(ctx)
        print(f"   {name} took {time.monotonic() - t:.0f} s", flush=True)
    results["meta"]["duration_s"] = time.monotonic() - t0
    md = report.write(results, Path(args.out))
    print(f"results: {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
