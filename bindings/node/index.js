// Switchboard for Node.js: the public API (hand-written; `native.js` is generated and private).
//
// Rust runs the endpoint, the WebSockets, the fan-out and presence. A pump thread in the
// addon hands host requests (connect, join, handle_in, handle_info, handle_out, terminate)
// to JavaScript, one call per batch; each request is dispatched to the async handler
// registered for it, awaited, and answered synchronously by ticket. Ordering per channel,
// the request timeout and "answer exactly once" are enforced by the core (docs/BINDINGS.md
// "One host layer"), so the facade only translates. Types and docs: index.d.ts.
//
// The facade, one job per file (none requires another in a cycle):
//   lib/errors.js        coded errors and their wording
//   lib/payload.js       JS values ⇄ the JSON text / bytes the addon takes (RawJson)
//   lib/results.js       what handlers return (ok, reply, stop, accept...) → native answers
//   lib/socket.js        Socket, what a channel handler sees of its channel
//   lib/subscription.js  Subscription, host-side broadcasts on one topic
//   lib/routes.js        registration of connect / channels / HTTP routes, and the
//                        topic and prefix matching (to be deleted; see the file)
//   lib/dispatch.js      native request batches → handler calls → answers by ticket
//   lib/endpoint.js      Endpoint: options, lifecycle, host-side actions
//   lib/logs.js          setLogHandler: the library's log events in JavaScript

"use strict";

const { Endpoint } = require("./lib/endpoint.js");
const { Socket } = require("./lib/socket.js");
const { Subscription } = require("./lib/subscription.js");
const { RawJson } = require("./lib/payload.js");
const { setLogHandler } = require("./lib/logs.js");
const { ok, error, reply, noreply, stop, accept, refuse } = require("./lib/results.js");

module.exports = {
  Endpoint,
  Socket,
  Subscription,
  RawJson,
  setLogHandler,
  ok,
  error,
  reply,
  noreply,
  stop,
  accept,
  refuse,
};
