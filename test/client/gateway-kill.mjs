// A gateway is killed (kill -9) while its clients and others chat through
// nginx. Run by the cluster tests (not by node --test): it prints
// "SID <i> <sid>" for each client and "READY", reads "KILLED <gateway>" on
// stdin once the Go test has killed that gateway, prints
// "DROPPED <clients that lost their session> <clients>" and exits 0 when
// everything below held.
//
//   NATTER_URL      the balancer
//   NATTER_CLIENTS  how many clients (default 12)
//   NATTER_MODE     their transports: polling (the default), websocket, or
//                   polling+upgrade (the official client's default; READY
//                   once every client has upgraded)
//
// What must happen (docs/design.md, "A gateway dies"):
// - every client whose session the dead gateway owned loses it, reconnects
//   within 5 s (to a live gateway: a new session) and joins again with its
//   token;
// - the others may lose theirs only where a request of theirs was passing
//   through the dead gateway (a balancer that does not route by sid); the
//   Go test bounds how many dropped;
// - no client drops more than once, and every client ends connected;
// - no message acked ok is lost: a client that never dropped received every
//   one live; one that dropped has, live or in the room's history after it
//   came back, every one; and the room's history has each of them;
// - a client that never dropped received one sender's messages in order.

import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const url = process.env.NATTER_URL;
const N = Number(process.env.NATTER_CLIENTS || 12);
const mode = process.env.NATTER_MODE || "polling";
const transports = { polling: ["polling"], websocket: ["websocket"], "polling+upgrade": ["polling", "websocket"] }[mode];
if (!transports) throw new Error(`NATTER_MODE=${mode}: polling, websocket or polling+upgrade`);
const s = Math.random().toString(36).slice(2, 8);
const room = `kill-${mode.replace("+", "-")}-${s}`;
const fail = (msg) => {
  console.error("FAIL: " + msg);
  process.exit(1);
};
setTimeout(() => fail("timed out"), 90000).unref();
const ack = (sock, ev, p, ms = 5000) =>
  Promise.race([sock.emitWithAck(ev, p), new Promise((_, rej) => setTimeout(() => rej(new Error("no ack of " + ev)), ms))]);
const until = async (pred, ms, what) => {
  for (const end = Date.now() + ms; !pred(); ) {
    if (Date.now() > end) fail(what);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const stdin = createInterface({ input: process.stdin });
const lines = [];
stdin.on("line", (l) => lines.push(l));

const clients = [];
for (let i = 0; i < N; i++) {
  const sock = io(url, {
    transports, forceNew: true, timeout: 3000,
    reconnectionDelay: 100, reconnectionDelayMax: 500, randomizationFactor: 0,
  });
  const c = { i, sock, name: `PK${i}x${s}`, seen: [], drops: [], joins: 0, joined: false };
  sock.on("server message", (m) => c.seen.push(m.message));
  sock.on("disconnect", (why) => {
    c.joined = false;
    c.drops.push({ at: Date.now(), why });
    console.log(`client ${i} (${c.sid}) lost its session: ${why}`);
  });
  // Every (re)connection joins, again with the token after the first.
  sock.on("connect", async () => {
    c.sid = sock.io.engine.id;
    try {
      const r = await ack(sock, "join", { username: c.name, room, ...(c.token ? { token: c.token } : {}) });
      if (!r.ok || r.username !== c.name) fail(`client ${i} join: ${JSON.stringify(r)}`);
      c.token = r.token;
      c.joins++;
      c.joined = sock.connected;
      if (c.joins > 1) {
        c.backAt = Date.now();
        console.log(`client ${i} back as ${c.sid} after ${c.backAt - c.drops.at(-1).at} ms`);
      }
    } catch (e) {
      console.log(`client ${i} join failed (${e.message}); it will join on its next connect`);
    }
  });
  clients.push(c);
}
await until(() => clients.every((c) => c.joined), 30000, "every client joined");
if (mode === "polling+upgrade") {
  await until(() => clients.every((c) => c.sock.io.engine.transport.name === "websocket"), 15000, "every client upgraded");
}
for (const c of clients) console.log(`SID ${c.i} ${c.sid}`);

const acked = []; // texts of messages acked ok, in ack order
const say = async (c, text) => {
  try {
    const r = await ack(c.sock, "client message", { message: text });
    if (r.ok) acked.push(text);
    return r.ok;
  } catch {
    return false; // lost with a dropped session: not acked, so not owed
  }
};
if (!(await say(clients[0], "before"))) fail("message before the kill");
await until(() => clients.every((c) => c.seen.includes("before")), 5000, "everyone sees the message before the kill");

// One client talks all along, at under the rate limit.
let talking = true;
const talker = (async () => {
  for (let k = 0; talking; k++) {
    await say(clients[N - 1], `talk ${k}`);
    await new Promise((r) => setTimeout(r, 150));
  }
})();
console.log("READY");

await until(() => lines.some((l) => l.startsWith("KILLED ")), 20000, "the kill");
const killed = lines.find((l) => l.startsWith("KILLED ")).slice(7);
const killedAt = Date.now();
const owned = clients.filter((c) => c.sid.startsWith(killed + "."));
console.log(`${killed} killed; it owned the sessions of clients ${owned.map((c) => c.i).join(", ") || "(none)"}`);
if (owned.length === 0) fail("the killed gateway owned no session");

// Its clients lose their sessions and come back within 5 s.
await until(() => owned.every((c) => c.drops.length > 0), 5000, "the killed gateway's clients to notice");
await until(() => clients.every((c) => c.joined), 10000, "every client connected and joined again");
// Everyone talks once more; the talker stops.
for (const c of clients) {
  if (!(await say(c, `after ${c.i}`))) {
    // Dropped meanwhile? It comes back by itself; say it again then.
    await until(() => c.joined, 10000, `client ${c.i} to come back`);
    if (!(await say(c, `after ${c.i} again`))) fail(`client ${c.i} cannot talk after the kill`);
  }
}
talking = false;
await talker;
await until(() => clients.every((c) => c.joined), 10000, "every client connected at the end");

// Nothing acked is lost: the room's history has each acked message (read
// page by page, oldest first), and every client has it, live or, if it
// dropped, from that history.
const history = [];
for (let before; ; ) {
  const r = await ack(clients[0].sock, "history", { room, limit: 100, ...(before ? { before } : {}) });
  if (!r.ok) fail("history: " + JSON.stringify(r));
  history.unshift(...r.messages.map((m) => m.message));
  if (r.messages.length < 100) break;
  before = r.messages[0].id;
}
const stored = new Set(history);
const unstored = acked.filter((t) => !stored.has(t));
if (unstored.length) fail(`${unstored.length} acked messages are not in the room's history: ${JSON.stringify(unstored.slice(0, 5))}`);
const missing = (c, have) => acked.filter((t) => !have.has(t));
for (const c of clients) {
  const have = () => new Set(c.drops.length > 0 ? [...history, ...c.seen] : c.seen);
  // Messages acked after the last check may still be on their way: wait.
  await until(() => missing(c, have()).length === 0, 5000,
    `client ${c.i} (dropped ${c.drops.length}x) to have every acked message; missing ${JSON.stringify(missing(c, have()))}`);
}
// In order, for those that never dropped: one sender's messages, as sent.
for (const c of clients.filter((c) => c.drops.length === 0)) {
  const talk = c.seen.filter((t) => t.startsWith("talk ")).map((t) => Number(t.slice(5)));
  if (talk.some((k, j) => j > 0 && k <= talk[j - 1])) fail(`client ${c.i} got the talker's messages out of order: ${talk}`);
}
for (const c of clients.filter((c) => c.drops.length > 0)) {
  const took = c.backAt - c.drops[0].at;
  if (!(took <= 5000)) fail(`client ${c.i} took ${took} ms to come back`);
}
const twice = clients.filter((c) => c.drops.length > 1);
if (twice.length) fail(`clients dropped more than once: ${twice.map((c) => `${c.i}: ${c.drops.map((d) => d.why).join(", ")}`).join("; ")}`);
const also = clients.filter((c) => c.drops.length && !owned.includes(c));
console.log(`DROPPED ${owned.length + also.length} ${N}`);
console.log(`OK (${mode}): ${owned.length} client(s) of ${killed} and ${also.length} whose request passed through it came back; ` +
  `${N - owned.length - also.length} never noticed; ${acked.length} acked messages, all in the room's history; ` +
  `the last came back ${Math.max(...clients.filter((c) => c.drops.length).map((c) => c.backAt)) - killedAt} ms after the kill`);
for (const c of clients) {
  c.sock.off("disconnect");
  c.sock.close();
}
process.exit(0);
