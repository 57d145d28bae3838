// The real phoenix client (1.8.16) over its own LongPoll transport (PROTOCOL.md 1.6), with
// every HTTP request it makes recorded: method, URL, headers, body, the parsed answer, and
// the order of requests and answers. Node 20 has no XMLHttpRequest, so phoenix.js uses
// `fetch`, which is real HTTP to the server under test.

import { LongPoll, Socket } from "phoenix";

import { withTimeout } from "./wait.mjs";

/**
 * A phoenix Socket on `ws://127.0.0.1:<port><mount>` with `transport: LongPoll` and short
 * test timers. `log.requests` holds `{method, url, headers, body, transport, seq, response,
 * answeredSeq}` per request (`seq`/`answeredSeq` order requests and answers on one clock);
 * `log.closes` the close events the socket saw. `log.hold = true` keeps the next GETs from
 * being sent until `release()` (a client that stops polling).
 */
export function makeLongPollSocket(port, { mount = "/socket", ...opts } = {}) {
  let seq = 0;
  const log = { requests: [], transports: 0, closes: [], errors: [], hold: false, held: [] };
  log.release = () => {
    log.hold = false;
    for (const send of log.held.splice(0)) send();
  };
  class RecordingLongPoll extends LongPoll {
    constructor(endPoint, protocols) {
      super(endPoint, protocols);
      this.index = log.transports;
      log.transports += 1;
    }

    ajax(method, headers, body, onCallerTimeout, callback) {
      const send = () => {
        const entry = { method, url: this.endpointURL(), headers, body, transport: this.index, seq: seq++ };
        log.requests.push(entry);
        super.ajax(method, headers, body, onCallerTimeout, (resp) => {
          entry.response = resp;
          entry.answeredSeq = seq++;
          callback(resp);
        });
      };
      if (method === "GET" && log.hold) log.held.push(send);
      else send();
    }
  }
  const socket = new Socket(`ws://127.0.0.1:${port}${mount}`, {
    transport: RecordingLongPoll,
    timeout: 1000,
    rejoinAfterMs: () => 100,
    reconnectAfterMs: () => 100,
    ...opts,
  });
  socket.onClose((e) => log.closes.push({ code: e.code, reason: e.reason }));
  socket.onError((e) => log.errors.push(e));
  return { socket, log };
}

/** Every text frame the polls of `log` answered, parsed, in order. */
export function polledFrames(log) {
  return log.requests
    .filter((r) => r.method === "GET" && r.response && r.response.status === 200)
    .flatMap((r) => r.response.messages.map((m) => JSON.parse(m)));
}

/** One HTTP request to the long-poll route, answered as `{status, headers, json, text}`. */
export async function lpRequest(port, method, query, { body, headers = {}, mount = "/socket" } = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${mount}/longpoll?${query}`, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** Opens a session with a plain GET and returns its token. */
export async function lpOpen(port, query = "vsn=2.0.0&", opts) {
  const r = await lpRequest(port, "GET", query, opts);
  if (r.json?.status !== 410 || typeof r.json.token !== "string") {
    throw new Error(`session open answered ${r.status} ${r.text}`);
  }
  return r.json.token;
}

/** POSTs ndjson `lines` to the session `token`; resolves with the answer's JSON. */
export async function lpPost(port, token, lines, opts = {}) {
  const r = await lpRequest(port, "POST", `vsn=2.0.0&token=${encodeURIComponent(token)}`, {
    ...opts,
    headers: { "content-type": "application/x-ndjson", ...(opts.headers ?? {}) },
    body: lines.join("\n"),
  });
  return r.json ?? { http: r.status };
}

/** Polls `token` until a frame matches `pred`; resolves with every frame seen (parsed). */
export async function lpPollUntil(port, token, pred, { timeout = 10_000, mount = "/socket" } = {}) {
  const seen = [];
  return withTimeout(
    (async () => {
      for (;;) {
        const r = await lpRequest(port, "GET", `vsn=2.0.0&token=${encodeURIComponent(token)}`, { mount });
        if (r.json?.status !== 200 && r.json?.status !== 204) throw new Error(`poll answered ${r.status} ${r.text}`);
        for (const m of r.json.messages) seen.push(JSON.parse(m));
        if (seen.some(pred)) return seen;
      }
    })(),
    timeout,
    "polled frame",
  );
}
