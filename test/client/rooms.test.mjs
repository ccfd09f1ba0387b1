// Several rooms on one connection (proto/README.md, "Several rooms"). R is
// in two rooms on one gateway (NATTER_URL, a balancer over two); B, in one
// of them, on another gateway over long-polling, and C, in the other, over
// WebSocket there (NATTER_URL_2). Then R's gateway is killed -9 and
// restarted (the Go test does it once NATTER_READY exists, then creates
// NATTER_DONE): R is recovered in both rooms with what each missed.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { BASE, URL2, ack, joined, sleep, suffix, withTimeout } from "./helpers.mjs";

async function until(pred, what, ms = 10000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const sent = async (socket, payload) => {
  const res = await ack(socket, "client message", payload);
  assert.equal(res.ok, true, JSON.stringify(res));
  return res.id;
};

/** Records a socket's room events: messages (room, id), joins and leaves. */
function watch(socket) {
  const seen = { messages: [], joins: [], leaves: [] };
  socket.on("server message", (m) => seen.messages.push(`${m.room}:${m.id}`));
  socket.on("join", (n) => seen.joins.push(`${n.room}:${n.username}`));
  socket.on("leave", (n) => seen.leaves.push(`${n.room}:${n.username}`));
  return seen;
}

const opts = { forceNew: true, reconnection: false, timeout: 5000 };

test("one connection in two rooms: each room's events, leave room, tabs once, disconnect leaves all", async (t) => {
  const x = suffix();
  const lobby = `lobby-${x}`;
  const kitchen = `kitchen-${x}`;
  const r = io(BASE, { ...opts, transports: ["websocket"] });
  const b = io(URL2, { ...opts, transports: ["polling"] }); // another gateway, long-polling
  const c = io(URL2, { ...opts, transports: ["websocket"] });
  const tabs = [];
  t.after(() => [r, b, c, ...tabs].forEach((s) => s.disconnect()));
  await joined(b, { username: `B${x}`, room: kitchen });
  await joined(c, { username: `C${x}`, room: lobby });
  const seenR = watch(r);
  const seenB = watch(b);
  const seenC = watch(c);

  const first = await joined(r, { username: `R${x}`, room: lobby });
  const second = await joined(r, { room: kitchen, keep: true });
  assert.equal(second.room, kitchen);
  assert.equal(second.username, first.username, "the connection's user");
  assert.deepEqual(second.members.map((m) => m.username).sort(), [`B${x}`, `R${x}`]);
  const R = first.username;
  await until(() => seenB.joins.includes(`${kitchen}:${R}`), "B told of R's join of kitchen");
  await until(() => seenC.joins.includes(`${lobby}:${R}`), "C told of R's join of lobby");

  // Each message to its room only; without a room, the current one (kitchen).
  const toLobby = await sent(r, { room: lobby, message: "to lobby" });
  const toKitchen = await sent(r, { message: "to the current room" });
  const fromB = await sent(b, { message: "from B" });
  const fromC = await sent(c, { message: "from C" });
  await until(() => seenR.messages.length === 4, "R's four messages");
  await until(() => seenB.messages.length === 2 && seenC.messages.length === 2, "B's and C's two");
  assert.deepEqual(seenR.messages.slice().sort(), [`${kitchen}:${toKitchen}`, `${kitchen}:${fromB}`, `${lobby}:${toLobby}`, `${lobby}:${fromC}`].sort());
  assert.deepEqual(seenB.messages, [`${kitchen}:${toKitchen}`, `${kitchen}:${fromB}`]);
  assert.deepEqual(seenC.messages, [`${lobby}:${toLobby}`, `${lobby}:${fromC}`]);

  // Typing names its room too.
  const typing = new Promise((ok) => c.once("typing", ok));
  r.emit("typing", { room: lobby, on: true });
  assert.deepEqual(await withTimeout(typing, 5000, "C told of R typing"), { username: R, room: lobby, on: true });

  // Not in that room; past the limit is the gateway's (see the Go test).
  const garden = await ack(r, "client message", { room: `garden-${x}`, message: "nobody" });
  assert.equal(garden.error?.code, "not_in_room", JSON.stringify(garden));
  // An edit names its room too: lobby's message, kitchen being current.
  const seenEdit = new Promise((ok) => c.once("message edited", ok));
  const edited = await ack(r, "edit message", { room: lobby, id: toLobby, message: "to lobby, edited" });
  assert.equal(edited.ok, true, JSON.stringify(edited));
  assert.equal((await withTimeout(seenEdit, 5000, "C told of the edit")).id, toLobby);
  const elsewhere = await ack(r, "delete message", { room: `garden-${x}`, id: toLobby });
  assert.equal(elsewhere.error?.code, "not_in_room", JSON.stringify(elsewhere));
  const other = await ack(r, "join", { username: `Z${x}`, room: `garden-${x}`, keep: true });
  assert.equal(other.error?.code, "bad_request", "keep joins as the connection's user");
  // The gateways' limit (NATTER_MAX_ROOMS): a room past it is refused.
  const max = Number(process.env.NATTER_MAX_ROOMS);
  const extra = [];
  for (let i = 2; i < max; i++) extra.push((await joined(r, { room: `extra${i}-${x}`, keep: true })).room);
  const past = await ack(r, "join", { room: `past-${x}`, keep: true });
  assert.equal(past.error?.code, "too_many_rooms", JSON.stringify(past));
  for (const room of extra) assert.equal((await ack(r, "leave room", { room })).ok, true);
  const lobbyCount = await ack(r, "members", { room: lobby });
  assert.equal(lobbyCount.memberCount, 2, JSON.stringify(lobbyCount));

  // A second tab of R in kitchen: no second join notice, R counted once.
  const tab = io(BASE, { ...opts, transports: ["websocket"] });
  tabs.push(tab);
  await joined(tab, { room: kitchen, token: first.token });
  const counted = await ack(b, "members", { room: kitchen });
  assert.equal(counted.memberCount, 2, `R once, whatever its tabs: ${JSON.stringify(counted)}`);

  // R leaves kitchen: its messages stop for R; B is not told while the tab
  // is there, and is told once when the tab leaves too.
  const left = await ack(r, "leave room", { room: kitchen });
  assert.deepEqual(left, { ok: true, room: kitchen, rooms: [lobby] });
  const again = await ack(r, "leave room", { room: kitchen });
  assert.equal(again.error?.code, "not_in_room");
  const afterLeave = await sent(b, { message: "R has gone" });
  const inLobby = await sent(r, { message: "the current room is lobby again" });
  await until(() => seenC.messages.includes(`${lobby}:${inLobby}`), "R's message, to lobby");
  await until(() => seenB.messages.includes(`${kitchen}:${afterLeave}`), "B's message");
  tab.disconnect();
  await until(() => seenB.leaves.includes(`${kitchen}:${R}`), "B told of R's leave");
  await sent(c, { message: "barrier" });
  await until(() => seenR.messages.length === 6, "R's lobby messages");
  assert.ok(!seenR.messages.includes(`${kitchen}:${afterLeave}`), "kitchen's message after R left it");
  assert.deepEqual(seenB.leaves, [`${kitchen}:${R}`], "told once");
  // (the checks of D's and R's later leaves count R's kitchen leaves)
  assert.ok(!seenB.messages.includes(`${lobby}:${inLobby}`), "lobby's message at B");

  // A plain join moves a connection out of all its rooms: D, in lobby and
  // kitchen, joins garden; both rooms are told of its leave.
  const d = io(BASE, { ...opts, transports: ["websocket"] });
  tabs.push(d);
  const D = (await joined(d, { username: `D${x}`, room: lobby })).username;
  await joined(d, { room: kitchen, keep: true });
  const moved = await joined(d, { username: D, room: `garden-${x}` });
  assert.equal(moved.room, `garden-${x}`);
  await until(() => seenB.leaves.includes(`${kitchen}:${D}`) && seenC.leaves.includes(`${lobby}:${D}`), "D's leaves");
  const dRooms = await ack(d, "leave room", { room: lobby });
  assert.equal(dRooms.error?.code, "not_in_room", "D moved out of lobby");
  d.disconnect();

  // Back in kitchen, then R disconnects: both rooms are told.
  await joined(r, { room: kitchen, keep: true, since: toKitchen });
  await until(() => seenB.joins.filter((j) => j === `${kitchen}:${R}`).length === 2, "B told of R's return");
  r.disconnect();
  await until(() => seenB.leaves.filter((l) => l === `${kitchen}:${R}`).length === 2 && seenC.leaves.includes(`${lobby}:${R}`), "both rooms told of R's leave");
  const rooms = await ack(b, "rooms", {});
  const count = (room) => rooms.rooms.find((e) => e.room === room)?.count;
  assert.equal(count(kitchen), 1, JSON.stringify(rooms));
  assert.equal(count(lobby), 1, JSON.stringify(rooms));
});

test("a connection in two rooms is recovered in both after its gateway is killed and restarted", async (t) => {
  const x = suffix();
  const lobby = `rlobby-${x}`;
  const kitchen = `rkitchen-${x}`;
  const mode = { websocket: { transports: ["websocket"] }, polling: { transports: ["polling"] } }[process.env.NATTER_MODE] ?? {};
  const r = io(BASE, { forceNew: true, ...mode, reconnectionDelay: 1500, randomizationFactor: 0 });
  const a = io(URL2, { ...opts, transports: ["websocket"] });
  const b = io(URL2, { ...opts, transports: ["polling"] });
  t.after(() => [r, a, b].forEach((s) => s.disconnect()));
  await joined(a, { username: `A${x}`, room: lobby });
  await joined(b, { username: `B${x}`, room: kitchen });
  await joined(r, { username: `R${x}`, room: lobby });
  await joined(r, { room: kitchen, keep: true });
  const seenR = watch(r);
  const seenA = watch(a);
  const seenB = watch(b);
  const before = [await sent(a, { message: "lobby before" }), await sent(b, { message: "kitchen before" })];
  await until(() => seenR.messages.length === 2, "the messages before");

  const dropped = new Promise((ok) => r.once("disconnect", ok));
  const back = new Promise((ok) => r.once("connect", ok));
  writeFileSync(process.env.NATTER_READY, "");
  await withTimeout(dropped, 30000, "R's disconnect");
  const missedLobby = [];
  const missedKitchen = [];
  for (let i = 0; i < 5; i++) {
    missedLobby.push(await sent(a, { message: `lobby missed ${i}` }));
    missedKitchen.push(await sent(b, { message: `kitchen missed ${i}` }));
  }
  await withTimeout(back, 30000, "R's reconnect");
  assert.equal(r.recovered, true, "recovered");
  while (!existsSync(process.env.NATTER_DONE)) await sleep(10);

  const inRoom = (room) => seenR.messages.filter((m) => m.startsWith(`${room}:`)).map((m) => m.slice(room.length + 1));
  await until(() => seenR.messages.length === 12, "what R missed");
  assert.deepEqual(inRoom(lobby), [before[0], ...missedLobby], "lobby's, each once, in order");
  assert.deepEqual(inRoom(kitchen), [before[1], ...missedKitchen], "kitchen's, each once, in order");

  // Still in both, kitchen the current room.
  const toLobby = await sent(r, { room: lobby, message: "back in lobby" });
  const toKitchen = await sent(r, { message: "back in kitchen" });
  await until(() => seenA.messages.includes(`${lobby}:${toLobby}`), "A gets R's lobby message");
  await until(() => seenB.messages.includes(`${kitchen}:${toKitchen}`), "B gets R's kitchen message");
  assert.ok(!seenA.messages.includes(`${lobby}:${toKitchen}`) && !seenB.messages.includes(`${kitchen}:${toLobby}`), "each to its room");
  for (const room of [lobby, kitchen]) {
    const m = await ack(r, "members", { room });
    assert.equal(m.memberCount, 2, `${room}: ${JSON.stringify(m)}`);
  }
});
