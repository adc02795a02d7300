#!/usr/bin/env bash
# ansible-test sanity on this checkout, without Docker and without the network.
#   scripts/sanity.sh prime      creates the sanity tests' virtualenvs; needs the package index, so
#                                scripts/setup.sh runs it (it does nothing once they exist)
#   scripts/sanity.sh [ARGS...]  runs `ansible-test sanity --python 3.11 ARGS...` offline
#
# ansible-test wants the collection at .../ansible_collections/geusemaker/stack with amazon.aws beside it
# (it ignores ANSIBLE_COLLECTIONS_PATH). So this copies the checkout's files (tracked, and untracked but not
# ignored, as they are in the work tree) to .run/sanity/ansible_collections/geusemaker/stack and links the
# venv's amazon.aws beside it. ansible-test runs with HOME=.run/sanity/home: its virtualenvs stay there
# between runs, and so does the stand-in for the get-pip script it would otherwise download.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.venv/bin:$PATH"
base="$root/.run/sanity"
tree="$base/ansible_collections"
copy="$tree/geusemaker/stack"
home="$base/home"

# Copies the work tree's files into the sanity tree, afresh each time (a few hundred small files).
sync_tree() {
  rm -rf "$copy"
  mkdir -p "$copy" "$tree/amazon"
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -xf - -C "$copy"
  # A repository of its own: ansible-test lists a collection's files with git when it sits in a work tree,
  # and this copy sits in the checkout's, where .run/ is ignored.
  git -C "$copy" init -q
  local aws
  aws="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/ansible_collections/amazon/aws"
  [ -f "$aws/MANIFEST.json" ] || { echo "sanity: amazon.aws is not in the venv ($aws)" >&2; return 1; }
  ln -sfn "$aws" "$tree/amazon/aws"
}

# ansible-test bootstraps pip in each new virtualenv with a get-pip script it downloads from a host that is
# unreachable here. This stand-in does the same with the standard library's ensurepip, then installs the pip
# version asked for (from the package index, so only while priming).
write_get_pip_standin() {
  local pip_version cache
  pip_version=$(python -c 'import re, ansible_test._internal.python_requirements as r, inspect; print(re.search(r"pip=.([0-9.]+).", inspect.getsource(r)).group(1))')
  cache="$home/.ansible/test/cache/get_pip_${pip_version//./_}.py"
  mkdir -p "$(dirname "$cache")"
  cat >"$cache" <<'EOF'
"""Stand-in for get-pip.py: ensurepip, then `pip install` with the same arguments."""
import ensurepip
import os
import subprocess
import sys

env = dict(os.environ)  # ensurepip points PIP_CONFIG_FILE at /dev/null in this process; pip needs the real one
ensurepip.bootstrap()
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args, env=env))
EOF
}

ansible_test() {
  (cd "$copy" && HOME="$home" ANSIBLE_TEST_PREFER_PODMAN='' ansible-test sanity --python 3.11 --color no "$@")
}

# One run at a time per checkout: the copy is rebuilt at each run.
mkdir -p "$base"
exec 9>"$base/lock"
flock 9

case "${1:-}" in
prime)
  # The stamp names what the virtualenvs were made for; a new ansible-core or Python makes new ones.
  stamp="$home/.primed"
  want="$(python -c 'import sys, ansible; print(sys.version.split()[0], ansible.__version__)')"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
  fi
  echo "setup: creating the ansible-test sanity virtualenvs under .run/sanity (about a minute)"
  sync_tree
  write_get_pip_standin
  ansible_test --prime-venvs >"$base/prime.log" 2>&1 || {
    echo "setup: priming the sanity virtualenvs failed; see $base/prime.log" >&2
    tail -20 "$base/prime.log" >&2
    exit 1
  }
  echo "$want" >"$stamp"
  ;;
*)
  sync_tree
  write_get_pip_standin
  ansible_test "$@"
  ;;
esac
