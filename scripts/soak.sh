#!/usr/bin/env bash
# The long runs of issue 11, kept out of scripts/test.sh: hostile clients against the chat demo
# for ten minutes, or 10,000 idle clients. Their figures go in BENCHMARKS.md ("Hostile clients
# soak"); each run prints a summary block to paste there.
#
#   scripts/soak.sh                      mixed abuse for SOAK_SECONDS (default 600), with a
#                                        bystander timing its messages (tests/soak/soak.mjs)
#   scripts/soak.sh --connections [N]    N idle phoenix-protocol clients (default 10000) in rooms
#                                        of 10 with presence, a broadcast to every room, then all
#                                        leave (tests/soak/connections.mjs)
#   scripts/soak.sh --no-build ...       skip the cargo build (the binary must exist)
#
# Builds the chat demo with `--features heap-stats` (the counting allocator and `GET /_heap`),
# into ${CARGO_TARGET_DIR:-target}/release/examples/chat, and runs it with PORT=0. Exit status 1
# when the run failed its criteria (printed at the end).
#
# Env, both modes: SOAK_HEAP_TOLERANCE (bytes, 1048576), SOAK_LATENCY_MS (100),
# SOAK_BYSTANDER_INTERVAL_MS (200), SOAK_MODE (abuse | connections; --connections sets it),
# SB_CHAT_CMD (another chat server's argv as JSON; it must answer GET /_heap), CARGO_TARGET_DIR,
# RUST_LOG (the server's log filter, default info).
# Abuse: SOAK_SECONDS (600), SOAK_WARMUP_SECONDS (60, at most a fifth of SOAK_SECONDS),
# SOAK_ATTACKS (a comma list: only those attacks).
# Connections: SOAK_HOLD_SECONDS (30: how long the N clients stay idle), SOAK_ROUNDS (2),
# SOAK_CONNECT_CONCURRENCY (100), SOAK_DISCONNECT (close | terminate), SOAK_DISCONNECT_BATCH
# (clients closed per 10 ms; default all at once).
#
# Run it on an otherwise idle machine: the bystander's latency limit (100 ms) is measured with
# the server, the attackers and the bystander sharing its cores.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=1
mode=${SOAK_MODE:-abuse}
connections=10000
while [[ $# -gt 0 ]]; do
  case $1 in
    --connections)
      mode=connections
      if [[ ${2:-} =~ ^[0-9]+$ ]]; then
        connections=$2
        shift
      fi
      ;;
    --connections=*)
      mode=connections
      connections=${1#*=}
      ;;
    --no-build) build=0 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "soak.sh: unknown argument $1 (see --help)" >&2
      exit 2
      ;;
  esac
  shift
done

command -v node >/dev/null || { echo "soak.sh: node not found (Node.js 20 or newer)" >&2; exit 1; }
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi

if [[ $build -eq 1 ]]; then
  cargo build --locked --release --example chat --features heap-stats
fi

# Each side holds one descriptor per connection (and the server a few more per attack).
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]]; then ulimit -Sn "$hard"; fi
if [[ $mode == connections && $(ulimit -Sn) != unlimited && $(ulimit -Sn) -lt $((connections + 500)) ]]; then
  echo "soak.sh: the open-files limit ($(ulimit -Sn)) is too low for $connections connections" >&2
  exit 1
fi

case $mode in
  abuse) exec node tests/soak/soak.mjs ;;
  connections) exec node tests/soak/connections.mjs "$connections" ;;
  *)
    echo "soak.sh: SOAK_MODE must be abuse or connections, got $mode" >&2
    exit 2
    ;;
esac
