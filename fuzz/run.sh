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
# Every target of fuzz/Cargo.toml, so a new one cannot be left out.
for target in $(cargo fuzz list); do
  echo "== $target: $secs s"
  # Work on a scratch copy, so runs do not grow the committed seeds.
  work=$(mktemp -d)
  cp -r "corpus/$target/." "$work/"
  log="$work.log"
  if ! cargo fuzz run "$target" "$work" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
    tail -60 "$log"
    echo "fuzz target $target failed (crash input in fuzz/artifacts/$target/)"
    exit 1
  fi
  grep -E "^(#[0-9]+.*DONE|Done)" "$log" || true
  rm -rf "$work" "$log"
done
