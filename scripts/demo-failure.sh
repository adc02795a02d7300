#!/usr/bin/env bash
# The failure demo: what the collection exists for. On the local AWS emulator, behind the project's fault
# proxy (tests/support/fault_proxy.py), which refuses every RunInstances with InsufficientInstanceCapacity:
#   1. deploy: the launch fails (spot, then on-demand, in each zone), the stack rolls back in dependency
#      order, and list.yml counts zero resources left;
#   2. deploy -e rollback=false: the same failure keeps everything, and the recovery report is printed;
#   3. destroy: clears it; list.yml counts zero again.
# Runs inside a network namespace with only loopback (unshare -n), like the demo.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/setup.sh
export PATH="$root/.venv/bin:$PATH"
# The script in single quotes runs in the namespace and expands its own variables there.
# shellcheck disable=SC2016
exec unshare -n -- bash -c '
  set -euo pipefail
  ip link set lo up
  run_dir=.run/demo-failure
  rm -rf "$run_dir" && mkdir -p "$run_dir"
  MOTO_IAM_LOAD_MANAGED_POLICIES=true moto_server -H 127.0.0.1 -p 5000 >"$run_dir/moto.log" 2>&1 &
  moto_pid=$!
  python tests/support/fault_proxy.py --upstream http://127.0.0.1:5000 --port 5001 \
    --refuse RunInstances:InsufficientInstanceCapacity >"$run_dir/proxy.log" 2>&1 &
  proxy_pid=$!
  trap "kill $moto_pid $proxy_pid 2>/dev/null || true" EXIT
  export AWS_ACCESS_KEY_ID=emulator-access-key AWS_SECRET_ACCESS_KEY=emulator-secret-key AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  for _ in $(seq 100); do python -c "import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:5000/moto-api/\")" 2>/dev/null && break; sleep 0.1; done
  ami=$(AWS_ENDPOINT_URL=http://127.0.0.1:5000 python -c "import boto3; print(sorted(i[\"ImageId\"] for i in boto3.client(\"ec2\").describe_images(Owners=[\"amazon\"])[\"Images\"] if i[\"Architecture\"] == \"x86_64\")[0])")
  python scripts/admin-setup.py http://127.0.0.1:5000 # the once-per-account step of an administrator
  # Every playbook talks to AWS through the fault proxy.
  export AWS_ENDPOINT_URL=http://127.0.0.1:5001
  for _ in $(seq 100); do grep -q "^http" "$run_dir/proxy.log" 2>/dev/null && break; sleep 0.1; done
  state_dir="$PWD/$run_dir/stacks"
  deploy() {
    ansible-playbook playbooks/deploy.yml -e stack_name=failure-demo -e state_dir="$state_dir" -e ami_id="$ami" \
      -e instance_type=g4dn.xlarge -e "{\"allowed_cidrs\": [\"203.0.113.0/24\"]}" -e instance_timeout=60 \
      -e rollback_timeout=120 -e health_check=false "$@" && { echo "demo-failure: the deploy was meant to fail" >&2; exit 1; }
    return 0
  }
  owned() {  # list.yml (the status, and how many owned resources still exist), then a check that asks
    # the emulator directly, with boto3 alone, for anything still carrying the tag of the stack, of any kind
    ansible-playbook playbooks/list.yml -e state_dir="$state_dir" | sed -n "/\"STACK /,/]/p"
    left=$(AWS_ENDPOINT_URL=http://127.0.0.1:5000 python extensions/molecule/shared/leftovers.py failure-demo us-east-1)
    echo "Still tagged geusemaker:stack=failure-demo in the emulator: $left"
    [ "$1" = any ] || [ "$left" = "[]" ] || { echo "demo-failure: resources were left behind" >&2; exit 1; }
  }
  echo "== 1. ansible-playbook playbooks/deploy.yml -e stack_name=failure-demo (the fault proxy refuses RunInstances)"
  deploy
  echo "== After the rollback: the stack owns nothing that still exists (zero orphans)"
  owned none
  echo "== 2. The same failure with -e rollback=false: everything stays, and the recovery report says what to do"
  deploy -e rollback=false
  echo "== The recovery report above is kept at $state_dir/failure-demo.recovery.md; everything is still there:"
  owned any
  echo "== 3. ansible-playbook playbooks/destroy.yml -e stack_name=failure-demo"
  ansible-playbook playbooks/destroy.yml -e stack_name=failure-demo -e state_dir="$state_dir"
  owned none
  echo "== Refused by the fault proxy: $(grep -c "refused RunInstances" "$run_dir/proxy.log") RunInstances calls"
'
