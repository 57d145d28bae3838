// Starts the conformance fixture server (tests/fixtures/CONTRACT.md) and talks to its control
// routes. The command comes from env SB_FIXTURE_CMD (a JSON argv array) so the same suite can
// drive the Rust, C, Python and Node fixtures; it defaults to the Rust example binary.

import net from "node:net";

import { ServerProcess, serverCommand } from "./server.mjs";

/** The argv of the fixture process: SB_FIXTURE_CMD or the `conformance_fixture` example. */
export function fixtureCommand() {
  return serverCommand("SB_FIXTURE_CMD", "conformance_fixture");
}

/** Deadline of one control request, in ms. */
const REQUEST_MS = 10_000;

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
 * A running fixture (a ServerProcess: `port`, `exited`, `alive`, `tail()`, `stop()`) plus its
 * control routes. Every control request gives up after 10 s.
 */
export class Fixture extends ServerProcess {
  /** `ws://127.0.0.1:<port><mount>` as given to `new Socket(...)`. */
  endpoint(mount = "/socket") {
    return `ws://127.0.0.1:${this.port}${mount}`;
  }

  async request(method, route, body) {
    const res = await fetch(this.base + route, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_MS),
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
}

/**
 * Spawns the fixture with env PORT (0 = any free port) and waits for its
 * `LISTENING 127.0.0.1:<port>` line.
 */
export function startFixture({ port = 0, env = {}, startTimeout = 20000 } = {}) {
  return Fixture.start(fixtureCommand(), { name: "fixture", port, env, startTimeout });
}
