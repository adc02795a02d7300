#!/usr/bin/env bash
# Runs every test: the release gates (scripts/gates.sh: ansible-lint, ansible-test sanity, build, install and
# check-mode deploy of the tarball, ansible-doc, changelog lint), then unit tests with coverage and integration
# tests against the local emulator, then every molecule scenario (scripts/molecule.sh, two at a time). The tests
# run even when a gate failed; the command fails if any of them did.
# Everything runs inside a network namespace with only loopback (unshare -n), so nothing leaves this machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/setup.sh
./scripts/system-packages.sh # nginx and systemd-analyze for the boot script tests; apt needs the network
export PATH="$root/.venv/bin:$PATH"
# The script in single quotes runs in the namespace and expands its own variables there.
# shellcheck disable=SC2016
exec unshare -n -- bash -c '
  set -euo pipefail
  ip link set lo up
  gates=0
  ./scripts/gates.sh || gates=$?
  tests=0
  python -m pytest -n auto tests/unit tests/integration \
    --cov=ansible_collections.geusemaker.stack.plugins.module_utils --cov=ansible_collections.geusemaker.stack.plugins.callback --cov-report=term-missing:skip-covered --cov-fail-under=90 -p no:cacheprovider "$@" || tests=$?
  GEUSEMAKER_IN_NAMESPACE=1 MOLECULE_JOBS=2 ./scripts/molecule.sh || tests=$((tests ? tests : 1))
  if [ "$tests" -ne 0 ]; then
    exit "$tests"
  fi
  if [ "$gates" -ne 0 ]; then
    echo "test.sh: the tests passed, but a release gate failed (see the gate lines above)" >&2
    exit "$gates"
  fi
' test.sh "$@"
