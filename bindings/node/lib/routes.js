// Routes: what an endpoint serves (connect callback, channel handlers, HTTP routes), checked at registration, and which one a request is for.

"use strict";

const { checkHttpPrefix, checkPattern } = require("../native.js");
const { invalid, native, typeName, folded, suggestion } = require("./errors.js");

/** The callbacks a channel handler may have (Phoenix's channel callbacks). */
const CALLBACKS = ["join", "handleIn", "handleInfo", "handleOut", "terminate"];
/** Channel options, which a handler may also carry (Phoenix's `intercept`, the Python binding's class attributes). */
const CHANNEL_OPTIONS = ["intercepts", "raw"];
/** Every name a handler object may have. */
const HANDLER_NAMES = [...CALLBACKS, ...CHANNEL_OPTIONS];

/** Own property names that every function has; not a handler's. */
const FUNCTION_OWN = new Set(["length", "name", "prototype", "arguments", "caller"]);

/**
 * The string-keyed property names a handler offers, enumerable or not (class methods are
 * not), its prototypes' included, down to Object.prototype / Function.prototype.
 */
function namesOf(handler) {
  const names = new Set();
  for (let o = handler; o !== null && o !== Object.prototype && o !== Function.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === "constructor" || (typeof o === "function" && FUNCTION_OWN.has(name))) continue;
      names.add(name);
    }
  }
  return names;
}

/** `unknown handler "handle_in" for channel room:*: expected one of ... (did you mean "handleIn"?)`. */
function unknownName(name, pattern) {
  const hint = suggestion(name, HANDLER_NAMES);
  return invalid(
    `unknown handler "${name}" for channel ${pattern}: expected one of ${HANDLER_NAMES.join(", ")}${hint ? ` (did you mean "${hint}"?)` : ""}`,
  );
}

/** `intercepts`: a list of event names. */
function checkIntercepts(value, where) {
  if (!Array.isArray(value) || !value.every((e) => typeof e === "string")) {
    const got = Array.isArray(value) ? `an array holding a ${typeName(value.find((e) => typeof e !== "string"))}` : typeName(value);
    throw invalid(`intercepts ${where} must be an array of event names (got ${got})`);
  }
  return value;
}

/** `raw`: a boolean. */
function checkRaw(value, where) {
  if (typeof value !== "boolean") throw invalid(`raw ${where} must be a boolean (got ${typeName(value)})`);
  return value;
}

/**
 * Checks a channel handler at registration; returns its channel options (`intercepts`,
 * `raw`) if it carries any.
 *
 * - A plain object (`{ join() {}, handleIn() {} }`) may hold only the callbacks and the
 *   channel options: any other key is refused (`handle_in`, `handleIN`, `onJoin`...).
 * - A class instance (methods on its prototypes count) or a module namespace may also hold
 *   fields, helpers and exports of its own; a name that is a callback's but for case or an
 *   inner `_` / `-` (`handle_in`, `HandleIn`) is refused as a misspelling.
 * - A class is refused (pass an instance); so is a function that carries no callback.
 * - Callbacks must be functions (`undefined` counts as absent).
 */
function checkHandler(handler, pattern) {
  if (handler === null || (typeof handler !== "object" && typeof handler !== "function")) {
    throw invalid(`the handler for channel ${pattern} must be an object with ${CALLBACKS.join(", ")} (got ${typeName(handler)})`);
  }
  const names = namesOf(handler);
  if (typeof handler === "function" && !CALLBACKS.some((c) => names.has(c))) {
    const methods = handler.prototype ? namesOf(handler.prototype) : new Set();
    if (typeName(handler).startsWith("class") || CALLBACKS.some((c) => methods.has(c))) {
      throw invalid(`the handler for channel ${pattern} is ${typeName(handler)}, whose methods are on its prototype: pass an instance, new ${handler.name || "YourClass"}()`);
    }
    throw invalid(`the handler for channel ${pattern} must be an object with ${CALLBACKS.join(", ")} (got a function; for a single callback write { handleIn: fn })`);
  }
  const proto = Object.getPrototypeOf(handler);
  // A module namespace (`import * as room`) may export helpers too: checked as an instance.
  const plain = (proto === null || proto === Object.prototype) && Object.prototype.toString.call(handler) !== "[object Module]";
  const foldedNames = new Map(HANDLER_NAMES.map((n) => [folded(n), n]));
  for (const name of names) {
    if (HANDLER_NAMES.includes(name)) continue;
    if (plain || foldedNames.has(folded(name))) throw unknownName(name, pattern);
  }
  for (const name of CALLBACKS) {
    const value = handler[name];
    if (value !== undefined && typeof value !== "function") {
      throw invalid(`handler "${name}" for channel ${pattern} must be a function (got ${typeName(value)})`);
    }
  }
  const options = {};
  if (handler.intercepts !== undefined) options.intercepts = checkIntercepts(handler.intercepts, `of the handler for channel ${pattern}`);
  if (handler.raw !== undefined) options.raw = checkRaw(handler.raw, `of the handler for channel ${pattern}`);
  return options;
}

/** Checks `channel()`'s third argument: only `intercepts` and `raw`. */
function checkChannelOptions(options, pattern) {
  if (options === null || typeof options !== "object" || Array.isArray(options)) {
    throw invalid(`the options of channel ${pattern} must be an object (got ${typeName(options)})`);
  }
  for (const key of Object.keys(options)) {
    if (CHANNEL_OPTIONS.includes(key)) continue;
    const hint = suggestion(key, CHANNEL_OPTIONS);
    throw invalid(`unknown option "${key}" of channel ${pattern}: expected one of ${CHANNEL_OPTIONS.join(", ")}${hint ? ` (did you mean "${hint}"?)` : ""}`);
  }
  const out = {};
  if (options.intercepts !== undefined) out.intercepts = checkIntercepts(options.intercepts, `of channel ${pattern}`);
  if (options.raw !== undefined) out.raw = checkRaw(options.raw, `of channel ${pattern}`);
  return out;
}

/** Throws unless `fn` is a function: `connect(handler): handler must be a function (got string)`. */
function checkFunction(fn, where) {
  if (typeof fn !== "function") throw invalid(`${where}: handler must be a function (got ${typeName(fn)})`);
  return fn;
}

/** The connect callback, channel handlers and HTTP routes of one endpoint, in registration order. */
class Routes {
  /** `{pattern, handler, intercepts, raw}` */
  channels = [];
  /** `{prefix, handler}` */
  http = [];
  /** The connect callback, or undefined (every connect accepted). */
  connect = undefined;

  setConnect(handler) {
    this.connect = checkFunction(handler, "connect(handler)");
  }

  /** Registers `handler` for `pattern`; every mistake throws SB_E_INVALID_ARGUMENT here. */
  addChannel(pattern, handler, options = {}) {
    if (typeof pattern !== "string") throw invalid(`channel(pattern, handler): pattern must be a string (got ${typeName(pattern)})`);
    native(() => checkPattern(pattern));
    const own = checkHandler(handler, pattern);
    const given = checkChannelOptions(options, pattern);
    if (own.raw !== undefined && given.raw !== undefined && own.raw !== given.raw) {
      throw invalid(`raw for channel ${pattern} is ${own.raw} on the handler but ${given.raw} in the options`);
    }
    const intercepts = [...new Set([...(own.intercepts ?? []), ...(given.intercepts ?? [])])];
    this.channels.push({ pattern, handler, intercepts, raw: given.raw ?? own.raw ?? false });
  }

  addHttpRoute(prefix, handler) {
    if (typeof prefix !== "string") {
      throw invalid(`httpRoute(prefix, handler): prefix must be a string such as "/api" (got ${typeName(prefix)})`);
    }
    native(() => checkHttpPrefix(prefix));
    checkFunction(handler, "httpRoute(prefix, handler)");
    this.http.push({ prefix, handler });
  }

  /** What the addon must know of the routes (part of NativeConfig). */
  nativeConfig() {
    return {
      channels: this.channels.map((r) => ({ pattern: r.pattern, intercepts: r.intercepts })),
      hostConnect: this.connect !== undefined,
      httpRoutes: this.http.map((r) => r.prefix),
    };
  }

  // The core matched the topic or path and each request names the registration it chose
  // (`req.pattern`, `req.http.prefix`): these only look it up.

  /** The channel route registered with `pattern` (the first one, as the core routes). */
  channelFor(pattern) {
    return this.channels.find((r) => r.pattern === pattern);
  }

  /** The HTTP route registered for `prefix`. */
  httpRouteFor(prefix) {
    return this.http.find((r) => r.prefix === prefix);
  }
}

module.exports = { Routes };
