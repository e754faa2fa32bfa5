#!/usr/bin/env bash
# Runs schemathesis against the example server with its own OpenAPI
# document (src/http/openapi.json, generated from the crate's types): no
# 5xx and no response that violates the schema.
#   scripts/schemathesis.sh [MAX_EXAMPLES] [PROFILE]
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-25}
profile=${2:-release}
target=${CARGO_TARGET_DIR:-target}
# schemathesis from PyPI, as .ci/run installs aiosmtpd (a venv would need
# Debian's python3-venv, which a fresh machine lacks).
python3 -c 'import schemathesis' 2>/dev/null ||
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
st="python3 -m schemathesis.cli"
flag=$([ "$profile" = release ] && echo --release || true)
cargo build $flag --example server >/dev/null 2>&1
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
# Rate limits off so the run reaches the endpoints; a superuser whose token
# lets it reach the authenticated and admin routes too.
TOWER_USERS_BIND=127.0.0.1:$port TOWER_USERS_DB=$dir/st.redb TOWER_USERS_RATE_LIMIT=off \
  TOWER_USERS_SUPERUSER='admin@example.com:kettle staple zebra' RUST_LOG=warn \
  "$target/$profile/examples/server" >"$dir/server.out" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q listening "$dir/server.out" && break; sleep 0.1; done
token=$(python3 - "$port" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(
    f"http://127.0.0.1:{sys.argv[1]}/users/login",
    data=json.dumps({"email": "admin@example.com", "password": "kettle staple zebra"}).encode(),
    headers={"content-type": "application/json"},
)
print(json.load(urllib.request.urlopen(req))["access_token"])
PY
)
# Logout would end the session the rest of the run uses; deleting oneself
# would end the account.
$st run "http://127.0.0.1:$port/users/openapi.json" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --exclude-operation-id logout --exclude-operation-id deleteMe \
  --max-examples "$examples" \
  -H "Authorization: Bearer $token" \
  --request-timeout 10
