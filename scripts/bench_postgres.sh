#!/usr/bin/env bash
# PostgreSQL load benchmark, in one run: the example server (release, rate
# limits off) on redb, on a throwaway PostgreSQL with one instance, and with
# two instances on that one database (the load generator deals its
# connections out between them), all over loopback; then the time of one
# `session_with_user` round trip. Rows alternate between the setups, so a
# noisy moment of the machine hits them alike. Prints the README's table;
# with --readme, rewrites the table between the bench-postgres markers in
# README.md.
#   scripts/bench_postgres.sh [--readme] [SECONDS]
# PostgreSQL's binaries: TOWER_USERS_PG_BIN, else the newest
# /usr/lib/postgresql/N/bin (Debian's `postgresql`), else PATH. As root the
# server runs as the `postgres` user, as PostgreSQL refuses root.
set -euo pipefail
cd "$(dirname "$0")/.."
readme=0
if [ "${1:-}" = "--readme" ]; then readme=1; shift; fi
secs=${1:-10}

pg_bin=${TOWER_USERS_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
if [ -z "$pg_bin" ]; then pg_bin=$(dirname "$(command -v initdb)"); fi

cargo build --release --features postgres --example server --example load \
  --example session_rtt >/dev/null 2>&1
examples="${CARGO_TARGET_DIR:-target}/release/examples"
ulimit -n 4096 2>/dev/null || true

# /tmp, not $TMPDIR: the postgres user must be able to reach it.
dir=$(mktemp -d /tmp/tower-users-bench.XXXXXX)
if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for pid in "$dir"/*.pid; do [ -e "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true; done
  as_pg "$pg_bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PostgreSQL's defaults (fsync on), as redb commits with immediate
# durability; loopback only, trusting it.
pg_port=$(free_port)
(cd "$dir" && as_pg "$pg_bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
  >"$dir/initdb.log" 2>&1) || { cat "$dir/initdb.log" >&2; exit 1; }
(cd "$dir" && as_pg "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 120 \
  -o "-h 127.0.0.1 -p $pg_port -k $dir" start >/dev/null) || { cat "$dir/postgres.log" >&2; exit 1; }
url="postgres://postgres@127.0.0.1:$pg_port/postgres"

# start NAME [VAR=VALUE...]: an example server on a free port; prints its
# address once it listens (run in $(…), so its pid goes to a file).
start() {
  local name=$1; shift
  env TOWER_USERS_BIND=127.0.0.1:0 TOWER_USERS_RATE_LIMIT=off \
    TOWER_USERS_SECRET=bench-secret-bench-secret-bench-secret-0123456789 \
    TOWER_USERS_MAX_CONNECTIONS=2048 RUST_LOG=warn "$@" \
    "$examples/server" >"$dir/$name.out" 2>"$dir/$name.log" &
  echo $! >"$dir/$name.pid"
  for _ in $(seq 100); do
    if grep -q "listening on" "$dir/$name.out"; then
      sed -n 's|^listening on ||p' "$dir/$name.out"; return
    fi
    sleep 0.1
  done
  cat "$dir/$name.log" >&2; exit 1
}
redb=$(start redb TOWER_USERS_DB="$dir/bench.redb")
pg1=$(start pg1 TOWER_USERS_DATABASE_URL="$url")
pg2=$(start pg2 TOWER_USERS_DATABASE_URL="$url")

# row LABEL URLS SCENARIO CONNECTIONS: one load row, the setup in front.
row() {
  "$examples/load" "$2" "$3" "$secs" "$4" | sed "s/^| /| $1 | /" | tee -a "$dir/rows"
}
{
  echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load average before: $(cut -d' ' -f1-3 /proc/loadavg), $("$pg_bin/postgres" --version), ${secs} s per row"
  echo
  echo "| setup | scenario | connections | ok/s | refused (429+503) | p50 | p99 | statuses |"
  echo "|---|---|---|---|---|---|---|---|"
  for _ in 1 2; do
    row redb "$redb" healthz 32
    row "PostgreSQL" "$pg1" healthz 32
    row redb "$redb" me 32
    row "PostgreSQL" "$pg1" me 32
    row "PostgreSQL, 2 instances" "$pg1,$pg2" me 32
  done
  row redb "$redb" login 64
  row "PostgreSQL" "$pg1" login 64
  row "PostgreSQL, 2 instances" "$pg1,$pg2" login 64
  echo
  # Sums of the ok/s column over both rounds, per setup and scenario.
  awk -F'|' '
    { setup = $2; gsub(/^ +| +$/, "", setup); rate[setup, $3] += $5 }
    END {
      h = " GET /healthz "; m = " GET /users/me "
      printf "GET /users/me on PostgreSQL: %.0f%% of redb'"'"'s req/s (target ≥ 25%%), %.2f× its own /healthz (target ≥ 0.20×); two instances: %.0f%% of redb\n",
        100 * rate["PostgreSQL", m] / rate["redb", m], rate["PostgreSQL", m] / rate["PostgreSQL", h],
        100 * rate["PostgreSQL, 2 instances", m] / rate["redb", m]
    }' "$dir/rows"
  echo
  "$examples/session_rtt" "$url"
} | tee "$dir/table.md"

if [ $readme = 1 ]; then
  python3 - "$dir/table.md" <<'PY'
import re, sys
table = open(sys.argv[1]).read().strip()
readme = open("README.md").read()
new = re.sub(r"(<!-- bench-postgres:start -->\n).*?(<!-- bench-postgres:end -->)",
             lambda m: m.group(1) + table + "\n" + m.group(2), readme, flags=re.S)
open("README.md", "w").write(new)
PY
fi
