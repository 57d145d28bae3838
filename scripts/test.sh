#!/usr/bin/env bash
# Runs every Switchboard test: the one command the README gives and .ci/run calls.
#
# Installs what is missing (npm packages; Debian's chromium for the browser test; Debian's
# redis-server, redis-tools and nats-server for the clustering tests), then:
# rustfmt check, clippy (warnings are errors), Rust unit/property tests, release build of the
# examples, the C ABI checks (tests/c/run.sh), the Node binding (npm ci builds the addon; its
# generated files, types and node:test suite), the Python binding (pip install, pytest,
# stubtest, mypy), and the node:test suites (conformance, bad input, browser, cluster) against the
# release binaries (the conformance suite also against the host-queue fixture; the conformance
# and bad-input suites also against the Node, Python and C fixtures, the C one under ASan; the
# browser and cluster suites also against the C, Node and Python chat demos). Stops at the
# first failure.
#
# Env: CARGO_TARGET_DIR (honoured by cargo, maturin and the node suites), SB_FIXTURE_CMD and
# SB_CHAT_CMD (run the node suites against another host language's servers), SB_PY_VENV (the
# Python binding's test venv, default .venv/python), SB_REDIS_SERVER, SB_REDIS_CLI and
# SB_NATS_SERVER (the broker binaries the clustering tests start; default: the one on PATH,
# else Debian's path; exported).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -t 1 ]]; then bold=$'\e[1m'; red=$'\e[31m'; reset=$'\e[0m'; else bold=; red=; reset=; fi
step_no=0
step() {
  step_no=$((step_no + 1))
  printf '\n%s==> [%d] %s%s (at %ds)\n' "$bold" "$step_no" "$*" "$reset" "$((SECONDS - started))"
}
die() {
  printf '%sERROR: %s%s\n' "$red" "$*" "$reset" >&2
  exit 1
}
trap 'rc=$?; [[ $rc -ne 0 ]] && printf "\n%sFAILED in step [%d] (exit %d)%s\n" "$red" "$step_no" "$rc" "$reset" >&2' EXIT

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

started=$SECONDS

step "Prerequisites"
command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (https://rustup.rs)"
command -v node >/dev/null || die "node not found: install Node.js 20 or newer"
command -v npm >/dev/null || die "npm not found: install npm (comes with Node.js)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[[ $node_major -ge 20 ]] || die "Node.js 20 or newer is required (found $(node --version))"
echo "cargo $(cargo --version | cut -d' ' -f2), node $(node --version), npm $(npm --version)"

# npm ci only when node_modules is missing or older than the lockfile.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  echo "node_modules is up to date"
fi

CHROMIUM=${SB_CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $CHROMIUM ]]; then
  command -v apt-get >/dev/null || die "$CHROMIUM is missing and apt-get is not available: install Chromium and set SB_CHROMIUM to its path"
  echo "installing chromium with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  [[ -x $CHROMIUM ]] || die "apt-get installed chromium but $CHROMIUM does not exist"
fi
echo "chromium: $CHROMIUM"

# The clustering tests start brokers of their own (tests/lib/brokers.mjs,
# rust/tests/common/brokers.rs) from these paths. Debian puts nats-server in /usr/sbin, which a
# non-root PATH may lack.
REDIS_SERVER=${SB_REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)}
REDIS_CLI=${SB_REDIS_CLI:-$(command -v redis-cli || echo /usr/bin/redis-cli)}
NATS_SERVER=${SB_NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
brokers_missing=()
[[ -x $REDIS_SERVER ]] || brokers_missing+=(redis-server)
[[ -x $REDIS_CLI ]] || brokers_missing+=(redis-tools)
[[ -x $NATS_SERVER ]] || brokers_missing+=(nats-server)
if [[ ${#brokers_missing[@]} -gt 0 ]]; then
  command -v apt-get >/dev/null || die "${brokers_missing[*]} missing and apt-get is not available: install them and set SB_REDIS_SERVER, SB_REDIS_CLI and SB_NATS_SERVER to their paths"
  echo "installing ${brokers_missing[*]} with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${brokers_missing[@]}"
  [[ -x $REDIS_SERVER ]] || die "apt-get installed redis-server but $REDIS_SERVER does not exist"
  [[ -x $REDIS_CLI ]] || die "apt-get installed redis-tools but $REDIS_CLI does not exist"
  [[ -x $NATS_SERVER ]] || die "apt-get installed nats-server but $NATS_SERVER does not exist"
fi
export SB_REDIS_SERVER=$REDIS_SERVER SB_REDIS_CLI=$REDIS_CLI SB_NATS_SERVER=$NATS_SERVER
echo "redis-server: $REDIS_SERVER, redis-cli: $REDIS_CLI, nats-server: $NATS_SERVER"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "cargo test (unit and property tests)"
cargo test --locked --workspace

step "cargo build --release --examples (servers for the node suites)"
cargo build --locked --release --examples

step "C ABI: header freshness, symbols/SONAME, C tests under sanitizers and valgrind, install + consumers"
tests/c/run.sh

# The Node binding: `npm ci` installs the pinned @napi-rs/cli and TypeScript exactly as
# package-lock.json lists them (it never rewrites the lockfile, and it fails if package.json and
# the lockfile disagree) and its prepare script builds the addon in release (napi build),
# regenerating native.js / native.d.ts, which must then match the checked-in files. The lockfile
# records the optional platform packages of every platform, as npm writes it, so a registry that
# serves more (or fewer) of them than when it was written changes nothing.
step "Node binding: npm ci (napi build --release), generated native.js/native.d.ts unchanged, tsc"
npm ci --prefix bindings/node --no-audit --no-fund
git diff --exit-code -- bindings/node/native.js bindings/node/native.d.ts ||
  die "bindings/node/native.js or native.d.ts changed: commit the regenerated files"
(cd bindings/node && npx --no-install tsc --noEmit -p test/types)

step "node --test bindings/node/test (the Node binding's API, errors, handler failures, clean exit)"
node --test bindings/node/test/*.test.mjs
# The Python binding, tested as a user gets it: pip installs ./bindings/python (maturin
# builds the extension with cargo, sharing CARGO_TARGET_DIR) into a venv under .venv/
# (gitignored) with pinned tools from PyPI.
PY_VENV=${SB_PY_VENV:-.venv/python}
PYTHON=$PY_VENV/bin/python
step "Python binding: pip install ./bindings/python, pytest (-X dev -W error), stubtest, mypy --strict"
command -v python3 >/dev/null || die "python3 not found: install Python 3.9 or newer with venv"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' || die "Python 3.9 or newer is required (found $(python3 --version))"
[[ -x $PYTHON ]] || python3 -m venv "$PY_VENV" || die "python3 -m venv failed: install the venv module (apt-get install python3-venv)"
# Every tool and its dependencies pinned in one file (bindings/python/requirements-dev.txt).
"$PYTHON" -m pip install --quiet --disable-pip-version-check -r bindings/python/requirements-dev.txt
# --no-build-isolation: build with the pinned maturin above (found on PATH) instead of a fresh
# download.
PATH="$PWD/$PY_VENV/bin:$PATH" "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-build-isolation \
  --force-reinstall --no-deps ./bindings/python
"$PYTHON" -X dev -W error -m pytest -q bindings/python/tests
"$PYTHON" -m mypy.stubtest switchboard._native
"$PYTHON" -m mypy --strict bindings/python/python/switchboard examples/python

# One behaviour table (tests/hosts/cases.json) run against all three front-ends: the C driver is
# compiled (ASan + UBSan) against the release libswitchboard.so that tests/c/run.sh built, the
# Python driver runs on the package installed above, the Node driver on the addon npm ci built.
step "node --test tests/hosts (one behaviour table, C, Python and Node)"
SB_PYTHON=$PYTHON node --test tests/hosts/*.test.mjs

# A JSON argv (what SB_FIXTURE_CMD / SB_CHAT_CMD take): the program's absolute path, then
# its arguments as given.
argv_json() {
  node -e 'const [p, ...rest] = process.argv.slice(1); console.log(JSON.stringify([require("path").resolve(p), ...rest]))' "$@"
}

run_suite() {
  local name=$1 dir=$2
  step "node --test $dir ($name)"
  compgen -G "$dir/*.test.mjs" >/dev/null || die "no tests in $dir"
  node --test "$dir"/*.test.mjs
}
run_suite "conformance: the real phoenix client against the fixture" tests/conformance
# The same suite against the fixture whose logic runs on plain host threads draining the
# host request queue (the shape of the C, Python and Node hosts). An SB_FIXTURE_CMD given
# by the caller already replaced the fixture above, so this step is for the default only.
if [[ -z ${SB_FIXTURE_CMD:-} ]]; then
  queue_fixture=${CARGO_TARGET_DIR:-target}/release/examples/conformance_fixture_queue
  [[ -x $queue_fixture ]] || die "$queue_fixture was not built"
  step "node --test tests/conformance (the fixture over the host request queue)"
  SB_FIXTURE_CMD=$(argv_json "$queue_fixture") \
    node --test tests/conformance/*.test.mjs
fi
run_suite "bad input" tests/bad_input
# Both suites against the fixture written in Node on the binding
# (tests/fixtures/node/conformance_fixture.mjs).
if [[ -z ${SB_FIXTURE_CMD:-} ]]; then
  for dir in tests/conformance tests/bad_input; do
    step "node --test $dir (the conformance fixture written in Node)"
    SB_FIXTURE_CMD='["node","tests/fixtures/node/conformance_fixture.mjs"]' node --test "$dir"/*.test.mjs
  done
fi
# Both suites against the fixture written in Python on the binding (tests/fixtures/python).
if [[ -z ${SB_FIXTURE_CMD:-} ]]; then
  py_fixture=$(argv_json "$PYTHON" tests/fixtures/python/conformance_fixture.py)
  for dir in tests/conformance tests/bad_input; do
    step "node --test $dir (the conformance fixture written in Python)"
    SB_FIXTURE_CMD=$py_fixture node --test "$dir"/*.test.mjs
  done
fi
# Both suites against the fixture written in C (tests/fixtures/c/conformance_fixture.c, built
# with AddressSanitizer + UBSan by tests/c/run.sh against the installed library). Sanitizer
# reports (including leaks at exit, which the suites do not see) go to files; any fails the step.
if [[ -z ${SB_FIXTURE_CMD:-} ]]; then
  c_fixture=${CARGO_TARGET_DIR:-target}/c/conformance_fixture
  [[ -x $c_fixture ]] || die "$c_fixture was not built"
  san_logs=$(mktemp -d)
  for dir in tests/conformance tests/bad_input; do
    step "node --test $dir (the conformance fixture written in C, under ASan + UBSan)"
    SB_FIXTURE_CMD=$(argv_json "$c_fixture") \
      ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:log_path=$san_logs/asan \
      UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$san_logs/ubsan \
      node --test "$dir"/*.test.mjs
  done
  if compgen -G "$san_logs/*" >/dev/null; then
    cat "$san_logs"/*
    die "the C conformance fixture had sanitizer reports (above)"
  fi
  rm -rf "$san_logs"
fi
run_suite "browser: the chat demo in headless Chromium" tests/browser
# The same suite against the chat demo written in C (examples/c/chat.c, built by
# tests/c/run.sh against the installed library); it finds the page files from the repo root,
# its working directory. An SB_CHAT_CMD given by the caller already replaced the demo above.
if [[ -z ${SB_CHAT_CMD:-} ]]; then
  c_chat=${CARGO_TARGET_DIR:-target}/c/chat
  [[ -x $c_chat ]] || die "$c_chat was not built"
  step "node --test tests/browser (the chat demo hosted from C)"
  SB_CHAT_CMD=$(argv_json "$c_chat") \
    node --test tests/browser/*.test.mjs
  step "node --test tests/browser (the chat demo hosted from Node)"
  SB_CHAT_CMD='["node","examples/node/chat.js"]' node --test tests/browser/*.test.mjs
  step "node --test tests/browser (the chat demo hosted from Python)"
  SB_CHAT_CMD=$(argv_json "$PYTHON" examples/python/chat.py) \
    node --test tests/browser/*.test.mjs
fi
# Three chat demo processes on one Redis and on one NATS are one room (tests/cluster), in
# every host language.
run_suite "cluster: three chat demos on one broker" tests/cluster
if [[ -z ${SB_CHAT_CMD:-} ]]; then
  step "node --test tests/cluster (the chat demo hosted from C)"
  SB_CHAT_CMD=$(argv_json "$c_chat") node --test tests/cluster/*.test.mjs
  step "node --test tests/cluster (the chat demo hosted from Node)"
  SB_CHAT_CMD='["node","examples/node/chat.js"]' node --test tests/cluster/*.test.mjs
  step "node --test tests/cluster (the chat demo hosted from Python)"
  SB_CHAT_CMD=$(argv_json "$PYTHON" examples/python/chat.py) \
    node --test tests/cluster/*.test.mjs
fi

trap - EXIT
printf '\n%sAll tests passed in %ds.%s\n' "$bold" "$((SECONDS - started))" "$reset"
