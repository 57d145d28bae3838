// A round-robin HTTP reverse proxy for the long-poll cluster test: every request goes to the
// next upstream in turn (no sticky sessions), as a plain load balancer sends them; an upstream
// that refuses the connection is skipped for that request, as a balancer's health check would.
// Listens on 127.0.0.1 on a free port; `log` records `{method, path, upstream}` per request.

import http from "node:http";

export class RoundRobinProxy {
  /** `upstreams`: ports on 127.0.0.1. */
  static async start(upstreams) {
    const proxy = new RoundRobinProxy(upstreams);
    await new Promise((resolve) => proxy.server.listen(0, "127.0.0.1", resolve));
    proxy.port = proxy.server.address().port;
    return proxy;
  }

  constructor(upstreams) {
    this.upstreams = upstreams;
    this.next = 0;
    this.log = [];
    this.server = http.createServer((req, res) => this.#forward(req, res));
  }

  async #forward(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    // This request's turn; on a refused connection, the upstreams after it in order.
    const turn = this.next;
    this.next += 1;
    for (let tries = 0; tries < this.upstreams.length; tries += 1) {
      const upstream = this.upstreams[(turn + tries) % this.upstreams.length];
      try {
        const answer = await this.#send(upstream, req, body);
        this.log.push({ method: req.method, path: req.url, upstream });
        res.writeHead(answer.status, answer.headers);
        res.end(answer.body);
        return;
      } catch (e) {
        if (e.code !== "ECONNREFUSED" && e.code !== "ECONNRESET") {
          res.writeHead(502).end(String(e));
          return;
        }
      }
    }
    res.writeHead(502).end("no upstream");
  }

  #send(port, req, body) {
    return new Promise((resolve, reject) => {
      const out = http.request(
        { host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers, agent: false },
        (answer) => {
          const parts = [];
          answer.on("data", (c) => parts.push(c));
          answer.on("end", () => resolve({ status: answer.statusCode, headers: answer.headers, body: Buffer.concat(parts) }));
          answer.on("error", reject);
        },
      );
      out.on("error", reject);
      out.end(body);
    });
  }

  /** Requests each upstream served. */
  served(upstream) {
    return this.log.filter((r) => r.upstream === upstream).length;
  }

  stop() {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(resolve));
  }
}
