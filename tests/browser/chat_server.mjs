// Starts a chat demo server for the browser test (contract: examples/chat/CONTRACT.md).
//
// The command is env SB_CHAT_CMD (a JSON array of argv) or the Rust example binary
// `${CARGO_TARGET_DIR:-<repo>/target}/release/examples/chat`. It runs with PORT=0 in the repo
// root and must print `LISTENING 127.0.0.1:<port>` on stdout (tests/lib/server.mjs).

import { REPO, ServerProcess, serverCommand } from "../lib/server.mjs";

export { REPO };

/**
 * The `SB_SECRET_KEY_BASE` of every demo the suites start in a cluster: the demos serve
 * long-poll, and the core refuses long-poll in a cluster without a secret, which must be the
 * same on every node so that each accepts the others' session tokens (CONTRACT.md "Long-poll").
 */
export const CLUSTER_SECRET_KEY_BASE = "chat-cluster-tests-secret-key-base-0123456789";

export function chatCommand() {
  return serverCommand("SB_CHAT_CMD", "chat");
}

/**
 * Spawns the chat server (with `env` added to the test's environment, e.g. the cluster's
 * SB_CLUSTER / SB_NODE) and resolves once it printed its LISTENING line. The contract only
 * asks it to exit on SIGTERM, so `stop()` sends SIGTERM right after closing stdin.
 * @returns {Promise<ServerProcess>} with `base` (`http://127.0.0.1:<port>`), `stop()`, `tail()`
 */
export function startChatServer({ timeoutMs = 30_000, env = {}, name = "chat server" } = {}) {
  return ServerProcess.start(chatCommand(), { name, env, startTimeout: timeoutMs, eofGraceMs: 0 });
}
