#!/usr/bin/env bash
# Install everything boxnet needs on a fresh Debian 12 host (as root):
# Debian packages, the Python venv with pinned dependencies, boxnet itself.
# Idempotent: packages already present are not fetched again.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="runc busybox-static tini nftables libnftables1 iproute2 iputils-ping util-linux python3-venv graphviz curl"
[ "${1:-}" = "--dev" ] && PKGS="$PKGS iperf3 etcd-server etcd-client docker-registry skopeo dnsmasq containerd docker.io containernetworking-plugins chromium"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo ">> installing Debian packages:$missing"
  # Packages such as etcd-server would start a system service in the root netns; boxnet's
  # tests start their own instances in test namespaces, so forbid service starts while
  # installing (Debian's policy-rc.d: exit 101 = action forbidden).
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo ">> creating .venv"
  "$PY" -m venv .venv
fi
req=requirements.txt
[ "${1:-}" = "--dev" ] && req=requirements-bench.txt
stamp=".venv/.installed-$(cat requirements*.txt pyproject.toml | sha1sum | cut -c1-12)-$(basename $req)"
if [ ! -e "$stamp" ]; then
  echo ">> installing Python packages from $req"
  .venv/bin/pip install -q --disable-pip-version-check -r "$req"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e .
  touch "$stamp"
fi
# Byte code for boxnet itself, as a non-editable install would have: an editable install
# has none, and with PYTHONDONTWRITEBYTECODE set (as on these machines) every CLI call
# would recompile every module it imports (~60 ms per `boxnet` command).
.venv/bin/python -m compileall -q -j 0 src/boxnet >/dev/null
[ "${1:-}" = "--dev" ] && sh scripts/install-compose.sh
echo ">> boxnet installed: $(.venv/bin/boxnetd --version)"
