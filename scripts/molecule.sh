#!/usr/bin/env bash
# Runs the molecule scenarios under extensions/molecule (one per role, plus a composed one) against the local
# AWS emulator, inside a network namespace with only loopback (unshare -n, so run it as root).
#   scripts/molecule.sh [SCENARIO...]   all of them by default
#   MOLECULE_JOBS=N                     scenarios run at once (default 2), each against its own emulator
# Prints one line per scenario (passed or FAILED, and its time), then the output of each failed one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -z "${GEUSEMAKER_IN_NAMESPACE:-}" ]; then
  ./scripts/setup.sh >&2
  export PATH="$root/.venv/bin:$PATH" GEUSEMAKER_IN_NAMESPACE=1
  # shellcheck disable=SC2016 # expanded by the inner shell
  exec unshare -n -- bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
fi
export PATH="$root/.venv/bin:$PATH"
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  for dir in extensions/molecule/*/; do
    [ -f "$dir/molecule.yml" ] && scenarios+=("$(basename "$dir")")
  done
fi
out=.run/molecule
mkdir -p "$out"

# run_one SCENARIO: its own emulator on its own port (scripts/moto.sh), molecule test, the emulator stopped.
run_one() {
  local scenario=$1 port rc started took
  port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  started=$(date +%s.%N)
  {
    endpoint=$(./scripts/moto.sh start "$port") &&
      AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=molecule-access-key AWS_SECRET_ACCESS_KEY=molecule-secret-key \
        AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true ANSIBLE_NOCOLOR=1 \
        ANSIBLE_FORCE_COLOR=0 NO_COLOR=1 PY_COLORS=0 ANSIBLE_HOME="$root/.run/molecule/ansible-home-$scenario" \
        molecule test -s "$scenario"
  } >"$out/$scenario.log" 2>&1
  rc=$?
  ./scripts/moto.sh stop "$port"
  took=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f s", e - s }')
  if [ "$rc" -eq 0 ]; then
    echo "molecule $scenario: passed ($took)"
  else
    echo "molecule $scenario: FAILED (rc $rc, $took; log $out/$scenario.log)"
  fi
  return "$rc"
}
export -f run_one
export out root

started=$(date +%s)
rm -f "$out"/*.result
# shellcheck disable=SC2016 # expanded by the inner shell
printf '%s\n' "${scenarios[@]}" | xargs -P "${MOLECULE_JOBS:-2}" -I{} bash -c 'run_one "$1" | tee "$out/$1.result"' _ {} || true
passed=$(cat "$out"/*.result 2>/dev/null | grep -c ': passed ' || true)
echo "molecule: $passed of ${#scenarios[@]} scenario(s) passed in $(( $(date +%s) - started )) s"
if [ "$passed" -ne ${#scenarios[@]} ]; then
  for scenario in "${scenarios[@]}"; do
    if ! grep -q ': passed ' "$out/$scenario.result" 2>/dev/null; then
      echo "---- $scenario (the last 60 lines of $out/$scenario.log)"
      tail -60 "$out/$scenario.log"
    fi
  done
  exit 1
fi
