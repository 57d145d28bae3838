// The Node driver of the cross-language behaviour table (tests/hosts/cases.json): runs every
// case it can express against the real Node front-end (bindings/node) and prints one JSON
// line per case on stdout: {"id", "code" (SB_E_* or SB_OK), "message", ...observations}.
//
// Protocol with tests/hosts/behaviour.test.mjs (the same for driver.py and driver.c):
//   1. the `local` cases, one line each;
//   2. {"ready": port}: the scenario endpoint listens on 127.0.0.1 (channels room:lobby,
//      room:*, * in that order; HTTP routes /api, /api/v2, /bad; a connect callback); the
//      runner then drives clients and the driver prints a line per `client` / `channel` case;
//   3. stdin {"cmd": "sync", "n": k} → {"sync": k} once every earlier line is out;
//      stdin {"cmd": "close"} → closes the endpoint, prints the `closed` cases and {"end": true}.
// The driver exits when stdin ends.
//
// Usage: node tests/hosts/driver.mjs [cases.json]

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const require = createRequire(import.meta.url);
const { Endpoint, Socket, RawJson, ok, noreply, reply, stop, accept, refuse } = require("../../bindings/node");

const LANG = "node";
const casesPath = process.argv[2] ?? new URL("./cases.json", import.meta.url);
const { cases } = JSON.parse(readFileSync(casesPath, "utf8"));
const mine = cases.filter((c) => !(c.skip && c.skip[LANG]));
const byId = new Map(mine.map((c) => [c.id, c]));

function out(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** The result line of a call that threw (`err`) or returned (`err` undefined). */
function result(id, err, extra = {}) {
  if (err === undefined) return { id, code: "SB_OK", ...extra };
  return { id, code: typeof err.code === "string" ? err.code : null, message: err.message, ...extra };
}

/** Runs `fn` and returns its result line. */
function attemptSync(id, fn) {
  try {
    fn();
    return result(id);
  } catch (err) {
    return result(id, err);
  }
}

/** Runs `fn` (sync or async) and returns its result line. */
async function attempt(id, fn, extra) {
  try {
    await fn();
    return result(id, undefined, extra);
  } catch (err) {
    return result(id, err, extra);
  }
}

/** snake_case → camelCase, as Node spells option names. */
const camel = (name) => name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

/** A case's payload: `binary` text as bytes (a Buffer), `raw` JSON text (RawJson), else the JSON value. */
function payloadOf(d) {
  if (d.binary !== undefined) return Buffer.from(d.binary, "utf8");
  return d.raw !== undefined ? new RawJson(d.raw) : d.payload;
}

// ---- local cases -----------------------------------------------------------------------

async function runLocal(c, started) {
  const d = c.do;
  switch (d.op) {
    case "option":
      return attempt(c.id, () => new Endpoint({ [camel(d.name)]: d.value }));
    case "mount":
      return attempt(c.id, () => new Endpoint({ mounts: [d.path] }));
    case "static_file":
      return attempt(c.id, () => new Endpoint({ staticFiles: [{ route: d.route, path: d.path, contentType: d.content_type }] }));
    case "channels":
    case "http_routes": {
      const ep = new Endpoint();
      let when = "register";
      try {
        for (const p of d.patterns ?? []) ep.channel(p, {});
        for (const p of d.prefixes ?? []) ep.httpRoute(p, () => ({}));
        when = "start";
        await ep.listen();
        return result(c.id, undefined, { when: "start" });
      } catch (err) {
        return result(c.id, err, { when });
      } finally {
        await ep.close();
      }
    }
    case "broadcast":
      return attempt(c.id, () => started.broadcast(d.topic, d.event, payloadOf(d)));
    case "broadcast_before_start":
      return attempt(c.id, () => new Endpoint().broadcast(d.topic, d.event, payloadOf(d)));
    case "disconnect":
      return attempt(c.id, () => started.disconnect(d.socket_id));
    case "subscribe":
      return attempt(c.id, () => started.subscribe(d.topic).close());
    case "channel_id": {
      // Socket is exported; its constructor takes what a request carries.
      const socket = new Socket(started, { channel: BigInt(d.channel_id), topic: "room:x" });
      if (d.action === "push") return attempt(c.id, () => socket.push(d.event, payloadOf(d)));
      return attempt(c.id, () => socket.track(d.key, d.meta));
    }
    case "ticket":
      // No ticket in the public API (handlers answer by returning): the addon's own call.
      return attempt(c.id, () => started._native("ticket").noreply(BigInt(d.ticket)));
    case "history":
      return historyCase(c.id, d);
    default:
      throw new Error(`${c.id}: unknown local op ${d.op}`);
  }
}

/** The history case's summary of a page, the same text in every driver. */
function historySummary(page) {
  const offset = (position) => position.slice(position.lastIndexOf(":") + 1);
  const ns = page.messages.map((m) => m.payload.n).join(",");
  const at = page.messages.map((m) => offset(m.position)).join(",");
  const text = `n=${ns} at=${at} latest=${offset(page.position)} recovered=${page.recovered}`;
  return page.reason === undefined ? text : `${text} reason=${page.reason}`;
}

/**
 * A fresh endpoint keeping `size` messages of `hist:*`, `broadcasts` broadcasts on `hist:a`,
 * then a read of `topic` after `since` (an offset in the topic's epoch, or text as given)
 * with `limit`.
 */
async function historyCase(id, d) {
  let ep;
  try {
    ep = new Endpoint({ history: [{ topic: "hist:*", size: d.size, ttlMs: 60_000 }] });
  } catch (err) {
    return result(id, err);
  }
  await ep.listen();
  try {
    for (let n = 1; n <= d.broadcasts; n++) ep.broadcast("hist:a", "e", { n });
    let since = d.since ?? null;
    if (typeof since === "number") {
      const latest = ep.history("hist:a", null, 1).position;
      since = `${latest.slice(0, latest.lastIndexOf(":"))}:${since}`;
    }
    let page;
    try {
      page = ep.history(d.topic, since, d.limit);
    } catch (err) {
      return result(id, err);
    }
    return result(id, undefined, { page: historySummary(page) });
  } finally {
    await ep.close();
  }
}

// ---- the scenario endpoint ---------------------------------------------------------------

/** The case whose failure the endpoint's 'error' event reports next (set just before). */
let expecting = null;
/** Channel id → case id, for channels joined by a case. */
const channelCase = new Map();
/** Case ids whose terminate line was printed (a rejoined topic terminates twice). */
const terminated = new Set();
/** Sockets kept past their channel (closed_channel_push). */
let keptSocket;

const endpoint = new Endpoint({ requestTimeoutMs: 1000 });

endpoint.on("error", (err) => {
  if (expecting === null) return; // a failure a case asked for (crash), or none of ours
  const id = expecting;
  expecting = null;
  out(result(id, err));
});

endpoint.connect(({ params }) => {
  const c = byId.get(params.case);
  if (c === undefined) return accept(params.id === undefined ? {} : { id: params.id });
  const d = c.do;
  expecting = c.id;
  if (d.answer === "refuse" || d.answer === "refuse_default") {
    const answer = d.answer === "refuse" ? refuse(d.status) : refuse();
    expecting = null;
    out(result(c.id));
    return answer;
  }
  return accept({ assigns: d.assigns });
});

/** A handler that only says which registration a join reached. */
function probe(name) {
  return {
    join(topic, payload) {
      if (payload && byId.has(payload.case)) out(result(payload.case, undefined, { handler: name }));
      return ok();
    },
  };
}

endpoint.channel("room:lobby", probe("room:lobby"));
endpoint.channel("room:*", probe("room:*"));
endpoint.channel("*", {
  join(topic, payload, socket) {
    const c = byId.get(payload && payload.case);
    if (payload && payload.channel_actions) channelCase.set(socket.channelId, "channel_actions");
    if (c === undefined) return ok();
    if (c.do.op === "probe_handler") {
      out(result(c.id, undefined, { handler: "*" }));
      return ok();
    }
    if (c.do.op === "join_wrong_answer") {
      expecting = c.id;
      return noreply();
    }
    if (c.do.op === "join_reply") {
      expecting = c.id;
      return ok(c.do.payload);
    }
    if (c.do.op === "join_hang") return new Promise(() => {});
    if (c.do.op === "join_late_reply") {
      out(attemptSync(c.id, () => socket.reply("ok", {})));
      return ok();
    }
    channelCase.set(socket.channelId, c.id);
    if (c.do.keep_socket) keptSocket = socket;
    return ok();
  },

  handleIn(event, payload, socket) {
    const id = channelCase.get(socket.channelId);
    if (id === "channel_actions") return channelActions(socket);
    const d = byId.get(id).do;
    if (d.op === "reply_status") {
      expecting = id;
      return reply(d.status, {});
    }
    if (d.crash) throw new Error("crash requested by the case");
    if (d.op === "push_binary") {
      out(attemptSync(id, () => socket.push(d.event, payloadOf(d))));
      return reply("ok", {});
    }
    if (d.disconnect) {
      endpoint.disconnect(socket.id);
      return noreply();
    }
    if (d.stop) {
      const { kind, detail } = d.stop;
      if (kind === "abnormal") return stop(detail);
      return stop(kind, detail ? { detail } : {});
    }
    return reply("ok", {});
  },

  terminate(reason, socket) {
    const id = channelCase.get(socket.channelId);
    channelCase.delete(socket.channelId);
    const c = byId.get(id);
    if (c === undefined || c.do.op !== "lifecycle" || terminated.has(id)) return;
    terminated.add(id);
    const line = result(id, undefined, { kind: reason.reason, detail: reason.detail ?? null });
    if (c.do.push_in_terminate) {
      try {
        socket.push("bye", {});
        line.push_in_terminate = "SB_OK";
      } catch (err) {
        line.push_in_terminate = err.code ?? null;
        line.push_in_terminate_message = err.message;
      }
    }
    out(line);
  },
});

/** Runs every `channel` case on this joined channel, one line each. */
function channelActions(socket) {
  for (const c of mine.filter((x) => x.where === "channel")) {
    const d = c.do;
    let fn;
    switch (d.op) {
      case "push":
        fn = () => socket.push(d.event, payloadOf(d));
        break;
      case "broadcast":
        fn = () => socket.broadcast(d.event, payloadOf(d));
        break;
      case "broadcast_from":
        fn = () => socket.broadcastFrom(d.event, payloadOf(d));
        break;
      case "track_twice":
        fn = () => {
          socket.track(d.key, d.meta);
          socket.track(d.key, d.meta);
        };
        break;
      case "track":
        fn = () => socket.track(d.key, d.meta);
        break;
      case "update":
        fn = () => socket.update(d.key, d.meta);
        break;
      case "late_reply":
        fn = () => socket.reply(d.status, payloadOf(d));
        break;
      case "subscribe":
        fn = () => socket.subscribe(d.topic);
        break;
      default:
        throw new Error(`${c.id}: unknown channel op ${d.op}`);
    }
    try {
      fn();
      out(result(c.id));
    } catch (err) {
      out(result(c.id, err));
    }
  }
  return reply("ok", {});
}

endpoint.httpRoute("/api", () => ({ body: "/api" }));
endpoint.httpRoute("/api/v2", () => ({ body: "/api/v2" }));
endpoint.httpRoute("/bad", ({ query }) => {
  const c = byId.get(new URLSearchParams(query).get("case") ?? "");
  if (c === undefined) return { status: 404 };
  expecting = c.id;
  return { status: c.do.status, contentType: c.do.content_type };
});

// ---- main --------------------------------------------------------------------------------

const { port } = await endpoint.listen(0);
for (const c of mine.filter((x) => x.where === "local")) out(await runLocal(c, endpoint));
out({ ready: port });

const input = createInterface({ input: process.stdin });
for await (const line of input) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line);
  if (cmd.cmd === "sync") {
    expecting = null; // a failure that did not come (the call succeeded) is not the next case's
    out({ sync: cmd.n });
  } else if (cmd.cmd === "close") {
    await endpoint.close(); // idempotent: the close after the loop then does nothing
    for (const c of mine.filter((x) => x.where === "closed")) {
      const d = c.do;
      if (d.op === "broadcast") out(await attempt(c.id, () => endpoint.broadcast(d.topic, d.event, payloadOf(d))));
      else if (d.op === "start") out(await attempt(c.id, () => endpoint.listen(0)));
      else if (d.op === "push_kept") {
        out(keptSocket === undefined
          ? { id: c.id, code: null, message: "no socket was kept (terminate_drain did not join)" }
          : await attempt(c.id, () => keptSocket.push(d.event, payloadOf(d))));
      } else throw new Error(`${c.id}: unknown closed op ${d.op}`);
    }
    out({ end: true });
  }
}
// stdin ended (the runner is done, or gone): never outlive it.
await endpoint.close();
