#!/usr/bin/env bash
# Load benchmark: the example server (release, rate limits off) and the load
# generator over loopback, neither pinned: the server hashes on every core,
# and the generator, one thread mostly waiting on sockets, takes little.
# Prints the README's table; with --readme, rewrites the table between the
# bench markers in README.md.
#   scripts/bench.sh [--readme] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
readme=0
if [ "${1:-}" = "--readme" ]; then readme=1; shift; fi
secs=${1:-10}

cargo build --release --example server --example load >/dev/null 2>&1
# 1,000 connections need more descriptors than the usual soft limit of 1024
# leaves (the server caps connections below its limit); the cap is set
# explicitly so every row's connections are all served.
ulimit -n 4096 2>/dev/null || true
max_conns=2048
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
TOWER_USERS_BIND=127.0.0.1:$port TOWER_USERS_DB=$dir/bench.redb TOWER_USERS_RATE_LIMIT=off \
  TOWER_USERS_MAX_CONNECTIONS=$max_conns \
  RUST_LOG=warn "${CARGO_TARGET_DIR:-target}/release/examples/server" >"$dir/server.out" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do grep -q listening "$dir/server.out" && break; sleep 0.1; done

load() { "${CARGO_TARGET_DIR:-target}/release/examples/load" "http://127.0.0.1:$port" "$@"; }
{
  echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average before: $(cut -d' ' -f1-3 /proc/loadavg), open-file limit $(ulimit -n), server connection cap $max_conns"
  echo
  echo "before: $(load hash)"
  echo
  echo "| scenario | connections | ok/s | refused (429+503) | p50 | p99 | statuses |"
  echo "|---|---|---|---|---|---|---|"
  load healthz "$secs" 32
  load me "$secs" 32
  load login "$secs" 64
  load login-one "$secs" 64
  load login "$secs" 1000
  load login-one "$secs" 1000
  load me-during-login "$secs" 32 2>>"$dir/notes"
  load burst 0 64
  load attack "$secs" 32 2>>"$dir/notes"
  load hostile "$secs" 32 2>>"$dir/notes"
  echo
  echo "after: $(load hash)"
  echo
  echo "server peak RSS (VmHWM): $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$server/status)"
} | tee "$dir/table.md"
cat "$dir/notes"

if [ $readme = 1 ]; then
  python3 - "$dir/table.md" <<'PY'
import re, sys
table = open(sys.argv[1]).read().strip()
readme = open("README.md").read()
new = re.sub(r"(<!-- bench:start -->\n).*?(\n<!-- bench:end -->)",
             lambda m: m.group(1) + table + m.group(2), readme, flags=re.S)
open("README.md", "w").write(new)
PY
fi
