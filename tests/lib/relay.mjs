// A WebSocket relay between a client and the fixture: it forwards frames both ways unchanged
// and lets a test drop or reorder server → client frames per connection (heartbeat replies for
// scenario 11, presence_state vs presence_diff for scenario 62) without any server hook.

import WebSocket, { WebSocketServer } from "ws";

import { withTimeout } from "./wait.mjs";

export class Relay {
  /**
   * `upstreamPort`: the fixture's port. `filter(conn, frame)` is called for every server →
   * client frame (`frame = {data, isBinary, text?, msg?}`) and returns the list of frames to
   * forward now (default: `[frame]`).
   */
  constructor(upstreamPort, { filter } = {}) {
    this.upstreamPort = upstreamPort;
    this.filter = filter || ((conn, frame) => [frame]);
    this.conns = [];
  }

  async start() {
    this.wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
    await new Promise((resolve) => this.wss.once("listening", resolve));
    this.port = this.wss.address().port;
    this.wss.on("connection", (client, req) => this.onConnection(client, req));
    return this;
  }

  onConnection(client, req) {
    const conn = { index: this.conns.length, url: req.url, clientClose: null, upstreamClose: null, client };
    this.conns.push(conn);
    const upstream = new WebSocket(`ws://127.0.0.1:${this.upstreamPort}${req.url}`, { perMessageDeflate: false });
    conn.upstream = upstream;
    const pending = [];
    upstream.on("open", () => {
      for (const [data, isBinary] of pending) upstream.send(data, { binary: isBinary });
      pending.length = 0;
    });
    client.on("message", (data, isBinary) => {
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: isBinary });
      else pending.push([data, isBinary]);
    });
    upstream.on("message", (data, isBinary) => {
      const frame = { data, isBinary };
      if (!isBinary) {
        frame.text = data.toString();
        try {
          frame.msg = JSON.parse(frame.text);
        } catch {
          // not JSON: forwarded as is
        }
      }
      for (const f of this.filter(conn, frame)) {
        if (client.readyState === WebSocket.OPEN) client.send(f.data, { binary: f.isBinary });
      }
    });
    client.on("close", (code, reason) => {
      conn.clientClose = { code, reason: reason.toString(), t: Date.now() };
      if (upstream.readyState === WebSocket.OPEN) upstream.close();
      else upstream.terminate();
    });
    upstream.on("close", (code, reason) => {
      conn.upstreamClose = { code, reason: reason.toString() };
      if (client.readyState !== WebSocket.OPEN) return;
      // 1005/1006 cannot be sent on the wire
      if (code === 1005) client.close();
      else if (code === 1006) client.terminate();
      else client.close(code, reason);
    });
    client.on("error", () => {});
    upstream.on("error", () => {
      if (client.readyState === WebSocket.OPEN) client.terminate();
    });
  }

  endpoint(mount = "/socket") {
    return `ws://127.0.0.1:${this.port}${mount}`;
  }

  async stop() {
    for (const c of this.conns) {
      c.client.terminate();
      c.upstream.terminate();
    }
    await withTimeout(new Promise((resolve) => this.wss.close(resolve)), 2000, "relay close").catch(() => {});
  }
}
