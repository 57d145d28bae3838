#!/usr/bin/env bash
# Installs the benchmark's peer servers from the package registries, at the pinned versions:
#   socketio-node/    npm ci   (socket.io, package-lock.json)
#   ws-node/          npm ci   (ws, package-lock.json)
#   python-socketio/  a venv in .venv, pip install -r requirements.txt
# Idempotent: skips a peer whose install is newer than its lockfile. Needs node >= 20, npm and
# python3 >= 3.9 with the venv module (Debian: apt-get install python3-venv).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

for peer in socketio-node ws-node; do
  if [[ -f $peer/node_modules/.package-lock.json && ! $peer/package-lock.json -nt $peer/node_modules/.package-lock.json ]]; then
    echo "setup: $peer is up to date"
  else
    echo "setup: npm ci in $peer"
    (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

venv=python-socketio/.venv
stamp=$venv/.installed
if [[ -f $stamp && ! python-socketio/requirements.txt -nt $stamp ]]; then
  echo "setup: python-socketio is up to date"
else
  echo "setup: venv + pip install in python-socketio"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r python-socketio/requirements.txt
  touch "$stamp"
fi
