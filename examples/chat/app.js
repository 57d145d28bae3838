// Switchboard chat page: the stock phoenix client (served by the chat server from the npm
// package, never copied here) talking to any host language's chat server. The server side
// of this contract is examples/chat/CONTRACT.md.
//
// User text (names, room names, message bodies) only ever reaches the DOM through
// textContent or attribute values, never through innerHTML.

import { Socket, Presence, LongPoll } from "/phoenix.mjs";

const $ = (id) => document.getElementById(id);
const ui = {
  joinForm: $("join-form"),
  name: $("name"),
  room: $("room"),
  join: $("join"),
  status: $("status"),
  roomTitle: $("room-title"),
  messages: $("messages"),
  sendForm: $("send-form"),
  body: $("body"),
  send: $("send"),
  online: $("online"),
};

// The current connection: one socket per name (the name is a connect param), one channel.
let socket = null;
let socketUser = null;
let channel = null;

// Prefill from ?name=...&room=... so a link can be shared.
const query = new URLSearchParams(location.search);
if (query.get("name")) ui.name.value = query.get("name");
if (query.get("room")) ui.room.value = query.get("room");

// The transport (CONTRACT.md "Long-poll"): `?transport=longpoll` uses long-poll only (HTTP
// requests to /socket/longpoll). Otherwise WebSocket, and a WebSocket that fails, or has not
// opened and answered its first round trip within LONGPOLL_FALLBACK_MS (a proxy that drops
// upgrades, say), makes the client fall back to long-poll by itself.
const LONGPOLL_FALLBACK_MS = 2500;
const transport =
  query.get("transport") === "longpoll"
    ? { transport: LongPoll }
    : { longPollFallbackMs: LONGPOLL_FALLBACK_MS };

/** Shows the connection state: idle | connecting | joining | joined | disconnected | error. */
function setStatus(state, text) {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

function setCanSend(enabled) {
  ui.body.disabled = !enabled;
  ui.send.disabled = !enabled;
}

function scrollToEnd() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function addMessage(user, body) {
  const li = document.createElement("li");
  li.dataset.user = user;
  const who = document.createElement("span");
  who.className = "user";
  who.textContent = user;
  const text = document.createElement("span");
  text.className = "body";
  text.textContent = body;
  li.append(who, text);
  ui.messages.append(li);
  scrollToEnd();
}

function addSystem(text) {
  const li = document.createElement("li");
  li.className = "system";
  li.textContent = text;
  ui.messages.append(li);
  scrollToEnd();
}

/** Renders "who's online": one li[data-user=NAME] per presence key, sorted by name. */
function renderOnline(presence) {
  const people = presence
    .list((name, { metas }) => ({ name, connections: metas.length }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const items = people.map(({ name, connections }) => {
    const li = document.createElement("li");
    li.dataset.user = name;
    li.textContent = name;
    if (connections > 1) {
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = `×${connections}`;
      li.append(count);
    }
    return li;
  });
  ui.online.replaceChildren(...items);
}

function describe(resp) {
  if (resp && typeof resp === "object" && typeof resp.reason === "string") return resp.reason;
  return JSON.stringify(resp);
}

function connect(user) {
  if (socket && socketUser === user) return socket;
  if (socket) socket.disconnect();
  socketUser = user;
  socket = new Socket("/socket", { params: { user }, ...transport });
  const mine = socket;
  socket.onOpen(() => {
    if (mine !== socket) return;
    if (channel) setStatus("joining", `connected, joining ${channel.topic}…`);
  });
  socket.onError(() => {
    if (mine !== socket) return;
    setCanSend(false);
    setStatus("disconnected", "cannot reach the server — retrying…");
  });
  socket.onClose(() => {
    if (mine !== socket) return;
    setCanSend(false);
    setStatus("disconnected", "disconnected — retrying…");
  });
  setStatus("connecting", "connecting…");
  socket.connect();
  return socket;
}

function joinRoom(user, room) {
  const topic = `room:${room}`;
  if (channel) {
    channel.leave();
    channel = null;
  }
  ui.messages.replaceChildren();
  ui.online.replaceChildren();
  ui.roomTitle.textContent = `in ${topic}`;
  setCanSend(false);

  // The stream position of the last message of this room seen here (docs/HISTORY.md).
  // phoenix.js evaluates params given as a function at every join and rejoin, so a rejoin
  // after a lost connection asks for what was broadcast meanwhile; `null` on the first join
  // asks only for the room's current position.
  let since = null;
  const sock = connect(user);
  const chan = sock.channel(topic, () => ({ _since: since }));
  channel = chan;
  const current = () => chan === channel;

  // Pushed right after each join reply, before the missed messages (if any) and live ones.
  chan.on("sb_recovery", (recovery) => {
    if (!current()) return;
    if (recovery?.recovered === false && since !== null) {
      addSystem(`messages sent while you were away could not be recovered (${recovery.reason})`);
    }
    if (typeof recovery?.position === "string") since = recovery.position;
  });

  chan.on("new_msg", (payload, ref) => {
    if (!current()) return;
    // Broadcasts of a room with history carry their position in `ref`.
    if (typeof ref === "string") since = ref;
    addMessage(String(payload?.user ?? "?"), String(payload?.body ?? ""));
  });

  const presence = new Presence(chan);
  presence.onSync(() => {
    if (current()) renderOnline(presence);
  });

  chan.onError(() => {
    if (!current()) return;
    setCanSend(false);
    if (sock.isConnected()) setStatus("joining", `channel error — rejoining ${topic}…`);
  });
  chan.onClose(() => {
    if (!current()) return;
    setCanSend(false);
    setStatus("error", `${topic} was closed by the server`);
  });

  setStatus(sock.isConnected() ? "joining" : "connecting", `joining ${topic}…`);
  // These hooks stay on the join push, so they also fire for every automatic rejoin.
  chan
    .join()
    .receive("ok", () => {
      if (!current()) return;
      setStatus("joined", `joined ${topic} as ${user}`);
      setCanSend(true);
      ui.body.focus();
    })
    .receive("error", (resp) => {
      if (!current()) return;
      setCanSend(false);
      setStatus("error", `could not join ${topic}: ${describe(resp)}`);
    })
    .receive("timeout", () => {
      if (!current()) return;
      setCanSend(false);
      setStatus("error", `joining ${topic} timed out — retrying…`);
    });
}

ui.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const user = ui.name.value.trim();
  const room = ui.room.value.trim();
  if (!user || !room) {
    setStatus("error", "pick a name and a room first");
    return;
  }
  joinRoom(user, room);
});

ui.sendForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = ui.body.value.trim();
  if (!body || !channel) return;
  ui.send.disabled = true;
  channel
    .push("new_msg", { body })
    .receive("ok", () => {
      ui.body.value = "";
      ui.send.disabled = false;
      ui.body.focus();
    })
    .receive("error", (resp) => {
      ui.send.disabled = false;
      addSystem(`message not sent: ${describe(resp)}`);
    })
    .receive("timeout", () => {
      ui.send.disabled = false;
      addSystem("message not sent: the server did not answer in time");
    });
});
