#!/usr/bin/env bash
# boxnet's main job end to end: start boxnetd and walk Docker's networking
# guide with the boxnet CLI (user-defined bridge, two containers, ping by IP,
# inspect; then isolation between networks, none and host modes).
#
# The daemon runs inside its own network namespace ("boxnet-demo") so the
# demo never touches this host's own interfaces, routes or firewall; on a
# host of your own you would simply run `boxnetd` (see the README).
# KEEP=1 leaves the daemon running afterwards and prints how to reach it.
set -euo pipefail
cd "$(dirname "$0")/.."
NS=boxnet-demo
DIR=${BOXNET_DEMO_DIR:-/run/boxnet-demo}
SOCK=$DIR/boxnet.sock
export BOXNET_HOST=unix://$SOCK
BOXNET=".venv/bin/boxnet"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "boxnet $*"; $BOXNET "$@"; }

cleanup() {
  [ "${KEEP:-}" = 1 ] && return
  echo; echo ">> cleaning up the demo"
  if [ -S "$SOCK" ]; then
    for c in $($BOXNET ps -aq 2>/dev/null); do $BOXNET rm -f "$c" >/dev/null 2>&1 || true; done
    for n in my-net other-net; do $BOXNET network rm "$n" >/dev/null 2>&1 || true; done
  fi
  if [ -f "$DIR/boxnetd.pid" ]; then
    pid=$(cat "$DIR/boxnetd.pid"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

ip netns list | grep -qw "$NS" && { echo "netns $NS exists: a demo is running (KEEP=1?); remove it with: ip netns del $NS"; exit 1; }
ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "$DIR"
echo ">> starting boxnetd in netns $NS (log: $DIR/boxnetd.log)"
nsenter --net=/run/netns/$NS .venv/bin/boxnetd --data-root "$DIR/data" --exec-root "$DIR/exec" \
  -H "$BOXNET_HOST" --pidfile "$DIR/boxnetd.pid" >"$DIR/boxnetd.log" 2>&1 &
for _ in $(seq 100); do $BOXNET version >/dev/null 2>&1 && break; sleep 0.1; done
$BOXNET version >/dev/null || { cat "$DIR/boxnetd.log"; exit 1; }

run network create -d bridge my-net
run run --network=my-net -itd --name=container3 busybox
run run --network=my-net -d --name=container4 busybox sleep 3600
IP4=$($BOXNET inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' container4)
run exec container3 ping -c1 -W2 "$IP4"
echo; echo ">> by name: the embedded DNS (127.0.0.11) answers names on shared networks"
run exec container3 ping -c1 -W2 container4
run network inspect my-net

echo; echo ">> isolation: a container on another network cannot reach container4"
run network create other-net
run run --network=other-net -d --name=outsider busybox sleep 3600
say "boxnet exec outsider ping -c1 -W1 $IP4   # expected to fail"
if $BOXNET exec outsider ping -c1 -W1 "$IP4"; then echo "!! isolation broken"; exit 1; fi
echo "(no reply: networks are isolated)"
say "boxnet exec outsider nslookup container4   # expected to fail: no shared network"
if $BOXNET exec outsider nslookup container4 >/dev/null 2>&1; then echo "!! name leaked across networks"; exit 1; fi
echo "(container4 is not a name on other-net)"

echo; echo ">> connect outsider to my-net too: now it reaches container4"
run network connect my-net outsider
run exec outsider ping -c1 -W2 "$IP4"

echo; echo ">> --network none has only loopback; --network host shares the daemon's stack"
run run --rm --network none busybox ip -o link
run run --rm --network host busybox ip -o link
run ps
run network ls
echo; echo ">> demo complete"
if [ "${KEEP:-}" = 1 ]; then
  echo "boxnetd keeps running in netns $NS. Use it with:"
  echo "  export BOXNET_HOST=$BOXNET_HOST; .venv/bin/boxnet ps"
fi
