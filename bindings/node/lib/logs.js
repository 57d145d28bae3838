// The library's log events in JavaScript (docs/OPERATIONS.md "Logs"): one process-wide
// handler, off by default.

"use strict";

const native = require("../native.js");
const { invalid } = require("./errors.js");

/** Log levels, most severe first; the number is the core's. */
const LEVELS = { error: 1, warn: 2, info: 3, debug: 4, trace: 5 };

/**
 * Calls `handler({level, target, message, fields, dropped})` for each of the library's log
 * events at `level` ("error", "warn" — the default —, "info", "debug", "trace") or more
 * severe, on the JavaScript thread, in batches; `null` stops. `message` carries the fields
 * too (`... socket_id=u1`); `fields` has them by name (`socket_id`, `topic`, ...);
 * `dropped` counts events lost because the event loop did not keep up. A handler that throws
 * is reported on stderr and kept.
 */
function setLogHandler(handler, { level = "warn" } = {}) {
  if (handler === null || handler === undefined) {
    native.setLogHandler(null, 0);
    return;
  }
  if (typeof handler !== "function") throw invalid(`setLogHandler: handler must be a function or null`);
  const number = LEVELS[level];
  if (number === undefined) {
    throw invalid(`setLogHandler: level must be one of ${Object.keys(LEVELS).join(", ")} (got ${JSON.stringify(level)})`);
  }
  native.setLogHandler((events) => {
    for (const event of events) {
      try {
        handler(event);
      } catch (err) {
        console.error("switchboard: the log handler threw:", err);
      }
    }
  }, number);
}

module.exports = { setLogHandler };
