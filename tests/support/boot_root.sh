#!/usr/bin/env bash
# boot_root.sh ROOT STUB -- COMMAND...: runs COMMAND in a scratch instance, inside the private mount namespace
# this script must be started in (unshare -m): /etc, /opt, /usr, /var/log and /mnt are overlays whose changes
# land in ROOT/upper (the instance's root disk: another run with the same ROOT is a reboot, a new ROOT a new
# instance), /dev is a fresh one holding the data volume once it is attached, /run is empty, the boot id is
# ROOT/boot_id, and the stub commands of boot_stubs/ come first in PATH, with GM_STUB=STUB.
set -euo pipefail
root=$1 stub=$2
shift 3
here=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
[ "$(findmnt -no PROPAGATION /)" = private ] || mount --make-rprivate /
for dir in etc opt usr var/log mnt; do
  mkdir -p "$root/upper/$dir" "$root/work/$dir"
  mount -t overlay overlay -o "lowerdir=/$dir,upperdir=$root/upper/$dir,workdir=$root/work/$dir" "/$dir"
done
mount -t tmpfs -o mode=755 dev /dev
for node in null:3 zero:5 full:7 random:8 urandom:9; do
  mknod -m 666 "/dev/${node%%:*}" c 1 "${node#*:}"
done
ln -s /proc/self/fd /dev/fd
for fd in stdin:0 stdout:1 stderr:2; do ln -s "/proc/self/fd/${fd#*:}" "/dev/${fd%%:*}"; done
mkdir /dev/shm /dev/pts
if [ -e "$stub/volume/attached" ] || [ "$(cat "$stub/config/volume_after" 2>/dev/null || echo 0)" = 0 ]; then
  mknod -m 660 /dev/nvme1n1 b 259 0
  ln -s nvme1n1 /dev/sdf
  touch "$stub/volume/attached"
fi
mount -t tmpfs run /run
[ -s "$root/boot_id" ] || cat /proc/sys/kernel/random/uuid >"$root/boot_id"
mount --bind "$root/boot_id" /proc/sys/kernel/random/boot_id
export PATH="$here/boot_stubs:$PATH" GM_STUB="$stub"
exec "$@"
