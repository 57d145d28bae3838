// A new user's mistakes are refused where they are made, with a documented `code` and a
// message in our words: handler objects at registration, payloads that JSON cannot carry,
// topics that are not strings, calls after close(), and handler failures logged by name.

import assert from "node:assert/strict";
import { test } from "node:test";

import { socketUrl, upgrade } from "../../../tests/lib/raw.mjs";
import { connectedSocket, joinOk, listening, nextMessage, outcome, sb, thrown, waitUntil } from "./helpers.mjs";

const { Endpoint, RawJson, accept, ok, refuse, reply, stop } = sb;

/** The SB_E_INVALID_ARGUMENT message `fn` throws. */
function invalidMessage(fn) {
  const err = thrown(fn);
  assert.equal(err.code, "SB_E_INVALID_ARGUMENT", `${err.code}: ${err.message}`);
  return err.message;
}

const EXPECTED = "expected one of join, handleIn, handleInfo, handleOut, terminate, intercepts, raw";

test("a handler object with a misspelt or unknown callback is refused at registration", () => {
  const channel = (handler, options) => () => new Endpoint().channel("room:*", handler, options);
  assert.equal(
    invalidMessage(channel({ handle_in() {} })),
    `unknown handler "handle_in" for channel room:*: ${EXPECTED} (did you mean "handleIn"?)`,
  );
  assert.equal(
    invalidMessage(channel({ join() {}, handleIN() {} })),
    `unknown handler "handleIN" for channel room:*: ${EXPECTED} (did you mean "handleIn"?)`,
  );
  assert.equal(
    invalidMessage(channel({ handle_info() {} })),
    `unknown handler "handle_info" for channel room:*: ${EXPECTED} (did you mean "handleInfo"?)`,
  );
  assert.equal(invalidMessage(channel({ intercept: ["x"] })), `unknown handler "intercept" for channel room:*: ${EXPECTED} (did you mean "intercepts"?)`);
  // Nothing near: no guess, the list says what is expected.
  assert.equal(invalidMessage(channel({ whatever: 1 })), `unknown handler "whatever" for channel room:*: ${EXPECTED}`);

  // Values that are not functions.
  assert.equal(invalidMessage(channel({ handleIn: "reply" })), 'handler "handleIn" for channel room:* must be a function (got string)');
  assert.equal(invalidMessage(channel({ join: null })), 'handler "join" for channel room:* must be a function (got null)');
  assert.equal(invalidMessage(channel({ intercepts: "new_msg" })), "intercepts of the handler for channel room:* must be an array of event names (got string)");
  assert.equal(invalidMessage(channel({ raw: "yes" })), "raw of the handler for channel room:* must be a boolean (got string)");
  assert.equal(invalidMessage(channel(null)), "the handler for channel room:* must be an object with join, handleIn, handleInfo, handleOut, terminate (got null)");
  assert.match(invalidMessage(channel(() => {})), /must be an object with join, .* \(got a function; for a single callback write \{ handleIn: fn \}\)/);

  // The third argument: only intercepts and raw.
  assert.equal(
    invalidMessage(channel({}, { intercept: ["new_msg"] })),
    'unknown option "intercept" of channel room:*: expected one of intercepts, raw (did you mean "intercepts"?)',
  );
  assert.equal(invalidMessage(channel({}, { intercepts: "new_msg" })), "intercepts of channel room:* must be an array of event names (got string)");
  assert.equal(invalidMessage(channel({ raw: true }, { raw: false })), "raw for channel room:* is true on the handler but false in the options");

  // Well-formed handlers pass; `undefined` counts as absent.
  new Endpoint()
    .channel("a:*", {})
    .channel("b:*", { join() {}, handleIn: async () => {}, handleInfo: undefined, handleOut() {}, terminate() {}, intercepts: ["x"], raw: true })
    .channel("c:*", { handleIn() {} }, { intercepts: ["x"], raw: false });
});

test("handler classes: an instance's prototype methods count, its own helpers are allowed, a class is refused", () => {
  class Room {
    constructor() {
      this.db = new Map(); // state of its own: allowed
    }
    join() {
      return ok();
    }
    handleIn() {}
    format() {} // a helper: allowed on a class
  }
  class Lobby extends Room {
    handleInfo() {}
  }
  new Endpoint().channel("room:*", new Room()).channel("lobby:*", new Lobby());
  class Underscored extends Room {
    _join() {} // a leading "_" marks a helper, not a misspelling
  }
  new Endpoint().channel("room:*", new Underscored());

  class Misspelt extends Room {
    handle_out() {}
  }
  assert.equal(
    invalidMessage(() => new Endpoint().channel("room:*", new Misspelt())),
    `unknown handler "handle_out" for channel room:*: ${EXPECTED} (did you mean "handleOut"?)`,
  );
  class NotAFunction {
    get handleIn() {
      return 42;
    }
  }
  assert.equal(invalidMessage(() => new Endpoint().channel("room:*", new NotAFunction())), 'handler "handleIn" for channel room:* must be a function (got number)');
  class Capitalized extends Room {
    HandleInfo() {}
  }
  assert.equal(
    invalidMessage(() => new Endpoint().channel("room:*", new Capitalized())),
    `unknown handler "HandleInfo" for channel room:*: ${EXPECTED} (did you mean "handleInfo"?)`,
  );
  // The class itself (the Python binding takes the class; here it is an instance).
  assert.equal(
    invalidMessage(() => new Endpoint().channel("room:*", Room)),
    "the handler for channel room:* is class Room, whose methods are on its prototype: pass an instance, new Room()",
  );
});

test("a module namespace is checked like an instance: other exports allowed, misspelt callbacks refused", async () => {
  const good = await import("data:text/javascript,export function handleIn() {} export const helper = 1;");
  new Endpoint().channel("room:*", good);
  const bad = await import("data:text/javascript,export function handle_in() {}");
  assert.equal(
    invalidMessage(() => new Endpoint().channel("room:*", bad)),
    `unknown handler "handle_in" for channel room:*: ${EXPECTED} (did you mean "handleIn"?)`,
  );
});

test("connect and httpRoute handlers must be functions; the words say what was given", () => {
  assert.equal(invalidMessage(() => new Endpoint().connect({ join() {} })), "connect(handler): handler must be a function (got object)");
  assert.equal(invalidMessage(() => new Endpoint({ connect: "yes" })), "connect(handler): handler must be a function (got string)");
  assert.equal(invalidMessage(() => new Endpoint().httpRoute("/api", { get() {} })), "httpRoute(prefix, handler): handler must be a function (got object)");
  assert.equal(invalidMessage(() => new Endpoint().httpRoute("api", () => ({}))), 'HTTP route prefix "api" must be an absolute literal path such as "/api"');
  assert.equal(invalidMessage(() => new Endpoint().channel(42, {})), "channel(pattern, handler): pattern must be a string (got number)");
  assert.equal(invalidMessage(() => new Endpoint([])), "new Endpoint(options): options must be an object (got array)");
});

test("intercepts on the handler object reach handleOut", async (t) => {
  const { port } = await listening(t, {}, (ep) => {
    ep.channel("room:*", {
      intercepts: ["new_msg"],
      handleIn(event, payload, socket) {
        socket.broadcast(event, payload);
        return reply("ok", {});
      },
      handleOut(event, payload, socket) {
        socket.push(event, { ...payload, seen: true });
      },
    });
  });
  const { socket } = await connectedSocket(t, port);
  const ch = socket.channel("room:i");
  await joinOk(ch);
  const got = nextMessage(ch, "new_msg");
  ch.push("new_msg", { body: "hi" });
  assert.deepEqual(await got, { body: "hi", seen: true });
});

test("a payload JSON cannot carry is SB_E_INVALID_ARGUMENT with its path, not a TypeError", async (t) => {
  const { endpoint } = await listening(t);
  const cyclic = { a: { list: [] } };
  cyclic.a.list.push(cyclic.a);
  const cases = [
    [{ count: 10n }, "payload must be JSON-serializable: BigInt at payload.count"],
    [{ user: { onClick() {} } }, "payload must be JSON-serializable: function at payload.user.onClick"],
    [{ tags: ["a", Symbol("b")] }, "payload must be JSON-serializable: symbol at payload.tags[1]"],
    [{ "a b": [1, 2n] }, 'payload must be JSON-serializable: BigInt at payload["a b"][1]'],
    [cyclic, "payload must be JSON-serializable: cycle at payload.a.list[0] (it refers back to payload.a)"],
    [5n, "payload must be JSON-serializable: BigInt at payload"],
  ];
  for (const [payload, message] of cases) {
    assert.equal(invalidMessage(() => endpoint.broadcast("room:x", "e", payload)), message);
    assert.equal(invalidMessage(() => endpoint.localBroadcast("room:x", "e", payload)), message);
  }
  const throwing = {
    get secret() {
      throw new Error("not readable");
    },
  };
  assert.equal(invalidMessage(() => endpoint.broadcast("room:x", "e", throwing)), "payload must be JSON-serializable: not readable");
  // What JSON.stringify leaves out on its own stays allowed: undefined members, toJSON values.
  endpoint.broadcast("room:x", "e", { gone: undefined, at: new Date(0), raw: new RawJson("[1]") });
});

test("payloads, assigns, presence metas and info messages from a handler are checked the same way", async (t) => {
  const seen = {};
  const failures = [];
  const { port } = await listening(t, {}, (ep) => {
    ep.on("error", (err, ctx) => failures.push({ code: err.code, message: err.message, ...ctx }));
    ep.channel("room:*", {
      handleIn(event, _payload, socket) {
        const attempt = (fn) => {
          try {
            fn();
            return "no throw";
          } catch (err) {
            return `${err.code}: ${err.message}`;
          }
        };
        if (event === "try") {
          seen.push = attempt(() => socket.push("p", { n: 1n }));
          seen.reply = attempt(() => socket.reply("ok", { f: () => 1 }));
          seen.track = attempt(() => socket.track("ann", { since: 2n }));
          seen.update = attempt(() => socket.update("ann", { s: Symbol("x") }));
          seen.sendInfo = attempt(() => socket.sendInfo({ big: 3n }));
          seen.pushEvent = attempt(() => socket.push(7, {}));
          seen.subscribe = attempt(() => socket.subscribe(null));
          seen.trackKey = attempt(() => socket.track({ id: 1 }, {}));
          return reply("ok", {});
        }
        if (event === "assigns") {
          socket.assign("big", 1n);
          return reply("ok", {});
        }
        return reply("ok", { n: 4n }); // the reply itself
      },
    });
  });
  const { socket } = await connectedSocket(t, port);
  const ch = socket.channel("room:m");
  await joinOk(ch);
  assert.deepEqual(await outcome(ch.push("try", {})), { status: "ok", response: {} });
  assert.deepEqual(seen, {
    push: "SB_E_INVALID_ARGUMENT: payload must be JSON-serializable: BigInt at payload.n",
    reply: "SB_E_INVALID_ARGUMENT: payload must be JSON-serializable: function at payload.f",
    track: "SB_E_INVALID_ARGUMENT: meta must be JSON-serializable: BigInt at meta.since",
    update: "SB_E_INVALID_ARGUMENT: meta must be JSON-serializable: symbol at meta.s",
    sendInfo: "SB_E_INVALID_ARGUMENT: message must be JSON-serializable: BigInt at message.big",
    pushEvent: "SB_E_INVALID_ARGUMENT: event must be a string (got number)",
    subscribe: "SB_E_INVALID_ARGUMENT: topic must be a string (got null)",
    trackKey: "SB_E_INVALID_ARGUMENT: presence key must be a string (got object)",
  });

  // Assigns and results are serialized when the handler returns: the request fails (the
  // channel crashes, as for a throw) and the failure is reported in our words.
  for (const [event, message] of [
    ["assigns", "assigns must be JSON-serializable: BigInt at assigns.big"],
    ["result", "payload must be JSON-serializable: BigInt at payload.n"],
  ]) {
    const errored = new Promise((resolve) => ch.onError(resolve));
    ch.push(event, {});
    await errored;
    await waitUntil(() => failures.some((f) => f.event === event));
    assert.deepEqual(failures.find((f) => f.event === event), { code: "SB_E_INVALID_ARGUMENT", message, kind: "handleIn", topic: "room:m", event });
    await waitUntil(() => ch.state === "joined", { timeout: 3000 });
  }
});

test("topics, events and ids that are not strings are refused before the addon sees them", async (t) => {
  const { endpoint } = await listening(t);
  assert.equal(invalidMessage(() => endpoint.broadcast(42, "e", {})), "topic must be a string (got number)");
  assert.equal(invalidMessage(() => endpoint.broadcast("room:x", undefined, {})), "event must be a string (got undefined)");
  assert.equal(invalidMessage(() => endpoint.localBroadcast(["room:x"], "e", {})), "topic must be a string (got array)");
  assert.equal(invalidMessage(() => endpoint.presenceList(1)), "topic must be a string (got number)");
  assert.equal(invalidMessage(() => endpoint.channelCount(1)), "topic must be a string (got number)");
  assert.equal(invalidMessage(() => endpoint.subscribe(Symbol("t"))), "topic must be a string (got symbol)");
  assert.equal(invalidMessage(() => endpoint.subscribe("t", { raw: 1 })), "subscribe(topic, options): raw must be a boolean (got number)");
  assert.equal(invalidMessage(() => endpoint.subscribe("t", { Raw: true })), 'unknown key "Raw" of subscribe()\'s options: expected raw (did you mean "raw"?)');
  assert.equal(invalidMessage(() => endpoint.disconnect(7)), "id must be a string (got number)");
});

test("after close() every endpoint call that acts throws SB_E_INVALID_STATE naming the call; a kept socket's channel has ended", async (t) => {
  let kept;
  const { endpoint, port } = await listening(t, {}, (ep) => {
    ep.channel("room:*", {
      join(_topic, _payload, socket) {
        kept = socket;
        return ok();
      },
    });
  });
  const { socket } = await connectedSocket(t, port, { reconnectAfterMs: () => 60_000 });
  await joinOk(socket.channel("room:c"));
  await endpoint.close();

  const closed = (fn) => {
    const err = thrown(fn);
    assert.equal(err.code, "SB_E_INVALID_STATE", `${err.code}: ${err.message}`);
    return err.message;
  };
  assert.equal(closed(() => endpoint.broadcast("room:c", "e", {})), "broadcast(): the endpoint is closed");
  assert.equal(closed(() => endpoint.localBroadcast("room:c", "e", {})), "localBroadcast(): the endpoint is closed");
  assert.equal(closed(() => endpoint.disconnect("user:1")), "disconnect(): the endpoint is closed");
  assert.equal(closed(() => endpoint.subscribe("room:c")), "subscribe(): the endpoint is closed");
  assert.equal(closed(() => endpoint.presenceList("room:c")), "presenceList(): the endpoint is closed");
  assert.equal(closed(() => endpoint.channelCount("room:c")), "channelCount(): the endpoint is closed");
  assert.equal(closed(() => endpoint.channel("other:*", {})), "channel(): the endpoint is closed");
  assert.equal(closed(() => endpoint.connect(() => true)), "connect(): the endpoint is closed");
  assert.equal(closed(() => endpoint.httpRoute("/api", () => ({}))), "httpRoute(): the endpoint is closed");
  await assert.rejects(endpoint.listen(), { code: "SB_E_INVALID_STATE", message: "listen(): the endpoint is closed" });
  // A socket kept from a handler: close ended its channel, as in C and Python.
  for (const act of [() => kept.push("late", {}), () => kept.track("ann", {})]) {
    assert.equal(thrown(act).code, "SB_E_NOT_FOUND");
  }

  // Closed without ever listening: the same.
  const never = new Endpoint();
  await never.close();
  assert.equal(closed(() => never.broadcast("t", "e", {})), "broadcast(): the endpoint is closed");
  await assert.rejects(never.listen(), { code: "SB_E_INVALID_STATE", message: "listen(): the endpoint is closed" });
});

test("results built wrong are refused where they are built", () => {
  assert.equal(invalidMessage(() => refuse(200)), "a connect refusal status must be from 400 to 599 (got 200)");
  assert.equal(invalidMessage(() => refuse("403")), "refuse(status): status must be a number (got string)");
  assert.equal(invalidMessage(() => refuse(403.5)), "a connect refusal status must be an integer (got 403.5)");
  assert.equal(invalidMessage(() => accept({ asigns: {} })), 'unknown key "asigns" of accept()\'s options: expected assigns, id (did you mean "assigns"?)');
  assert.equal(invalidMessage(() => stop("normal", { replay: {} })), 'unknown key "replay" of stop()\'s options: expected reply, detail (did you mean "reply"?)');
  assert.equal(invalidMessage(() => stop(500)), "stop(reason, options): reason must be a string (got number)");
  assert.equal(invalidMessage(() => reply(200, {})), "reply(status, payload): status must be a non-empty string (got number)");
});

test("connect and HTTP results that cannot be sent fail their request and are reported, never an unhandled rejection", async (t) => {
  const failures = [];
  const { port } = await listening(t, {}, (ep) => {
    ep.on("error", (err, ctx) => failures.push({ code: err.code, message: err.message, ...ctx }));
    ep.connect(({ params }) => {
      if (params.mode === "bigint") return { assigns: { n: 1n } };
      if (params.mode === "number") return 42;
      if (params.mode === "typo") return { asigns: { user: "ann" } };
      if (params.mode === "array") return accept({ assigns: [1] });
      return accept();
    });
    ep.httpRoute("/api", ({ path }) => (path === "/api/typo" ? { statusCode: 404 } : { body: { big: 1n } }));
  });
  for (const mode of ["bigint", "number", "typo", "array"]) {
    assert.equal((await upgrade(socketUrl(port, { params: { mode } }))).status, 500, mode);
  }
  assert.equal((await upgrade(socketUrl(port))).status, 101);
  assert.equal((await fetch(`http://127.0.0.1:${port}/api/typo`)).status, 500);
  assert.equal((await fetch(`http://127.0.0.1:${port}/api/big`)).status, 500);
  await waitUntil(() => failures.length === 6);
  assert.deepEqual(failures, [
    { code: "SB_E_INVALID_ARGUMENT", message: "assigns must be JSON-serializable: BigInt at assigns.n", kind: "connect", mount: "/socket" },
    { code: "SB_E_INVALID_ARGUMENT", message: "connect returned 42: use accept({assigns, id}), refuse(status), {assigns, id}, true/false or undefined", kind: "connect", mount: "/socket" },
    { code: "SB_E_INVALID_ARGUMENT", message: 'unknown key "asigns" of the object connect returned: expected assigns, id (did you mean "assigns"?)', kind: "connect", mount: "/socket" },
    // The core's check of the assigns, as for C and Python.
    { code: "SB_E_INVALID_ARGUMENT", message: "assigns must be a JSON object (got an array)", kind: "connect", mount: "/socket" },
    { code: "SB_E_INVALID_ARGUMENT", message: 'unknown key "statusCode" of the HTTP response: expected status, contentType, body', kind: "httpRoute", method: "GET", path: "/api/typo" },
    { code: "SB_E_INVALID_ARGUMENT", message: "body must be JSON-serializable: BigInt at body.big", kind: "httpRoute", method: "GET", path: "/api/big" },
  ]);
});

test("handler failures are logged with the callback's name, the topic and the event", async (t) => {
  const lines = [];
  const consoleError = console.error;
  console.error = (...args) => lines.push(args.map((a) => (a instanceof Error ? `Error: ${a.message}` : String(a))).join(" "));
  t.after(() => {
    console.error = consoleError;
  });
  const { port } = await listening(t, {}, (ep) => {
    // No 'error' listener: failures go to the console.
    ep.channel("room:*", {
      handleIn() {
        throw new Error("boom");
      },
      terminate() {
        throw new Error("bye");
      },
    });
    ep.httpRoute("/api", () => {
      throw new Error("no api");
    });
  });
  const { socket } = await connectedSocket(t, port, { reconnectAfterMs: () => 60_000, rejoinAfterMs: () => 60_000 });
  const ch = socket.channel("room:lobby");
  await joinOk(ch);
  ch.push("new_msg", {});
  await waitUntil(() => lines.some((l) => l.startsWith("switchboard: terminate")));
  assert.equal((await fetch(`http://127.0.0.1:${port}/api/x`, { method: "POST" })).status, 500);
  await waitUntil(() => lines.length >= 3);
  assert.deepEqual(lines.slice(0, 3), [
    "switchboard: handleIn failed on room:lobby event new_msg: Error: boom",
    "switchboard: terminate failed on room:lobby: Error: bye",
    "switchboard: httpRoute failed on POST /api/x: Error: no api",
  ]);
});
