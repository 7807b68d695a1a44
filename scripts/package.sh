#!/usr/bin/env bash
# Builds the Debian package target/debian/gateway-exporter_<version>_<arch>.deb with dpkg-deb
# (no cargo-deb, no debhelper): the binary, the hardened systemd unit, /etc/default and the
# config file as conffiles, the maintainer scripts, and the rules, runbooks, dashboards and
# Alertmanager example under /usr/share/gateway-exporter/.
# Usage: scripts/package.sh [--binary PATH] [--out DIR]
#   --binary  package this binary instead of building `cargo build --release --locked`
#             (the tests package the binary they already built)
#   --out     directory for the .deb (default: target/debian)
# Prints the path of the .deb on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
out="target/debian"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "scripts/package.sh: unknown argument $1 (usage: [--binary PATH] [--out DIR])" >&2; exit 2 ;;
  esac
done

for tool in dpkg-deb dpkg readelf objdump strip; do
  command -v "$tool" >/dev/null || { echo "scripts/package.sh: $tool is required (Debian: dpkg, binutils)" >&2; exit 2; }
done

if [ -z "$binary" ]; then
  cargo build --release --locked --bin gateway-exporter >&2
  binary=target/release/gateway-exporter
fi
[ -x "$binary" ] || { echo "scripts/package.sh: no executable at $binary" >&2; exit 2; }

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)"
description="$(sed -n 's/^description = "\(.*\)"$/\1/p' Cargo.toml | head -n1)"
arch="$(dpkg --print-architecture)"
[ -n "$version" ] && [ -n "$description" ] || { echo "scripts/package.sh: no version/description in Cargo.toml" >&2; exit 2; }

# Runtime dependencies from the libraries the binary links, as dpkg-shlibdeps would find
# them: glibc at the newest symbol version used, and libgcc's unwinder.
depends="adduser"
for lib in $(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  case "$lib" in
    libc.so.6|libm.so.6|libpthread.so.0|libdl.so.2|librt.so.1|ld-linux*) ;;
    libgcc_s.so.1) depends="$depends, libgcc-s1" ;;
    *) echo "scripts/package.sh: $binary links $lib, which this script does not map to a package" >&2; exit 2 ;;
  esac
done
glibc="$(objdump -T "$binary" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)"
[ -n "$glibc" ] && depends="$depends, libc6 (>= $glibc)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
install -D -m 0755 "$binary" "$stage/usr/bin/gateway-exporter"
strip --strip-debug "$stage/usr/bin/gateway-exporter"
install -D -m 0644 packaging/gateway-exporter.service "$stage/usr/lib/systemd/system/gateway-exporter.service"
install -D -m 0644 packaging/default "$stage/etc/default/gateway-exporter"
# The config file: the package's settings and examples, then the embedded default itself.
install -d -m 0755 "$stage/etc/gateway-exporter"
{
  cat packaging/config.yml
  echo "# The embedded default (src/default.yml of this version), as the exporter uses it"
  echo "# without a config file:"
  grep -v '^# ' src/default.yml
} > "$stage/etc/gateway-exporter/config.yml"
chmod 0644 "$stage/etc/gateway-exporter/config.yml"
install -D -m 0644 packaging/copyright "$stage/usr/share/doc/gateway-exporter/copyright"
install -D -m 0644 README.md "$stage/usr/share/doc/gateway-exporter/README.md"
share="$stage/usr/share/gateway-exporter"
install -D -m 0644 -t "$share/rules" alerts/*.rules.yml
install -D -m 0644 -t "$share/runbooks" alerts/runbooks/*.md
install -D -m 0644 -t "$share/dashboards" dashboards/*.json
install -D -m 0644 alertmanager/alertmanager.yml "$share/alertmanager/alertmanager.yml"
install -D -m 0644 -t "$share/alertmanager/templates" alertmanager/templates/*

install -d -m 0755 "$stage/DEBIAN"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/$script" "$stage/DEBIAN/$script"
done
printf '%s\n' /etc/default/gateway-exporter /etc/gateway-exporter/config.yml > "$stage/DEBIAN/conffiles"
(cd "$stage" && find usr -type f -exec md5sum {} + | sort -k2) > "$stage/DEBIAN/md5sums"
installed_size="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
cat > "$stage/DEBIAN/control" <<EOF
Package: gateway-exporter
Version: $version
Architecture: $arch
Maintainer: gateway-exporter developers <https://github.com/gateway-exporter/gateway-exporter>
Installed-Size: $installed_size
Depends: $depends
Section: net
Priority: optional
Homepage: https://github.com/gateway-exporter/gateway-exporter
Description: $description
 A Prometheus exporter that probes which layer (CDN, load balancer, proxy, app)
 generated a 5xx, classifies the upstream failures in nginx, Apache, HAProxy and
 PHP-FPM logs by cause, and reports worker-pool saturation. Runs as a hardened
 systemd service; ships alert rules, runbooks and Grafana dashboards.
EOF

mkdir -p "$out"
deb="$out/gateway-exporter_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >&2
echo "$deb"
