// Starts a chat demo server for the browser test (contract: examples/chat/CONTRACT.md).
//
// The command is env SB_CHAT_CMD (a JSON array of argv) or the Rust example binary
// `${CARGO_TARGET_DIR:-<repo>/target}/release/examples/chat`. It runs with PORT=0 in the repo
// root and must print `LISTENING 127.0.0.1:<port>` on stdout.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export function chatCommand() {
  if (process.env.SB_CHAT_CMD) {
    const argv = JSON.parse(process.env.SB_CHAT_CMD);
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")) {
      throw new Error("SB_CHAT_CMD must be a JSON array of strings (argv)");
    }
    return argv;
  }
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(REPO, process.env.CARGO_TARGET_DIR)
    : path.join(REPO, "target");
  const bin = path.join(target, "release", "examples", "chat");
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: run \`cargo build --release --example chat\` (or set SB_CHAT_CMD)`);
  }
  return [bin];
}

/**
 * Spawns the chat server and resolves once it printed its LISTENING line.
 * @returns {Promise<{base: string, stop: () => Promise<void>, output: () => string}>}
 */
export async function startChatServer({ timeoutMs = 30_000 } = {}) {
  const [cmd, ...args] = chatCommand();
  const child = spawn(cmd, args, {
    cwd: REPO,
    env: { ...process.env, PORT: "0" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let log = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => {
    log = (log + d).slice(-20_000);
  });

  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const address = await new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => {
      reject(new Error(`chat server printed no LISTENING line within ${timeoutMs} ms\n${log}`));
    }, timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`chat server exited early (code ${code}, signal ${signal})\n${log}`));
    });
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d) => {
      buf += d;
      const m = /^LISTENING (127\.0\.0\.1:\d+)\s*$/m.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
      buf = buf.slice(-4096);
    });
  });

  async function stop() {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin.end();
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(killer);
  }

  return { base: `http://${address}`, stop, output: () => log };
}
