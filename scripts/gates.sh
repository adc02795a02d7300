#!/usr/bin/env bash
# The release gates a maintainer or a Galaxy reviewer runs, each printing one line:
#   gate lint: ok (4.1 s)
#   gate sanity: FAILED (5 of 24 tests, 29.5 s)
# followed by the tool's output only when it failed. Exits non-zero when any gate failed.
#
#   scripts/gates.sh [GATE...]   GATE is lint, sanity, build, doc, changelog or policy; all of them by default
#   GATES_VERBOSE=1 prints every gate's output, not only a failed one's.
#
# Meant to run inside a network namespace with only loopback (scripts/test.sh and `make gates` run it so);
# it needs no network: ansible-lint runs offline, the sanity virtualenvs are made by scripts/setup.sh, the
# tarball installs with --offline, and the check-mode deploy talks to a moto server on 127.0.0.1.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 NO_COLOR=1 PY_COLORS=0

work=$(mktemp -d "${TMPDIR:-/tmp}/geusemaker-gates.XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=0

# summary WORDS: what the gate's line says besides ok or FAILED and the time.
summary() { echo "$*" >"$work/summary"; }

# start_gate, then the gate function in a subshell (its exports and traps stay there) with its output in
# $work/gate.log, then end_gate NAME STATUS, which prints the gate's line, and its output when it failed.
start_gate() {
  rm -f "$work/summary"
  started=$(date +%s.%N)
}
end_gate() {
  local name=$1 rc=$2 took words
  took=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f s", e - s }')
  words=$(cat "$work/summary" 2>/dev/null)
  if [ "$rc" -eq 0 ]; then
    echo "gate $name: ok (${words:+$words, }$took)"
    [ "${GATES_VERBOSE:-0}" = 0 ] || sed 's/^/    /' "$work/gate.log"
  else
    echo "gate $name: FAILED (${words:+$words, }$took)"
    sed 's/^/    /' "$work/gate.log"
    failed=1
  fi
}

# ansible-lint, production profile, offline, from the committed .ansible-lint.
gate_lint() {
  local out="$work/lint.out" rc
  ansible-lint --nocolor -f pep8 >"$out" 2>"$work/lint.err"
  rc=$?
  cat "$out"
  grep -E 'Passed|Failed|ERROR|WARNING' "$work/lint.err"
  if [ "$rc" -ne 0 ]; then
    summary "$(grep -c . "$out") violations"
  fi
  return "$rc"
}

# ansible-test sanity --python 3.11 on a copy of the work tree under .run/sanity (see scripts/sanity.sh).
gate_sanity() {
  local out="$work/sanity.out" rc ran failed_tests
  if [ ! -f .run/sanity/home/.primed ]; then
    summary "not set up"
    echo "The sanity virtualenvs are missing; run ./scripts/setup.sh first (it needs the package index)."
    return 1
  fi
  ./scripts/sanity.sh >"$out" 2>&1
  rc=$?
  ran=$(grep -c '^Running sanity test' "$out")
  failed_tests=$(sed -n 's/^FATAL: The \([0-9]*\) sanity test(s) listed below (out of \([0-9]*\)) failed.*/\1 of \2/p' "$out")
  grep -v -e '^WARNING: Using locale' -e '^Running sanity test' "$out"
  if [ "$ran" -eq 0 ]; then
    summary "no test ran"
    return 1
  fi
  if [ "$rc" -ne 0 ]; then
    summary "${failed_tests:-?} tests"
    return 1
  fi
  summary "$ran tests"
}

# ansible-galaxy collection build; the tarball must hold no local or test output; install it into a clean
# path; then `ansible-playbook geusemaker.stack.deploy --check` from that installed copy against a moto
# server on loopback, resolving the collection only from the install path.
gate_build() {
  local dist="$work/dist" installed="$work/collections" run="$work/run" tarball bad port ami endpoint found aws_site
  moto_pid=""  # global: the gate runs in a subshell, whose EXIT trap stops the emulator
  trap '[ -z "${moto_pid:-}" ] || { kill "$moto_pid"; wait "$moto_pid"; } 2>/dev/null' EXIT
  mkdir -p "$dist" "$installed" "$run/ansible-home" "$run/tmp" "$run/state"

  summary "build"
  ansible-galaxy collection build --output-path "$dist" . || return 1
  tarball=$(ls "$dist"/geusemaker-stack-*.tar.gz)

  summary "tarball holds local output"
  tar -tzf "$tarball" >"$work/tarball.list" || return 1
  bad=$(grep -E '(^|/)(\.run|\.venv|\.ansible|\.git|\.pytest_cache|\.cache|__pycache__|htmlcov|build)(/|$)|(^|/)\.coverage|(^|/)coverage\.xml$|^tests/output(/|$)|\.pyc$|\.tar\.gz$|\.plugin-cache\.yaml$' "$work/tarball.list")
  if [ -n "$bad" ]; then
    echo "The tarball holds local or test output ($(echo "$bad" | wc -l) entries; the first 20):"
    echo "$bad" | head -20
    return 1
  fi

  # A project of its own: its cwd, its ansible.cfg and its ANSIBLE_HOME, so neither the checkout's
  # .ansible/collections link nor ~/.ansible/collections can resolve the collection.
  aws_site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  cat >"$run/ansible.cfg" <<EOF
[defaults]
collections_path = $installed:$aws_site
callbacks_enabled = geusemaker.stack.recovery
inventory = $run/hosts.yml
interpreter_python = auto_silent
retry_files_enabled = false
EOF
  cat >"$run/hosts.yml" <<'EOF'
all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
EOF
  export ANSIBLE_CONFIG="$run/ansible.cfg" ANSIBLE_HOME="$run/ansible-home" ANSIBLE_LOCAL_TEMP="$run/tmp"
  export ANSIBLE_COLLECTIONS_PATH="$installed:$aws_site"

  summary "install"
  ansible-galaxy collection install "$tarball" -p "$installed" --offline --no-deps --force || return 1

  summary "collection resolved elsewhere"
  found=$(cd "$run" && ansible-galaxy collection list geusemaker.stack --format json 2>/dev/null |
    python -c 'import json, sys; print("\n".join(p for p, c in json.load(sys.stdin).items() if "geusemaker.stack" in c))')
  if [ "$found" != "$installed/ansible_collections" ]; then
    echo "geusemaker.stack must resolve only from $installed/ansible_collections; found in:"
    echo "${found:-nowhere}"
    return 1
  fi

  summary "emulator"
  port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  endpoint="http://127.0.0.1:$port"
  MOTO_IAM_LOAD_MANAGED_POLICIES=true moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
  moto_pid=$!
  export AWS_ENDPOINT_URL="$endpoint" AWS_ACCESS_KEY_ID=gate-access-key AWS_SECRET_ACCESS_KEY=gate-secret-key
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN
  for _ in $(seq 100); do
    python -c "import urllib.request; urllib.request.urlopen('$endpoint/moto-api/')" 2>/dev/null && break
    sleep 0.1
  done
  ami=$(python -c 'import boto3; print(sorted(i["ImageId"] for i in boto3.client("ec2").describe_images(Owners=["amazon"])["Images"] if i["Architecture"] == "x86_64")[0])') || {
    cat "$work/moto.log"
    return 1
  }

  python scripts/admin-setup.py "$endpoint" >/dev/null || return 1
  summary "deploy --check"
  (cd "$run" && ansible-playbook geusemaker.stack.deploy --check -e stack_name=gatecheck \
    -e state_dir="$run/state" -e ami_id="$ami" -e instance_type=t3.medium \
    -e '{"allowed_cidrs": ["203.0.113.0/24"]}') || return 1

  echo "state_dir after the check-mode run: $(find "$run/state" -mindepth 1 -printf "%f ")"
  # Check mode creates nothing: the emulator holds nothing tagged for the stack.
  summary "deploy --check created resources"
  python - <<'EOF' || return 1
import sys
import boto3
ec2 = boto3.client("ec2")
tag = [{"Name": "tag:geusemaker:stack", "Values": ["gatecheck"]}]
left = [v["VpcId"] for v in ec2.describe_vpcs(Filters=tag)["Vpcs"]]
left += [g["GroupId"] for g in ec2.describe_security_groups(Filters=tag)["SecurityGroups"]]
left += [i["InstanceId"] for r in ec2.describe_instances(Filters=tag)["Reservations"] for i in r["Instances"]]
left += [f["FileSystemId"] for f in boto3.client("efs").describe_file_systems()["FileSystems"]]
left += [r["RoleName"] for r in boto3.client("iam").list_roles(PathPrefix="/geusemaker/")["Roles"]]
if left:
    sys.exit("check mode created: " + ", ".join(left))
EOF
  summary "$(basename "$tarball"), $(grep -c . "$work/tarball.list") entries, deploy --check"
}

# ansible-doc for every module (stack_lock is the action-plugin-backed one), the callback and every
# entry point of every role's meta/argument_specs.yml. Any warning or error fails the gate.
gate_doc() {
  local modules=() callbacks=() role entry errors=0 entries=0
  export ANSIBLE_CONFIG="$root/ansible.cfg"
  for f in plugins/modules/*.py; do modules+=("geusemaker.stack.$(basename "$f" .py)"); done
  for f in plugins/callback/*.py; do callbacks+=("geusemaker.stack.$(basename "$f" .py)"); done
  for f in plugins/action/*.py; do
    [ -f "plugins/modules/$(basename "$f")" ] || { echo "action plugin $f has no module documentation"; errors=1; }
  done
  # doc_check TYPE ARGS...: ansible-doc must exit 0 and print nothing on stderr.
  doc_check() {
    if ! ansible-doc "$@" >"$work/doc.out" 2>"$work/doc.err" || [ -s "$work/doc.err" ]; then
      echo "ansible-doc $*:"
      cat "$work/doc.err"
      errors=1
    fi
  }
  doc_check -t module "${modules[@]}"
  doc_check -t callback "${callbacks[@]}"
  for spec in roles/*/meta/argument_specs.yml; do
    role=$(basename "$(dirname "$(dirname "$spec")")")
    for entry in $(python -c 'import sys, yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["argument_specs"]))' "$spec"); do
      doc_check -t role "geusemaker.stack.$role" -e "$entry"
      entries=$((entries + 1))
    done
  done
  summary "${#modules[@]} modules, ${#callbacks[@]} callback, $entries role entry points"
  return "$errors"
}

# antsibull-changelog: fragments and changelogs/changelog.yaml.
gate_changelog() {
  local fragments
  fragments=$(find changelogs/fragments -name '*.y*ml' | wc -l)
  summary "$fragments fragment(s)"
  antsibull-changelog lint && antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
}

# The escalation gate: cloudsplaining and parliament over the deployer policy, the roles' boundary and the instance
# role's policy; every finding of escalation or exfiltration must be accepted with its reason in
# docs/iam/escalation-gate.yml.
gate_policy() {
  local out="$work/policy.out" rc
  python scripts/policy-gate.py >"$out" 2>&1
  rc=$?
  cat "$out"
  summary "$(grep -c ': ok' "$out") of 3 policies clean"
  return "$rc"
}

gates=("$@")
[ ${#gates[@]} -gt 0 ] || gates=(lint sanity build doc changelog policy)
for gate in "${gates[@]}"; do
  case "$gate" in
  lint) start_gate; (gate_lint) >"$work/gate.log" 2>&1; end_gate lint $? ;;
  sanity) start_gate; (gate_sanity) >"$work/gate.log" 2>&1; end_gate sanity $? ;;
  build) start_gate; (gate_build) >"$work/gate.log" 2>&1; end_gate build $? ;;
  doc) start_gate; (gate_doc) >"$work/gate.log" 2>&1; end_gate doc $? ;;
  changelog) start_gate; (gate_changelog) >"$work/gate.log" 2>&1; end_gate changelog $? ;;
  policy) start_gate; (gate_policy) >"$work/gate.log" 2>&1; end_gate policy $? ;;
  *)
    echo "unknown gate: $gate (lint, sanity, build, doc, changelog, policy)" >&2
    exit 2
    ;;
  esac
done
exit "$failed"
