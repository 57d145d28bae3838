// Payloads: JS values to the JSON text or bytes the addon takes (checked), and requests' payloads back to JS values.

"use strict";

const { invalid, typeName } = require("./errors.js");

/**
 * JSON text sent as is (validated by Rust, never re-serialized), or received as is when a
 * channel is registered with `{ raw: true }`. `data` is a string or a Buffer of UTF-8 JSON.
 */
class RawJson {
  constructor(data) {
    if (typeof data !== "string" && !Buffer.isBuffer(data)) {
      throw invalid(`RawJson takes a string or a Buffer of JSON text (got ${typeName(data)})`);
    }
    this.data = data;
  }

  /** The JSON text. */
  get text() {
    return typeof this.data === "string" ? this.data : this.data.toString("utf8");
  }

  /** The parsed value. */
  parse() {
    return JSON.parse(this.text);
  }

  toJSON() {
    return this.parse();
  }
}

// ---------------------------------------------------------------------------------------
// checked JSON.stringify

/** Deeper than this, the quick check hands over to the one that tracks the path (and cycles). */
const QUICK_DEPTH = 256;

/**
 * True when `JSON.stringify(value)` drops or chokes on nothing: no BigInt, function or symbol
 * anywhere (JSON would throw on the first and silently drop the others) and no nesting beyond
 * QUICK_DEPTH (a cycle, or a very deep value: the slow check decides). Values with their own
 * `toJSON` (Date, Buffer, RawJson) are taken as they serialize themselves.
 */
function quickOk(value, depth) {
  switch (typeof value) {
    case "object": {
      if (value === null) return true;
      if (depth > QUICK_DEPTH) return false;
      if (typeof value.toJSON === "function") return true;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!quickOk(value[i], depth + 1)) return false;
        return true;
      }
      const keys = Object.keys(value);
      for (let i = 0; i < keys.length; i++) if (!quickOk(value[keys[i]], depth + 1)) return false;
      return true;
    }
    case "bigint":
    case "function":
    case "symbol":
      return false;
    default:
      return true;
  }
}

/** `name.key`, `name["a b"]`, `name[3]`. */
function step(path, key) {
  if (typeof key === "number") return `${path}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** The first thing JSON cannot carry in `value`, as `"BigInt at payload.count"`, or undefined. */
function findUnserializable(value, path, ancestors) {
  switch (typeof value) {
    case "bigint":
      return `BigInt at ${path}`;
    case "function":
    case "symbol":
      return `${typeof value} at ${path}`;
    case "object": {
      if (value === null || typeof value.toJSON === "function") return undefined;
      const seen = ancestors.findIndex((a) => a.value === value);
      if (seen >= 0) return `cycle at ${path} (it refers back to ${ancestors[seen].path})`;
      ancestors.push({ value, path });
      let found;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length && found === undefined; i++) {
          found = findUnserializable(value[i], step(path, i), ancestors);
        }
      } else {
        for (const key of Object.keys(value)) {
          found = findUnserializable(value[key], step(path, key), ancestors);
          if (found !== undefined) break;
        }
      }
      ancestors.pop();
      return found;
    }
    default:
      return undefined;
  }
}

/**
 * `JSON.stringify(value)`, refusing what JSON would silently drop or throw on, with the path:
 * SB_E_INVALID_ARGUMENT `payload must be JSON-serializable: BigInt at payload.count`. `name`
 * is what the value is to the caller (`payload`, `assigns`, `meta`, `message`, `body`).
 * `undefined` inside objects is left out and `NaN` becomes `null`, as JSON.stringify does.
 */
function toJson(value, name) {
  if (value === undefined) throw invalid(`${name} must be JSON-serializable: undefined at ${name}`);
  let found;
  try {
    if (quickOk(value, 0)) return JSON.stringify(value);
    found = findUnserializable(value, name, []);
    if (found === undefined) return JSON.stringify(value);
  } catch (err) {
    // A toJSON or getter that throws, or a value nested deeper than the stack allows.
    throw invalid(`${name} must be JSON-serializable: ${err && err.message ? err.message : String(err)}`, err);
  }
  throw invalid(`${name} must be JSON-serializable: ${found}`);
}

/**
 * `[data, binary]` for a native call: Buffer/Uint8Array → binary, RawJson → its text,
 * `undefined` → `{}`, any other value → checked JSON text (see `toJson`).
 */
function encode(payload, name = "payload") {
  if (payload === undefined) return ["{}", false];
  if (payload instanceof RawJson) return [payload.data, false];
  if (Buffer.isBuffer(payload)) return [payload, true];
  if (payload instanceof Uint8Array) return [Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), true];
  return [toJson(payload, name), false];
}

/** A request's payload for a handler: parsed JSON, a RawJson (raw channels), or a Buffer. */
function decode(req, raw) {
  if (req.binary !== undefined && req.binary !== null) return req.binary;
  if (req.payload === undefined || req.payload === null) return undefined;
  return raw ? new RawJson(req.payload) : JSON.parse(req.payload);
}

module.exports = { RawJson, toJson, encode, decode };
