// PROTOCOL.md 9.2 scenarios 46, 47 and 49: V2 binary frames (48 is long-poll, out of scope).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { joinedRoom, outcome } from "../lib/phx.mjs";
import { decodeServerBinary, encodeBinaryPush, rawCleanup, rawConnect, replyFrame } from "../lib/raw.mjs";
import { T, uniq, useFixture } from "../lib/suite.mjs";
import { phxRoundTrip, rawRoundTrip, waitUntil } from "../lib/wait.mjs";

const hex = (buf) => Buffer.from(buf).toString("hex");
const bytes = (ab) => [...new Uint8Array(ab)];

describe("binary", () => {
  const ctx = useFixture();

  function joined(t, topic) {
    return joinedRoom(t, ctx.fx.port, topic);
  }

  test("46. binary push and reply: exact kind 0 / kind 1 frames; ArrayBuffer payloads in the client", T, async (t) => {
    const topic = "room:lobby";
    const { ch, rec, J } = await joined(t, topic);
    const pushed = [];
    ch.on("binary_event", (p) => pushed.push(p));
    const mark = rec.mark();
    const r = await outcome(ch.push("binary_event", new Uint8Array([1, 2]).buffer));
    assert.equal(r.status, "ok");
    assert.ok(r.response instanceof ArrayBuffer, "reply response is an ArrayBuffer");
    assert.deepEqual(bytes(r.response), [1, 2, 3, 4]);

    const out = rec.events.slice(mark).find((e) => e.dir === "out" && e.binary);
    const R = out.binary.subarray(5 + out.binary[1], 5 + out.binary[1] + out.binary[2]).toString();
    assert.notEqual(R, J);
    assert.equal(
      hex(out.binary),
      hex(encodeBinaryPush(J, R, topic, "binary_event", [1, 2])),
      "client kind-0 frame: 00 LJ LR 0a 0c <J><R> room:lobby binary_event 01 02",
    );
    const ins = rec.events.slice(mark).filter((e) => e.dir === "in" && e.binary);
    const push = ins.find((e) => e.binary[0] === 0);
    const reply = ins.find((e) => e.binary[0] === 1);
    const jb = Buffer.from(J);
    const rb = Buffer.from(R);
    assert.equal(
      hex(reply.binary),
      hex(Buffer.concat([Buffer.from([1, jb.length, rb.length, 10, 2]), jb, rb, Buffer.from("room:lobbyok"), Buffer.from([1, 2, 3, 4])])),
      "server kind-1 reply",
    );
    assert.equal(
      hex(push.binary),
      hex(Buffer.concat([Buffer.from([0, jb.length, 10, 12]), jb, Buffer.from("room:lobbybinary_event"), Buffer.from([0, 1])])),
      "server kind-0 push (no ref field)",
    );
    assert.ok(rec.indexOf(push) < rec.indexOf(reply), "push before reply (channel program order)");
    assert.equal(pushed.length, 1);
    assert.ok(pushed[0] instanceof ArrayBuffer);
    assert.deepEqual(bytes(pushed[0]), [0, 1]);
  });

  test("46. binary push and reply (raw client)", T, async (t) => {
    const raw = await rawConnect(ctx.fx.port);
    rawCleanup(t, raw);
    const topic = uniq("room:bin-");
    const { J } = await raw.join(topic);
    const R = raw.ref();
    const from = raw.mark();
    raw.sendBinary(encodeBinaryPush(J, R, topic, "binary_event", [7, 8, 9]));
    const replyF = await raw.waitFor((m, f) => f.binary && f.binary[0] === 1, { from });
    const reply = decodeServerBinary(replyF.binary);
    assert.deepEqual(
      { ...reply, payload: [...reply.payload] },
      { kind: "reply", join_ref: J, ref: R, topic, event: "phx_reply", status: "ok", payload: [7, 8, 9, 3, 4] },
    );
    const pushF = raw.matching((m, f) => f.binary && f.binary[0] === 0, from)[0];
    const push = decodeServerBinary(pushF.binary);
    assert.deepEqual(
      { ...push, payload: [...push.payload] },
      { kind: "push", join_ref: J, ref: null, topic, event: "binary_event", payload: [0, 1] },
    );
  });

  test("47. binary broadcast: kind 2 frame; client payload ArrayBuffer [9,9], ref and join_ref null", T, async (t) => {
    const { fx } = ctx;
    const topic = uniq("room:bb-");
    const { ch, socket, rec } = await joined(t, topic);
    const raw = await rawConnect(fx.port);
    rawCleanup(t, raw);
    const j = await raw.join(topic);
    await raw.waitFor((m) => Array.isArray(m) && m[3] === "joined", { from: j.from });
    const got = [];
    ch.on("bin_news", (p) => got.push(p));
    const msgs = [];
    socket.onMessage((m) => m.event === "bin_news" && msgs.push(m));
    const mark = rec.mark();
    const rawMark = raw.mark();
    await fx.post("/_test/broadcast", { topic, event: "bin_news", binary: "0909" });
    const f = await raw.waitFor((m, fr) => fr.binary, { from: rawMark });
    const tb = Buffer.from(topic);
    assert.equal(hex(f.binary), hex(Buffer.concat([Buffer.from([2, tb.length, 8]), tb, Buffer.from("bin_news"), Buffer.from([9, 9])])));
    await waitUntil(() => got.length >= 1, { msg: "client got the binary broadcast" });
    // Barrier instead of a sleep: a second copy of the broadcast would have been written
    // before the reply to this heartbeat.
    await phxRoundTrip(socket, rec);
    const ins = rec.events.slice(mark).filter((x) => x.dir === "in" && x.binary);
    assert.equal(ins.length, 1, "one binary frame");
    assert.equal(hex(ins[0].binary), hex(f.binary), "same frame to every subscriber");
    assert.equal(got.length, 1);
    assert.ok(got[0] instanceof ArrayBuffer);
    assert.deepEqual(bytes(got[0]), [9, 9]);
    assert.equal(msgs[0].ref, null);
    assert.equal(msgs[0].join_ref, null);
  });

  test("49. field limits: ArrayBuffer push on a 256-byte topic throws in the client; server never sends a malformed frame", T, async (t) => {
    const { fx } = ctx;
    const topic = "room:" + "a".repeat(251);
    assert.equal(Buffer.byteLength(topic), 256);
    const { ch, rec, J } = await joined(t, topic);
    assert.throws(() => ch.push("binary_event", new Uint8Array([1]).buffer), /unable to convert topic to binary/);
    const raw = await rawConnect(fx.port);
    rawCleanup(t, raw);
    const j = await raw.join(topic);
    await raw.waitFor((m) => Array.isArray(m) && m[3] === "joined", { from: j.from });
    const mark = rec.mark();
    const rawMark = raw.mark();

    // A binary broadcast cannot be encoded for this topic (PROTOCOL.md 2.3: the topic field is
    // at most 255 bytes): the host's broadcast fails and nothing is delivered. The route
    // answers that failure: 400 {"ok":false,"error":...} (every host's broadcast call fails).
    const TOPIC_TOO_LONG = /`topic` is longer than 255 bytes/;
    const routed = await fx.request("POST", "/_test/broadcast", { topic, event: "bin", binary: "0102" });
    assert.equal(routed.status, 400, `route answer: ${routed.text}`);
    assert.equal(routed.json?.ok, false, `route answer: ${routed.text}`);
    assert.match(routed.json.error, TOPIC_TOO_LONG);

    // Barrier: a JSON broadcast from the same publisher (the route) on the same topic reaches
    // both subscribers after anything the refused one could have delivered (PROTOCOL.md 3.3
    // rule 6). By then neither connection got any binary frame (malformed or not) nor any
    // "bin" message.
    await fx.broadcast(topic, "after_bin", { n: 1 });
    await rec.waitReceived((m) => m[2] === topic && m[3] === "after_bin", { from: mark, msg: "after_bin (phoenix client)" });
    await raw.waitFor((m) => Array.isArray(m) && m[2] === topic && m[3] === "after_bin", { from: rawMark, msg: "after_bin (raw)" });
    assert.deepEqual(raw.frames.slice(rawMark).filter((x) => x.binary).map((x) => hex(x.binary)), [], "no binary frame (raw)");
    assert.deepEqual(rec.events.slice(mark).filter((e) => e.dir === "in" && e.binary).map((e) => hex(e.binary)), [], "no binary frame (phoenix client)");
    assert.deepEqual(raw.matching((m) => Array.isArray(m) && m[3] === "bin", rawMark), []);
    assert.deepEqual(rec.received((m) => m[3] === "bin", mark), []);
    // Both connections and channels stay usable.
    assert.deepEqual(await outcome(ch.push("echo", { still: 1 })), { status: "ok", response: { still: 1 } });
    const echo = raw.push(j.J, topic, "echo", { raw: 1 });
    assert.deepEqual(await raw.reply(echo.R), replyFrame(j.J, echo.R, topic, "ok", { raw: 1 }));
    assert.equal(ch.joinRef(), J);

    // boundary: a 255-byte topic still works with binary frames
    const topic255 = "room:" + "b".repeat(250);
    const c2 = await joined(t, topic255);
    const r = await outcome(c2.ch.push("binary_event", new Uint8Array([5]).buffer));
    assert.equal(r.status, "ok");
    assert.deepEqual(bytes(r.response), [5, 3, 4]);
  });

  // Server-side binary push and reply that cannot be encoded. A client cannot send a binary
  // message on a 256-byte topic (its own frame has the same 255-byte field), and no fixture
  // event pushes or replies binary for a JSON message, so the topic itself cannot be the
  // field over the limit here; the channel's join_ref can. It is chosen by the client (256
  // bytes, joined over JSON), and the channel's binary push (`binary_event`) and binary reply
  // (`echo` of a binary payload) carry it (PROTOCOL.md 2.3, kinds 0 and 1); the client's
  // binary message carries a null join_ref (length 0), which matches any instance. Upstream
  // the encoder raises, the channel crashes: phx_error (scenario 49).
  for (const event of ["binary_event", "echo"]) {
    test(`49. field limits: a binary ${event === "echo" ? "reply" : "push"} whose join_ref is over 255 bytes → phx_error, no binary frame`, T, async (t) => {
      const raw = await rawConnect(ctx.fx.port);
      rawCleanup(t, raw);
      const topic = uniq("room:jr256-");
      const J = "j".repeat(256);
      const { reply } = await raw.join(topic, {}, { J });
      assert.deepEqual(reply, replyFrame(J, J, topic, "ok", {}));
      await raw.waitFor((m) => Array.isArray(m) && m[2] === topic && m[3] === "joined");
      const from = raw.mark();
      raw.sendBinary(encodeBinaryPush(null, "77", topic, event, [1]));
      // Waits for the phx_error, or for a binary frame (which must not come).
      await raw.waitFor((m, f) => f.binary || (Array.isArray(m) && m[2] === topic && m[3] === "phx_error"), {
        from,
        msg: `phx_error after the binary ${event}`,
      });
      // The channel's last frames precede its phx_error (PROTOCOL.md 3.3 rule 3): nothing
      // but the phx_error arrived, in particular no binary frame, and no reply to ref 77.
      assert.deepEqual(
        raw.frames.slice(from).map((f) => (f.binary ? `<binary ${hex(f.binary)}>` : f.msg)),
        [[J, J, topic, "phx_error", { reason: "channel_crash" }]],
      );
      // The connection stays usable: heartbeat and a fresh join.
      await rawRoundTrip(raw);
      const again = await raw.join(topic);
      assert.equal(again.reply[4].status, "ok");
      assert.equal(raw.closeInfo, null);
    });
  }
});
