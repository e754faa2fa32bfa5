#!/usr/bin/env bash
# Runs every fuzz target for N seconds (default 60), each from its committed
# seed corpus. Works on stable Rust: cargo-fuzz needs nightly flags, which
# RUSTC_BOOTSTRAP=1 allows.
#   fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in access_token request_bodies email; do
  echo "== $target: $secs s"
  # Work on a scratch copy, so runs do not grow the committed seeds.
  work=$(mktemp -d)
  cp -r "corpus/$target/." "$work/"
  cargo fuzz run "$target" "$work" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 \
    | grep -E "^(#[0-9]+.*DONE|Done|==|.*ERROR|.*panicked|SUMMARY)" || true
  status=${PIPESTATUS[0]}
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    echo "fuzz target $target failed"
    exit "$status"
  fi
done
