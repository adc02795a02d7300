#!/usr/bin/env bash
# The demo: deploys a stack named "demo" on the local AWS emulator, lists it, then shows how to destroy it
# by doing so. Runs inside a network namespace with only loopback (unshare -n): the emulated instance's
# public address is fake and is never probed; the health check reaches a loopback stub instead (health_check_connect_to),
# which holds the instance's key and publishes it on the instance's tag, as the boot script does.
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
  run_dir=.run/demo
  rm -rf "$run_dir" && mkdir -p "$run_dir"
  MOTO_IAM_LOAD_MANAGED_POLICIES=true moto_server -H 127.0.0.1 -p 5000 >"$run_dir/moto.log" 2>&1 &
  moto_pid=$!
  python tests/support/health_stub.py --port 8443 --mode healthy --endpoint http://127.0.0.1:5000 --ssm-path /geusemaker/demo/ >"$run_dir/stub.log" 2>&1 &
  stub_pid=$!
  trap "kill $moto_pid $stub_pid 2>/dev/null || true" EXIT
  export AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=emulator-access-key AWS_SECRET_ACCESS_KEY=emulator-secret-key AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  for _ in $(seq 100); do python -c "import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:5000/moto-api/\")" 2>/dev/null && break; sleep 0.1; done
  ami=$(python -c "import boto3; print(sorted(i[\"ImageId\"] for i in boto3.client(\"ec2\").describe_images(Owners=[\"amazon\"])[\"Images\"] if i[\"Architecture\"] == \"x86_64\")[0])")
  echo "== scripts/admin-setup.py: the once-per-account step of an administrator (the permissions boundary of the stack roles)"
  python scripts/admin-setup.py "$AWS_ENDPOINT_URL"
  state_dir="$PWD/$run_dir/stacks"
  echo "== ansible-playbook playbooks/deploy.yml -e stack_name=demo (emulator at $AWS_ENDPOINT_URL, image $ami)"
  ansible-playbook playbooks/deploy.yml -e stack_name=demo -e state_dir="$state_dir" -e ami_id="$ami" \
    -e instance_type=g4dn.xlarge -e "{\"allowed_cidrs\": [\"203.0.113.0/24\"]}" \
    -e health_check_connect_to=127.0.0.1:8443 -e health_check_timeout=30
  echo "== ansible-playbook playbooks/list.yml"
  ansible-playbook playbooks/list.yml -e state_dir="$state_dir"
  echo "== To destroy it: ansible-playbook playbooks/destroy.yml -e stack_name=demo (doing so now)"
  ansible-playbook playbooks/destroy.yml -e stack_name=demo -e state_dir="$state_dir"
  ansible-playbook playbooks/list.yml -e state_dir="$state_dir"
  echo "== The state file stays, for the record: $state_dir/demo.json"
'
