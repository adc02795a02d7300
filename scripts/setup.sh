#!/usr/bin/env bash
# Creates .venv with the pinned tool chain and links this checkout in as the geusemaker.stack collection.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
stamp=.venv/.requirements-dev.sha
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing the pinned tool chain into .venv (about a minute)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import ansible, moto, boto3, pytest" # fails loudly if the install did not work
  echo "$want" > "$stamp"
fi
mkdir -p .ansible/collections/ansible_collections/geusemaker
ln -sfn "$root" .ansible/collections/ansible_collections/geusemaker/stack
# The sanity gate's virtualenvs (scripts/gates.sh runs it offline): made once, while the package index is reachable.
# Not fatal here (the demo does not need them); the sanity gate then fails and says so.
./scripts/sanity.sh prime || echo "setup: WARNING: the sanity virtualenvs are not ready; the sanity gate will fail" >&2
