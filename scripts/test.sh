#!/usr/bin/env bash
# Runs every test: unit tests with coverage, then integration tests against the local emulator.
# Everything runs inside a network namespace with only loopback (unshare -n), so nothing leaves this machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/setup.sh
./scripts/system-packages.sh # nginx and systemd-analyze for the boot script tests; apt needs the network
export PATH="$root/.venv/bin:$PATH"
exec unshare -n -- bash -c '
  set -euo pipefail
  ip link set lo up
  python -m pytest -n auto tests/unit tests/integration \
    --cov=ansible_collections.geusemaker.stack.plugins.module_utils --cov=ansible_collections.geusemaker.stack.plugins.callback --cov-report=term-missing:skip-covered --cov-fail-under=90 -p no:cacheprovider "$@"
' test.sh "$@"
