// Coded errors: making them, translating the addon's, and the words they use (type names, "did you mean").

"use strict";

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

/** Optimal string alignment distance (Damerau-Levenshtein as the core's `strsim` counts it). */
function distance(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
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
  let best;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(f, folded(k));
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best !== undefined && (bestDistance <= 2 || bestDistance * 3 <= best.length) ? best : undefined;
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
