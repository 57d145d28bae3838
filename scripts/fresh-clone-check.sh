#!/usr/bin/env bash
# Proves the README's two commands work from a clean clone, as a new user runs them: clones the
# current commit (HEAD; uncommitted changes are not part of it) into a temporary directory with
# its own target/, node_modules/ and .venv/, then runs, from the clone, the first `sh` block under
# README "Run the chat demo" until the server answers `GET /` with 200, and the first `sh` block
# under README "Run every test" to its end. The commands are read from the README, not repeated
# here, so a README change is what gets checked.
#
# Shared with this machine (as they would be for a user): the cargo registry cache, npm's cache
# and the Debian packages already installed. Not part of scripts/test.sh (it rebuilds everything
# from nothing: 20+ minutes on 2 cores).
#
# Env: SB_FRESH_DIR (where to clone; default a new temporary directory, removed on success),
# SB_DEMO_TIMEOUT (seconds for the demo to serve GET /; default 900: it compiles first).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

commit=$(git rev-parse HEAD)
if [[ -n $(git status --porcelain --untracked-files=no) ]]; then
  echo "note: the working tree has uncommitted changes; checking the commit $commit without them" >&2
fi

work=${SB_FRESH_DIR:-$(mktemp -d -t switchboard-fresh.XXXXXX)}
clone=$work/switchboard
demo_pid=
cleanup() {
  local rc=$?
  if [[ -n $demo_pid ]] && kill -0 "$demo_pid" 2>/dev/null; then
    kill -TERM -- "-$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
  fi
  if [[ $rc -eq 0 && -z ${SB_FRESH_DIR:-} ]]; then
    rm -rf "$work"
  else
    echo "the clone is kept in $clone" >&2
  fi
}
trap cleanup EXIT

# The first ```sh block after the heading `## $1` of README.md, one command per line.
readme_block() {
  awk -v heading="## $1" '
    $0 == heading { in_section = 1; next }
    in_section && /^## / { exit }
    in_section && /^```sh$/ { in_block = 1; next }
    in_block && /^```$/ { exit }
    in_block { print }
  ' README.md
}

git clone --quiet --no-hardlinks "$repo" "$clone"
git -C "$clone" checkout --quiet --detach "$commit"
cd "$clone"

demo_cmd=$(readme_block "Run the chat demo")
test_cmd=$(readme_block "Run every test")
[[ -n $demo_cmd ]] || { echo "README.md has no sh block under 'Run the chat demo'" >&2; exit 1; }
[[ -n $test_cmd ]] || { echo "README.md has no sh block under 'Run every test'" >&2; exit 1; }

# Nothing of this checkout's environment leaks into the clone's build.
unset CARGO_TARGET_DIR SB_PY_VENV SB_FIXTURE_CMD SB_CHAT_CMD

started=$SECONDS
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo "==> demo (README 'Run the chat demo', PORT=$port): $demo_cmd"
# Its own process group, so the cargo run and the server it starts stop together.
PORT=$port setsid bash -c "$demo_cmd" >"$work/demo.log" 2>&1 &
demo_pid=$!
deadline=$((SECONDS + ${SB_DEMO_TIMEOUT:-900}))
serves_root() {
  python3 -c 'import sys, urllib.request; sys.exit(urllib.request.urlopen(sys.argv[1], timeout=5).status != 200)' \
    "http://127.0.0.1:$port/" 2>/dev/null
}
until serves_root; do
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    tail -30 "$work/demo.log" >&2
    echo "FAIL: the demo command exited before serving GET /" >&2
    exit 1
  fi
  if ((SECONDS > deadline)); then
    tail -30 "$work/demo.log" >&2
    echo "FAIL: the demo did not serve GET / within ${SB_DEMO_TIMEOUT:-900} s" >&2
    exit 1
  fi
  sleep 1
done
demo_seconds=$((SECONDS - started))
echo "the demo served GET / with 200 after ${demo_seconds} s"
kill -TERM -- "-$demo_pid"
wait "$demo_pid" 2>/dev/null || true
demo_pid=

echo "==> every test (README 'Run every test'): $test_cmd"
test_started=$SECONDS
bash -c "$test_cmd"
echo "PASS: fresh clone of $commit: demo served GET / in ${demo_seconds} s, the test command passed in $((SECONDS - test_started)) s"
