// Handler results: what handlers return (ok, error, reply, noreply, stop, accept, refuse) and its translation into native answers.

"use strict";

const { checkRefusalStatus } = require("../native.js");
const { invalid, native, typeName, checkKeys } = require("./errors.js");
const { encode, toJson } = require("./payload.js");

const RESULT = Symbol("switchboard.result");

/** Join accepted; `reply` is the join reply (default `{}`). */
function ok(reply) {
  return { [RESULT]: "joinOk", payload: reply };
}

/** Join refused with `reply`, e.g. `{reason: "unauthorized"}`. */
function error(reply) {
  return { [RESULT]: "joinError", payload: reply };
}

/** `{:reply, {status, payload}, socket}`: `status` is `"ok"`, `"error"` or any word. */
function reply(status, payload) {
  if (typeof status !== "string" || status === "") {
    throw invalid(`reply(status, payload): status must be a non-empty string (got ${typeName(status)})`);
  }
  return { [RESULT]: "reply", status, payload };
}

const NOREPLY = Object.freeze({ [RESULT]: "noreply" });

/** `{:noreply, socket}` (also what returning `undefined` means). */
function noreply() {
  return NOREPLY;
}

const STOP_OPTIONS = ["reply", "detail"];

/**
 * `{:stop, reason, socket}`: `"normal"` or `"shutdown"` close the channel (`phx_close`),
 * any other reason fails it (`phx_error`). `options.reply` (`{status, payload}`) is sent
 * first; `options.detail` qualifies a shutdown.
 */
function stop(reason = "normal", options = {}) {
  if (typeof reason !== "string") throw invalid(`stop(reason, options): reason must be a string (got ${typeName(reason)})`);
  if (options === null || typeof options !== "object") {
    throw invalid(`stop(reason, options): options must be an object (got ${typeName(options)})`);
  }
  checkKeys(options, STOP_OPTIONS, "stop()'s options");
  if (options.detail !== undefined && typeof options.detail !== "string") {
    throw invalid(`stop(reason, options): detail must be a string (got ${typeName(options.detail)})`);
  }
  if (options.reply !== undefined) {
    const r = options.reply;
    if (r === null || typeof r !== "object") throw invalid(`stop(reason, options): reply must be {status, payload} (got ${typeName(r)})`);
    checkKeys(r, ["status", "payload"], "stop()'s reply");
    if (r.status !== undefined && (typeof r.status !== "string" || r.status === "")) {
      throw invalid(`stop(reason, options): reply.status must be a non-empty string (got ${typeName(r.status)})`);
    }
  }
  return { [RESULT]: "stop", reason, reply: options.reply, detail: options.detail };
}

const ACCEPT_KEYS = ["assigns", "id"];

/** Connect accepted with `assigns` (copied into every channel) and an optional socket `id`. */
function accept(options = {}) {
  if (options === null || typeof options !== "object") {
    throw invalid(`accept(options): options must be {assigns, id} (got ${typeName(options)})`);
  }
  checkKeys(options, ACCEPT_KEYS, "accept()'s options");
  checkAccepted(options, "accept(options)");
  return { [RESULT]: "connectOk", assigns: options.assigns, id: options.id };
}

/**
 * Throws unless `id` is a string or number (or absent). The assigns are the core's to check
 * (a JSON object) when the answer reaches it.
 */
function checkAccepted({ id }, where) {
  if (id !== undefined && id !== null && typeof id !== "string" && typeof id !== "number") {
    throw invalid(`${where}: id must be a string (got ${typeName(id)})`);
  }
}

/** Connect refused: the upgrade gets this HTTP status (default 403; 400..599, the core's check). */
function refuse(status = 403) {
  if (typeof status !== "number") {
    throw invalid(`refuse(status): status must be a number (got ${typeName(status)})`);
  }
  native(() => checkRefusalStatus(status));
  return { [RESULT]: "connectRefused", status };
}

// ---------------------------------------------------------------------------------------
// results → native answers (NativeAnswer in native.d.ts)

const NOREPLY_ANSWER = Object.freeze({ kind: "noreply" });

/** The helper that made each kind of result, for errors. */
const HELPERS = {
  joinOk: "ok",
  joinError: "error",
  reply: "reply",
  noreply: "noreply",
  stop: "stop",
  connectOk: "accept",
  connectRefused: "refuse",
};

/** Wording of a value a handler returned, for errors: `42`, `"ok"`, `reply(...)`, `an array`. */
function shown(result) {
  if (typeof result === "string") return JSON.stringify(result);
  if (typeof result === "bigint") return `${result}n`;
  if (typeof result === "number" || typeof result === "boolean" || result === null || result === undefined) return String(result);
  if (typeof result === "object" && typeof result[RESULT] === "string") return `${HELPERS[result[RESULT]] ?? result[RESULT]}(...)`;
  const type = typeName(result);
  if (type === "object") return "an object that is not a handler result";
  return /^[aeiou]/i.test(type) ? `an ${type}` : `a ${type}`;
}

/** The connect callback's return value as a native answer. */
function connectAnswer(result) {
  if (result === undefined || result === true) return { kind: "connectOk" };
  if (result === false) return { kind: "connectRefused", httpStatus: 403 };
  if (result === null || typeof result !== "object" || Array.isArray(result) || (result[RESULT] !== undefined && result[RESULT] !== "connectOk" && result[RESULT] !== "connectRefused")) {
    throw invalid(`connect returned ${shown(result)}: use accept({assigns, id}), refuse(status), {assigns, id}, true/false or undefined`);
  }
  if (result[RESULT] === "connectRefused") return { kind: "connectRefused", httpStatus: result.status };
  if (result[RESULT] === undefined) {
    // A plain {assigns, id}: the same checks as accept().
    checkKeys(result, ACCEPT_KEYS, "the object connect returned");
    checkAccepted(result, "connect's result");
  }
  const answer = { kind: "connectOk" };
  if (result.assigns !== undefined) answer.assigns = toJson(result.assigns, "assigns");
  if (result.id !== undefined && result.id !== null) answer.socketId = String(result.id);
  return answer;
}

const HTTP_RESPONSE_KEYS = ["status", "contentType", "body"];

/** An HTTP handler's `{status, contentType, body}` as a native answer. */
function httpAnswer(res) {
  if (res === undefined) res = {};
  if (res === null || typeof res !== "object" || Array.isArray(res)) {
    throw invalid(`an HTTP route handler must return {status, contentType, body} or undefined (got ${typeName(res)})`);
  }
  checkKeys(res, HTTP_RESPONSE_KEYS, "the HTTP response");
  const status = res.status === undefined ? 200 : res.status;
  // The range (100..999) is the core's check, made when the answer is built.
  if (!Number.isInteger(status) || status < 0 || status > 0xffffffff) {
    throw invalid(`HTTP status must be an integer (got ${typeof status === "number" ? status : typeName(status)})`);
  }
  let body = res.body;
  let contentType = res.contentType;
  if (contentType !== undefined && typeof contentType !== "string") {
    throw invalid(`HTTP contentType must be a string (got ${typeName(contentType)})`);
  }
  if (body === undefined || body === null) body = "";
  if (Buffer.isBuffer(body)) contentType ??= "application/octet-stream";
  else if (typeof body === "string") contentType ??= "text/plain; charset=utf-8";
  else {
    body = toJson(body, "body");
    contentType ??= "application/json";
  }
  return { kind: "http", httpStatus: status, contentType, payload: body };
}

/**
 * A channel handler's return value as a native answer. `kind` is the request kind (`join`,
 * `handleIn`, `handleInfo`, `handleOut`); `socket` gives the assigns a handler changed.
 */
function toAnswer(kind, result, socket) {
  if (result === null || (result !== undefined && typeof result !== "object" && typeof result !== "boolean")) {
    throw invalid(`${kind} returned ${shown(result)}: use ok()/error() for join, reply()/noreply()/stop() otherwise`);
  }
  const assigns = socket._assignsOut();
  const join = kind === "join";
  // Any result helper becomes its answer: whether it fits the request (noreply() from a
  // join, ok() from handleIn) is the core's check, SB_E_WRONG_ANSWER.
  let answer;
  if (join && (result === undefined || result === true)) answer = { kind: "joinOk" };
  else if (join && result === false) answer = { kind: "joinError" };
  else if (result?.[RESULT] === "joinOk" || result?.[RESULT] === "joinError") {
    answer = { kind: result[RESULT] };
    if (result.payload !== undefined) [answer.payload, answer.binary] = encode(result.payload, "payload");
  } else if (result === undefined || result === NOREPLY) {
    if (assigns === undefined) return NOREPLY_ANSWER;
    answer = { kind: "noreply" };
  } else if (result[RESULT] === "reply") {
    answer = { kind: "reply", status: result.status };
    [answer.payload, answer.binary] = encode(result.payload, "payload");
  } else if (result[RESULT] === "noreply") {
    answer = { kind: "noreply" };
  } else if (result[RESULT] === "stop") {
    answer = { kind: "stop", reason: result.reason };
    if (result.detail !== undefined) answer.detail = result.detail;
    if (result.reply !== undefined) {
      answer.reply = true;
      answer.status = result.reply.status || "ok";
      [answer.payload, answer.binary] = encode(result.reply.payload, "payload");
    }
  } else {
    const use = join ? "ok(reply), error(reply), true/false or undefined" : "reply(...), noreply(), stop(...) or undefined";
    throw invalid(`${kind} returned ${shown(result)}: use ${use}`);
  }
  if (assigns !== undefined && answer.kind !== "joinError") answer.assigns = assigns;
  return answer;
}

module.exports = {
  NOREPLY_ANSWER,
  ok,
  error,
  reply,
  noreply,
  stop,
  accept,
  refuse,
  connectAnswer,
  httpAnswer,
  toAnswer,
};
