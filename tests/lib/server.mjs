// Runs a test server as a child process: the conformance fixture (tests/fixtures/CONTRACT.md)
// and the chat demo (examples/chat/CONTRACT.md) share one start-up contract: env PORT (0 = any
// free port), the repo root as working directory, one `LISTENING 127.0.0.1:<port>` line on
// stdout once connections are accepted. The command is a JSON argv array from an env variable
// (so another host language's server can be tested) or a Rust example binary.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { withTimeout } from "./wait.mjs";

/** Absolute path of the repository root (the servers' working directory). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * The argv of a server: env `envVar` parsed as a non-empty JSON array of strings when set,
 * else `${CARGO_TARGET_DIR:-<repo>/target}/release/examples/<example>` (a relative
 * CARGO_TARGET_DIR is taken from the repo root). Throws when the default binary is missing.
 */
export function serverCommand(envVar, example) {
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    const argv = JSON.parse(fromEnv);
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")) {
      throw new Error(`${envVar} must be a non-empty JSON array of strings (argv)`);
    }
    return argv;
  }
  const target = process.env.CARGO_TARGET_DIR
    ? path.resolve(REPO, process.env.CARGO_TARGET_DIR)
    : path.join(REPO, "target");
  const bin = path.join(target, "release", "examples", example);
  if (!existsSync(bin)) {
    throw new Error(
      `${bin} is missing: run \`cargo build --release --example ${example}\` ` +
        `(CARGO_TARGET_DIR is respected) or set ${envVar}`,
    );
  }
  return [bin];
}

const LISTENING = /^LISTENING 127\.0\.0\.1:(\d+)$/;

/**
 * A running server process. `port` is the port from its LISTENING line; `exited` resolves with
 * the exit code (or the signal name) once the process ends. Subclasses add routes of their
 * own; `start` builds an instance of the class it is called on.
 */
export class ServerProcess {
  /**
   * Spawns `argv` with env PORT=`port` (plus `env`), stdin piped (a server that exits on stdin
   * EOF cannot outlive the test runner), and waits up to `startTimeout` ms for the LISTENING
   * line. On failure the process is killed and the error carries its last output lines.
   * `eofGraceMs`: how long `stop()` waits for an exit on stdin EOF before SIGTERM (0 for a
   * server that does not watch stdin).
   */
  static async start(argv, { name = "server", port = 0, env = {}, startTimeout = 20000, eofGraceMs = 3000 } = {}) {
    const [cmd, ...args] = argv;
    const proc = spawn(cmd, args, {
      cwd: REPO,
      env: { ...process.env, PORT: String(port), ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const server = new this(proc, { name, eofGraceMs });
    try {
      await withTimeout(server.#listening, startTimeout, `the ${name}'s LISTENING line`);
    } catch (e) {
      proc.kill("SIGKILL");
      e.message += `\n${server.tail(30)}`;
      throw e;
    }
    return server;
  }

  #listening;

  constructor(proc, { name = "server", eofGraceMs = 3000 } = {}) {
    this.proc = proc;
    this.name = name;
    this.eofGraceMs = eofGraceMs;
    this.port = undefined;
    this.output = [];
    /** Bytes written to stdout and stderr so far (what a log file of the server would hold). */
    this.outputBytes = 0;
    this.exitCode = undefined;
    this.exited = new Promise((resolve) => {
      proc.once("exit", (code, signal) => {
        this.exitCode = code ?? signal;
        resolve(this.exitCode);
      });
    });
    this.#listening = new Promise((resolve, reject) => {
      proc.once("error", reject);
      this.exited.then((code) => reject(new Error(`${name} exited (${code}) before LISTENING`)));
      let buf = "";
      proc.stdout.setEncoding("utf8");
      proc.stdout.on("data", (chunk) => {
        this.outputBytes += Buffer.byteLength(chunk);
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i).replace(/\r$/, "");
          buf = buf.slice(i + 1);
          this.#record(line);
          const m = LISTENING.exec(line);
          if (m && this.port === undefined) {
            this.port = Number(m[1]);
            resolve(this.port);
          }
        }
      });
    });
    this.#listening.catch(() => {}); // awaited by start(); an exit after start is not an error
    // Whole lines: a line written in several pieces (stderr is unbuffered: Rust's eprintln!
    // writes each piece of its format on its own) is recorded once it is complete.
    let errBuf = "";
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (chunk) => {
      this.outputBytes += Buffer.byteLength(chunk);
      const lines = (errBuf + chunk).split("\n");
      errBuf = lines.pop();
      for (const l of lines) if (l) this.#record(l.replace(/\r$/, ""));
    });
    proc.stderr.on("end", () => {
      if (errBuf) this.#record(errBuf);
      errBuf = "";
    });
  }

  #record(line) {
    this.output.push(line);
    if (this.output.length > 2000) this.output.splice(0, this.output.length - 1000);
  }

  /** `127.0.0.1:<port>`. */
  get address() {
    return `127.0.0.1:${this.port}`;
  }

  /** `http://127.0.0.1:<port>`. */
  get base() {
    return `http://${this.address}`;
  }

  /** True until the process has exited. */
  get alive() {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Recent stdout/stderr lines, for failure messages. */
  tail(n = 40) {
    return this.output.slice(-n).join("\n");
  }

  /**
   * Closes stdin, then SIGTERM once `eofGraceMs` passed without an exit, then SIGKILL if it
   * lingers 3 s more. Resolves with the exit code (or signal name).
   */
  async stop() {
    if (this.exitCode !== undefined) return this.exitCode;
    try {
      this.proc.stdin.end();
    } catch {
      // already closed
    }
    if (this.eofGraceMs > 0) {
      try {
        return await withTimeout(this.exited, this.eofGraceMs, `${this.name} exit on stdin EOF`);
      } catch {
        // still running: terminate it
      }
    }
    this.proc.kill("SIGTERM");
    try {
      return await withTimeout(this.exited, 3000, `${this.name} exit on SIGTERM`);
    } catch {
      this.proc.kill("SIGKILL");
      return this.exited;
    }
  }
}
