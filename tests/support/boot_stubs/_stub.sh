# shellcheck shell=bash
# Sourced by every stub command of the boot script tests (tests/unit/test_boot_script.py). GM_STUB is the
# stubs' state, shared by the instances of one test as the AWS side is: SSM values (ssm/<name>), the data
# volume (volume/), the EFS file system (efs/), n8n's database (n8n_owner), the stubs' configuration
# (config/<flag>), and calls.log, one line per call: command, arguments, note.
: "${GM_STUB:?GM_STUB is not set}"
export REAL_MOUNT=/usr/bin/mount # the real mount(8), for the stubs that bind-mount
call() { printf '%s\t%s\t%s\n' "${0##*/}" "$*" "${NOTE:-}" >>"$GM_STUB/calls.log"; } # call "$@"
has() { [ -e "$GM_STUB/config/$1" ]; }
conf() { cat "$GM_STUB/config/$1" 2>/dev/null; }
# What nginx would serve now: bootstrap (503 everywhere but the status document), services, or none.
routes_phase() {
  local routes=/etc/nginx/geusemaker/routes.conf
  if [ ! -e "$routes" ]; then echo none; elif grep -q 'return 503' "$routes"; then echo bootstrap; else echo services; fi
}
mounted() { if mountpoint -q "$1"; then echo "$1=mounted"; else echo "$1=absent"; fi; }
