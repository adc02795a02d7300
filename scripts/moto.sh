#!/usr/bin/env bash
# Starts or stops the local AWS emulator (moto server) on 127.0.0.1.
#   scripts/moto.sh start [PORT]   prints the endpoint URL
#   scripts/moto.sh stop [PORT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
action=${1:?start or stop}
port=${2:-5000}
run_dir="$root/.run"
pid_file="$run_dir/moto-$port.pid"
mkdir -p "$run_dir"
case "$action" in
start)
  if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "http://127.0.0.1:$port"
    exit 0
  fi
  MOTO_IAM_LOAD_MANAGED_POLICIES=true nohup "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" \
    >"$run_dir/moto-$port.log" 2>&1 &
  echo $! >"$pid_file"
  for _ in $(seq 1 100); do
    if "$root/.venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
      echo "http://127.0.0.1:$port"
      exit 0
    fi
    sleep 0.1
  done
  echo "moto server did not start; see $run_dir/moto-$port.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$pid_file" ]; then
    kill "$(cat "$pid_file")" 2>/dev/null || true
    rm -f "$pid_file"
  fi
  ;;
*)
  echo "usage: $0 start|stop [PORT]" >&2
  exit 2
  ;;
esac
