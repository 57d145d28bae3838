#!/usr/bin/env bash
# The end-to-end comparison in one command (bench/README.md):
#   bench/run.sh            full sizes (1,000 and 10,000 subscribers); writes the tables into
#                           BENCHMARKS.md between <!-- e2e:begin --> and <!-- e2e:end -->
#                           (cluster and long-poll tables: their own markers, bench/README.md)
#   bench/run.sh --quick    tiny sizes, a sanity check of every server and scenario; prints only
# Any other flag goes to bench/compare.py (--servers, --scenarios, --write FILE, --no-write, ...).
#
# Builds the load generator, the Rust bench server, the C one (examples/c/bench.c against
# libswitchboard installed into $CARGO_TARGET_DIR/bench-c) and the Node binding (for
# examples/node/bench.js) in release, installs the Python binding into .venv/python (for
# examples/python/bench.py), installs the peers (bench/peers/setup.sh), raises the open-file
# limit to the hard limit, then runs bench/compare.py. With --servers, the C, Node and Python
# hosts are built only when their row (sb-c, sb-node, sb-python) is selected. The cluster
# scenarios also need redis-server and nats-server (Debian packages of those names). Env:
# CARGO_TARGET_DIR (default ./target).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The --servers list given to compare.py (empty: every server).
servers=
for ((i = 1; i <= $#; i++)); do
  case ${!i} in
    --servers=*) servers=${!i#--servers=} ;;
    --servers) j=$((i + 1)); servers=${!j:-} ;;
  esac
done
# Whether server row $1 runs in this invocation.
wanted() { [[ -z $servers || ,$servers, == *,$1,* ]]; }

command -v cargo >/dev/null || { echo "run.sh: cargo not found" >&2; exit 1; }
command -v node >/dev/null || { echo "run.sh: node not found (Node.js >= 20)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "run.sh: python3 not found" >&2; exit 1; }

target_dir=${CARGO_TARGET_DIR:-$PWD/target}
[[ $target_dir = /* ]] || target_dir=$PWD/$target_dir
export CARGO_TARGET_DIR=$target_dir

echo "==> cargo build --release (loadgen, bench server)" >&2
cargo build --locked --release -p switchboard-loadgen --bin loadgen >&2
cargo build --locked --release -p switchboard --example bench >&2

if wanted sb-c; then
  echo "==> C bench server (make install, cc examples/c/bench.c)" >&2
  command -v cc >/dev/null || { echo "run.sh: cc not found (the sb-c row needs a C compiler)" >&2; exit 1; }
  prefix=$target_dir/bench-c/prefix
  make --no-print-directory install PREFIX="$prefix" >&2
  cc -std=c11 -O2 -Iinclude examples/c/bench.c examples/c/host_loop.c examples/c/chat_json.c -L"$prefix/lib" -lswitchboard \
    -Wl,-rpath,"$prefix/lib" -o "$target_dir/bench-c/bench"
fi

# The sb-node row: `npm ci` installs the pinned napi CLI (package-lock.json) and builds the
# addon in release.
if wanted sb-node; then
  echo "==> Node binding (npm ci --prefix bindings/node)" >&2
  npm ci --prefix bindings/node --no-audit --no-fund >&2
fi

# The Python-hosted server (examples/python/bench.py) runs on the binding as a user installs
# it; the same venv and pins as scripts/test.sh.
if wanted sb-python; then
  echo "==> Python binding (pip install ./bindings/python into .venv/python)" >&2
  [[ -x .venv/python/bin/python ]] || python3 -m venv .venv/python >&2
  .venv/python/bin/python -m pip install --quiet --disable-pip-version-check -r bindings/python/requirements-dev.txt >&2
  PATH="$PWD/.venv/python/bin:$PATH" .venv/python/bin/python -m pip install --quiet --disable-pip-version-check --no-build-isolation \
    --force-reinstall --no-deps ./bindings/python >&2
fi

echo "==> peers (bench/peers/setup.sh)" >&2
bench/peers/setup.sh >&2

# Each subscriber is one socket in the loadgen and one in the server.
ulimit -n "$(ulimit -Hn)"
echo "==> open files limit: $(ulimit -n)" >&2

exec python3 bench/compare.py --target-dir "$target_dir" --command "bench/run.sh${*:+ $*}" "$@"
