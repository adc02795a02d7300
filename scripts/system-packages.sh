#!/usr/bin/env bash
# Installs, from the Debian packages, the system tools the tests run for real when they are missing:
# nginx (the rendered proxy configuration) and systemd-analyze (the generated units). Idempotent; needs the
# network, so scripts/test.sh calls it before it enters the network namespace.
set -euo pipefail
missing=()
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v unshare >/dev/null || missing+=(util-linux)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "system-packages: missing ${missing[*]}; run as root to install them (apt-get)" >&2
  exit 1
fi
echo "system-packages: installing ${missing[*]} from the Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
# No service may start from the package scripts: the tests start nginx themselves, on loopback, in a
# namespace. policy-rc.d answering 101 tells invoke-rc.d so; a temporary one is put in place if there is none.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
