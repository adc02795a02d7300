#!/usr/bin/env bash
# Prints the reliability figures (issue 4): every case of the fault matrix, crashes, faults during rollback,
# concurrent deploys, bad input and the secrets sweep, plus every AWX kill moment and credential variable, run in
# parallel, each pytest worker against its own emulator, inside a network namespace with only loopback. The test command runs a sample of the same cases.
# Then every molecule scenario (scripts/molecule.sh), two at a time.
# RELIABILITY_WORKERS overrides the number of parallel workers (default: twice the CPUs, at least 4).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/setup.sh
export PATH="$root/.venv/bin:$PATH"
cpus=$(nproc)
workers=${RELIABILITY_WORKERS:-$(( cpus * 2 > 4 ? cpus * 2 : 4 ))}
# The script in single quotes runs in the namespace and expands its own variables there.
# shellcheck disable=SC2016
exec unshare -n -- bash -c '
  set -euo pipefail
  ip link set lo up
  rc=0
  python -m pytest -n "$0" --reliability=full -p no:cacheprovider -q --durations=10 \
    tests/integration/test_fault_matrix.py tests/integration/test_crash.py tests/integration/test_rollback_faults.py \
    tests/integration/test_concurrency.py tests/integration/test_bad_input.py tests/integration/test_secrets.py \
    tests/integration/test_awx.py "$@" || rc=$?
  GEUSEMAKER_IN_NAMESPACE=1 MOLECULE_JOBS=2 ./scripts/molecule.sh || rc=$((rc ? rc : 1))
  exit "$rc"
' "$workers" "$@"
