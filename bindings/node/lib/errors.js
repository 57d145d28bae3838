// Coded errors: making them, translating the addon's, and the words they use (type names, "did you mean").

"use strict";

const { closestName } = require("../native.js");

/**
 * An `Error` with a stable `code` (the C ABI's status names, e.g. `SB_E_INVALID_STATE`; the
 * list is `SwitchboardErrorCode` in index.d.ts).
 */
function codedError(code, message, cause) {
  const err = new Error(message, cause === undefined ? undefined : { cause });
  err.code = code;
  return err;
}

/** `SB_E_INVALID_ARGUMENT` with `message`: the caller passed something wrong. */
function invalid(message, cause) {
  return codedError("SB_E_INVALID_ARGUMENT", message, cause);
}

/**
 * Runs a native call. Native errors carry their `code` already; anything else napi throws
 * (a JavaScript value of the wrong type) becomes SB_E_INVALID_ARGUMENT. The checks in lib/
 * run first, so napi's own wording should not reach a user.
 */
function native(fn) {
  try {
    return fn();
  } catch (err) {
    if (err && typeof err === "object" && typeof err.code === "string" && err.code.startsWith("SB_E_")) {
      throw err;
    }
    throw invalid(err && err.message ? err.message : String(err), err);
  }
}

/** What a value is, for messages: `string`, `number`, `null`, `array`, `BigInt`, `class Room`... */
function typeName(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  const type = typeof value;
  if (type === "bigint") return "BigInt";
  if (type === "function" && /^class\b/.test(Function.prototype.toString.call(value))) {
    return value.name ? `class ${value.name}` : "class";
  }
  return type;
}

/** Throws SB_E_INVALID_ARGUMENT `"<name> must be a string (got number)"` unless `value` is a string. */
function expectString(value, name) {
  if (typeof value !== "string") throw invalid(`${name} must be a string (got ${typeName(value)})`);
  return value;
}

/**
 * Lower case without the `_` and `-` inside a name: `handle_in`, `handleIN` and `HandleIn` all
 * read `handlein`; a leading or trailing one stays (`_join` is not `join`).
 */
function folded(name) {
  return name.replace(/(?<=[A-Za-z0-9])[_-]+(?=[A-Za-z0-9])/g, "").toLowerCase();
}


/**
 * The known name `given` was probably meant to be, or undefined: the same name but for case,
 * `_` and `-`, else the nearest one within the core's rule for unknown options (at most 2
 * edits, or a third of the name's length).
 */
function suggestion(given, known) {
  const f = folded(given);
  const same = known.find((k) => folded(k) === f);
  if (same !== undefined) return same;
  // The core's "did you mean" rule, on the folded spellings.
  const foldedKnown = known.map(folded);
  const match = closestName(f, foldedKnown);
  return match === null ? undefined : known[foldedKnown.indexOf(match)];
}

/**
 * Throws SB_E_INVALID_ARGUMENT for the first own key of `object` not in `known`:
 * `unknown key "statusCode" of the HTTP response: expected status, contentType, body (did you mean "status"?)`.
 */
function checkKeys(object, known, of) {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const hint = suggestion(key, known);
    throw invalid(`unknown key "${key}" of ${of}: expected ${known.join(", ")}${hint ? ` (did you mean "${hint}"?)` : ""}`);
  }
}

module.exports = { codedError, invalid, native, typeName, expectString, folded, suggestion, checkKeys };
