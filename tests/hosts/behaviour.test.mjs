// One behaviour table, three front-ends: runs tests/hosts/driver.{c,py,mjs} against the cases
// of tests/hosts/cases.json, drives the clients the `client` and `channel` cases need (raw
// WebSocket upgrades and channels, HTTP requests) and requires
//   (a) every case's result to equal its `expect` (spelt the language's way: `by_lang`; in the
//       language's own words where the core has none: `own_words`), or the disagreement pinned
//       in `diverges` for that language;
//   (b) the fields a case compares (its `expect` keys and `same`) to be identical across the
//       languages that do not diverge;
//   (c) every case to be run by every language, unless `skip` says why it cannot be;
// and behaviour.md to be the table rendered from cases.json (node tests/hosts/table.mjs --write).
//
// Env: SB_PYTHON (the Python with the `switchboard` package installed, default
// .venv/python/bin/python), CARGO_TARGET_DIR (where libswitchboard.so is: <dir>/release),
// SB_HOSTS_ONLY (comma-separated languages to run, for debugging; the coverage test then fails),
// SB_HOSTS_DUMP (a file to write every language's results to, as JSON).

import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { rawConnect, socketUrl, upgrade } from "../lib/raw.mjs";
import { withTimeout } from "../lib/wait.mjs";
import { render } from "./table.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const CASES_PATH = path.join(HERE, "cases.json");
const { cases } = JSON.parse(readFileSync(CASES_PATH, "utf8"));
const LANGS = ["c", "python", "node"];
const ONLY = process.env.SB_HOSTS_ONLY ? process.env.SB_HOSTS_ONLY.split(",") : LANGS;
/** Deadline of every wait on a driver or a client. */
const WAIT_MS = 8000;

// ---- building and starting the drivers ----------------------------------------------------

const work = mkdtempSync(path.join(tmpdir(), "sb-hosts-"));
after(() => rmSync(work, { recursive: true, force: true }));

/** Compiles driver.c against the release libswitchboard.so (ASan + UBSan); returns the binary. */
function buildC() {
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(REPO, process.env.CARGO_TARGET_DIR) : path.join(REPO, "target");
  const so = path.join(target, "release", "libswitchboard.so");
  if (!existsSync(so)) throw new Error(`${so} is missing: run \`cargo build --release -p switchboard-ffi\``);
  // The loader looks the library up by its SONAME, which cargo's file name does not carry.
  const soname = /Library soname: \[([^\]]+)\]/.exec(execFileSync("readelf", ["-d", so], { encoding: "utf8" }));
  const lib = path.join(work, "lib");
  execFileSync("mkdir", ["-p", lib]);
  symlinkSync(so, path.join(lib, "libswitchboard.so"));
  if (soname) symlinkSync(so, path.join(lib, soname[1]));
  const bin = path.join(work, "driver_c");
  execFileSync("gcc", [
    "-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1",
    "-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all",
    "-I", path.join(REPO, "include"), path.join(HERE, "driver.c"),
    `-L${lib}`, "-lswitchboard", `-Wl,-rpath,${lib}`, "-lpthread", "-o", bin,
  ], { stdio: "inherit" });
  return bin;
}

function driverArgv(lang) {
  if (lang === "node") return [process.execPath, path.join(HERE, "driver.mjs"), CASES_PATH];
  if (lang === "python") {
    const py = process.env.SB_PYTHON ? path.resolve(REPO, process.env.SB_PYTHON) : path.join(REPO, ".venv", "python", "bin", "python");
    if (!existsSync(py)) throw new Error(`${py} is missing: set SB_PYTHON to a Python with the switchboard package`);
    return [py, path.join(HERE, "driver.py"), CASES_PATH];
  }
  return [buildC(), CASES_PATH];
}

/** A running driver: its JSON lines as they arrive, waits on them, commands on stdin. */
class Driver {
  constructor(lang, argv) {
    this.lang = lang;
    this.lines = [];
    this.stderr = "";
    this.waiters = [];
    this.syncs = 0;
    this.proc = spawn(argv[0], argv.slice(1), {
      cwd: REPO,
      stdio: ["pipe", "pipe", "pipe"],
      env: {
        ...process.env,
        ASAN_OPTIONS: "detect_leaks=1:halt_on_error=1",
        UBSAN_OPTIONS: "halt_on_error=1:print_stacktrace=1",
      },
    });
    // 'close', not 'exit': every line the driver wrote has been read by then.
    this.exited = new Promise((resolve) => this.proc.once("close", (code, signal) => resolve(code ?? signal)));
    this.proc.stderr.setEncoding("utf8");
    this.proc.stderr.on("data", (d) => {
      this.stderr = (this.stderr + d).slice(-20000);
    });
    let buf = "";
    this.proc.stdout.setEncoding("utf8");
    this.proc.stdout.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const text = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!text.trim()) continue;
        let line;
        try {
          line = JSON.parse(text);
        } catch {
          line = { unparsed: text };
        }
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => !w(line));
      }
    });
  }

  /** The first line (already received or to come) that satisfies `pred`. */
  line(pred, what) {
    const found = this.lines.find(pred);
    if (found) return Promise.resolve(found);
    const gone = this.exited.then((code) => {
      throw new Error(`${this.lang} driver exited (${code}) while waiting for ${what}\n${this.stderr.slice(-3000)}`);
    });
    const seen = new Promise((resolve) => {
      this.waiters.push((l) => (pred(l) ? (resolve(l), true) : false));
    });
    return withTimeout(Promise.race([seen, gone]), WAIT_MS, `${what} from the ${this.lang} driver\n${this.stderr.slice(-3000)}`);
  }

  send(cmd) {
    this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
  }

  /** Resolves once the driver printed every line it printed before reading this command. */
  sync() {
    const n = ++this.syncs;
    this.send({ cmd: "sync", n });
    return this.line((l) => l.sync === n, `sync ${n}`);
  }

  async stop() {
    try {
      this.proc.stdin.end();
    } catch {
      // already gone
    }
    try {
      return await withTimeout(this.exited, WAIT_MS, `${this.lang} driver exit`);
    } catch (e) {
      this.proc.kill("SIGKILL");
      throw e;
    }
  }
}

// ---- the client side of the cases ---------------------------------------------------------

/** Frames on `topic` with `event` (V2 arrays). */
const on = (topic, event, joinRef) => (m) => Array.isArray(m) && m[2] === topic && m[3] === event && (joinRef === undefined || m[0] === joinRef);

/** Runs case `c`'s client against the driver listening on `port`, writing what the client sees into `obs`. */
async function runClient(c, port, drv, kept, obs) {
  const cl = c.client;
  if (cl.kind === "upgrade") {
    obs.upgrade_status = (await upgrade(socketUrl(port, { params: { case: c.id } }))).status;
  } else if (cl.kind === "http") {
    const res = await withTimeout(fetch(`http://127.0.0.1:${port}${cl.path}`), WAIT_MS, `GET ${cl.path}`);
    obs.http_status = res.status;
    const body = await res.text();
    if (res.status === 200) obs.handler = body;
  } else if (cl.kind === "join") {
    const raw = await rawConnect(port, { timeout: WAIT_MS });
    try {
      const started = Date.now();
      const { reply } = await raw.join(cl.topic, { case: c.id });
      obs.join_status = reply[4].status;
      obs.join_response = reply[4].response;
      // The drivers' request_timeout_ms is 1000.
      obs.after_timeout = Date.now() - started >= 950;
    } finally {
      await raw.shutdown();
    }
  } else if (cl.kind === "v1_push") {
    const raw = await rawConnect(port, { vsn: "1.0.0", timeout: WAIT_MS });
    try {
      const topic = `case:${c.id}`;
      const { J } = await raw.join(topic, { case: c.id });
      const { R, from } = raw.push(J, topic, "go", {});
      const reply = await raw.reply(R, { from });
      obs.client_event = `phx_reply:${reply.payload.status}`;
    } finally {
      await raw.shutdown();
    }
  } else if (cl.kind === "lifecycle") {
    const params = cl.socket_id ? { id: cl.socket_id } : {};
    const raw = await rawConnect(port, { params, timeout: WAIT_MS });
    const topic = `case:${c.id}`;
    const { J } = await raw.join(topic, { case: c.id });
    const from = raw.mark();
    const first = (preds) => raw.waitFor((m) => preds.some((p) => p(m)), { from, msg: `the outcome of ${c.id}` });
    if (cl.action === "leave") {
      raw.push(J, topic, "phx_leave", {});
      await first([on(topic, "phx_close", J)]);
      obs.client_event = "phx_close";
      const line = await drv.line((l) => l.id === c.id, c.id);
      if (line.push_in_terminate === "SB_OK") {
        await raw.waitFor(on(topic, "bye"), { from, msg: "the push made in terminate" });
        const at = (pred) => raw.frames.findIndex((f, i) => i >= from && pred(f.msg));
        obs.push_after_close = at(on(topic, "bye")) > at(on(topic, "phx_close", J));
      }
    } else if (cl.action === "push") {
      const { R } = raw.push(J, topic, "go", {});
      if (cl.socket_id) {
        obs.close_code = (await raw.waitClose(WAIT_MS)).code;
      } else {
        const f = await first([on(topic, "phx_close", J), on(topic, "phx_error", J), (m) => on(topic, "phx_reply", J)(m) && m[1] === R]);
        obs.client_event = f.msg[3] === "phx_reply" ? `phx_reply:${f.msg[4].status}` : f.msg[3];
      }
    } else if (cl.action === "rejoin") {
      await raw.join(topic, { case: c.id });
      await raw.waitFor(on(topic, "phx_close", J), { from, msg: "phx_close of the first join" });
      obs.client_event = "phx_close";
    } else if (cl.action === "close") {
      await raw.shutdown();
    } else if (cl.action !== "stay") {
      throw new Error(`${c.id}: unknown client action ${cl.action}`);
    }
    if (cl.action === "stay") kept.push({ c, raw, obs });
    else await raw.shutdown();
  } else {
    throw new Error(`${c.id}: unknown client kind ${cl.kind}`);
  }
  if (cl.wait_driver) await drv.line((l) => l.id === c.id, c.id);
  await drv.sync();
}

/** Runs every case of `lang`; returns {results: {id: result}, problems: [text]}. */
async function runLanguage(lang) {
  const drv = new Driver(lang, driverArgv(lang));
  const client = {};
  const problems = [];
  try {
    const ready = await drv.line((l) => l.ready !== undefined, "the ready line");
    const port = ready.ready;
    const runs = (c) => !(c.skip && c.skip[lang]);
    const kept = [];
    for (const c of cases.filter((x) => x.where === "client" && runs(x))) {
      // A case whose client or driver line does not come fails that case (its result says
      // why), not the others.
      client[c.id] = {};
      try {
        await runClient(c, port, drv, kept, client[c.id]);
      } catch (e) {
        client[c.id].client_error = e.message.split("\n")[0];
        await drv.sync();
      }
    }
    if (cases.some((x) => x.where === "channel" && runs(x))) {
      // Every `channel` case runs in the handle_in of one channel.
      const raw = await rawConnect(port, { timeout: WAIT_MS });
      const { J } = await raw.join("actions:channel", { channel_actions: true });
      const { R, from } = raw.push(J, "actions:channel", "go", {});
      await raw.reply(R, { from });
      await drv.sync();
      await raw.shutdown();
    }
    drv.send({ cmd: "close" });
    await drv.line((l) => l.end === true, "the end line");
    for (const { c, raw, obs } of kept) {
      obs.close_code = (await raw.waitClose(WAIT_MS)).code;
      client[c.id] = obs;
    }
  } finally {
    const code = await drv.stop();
    if (code !== 0) problems.push(`the ${lang} driver exited with ${code}\n${drv.stderr.slice(-3000)}`);
  }
  const results = {};
  for (const line of drv.lines) {
    if (line.id === undefined) continue;
    if (results[line.id]) problems.push(`${lang} printed ${line.id} twice: ${JSON.stringify(results[line.id])} then ${JSON.stringify(line)}`);
    results[line.id] = line;
  }
  for (const [id, obs] of Object.entries(client)) {
    results[id] = { id, code: "SB_OK", ...results[id], ...obs };
  }
  return { results, problems, stderr: drv.stderr };
}

// ---- checks -------------------------------------------------------------------------------

/** Fields compared as "no value": Node's undefined detail, Python's empty detail. */
function normalized(result) {
  const r = { ...result };
  if (r.detail === "" || r.detail === undefined) r.detail = null;
  return r;
}

/** What `lang` must give for case `c`. */
function expected(c, lang) {
  const e = { ...c.expect, ...(c.by_lang && c.by_lang[lang]) };
  if (c.own_words) {
    if (c.own_words[lang] === null) delete e.message;
    else e.message = c.own_words[lang];
  }
  const div = c.diverges && c.diverges[lang];
  if (div) {
    Object.assign(e, div.result);
    if (!("message" in div.result) && div.result.code === "SB_OK") delete e.message;
  }
  return e;
}

/**
 * Compares one language's result with what it must give; C's terminate reason is one string.
 * Returns a note when a `racy` language left out the fields its race can lose.
 */
function check(c, lang, result) {
  const want = expected(c, lang);
  const got = normalized(result);
  const race = c.racy && c.racy[lang];
  let note;
  if (race && race.missing.every((k) => !(k in result))) {
    for (const k of race.missing) delete want[k];
    if (race.missing.includes("kind")) delete want.detail;
    note = `${lang} lost ${race.missing.join(", ")} this time (known race): ${race.why}`;
  }
  if (lang === "c" && "kind" in want) {
    // C gives `kind` or `kind:detail` as one string (sb_request_reason).
    want.reason_text = want.detail === null ? want.kind : `${want.kind}:${want.detail}`;
    delete want.kind;
    delete want.detail;
  }
  for (const [k, v] of Object.entries(want)) {
    assert.deepEqual(got[k], v, `${c.id} (${lang}): ${k} is ${JSON.stringify(got[k])}, expected ${JSON.stringify(v)}\nresult: ${JSON.stringify(result)}`);
  }
  return note;
}

/** Fields that must be identical across the languages that do not diverge. */
function shared(c) {
  const pinnedPerLang = new Set([
    ...Object.values(c.by_lang ?? {}).flatMap((o) => Object.keys(o)),
    ...(c.own_words ? ["message"] : []),
  ]);
  return [...new Set([...Object.keys(c.expect), ...(c.same ?? [])])].filter((k) => !pinnedPerLang.has(k));
}

const runs = {};

describe("one behaviour table, C, Python and Node (tests/hosts/cases.json)", () => {
  before(async () => {
    const all = await Promise.allSettled(ONLY.map((lang) => runLanguage(lang)));
    ONLY.forEach((lang, i) => {
      runs[lang] = all[i].status === "fulfilled" ? all[i].value : { error: all[i].reason };
    });
    if (process.env.SB_HOSTS_DUMP) {
      const dump = Object.fromEntries(Object.entries(runs).map(([l, r]) => [l, r.error ? String(r.error) : { ...r.results, stderr: r.stderr }]));
      writeFileSync(process.env.SB_HOSTS_DUMP, JSON.stringify(dump, null, 1));
    }
  });

  test("cases.json is well-formed", () => {
    const ids = new Set();
    for (const c of cases) {
      assert.match(c.id, /^[a-z0-9_]+$/, `id ${c.id}`);
      assert.ok(!ids.has(c.id), `${c.id} appears twice`);
      ids.add(c.id);
      assert.ok(c.rule && c.do && c.do.op && c.expect && c.expect.code, `${c.id}: rule, do.op and expect.code are required`);
      assert.ok(["local", "channel", "client", "closed"].includes(c.where), `${c.id}: where`);
      assert.equal(c.where === "client", c.client !== undefined, `${c.id}: client cases (only) say what the client does`);
      for (const lang of LANGS) {
        assert.ok(c.api && typeof c.api[lang] === "string", `${c.id}: api.${lang} (the call, for the table)`);
        if (c.skip && c.skip[lang]) {
          assert.ok(c.skip[lang].length > 20, `${c.id}: skip.${lang} says why`);
          assert.ok(!(c.diverges && c.diverges[lang]), `${c.id}: skipped and diverging in ${lang}`);
        }
        if (c.diverges && c.diverges[lang]) assert.ok(c.diverges[lang].why && c.diverges[lang].result, `${c.id}: diverges.${lang} has result and why`);
        if (c.racy && c.racy[lang]) assert.ok(c.racy[lang].why && Array.isArray(c.racy[lang].missing), `${c.id}: racy.${lang} has missing and why`);
        if (c.own_words) assert.ok(lang in c.own_words, `${c.id}: own_words.${lang}`);
      }
      for (const k of [c.skip, c.diverges, c.by_lang, c.racy].flatMap((o) => Object.keys(o ?? {}))) {
        assert.ok(LANGS.includes(k), `${c.id}: unknown language ${k}`);
      }
    }
  });

  test("behaviour.md is the table rendered from cases.json", () => {
    const md = readFileSync(path.join(HERE, "behaviour.md"), "utf8");
    assert.equal(md, render(cases), "tests/hosts/behaviour.md is stale: run `node tests/hosts/table.mjs --write`");
    for (const c of cases) assert.ok(md.includes(`| \`${c.id}\` |`) && md.includes(c.expect.code), `${c.id} in behaviour.md`);
  });

  for (const lang of LANGS) {
    test(`the ${lang} driver ran cleanly`, (t) => {
      if (!ONLY.includes(lang)) return t.skip(`SB_HOSTS_ONLY=${ONLY.join(",")}`);
      const run = runs[lang];
      if (run.error) throw run.error;
      assert.deepEqual(run.problems, []);
    });
  }

  test("every case is run by every language, or skipped with a reason", () => {
    for (const lang of LANGS) {
      const run = runs[lang];
      assert.ok(run && !run.error, `${lang} did not run (SB_HOSTS_ONLY or a failed driver)`);
      for (const c of cases) {
        const skipped = c.skip && c.skip[lang];
        assert.equal(c.id in run.results, !skipped, skipped ? `${lang} ran ${c.id}, which it skips` : `${lang} did not run ${c.id}`);
      }
      const unknown = Object.keys(run.results).filter((id) => !cases.some((c) => c.id === id));
      assert.deepEqual(unknown, [], `${lang} printed results for ids not in cases.json`);
    }
  });

  for (const c of cases) {
    test(`${c.id}: ${c.rule}`, (t) => {
      const langs = ONLY.filter((l) => runs[l] && !runs[l].error && !(c.skip && c.skip[l]));
      for (const lang of langs) {
        const result = runs[lang].results[c.id];
        assert.ok(result, `${lang} gave no result for ${c.id}`);
        const note = check(c, lang, result);
        if (note) t.diagnostic(note);
        const div = c.diverges && c.diverges[lang];
        if (div) t.diagnostic(`${lang} diverges (pinned): ${div.why}`);
      }
      const agreeing = langs.filter((l) => !(c.diverges && c.diverges[l]) && !(c.racy && c.racy[l]));
      // kind and detail are checked against `expect` above (C gives them as one string).
      for (const k of shared(c).filter((f) => f !== "kind" && f !== "detail")) {
        const values = agreeing.map((l) => JSON.stringify(normalized(runs[l].results[c.id])[k]));
        assert.ok(values.every((v) => v === values[0]), `${c.id}: ${k} differs: ${agreeing.map((l, i) => `${l} ${values[i]}`).join(", ")}`);
      }
    });
  }
});
