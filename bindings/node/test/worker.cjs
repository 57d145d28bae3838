// Runs an endpoint inside a worker thread for exit.test.mjs: posts its port, closes it when
// the parent says so, then ends (nothing may keep the worker's event loop alive).
const { parentPort } = require("node:worker_threads");
const sb = require("..");

(async () => {
  const ep = new sb.Endpoint({ port: 0 });
  ep.channel("room:*", { handleIn: (_event, payload) => sb.reply("ok", payload) });
  const { port } = await ep.listen();
  parentPort.postMessage(port);
  await new Promise((resolve) => parentPort.once("message", resolve));
  await ep.close();
})();
