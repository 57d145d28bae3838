// Starts the conformance fixture server (tests/fixtures/CONTRACT.md) and talks to its control
// routes. The command comes from env SB_FIXTURE_CMD (a JSON argv array) so the same suite can
// drive the Rust, C, Python and Node fixtures; it defaults to the Rust example binary.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { withTimeout } from "./wait.mjs";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The argv of the fixture process. */
export function fixtureCommand() {
  if (process.env.SB_FIXTURE_CMD) {
    const argv = JSON.parse(process.env.SB_FIXTURE_CMD);
    if (!Array.isArray(argv) || argv.length === 0) {
      throw new Error("SB_FIXTURE_CMD must be a non-empty JSON array of strings");
    }
    return argv;
  }
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(repoRoot, "target");
  return [path.join(targetDir, "release", "examples", "conformance_fixture")];
}

/** Finds a port that is free right now on 127.0.0.1 (for fixtures that must reuse a port). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A running fixture. `port` is the bound port; `exited` resolves with the exit code (or the
 * signal name) once the process ends.
 */
export class Fixture {
  constructor(proc, port) {
    this.proc = proc;
    this.port = port;
    this.base = `http://127.0.0.1:${port}`;
    this.output = [];
    this.exitCode = undefined;
    this.exited = new Promise((resolve) => {
      proc.on("exit", (code, signal) => {
        this.exitCode = code ?? signal;
        resolve(this.exitCode);
      });
    });
  }

  /** `ws://127.0.0.1:<port><mount>` as given to `new Socket(...)`. */
  endpoint(mount = "/socket") {
    return `ws://127.0.0.1:${this.port}${mount}`;
  }

  async request(method, route, body) {
    const res = await fetch(this.base + route, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json };
  }

  /** POST a control route; throws unless it answered 200 `{"ok":true}`. */
  async post(route, body = {}) {
    const r = await this.request("POST", route, body);
    if (r.status !== 200 || !r.json || r.json.ok !== true) {
      throw new Error(`POST ${route} answered ${r.status} ${r.text}`);
    }
    return r.json;
  }

  async get(route) {
    const r = await this.request("GET", route);
    if (r.status !== 200 || r.json === undefined) {
      throw new Error(`GET ${route} answered ${r.status} ${r.text}`);
    }
    return r.json;
  }

  /** `{connects, joins, terminates}` as recorded by the fixture. */
  log() {
    return this.get("/_test/log");
  }

  /** Number of live server channels on `topic` (all connections). */
  async channels(topic) {
    const r = await this.get(`/_test/channels?topic=${encodeURIComponent(topic)}`);
    return r.count;
  }

  broadcast(topic, event, payload) {
    return this.post("/_test/broadcast", { topic, event, payload });
  }

  /** Recent stdout/stderr lines, for failure messages. */
  tail(n = 40) {
    return this.output.slice(-n).join("\n");
  }

  /** Closes stdin (the fixture exits on EOF), then SIGTERM, then SIGKILL if it lingers. */
  async stop() {
    if (this.exitCode !== undefined) return this.exitCode;
    try {
      this.proc.stdin.end();
    } catch {
      // already closed
    }
    try {
      return await withTimeout(this.exited, 3000, "fixture exit on stdin EOF");
    } catch {
      this.proc.kill("SIGTERM");
    }
    try {
      return await withTimeout(this.exited, 3000, "fixture exit on SIGTERM");
    } catch {
      this.proc.kill("SIGKILL");
      return this.exited;
    }
  }
}

/**
 * Spawns the fixture with env PORT (0 = any free port) and waits for its
 * `LISTENING 127.0.0.1:<port>` line.
 */
export async function startFixture({ port = 0, env = {}, startTimeout = 20000 } = {}) {
  const [cmd, ...args] = fixtureCommand();
  if (!process.env.SB_FIXTURE_CMD && !existsSync(cmd)) {
    throw new Error(
      `fixture binary ${cmd} not found: run ` +
        "`cargo build --release --example conformance_fixture` (CARGO_TARGET_DIR is respected) " +
        "or set SB_FIXTURE_CMD",
    );
  }
  const proc = spawn(cmd, args, {
    env: { ...process.env, PORT: String(port), ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const lines = [];
  let announced;
  const listening = new Promise((resolve, reject) => {
    announced = { resolve, reject };
  });
  let buf = "";
  proc.stdout.setEncoding("utf8");
  proc.stdout.on("data", (chunk) => {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, "");
      buf = buf.slice(i + 1);
      lines.push(line);
      const m = /^LISTENING 127\.0\.0\.1:(\d+)$/.exec(line);
      if (m) announced.resolve(Number(m[1]));
    }
  });
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (chunk) => {
    for (const l of chunk.split("\n")) if (l) lines.push(l);
    if (lines.length > 2000) lines.splice(0, lines.length - 1000);
  });
  proc.on("error", (e) => announced.reject(e));
  proc.on("exit", (code, signal) =>
    announced.reject(
      new Error(`fixture exited (${code ?? signal}) before LISTENING:\n${lines.slice(-30).join("\n")}`),
    ),
  );
  let boundPort;
  try {
    boundPort = await withTimeout(listening, startTimeout, "fixture LISTENING line");
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  const fx = new Fixture(proc, boundPort);
  fx.output = lines;
  return fx;
}
