// Real broker servers for the clustering tests: each call starts a `redis-server` or
// `nats-server` of its own on a free 127.0.0.1 port (never a server that happens to run on the
// default ports), and stops it by PID. `restart()` brings it back on the same port (so a node
// can reconnect), `kill()` / `pause()` simulate a crashed or a hung broker.
//
// No server outlives the test process: every one is SIGKILLed on process exit, and (where
// util-linux `setpriv` is available, as on Debian) gets a parent-death SIGKILL too, so a
// killed test runner does not leave one behind. A child does not keep the event loop alive, so
// a test that forgets `stop()` still ends.
//
// Binaries: env SB_REDIS_SERVER / SB_NATS_SERVER / SB_REDIS_CLI, else PATH, else /usr/sbin,
// /usr/bin, /usr/local/bin (Debian puts nats-server in /usr/sbin). scripts/test.sh installs the
// Debian packages `redis-server` and `nats-server` when they are missing.

import { execFile, spawn, spawnSync } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { freePort } from "./fixture.mjs";
import { ServerProcess } from "./server.mjs";
import { sleep, withTimeout } from "./wait.mjs";

const HOST = "127.0.0.1";
/** Default deadline for a server to answer after it was spawned, in ms. */
const START_MS = 10_000;
/** Delay between two readiness probes, in ms. */
const POLL_MS = 25;

/** Every broker process still running, SIGKILLed when this process exits. */
const live = new Set();
process.on("exit", () => {
  for (const proc of live) {
    try {
      proc.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * Path of the program `name`: env `envVar` when set (it must be executable), else the first
 * executable `name` in PATH, /usr/sbin, /usr/bin, /usr/local/bin, else in `extraDirs`. Throws,
 * naming the Debian package `pkg`, when there is none.
 */
export function findBinary(name, envVar, pkg, extraDirs = []) {
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`${envVar}=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const dirs = [
    ...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean),
    "/usr/sbin",
    "/usr/bin",
    "/usr/local/bin",
    ...extraDirs,
  ];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    if (isExecutable(file)) return file;
  }
  throw new Error(
    `${name} not found (${envVar}, PATH, /usr/sbin, /usr/bin, /usr/local/bin): install the Debian ` +
      `package ${pkg} (\`apt-get install ${pkg}\`; scripts/test.sh installs it) or set ${envVar}`,
  );
}

let setprivArgv;
/** `setpriv --pdeathsig KILL --` when util-linux setpriv supports it here, else `[]`. */
function deathSignalPrefix() {
  if (setprivArgv === undefined) {
    setprivArgv = [];
    for (const file of ["/usr/bin/setpriv", "/bin/setpriv"]) {
      if (!isExecutable(file)) continue;
      const r = spawnSync(file, ["--pdeathsig", "KILL", "--", "true"], { stdio: "ignore", timeout: 5000 });
      if (r.status === 0) setprivArgv = [file, "--pdeathsig", "KILL", "--"];
      break;
    }
  }
  return setprivArgv;
}

/**
 * One TCP round trip to 127.0.0.1:`port`: writes `send` (if any), collects what the server
 * answers until `done(text)` is true, the server closes, or `ms` pass. Resolves with the text
 * (empty when nothing could connect); never rejects.
 */
function tcpExchange(port, send, done, ms = 1000) {
  return new Promise((resolve) => {
    let text = "";
    const sock = net.connect({ host: HOST, port });
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(text);
    };
    const timer = setTimeout(finish, ms);
    sock.setEncoding("utf8");
    sock.on("connect", () => {
      if (send) sock.write(send);
    });
    sock.on("data", (chunk) => {
      text += chunk;
      if (done(text)) finish();
    });
    sock.on("error", finish);
    sock.on("close", finish);
  });
}

/**
 * A broker server process. `port` stays the same across `restart()`; `pid` is the current
 * process (the previous one after it exited, so a test can check it is gone).
 */
class BrokerServer {
  #name;
  #argv;
  #ready;
  #startTimeout;
  #server;
  #paused = false;

  constructor({ name, argv, ready, port, scheme, startTimeout }) {
    this.#name = name;
    this.#argv = argv;
    this.#ready = ready;
    this.#startTimeout = startTimeout;
    /** The TCP port on 127.0.0.1 (kept by `restart()`). */
    this.port = port;
    /** `<scheme>://127.0.0.1:<port>`. */
    this.url = `${scheme}://${HOST}:${port}`;
    this.host = HOST;
  }

  /** PID of the current (or last) server process. */
  get pid() {
    return this.#server.proc.pid;
  }

  /** True until the current process has exited. */
  get alive() {
    return this.#server.alive;
  }

  /** Resolves with the exit code (or signal name) of the current process once it ends. */
  get exited() {
    return this.#server.exited;
  }

  /** The last `n` lines the server wrote (stdout and stderr), for failure messages. */
  tail(n = 40) {
    return this.#server.tail(n);
  }

  /**
   * Spawns the server and waits until `ready(this)` holds. On failure the process is killed
   * and the error carries its last output lines; `portInUse` is set on the error when the
   * server could not bind its port.
   */
  async spawn() {
    const [cmd, ...args] = [...deathSignalPrefix(), ...this.#argv(this.port)];
    const proc = spawn(cmd, args, { cwd: os.tmpdir(), stdio: ["pipe", "pipe", "pipe"] });
    live.add(proc);
    proc.once("exit", () => live.delete(proc));
    // The server must not keep the event loop (and so the test process) alive by itself.
    proc.unref();
    for (const s of [proc.stdin, proc.stdout, proc.stderr]) s.unref?.();
    let spawnError;
    proc.once("error", (e) => {
      spawnError = e;
    });
    this.#server = new ServerProcess(proc, { name: this.#name, eofGraceMs: 0 });
    this.#paused = false;
    const deadline = Date.now() + this.#startTimeout;
    for (;;) {
      let why;
      if (spawnError) why = `could not be spawned: ${spawnError.message}`;
      else if (!this.alive) why = `exited (${await this.exited}) before it was ready`;
      else if (await this.#ready(this)) return this;
      else if (Date.now() > deadline) why = `did not answer on ${this.url} within ${this.#startTimeout} ms`;
      if (why) {
        proc.kill("SIGKILL");
        const tail = this.tail(30);
        const shown = [cmd, ...args].map((a) => (a === "" ? '""' : a)).join(" ");
        const err = new Error(`${this.#name} (${shown}) ${why}\n${tail}`);
        err.portInUse = /address already in use/i.test(tail);
        throw err;
      }
      await Promise.race([sleep(POLL_MS), this.exited]);
    }
  }

  /**
   * Stops the server: SIGTERM, then SIGKILL if it is still running 3 s later. Resolves with
   * the exit code (or signal name); a no-op once it has exited.
   */
  async stop() {
    if (this.#paused) this.resume();
    return this.#server.stop();
  }

  /** Stops the server (if running) and starts it again on the same port; resolves when ready. */
  async restart() {
    await this.stop();
    return this.spawn();
  }

  /**
   * Sends `signal` (default SIGKILL: a crash) and resolves with the exit code (or signal name)
   * once the process has ended (deadline 10 s). For a signal that does not end the process use
   * `signal()`.
   */
  async kill(signal = "SIGKILL") {
    this.#server.proc.kill(signal);
    if (this.#paused && signal !== "SIGKILL") this.resume();
    return withTimeout(this.exited, 10_000, `${this.#name} exit on ${signal}`);
  }

  /** Sends `signal` to the server process; returns false when it could not be sent. */
  signal(signal) {
    return this.#server.proc.kill(signal);
  }

  /** SIGSTOP: the server keeps its connections open but answers nothing (a hung broker). */
  pause() {
    this.#server.proc.kill("SIGSTOP");
    this.#paused = true;
  }

  /** SIGCONT after `pause()`. */
  resume() {
    this.#server.proc.kill("SIGCONT");
    this.#paused = false;
  }
}

/**
 * Starts `server` on a free port (or `port`), trying another free port up to 3 times when the
 * chosen one was taken in between.
 */
async function startOnFreePort(make, port) {
  for (let attempt = 1; ; attempt++) {
    const server = make(port ?? (await freePort()));
    try {
      return await server.spawn();
    } catch (e) {
      if (port !== undefined || !e.portInUse || attempt >= 3) throw e;
    }
  }
}

/** Path of redis-cli: SB_REDIS_CLI, else next to redis-server, else PATH and the usual dirs. */
function redisCliPath() {
  if (process.env.SB_REDIS_CLI) return findBinary("redis-cli", "SB_REDIS_CLI", "redis-tools");
  let nextToServer = [];
  try {
    nextToServer = [path.dirname(findBinary("redis-server", "SB_REDIS_SERVER", "redis-server"))];
  } catch {
    // look in the usual places only
  }
  return findBinary("redis-cli", "SB_REDIS_CLI", "redis-tools", nextToServer);
}

/**
 * Runs `redis-cli -h 127.0.0.1 -p <port> -e <args...>` and resolves with its stdout as printed
 * (one line per reply element, e.g. `PUBSUB NUMSUB a` gives "a\n0\n"). Rejects (with stdout and
 * stderr) when redis-cli fails, including on an error reply (`-e`), or after 10 s.
 */
export function redisCli(port, ...args) {
  const cli = redisCliPath();
  return new Promise((resolve, reject) => {
    execFile(
      cli,
      ["-h", HOST, "-p", String(port), "-e", ...args.map(String)],
      { timeout: 10_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.killed ? "no answer within 10 s" : err.message;
          err.message = `redis-cli -p ${port} ${args.join(" ")} failed: ${why}\n${stdout}${stderr}`;
          reject(err);
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

/**
 * Starts `redis-server --port P --bind 127.0.0.1 --save "" --appendonly no <args...>` on a
 * free port P. Ready once it answers `INFO server` over TCP with its own `process_id` (so a
 * foreign server that grabbed the port is never mistaken for it).
 *
 * options: `args` (extra command-line arguments, e.g. `["--client-output-buffer-limit",
 * "pubsub 64kb 64kb 0"]`), `port` (a fixed port instead of a free one), `startTimeout` (ms,
 * default 10000).
 *
 * Resolves with `{ url, port, host, pid, alive, exited, tail(n), stop(), restart(),
 * kill(signal = "SIGKILL"), signal(sig), pause(), resume(), cli(...args) }`; `url` is
 * `redis://127.0.0.1:P`, `cli(...args)` is `redisCli(port, ...args)`.
 */
export async function startRedis({ args = [], port, startTimeout = START_MS } = {}) {
  const bin = findBinary("redis-server", "SB_REDIS_SERVER", "redis-server");
  const make = (p) => {
    const server = new BrokerServer({
      name: "redis-server",
      scheme: "redis",
      port: p,
      startTimeout,
      argv: (pp) => [
        bin,
        "--port",
        String(pp),
        "--bind",
        HOST,
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        ...args.map(String),
      ],
      ready: async (s) => {
        const text = await tcpExchange(s.port, "INFO server\r\n", (t) => /\r\nprocess_id:\d+\r\n/.test(t));
        return new RegExp(`\r\nprocess_id:${s.pid}\r\n`).test(text);
      },
    });
    server.cli = (...cliArgs) => redisCli(server.port, ...cliArgs);
    return server;
  };
  return startOnFreePort(make, port);
}

let natsNames = 0;

/**
 * Starts `nats-server -a 127.0.0.1 -p P --server_name <unique> <args...>` on a free port P.
 * Ready once a TCP connection gets the server's `INFO {...}` line naming that server (so a
 * foreign server that grabbed the port is never mistaken for it).
 *
 * options: `args` (extra command-line arguments), `port` (a fixed port instead of a free
 * one), `startTimeout` (ms, default 10000).
 *
 * Resolves with `{ url, port, host, pid, alive, exited, tail(n), stop(), restart(),
 * kill(signal = "SIGKILL"), signal(sig), pause(), resume(), serverName }`; `url` is
 * `nats://127.0.0.1:P`.
 */
export async function startNats({ args = [], port, startTimeout = START_MS } = {}) {
  const bin = findBinary("nats-server", "SB_NATS_SERVER", "nats-server");
  const make = (p) => {
    const serverName = `sb-test-${process.pid}-${++natsNames}`;
    const server = new BrokerServer({
      name: "nats-server",
      scheme: "nats",
      port: p,
      startTimeout,
      argv: (pp) => [bin, "-a", HOST, "-p", String(pp), "--server_name", serverName, ...args.map(String)],
      ready: async (s) => {
        const line = (await tcpExchange(s.port, null, (t) => t.includes("\r\n"))).split("\r\n")[0];
        if (!line.startsWith("INFO ")) return false;
        try {
          return JSON.parse(line.slice(5)).server_name === serverName;
        } catch {
          return false;
        }
      },
    });
    server.serverName = serverName;
    return server;
  };
  return startOnFreePort(make, port);
}
