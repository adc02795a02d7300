#!/usr/bin/env bash
# Inside a scratch instance (boot_harness): systemd-analyze verify of the units the boot script wrote, with
# stand-ins for what the AMI has and this machine has not: the docker CLI and daemon, and docker.service as the
# docker package ships it (so that the boot script's drop-in for it is loaded and checked too).
set -euo pipefail
for tool in /usr/bin/docker /usr/bin/dockerd; do
  [ -e "$tool" ] || { printf '#!/bin/sh\nexit 0\n' >"$tool" && chmod 755 "$tool"; }
done
[ -e /usr/lib/systemd/system/docker.service ] || cat >/usr/lib/systemd/system/docker.service <<'UNIT'
[Unit]
Description=Docker Application Container Engine
After=network-online.target docker.socket
Wants=network-online.target

[Service]
Type=notify
ExecStart=/usr/bin/dockerd -H fd://
Restart=always

[Install]
WantedBy=multi-user.target
UNIT
units=(/etc/systemd/system/geusemaker.service /etc/systemd/system/geusemaker-status.service
  /etc/systemd/system/geusemaker-address.service /usr/lib/systemd/system/docker.service)
for unit in "${units[@]}"; do [ -e "$unit" ] || { echo "missing $unit" >&2; exit 1; }; done
[ -e /etc/systemd/system/docker.service.d/geusemaker-storage.conf ] || { echo "missing the docker.service drop-in" >&2; exit 1; }
systemd-analyze verify "${units[@]}"
