#!/usr/bin/env bash
# Install what the benchmark needs (idempotent): the peers from Debian and matplotlib.
# Usage: bench/install.sh   (as root, from anywhere; the venv is <repo>/.venv)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$repo/.venv"

apt_pkgs=(docker.io docker-compose netavark aardvark-dns containernetworking-plugins iperf3 runc
          busybox-static iproute2 nftables iptables util-linux)
missing=()
for p in "${apt_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "bench/install.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # docker.io would start a system dockerd in the root netns (rewriting its firewall): the
    # bench runs its own dockerd inside a bench netns, so forbid service starts while
    # installing (Debian's policy-rc.d: exit 101 = action forbidden).
    policy=/usr/sbin/policy-rc.d
    had_policy=0; [ -e "$policy" ] && had_policy=1
    if [ "$had_policy" = 0 ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -c "import matplotlib" 2>/dev/null \
    && "$venv/bin/python" -m pip freeze 2>/dev/null | grep -qx "matplotlib==3.11.2" \
    || "$venv/bin/python" -m pip install -q -r "$repo/requirements-bench.txt"
"$venv/bin/python" -c "import boxnet" 2>/dev/null || "$venv/bin/python" -m pip install -q -e "$repo"
echo "bench/install.sh: ready"
