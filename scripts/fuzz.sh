#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ (issue 10) for a short time each, one after the other,
# and fails if any of them finds a crash. Not part of scripts/test.sh.
#
# Needs rustup's nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz
# (pinned, --locked) into the repo-local .tools/ (gitignored) when it is missing. Each target
# starts from its committed seeds (fuzz/seeds/<target>/) copied into a scratch corpus
# (fuzz/corpus/<target>/, gitignored; it keeps growing across runs), so a run never changes a
# tracked file. Crash inputs land in fuzz/artifacts/<target>/, full logs in fuzz/logs/.
#
# Env:
#   FUZZ_SECONDS    seconds per target (default 60)
#   FUZZ_TARGETS    space-separated targets to run (default: every fuzz/fuzz_targets/*.rs)
#   FUZZ_SANITIZER  cargo fuzz --sanitizer (default none: the core is `unsafe`-free, and
#                   without ASan each target runs several times more inputs; try `address`)
#
# Prints one line per target: executions, executions per second, coverage, result.
# Reproduce a crash: cargo +nightly fuzz run -s none <target> fuzz/artifacts/<target>/<file>
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

CARGO_FUZZ_VERSION=0.13.2
seconds=${FUZZ_SECONDS:-60}
sanitizer=${FUZZ_SANITIZER:-none}
tools=$root/.tools

die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "FUZZ_SECONDS must be a positive integer (got '$seconds')"
command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (https://rustup.rs)"
cargo +nightly --version >/dev/null 2>&1 ||
  die "no nightly toolchain: rustup toolchain install nightly"

export PATH=$tools/bin:$PATH
if [[ $(cargo-fuzz --version 2>/dev/null) != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools/"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$tools"
fi

if [[ -n ${FUZZ_TARGETS:-} ]]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do
    targets+=("$(basename "$f" .rs)")
  done
fi
[[ ${#targets[@]} -gt 0 ]] || die "no fuzz targets found"

# cargo fuzz has no --locked: check the lockfile first, so a run never rewrites it.
cargo +nightly metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null ||
  die "fuzz/Cargo.lock is out of date (did rust/Cargo.toml change?): run
  cargo +nightly update --workspace --manifest-path fuzz/Cargo.toml
and commit fuzz/Cargo.lock"

echo "building ${targets[*]} (sanitizer: $sanitizer)"
cargo +nightly fuzz build --sanitizer "$sanitizer"

mkdir -p fuzz/logs
summary=()
failed=()
for t in "${targets[@]}"; do
  [[ -f fuzz/fuzz_targets/$t.rs ]] || die "unknown target $t"
  corpus=fuzz/corpus/$t
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  if compgen -G "fuzz/seeds/$t/*" >/dev/null; then
    cp -n fuzz/seeds/"$t"/* "$corpus"/
  fi
  log=fuzz/logs/$t.log
  echo "fuzzing $t for ${seconds}s (log: $log)"
  # One in-process libFuzzer worker (no -jobs/-fork): one fuzzer process at a time.
  set +e
  cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" "$corpus" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -n 1 || true)
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    result="FAILED (exit $rc)"
    failed+=("$t")
    grep -E "panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to" "$log" | head -n 5 >&2 || true
  fi
  line=$(printf '%-16s execs %-12s exec/s %-8s %-22s %s' "$t" "${execs:-?}" "${rate:-?}" "${cov:-cov: ?}" "$result")
  echo "$line"
  summary+=("$line")
done

echo
echo "fuzz summary (${seconds}s per target, sanitizer $sanitizer):"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  die "crashes in: ${failed[*]} (inputs in fuzz/artifacts/<target>/, logs in fuzz/logs/)"
fi
