#!/usr/bin/env bash
# Regenerates include/switchboard.h from ffi/ with the pinned cbindgen (installed into
# .tools/ on first use, which takes a few minutes). With --check, writes to a temporary file
# and fails when the checked-in header differs (the header freshness check).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

CBINDGEN_VERSION=0.29.4
tools=$PWD/.tools
cbindgen=$tools/bin/cbindgen
if [[ ! -x $cbindgen ]] || [[ $("$cbindgen" --version) != "cbindgen $CBINDGEN_VERSION" ]]; then
  echo "installing cbindgen $CBINDGEN_VERSION into $tools (one time, a few minutes)"
  cargo install --locked --quiet cbindgen --version "$CBINDGEN_VERSION" --root "$tools" \
    --target-dir "${CARGO_TARGET_DIR:-$PWD/target}/cbindgen-build"
fi

generate() {
  "$cbindgen" --quiet --config ffi/cbindgen.toml --crate switchboard-ffi --output "$1" ffi
}

if [[ ${1:-} == --check ]]; then
  tmp=$(mktemp)
  trap 'rm -f "$tmp"' EXIT
  generate "$tmp"
  if ! diff -u include/switchboard.h "$tmp"; then
    echo "include/switchboard.h is stale: run tests/c/gen-header.sh and commit the result" >&2
    exit 1
  fi
  echo "include/switchboard.h is up to date"
else
  generate include/switchboard.h
  echo "wrote include/switchboard.h"
fi
