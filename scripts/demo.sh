#!/usr/bin/env bash
# Runs the chat demo: installs the page's npm dependency (the stock phoenix client) when
# missing, then serves the chat on http://127.0.0.1:4000 (PORT overrides).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -f node_modules/phoenix/priv/static/phoenix.mjs ]]; then
  npm ci --no-audit --no-fund
fi
exec cargo run --locked --release --example chat
