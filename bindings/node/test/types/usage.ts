// Type test of index.d.ts (`tsc --noEmit -p test/types`): idiomatic uses must check, misuses
// marked @ts-expect-error must not.

import { Endpoint, RawJson, Socket, accept, error, noreply, ok, refuse, reply, stop } from "../../index.js";
import type { ChannelHandler, FailureContext, HandlerKind, InPayload, SwitchboardError, TerminateReason } from "../../index.js";

type RoomAssigns = { user: string; count: number };

const endpoint = new Endpoint({
  port: 0,
  mounts: ["/socket", { path: "/limited", maxChannels: 1 }],
  requestTimeoutMs: 5_000,
  staticFiles: [{ route: "/", path: "index.html", contentType: "text/html" }],
});

endpoint.connect(async ({ params, authToken }) => {
  if (typeof params.user !== "string") return refuse(403);
  return accept({ assigns: { user: params.user, token: authToken ?? null } });
});

const room: ChannelHandler<RoomAssigns> = {
  async join(topic: string, payload: InPayload, socket: Socket<RoomAssigns>) {
    socket.assign("count", 0);
    if (topic === "room:secret") return error({ reason: "unauthorized" });
    socket.sendInfo("after_join");
    return ok();
  },
  async handleIn(event, payload, socket) {
    socket.assigns.count += 1;
    if (event === "shout") {
      socket.broadcast("shout", payload);
      return reply("ok", { count: socket.assigns.count });
    }
    if (event === "bye") return stop("normal", { reply: { status: "ok", payload: {} } });
    socket.broadcastFrom("msg", payload instanceof RawJson ? payload : { payload });
    return noreply();
  },
  handleInfo(message, socket) {
    if (message === "after_join") {
      const phxRef: string = socket.track(socket.assigns.user, { online_at: Date.now() });
      socket.push("presence_state", socket.presenceList());
      void phxRef;
    }
  },
  terminate(reason: TerminateReason) {
    const r: "left" | "closed" | "disconnected" | "drain" | "stop" | "crash" = reason.reason;
    void r;
  },
};

endpoint.channel("room:*", room, { intercepts: ["new_msg"], raw: false });
// Channel options may sit on the handler too (Phoenix `intercept`); class instances fit.
class Lobby implements ChannelHandler {
  intercepts = ["new_msg"];
  handleOut(event: string, payload: InPayload, socket: Socket): void {
    socket.push(event, payload);
  }
}
endpoint.channel("lobby:*", new Lobby());
endpoint.on("error", (err, ctx: FailureContext) => {
  const kind: HandlerKind = ctx.kind;
  if (kind === "terminate" || kind === "httpRoute") console.error(ctx.reason ?? ctx.path, err.message);
  else console.error(kind, ctx.topic, ctx.event, err.message);
});
endpoint.httpRoute("/health", async ({ method, body }) => ({ status: 200, body: { method, bytes: body.length } }));

async function main(): Promise<void> {
  const { port } = await endpoint.listen();
  const n: number = port;
  void n;
  endpoint.broadcast("room:lobby", "news", { text: "hi" });
  endpoint.broadcast("room:lobby", "blob", Buffer.from([1, 2, 3]));
  const sub = endpoint.subscribe("room:lobby");
  for await (const m of sub) {
    const e: string = m.event;
    void e;
    break;
  }
  try {
    endpoint.disconnect("user:1");
  } catch (e) {
    const code: string = (e as SwitchboardError).code;
    void code;
  }
  endpoint.unref();
  await endpoint.close();
}

void main();

// @ts-expect-error the pattern must be a string
endpoint.channel(42, room);
// @ts-expect-error reply needs a status word
reply();
// @ts-expect-error listen takes a port number
void endpoint.listen("4000");
void endpoint.listen({ handleSignals: true });
void endpoint.listen(0, { handleSignals: false });
// @ts-expect-error handleSignals is a boolean
void endpoint.listen({ handleSignals: "yes" });
// @ts-expect-error assigns keys are checked
const bad: ChannelHandler<RoomAssigns> = { join: (_t, _p, s) => { s.assign("nope", 1); } };
void bad;
// @ts-expect-error an HTTP handler gets one request object
endpoint.httpRoute("/x", (a: string, b: string) => ({}));
// @ts-expect-error a misspelt callback (refused at run time too: did you mean "handleIn"?)
endpoint.channel("typo:*", { handle_in() {} });
// @ts-expect-error an unknown channel option
endpoint.channel("typo:*", {}, { intercept: ["x"] });
// @ts-expect-error refuse takes an HTTP status number
refuse("403");
