// Presence converges after Redis comes back empty. A Go test restarts Redis
// between the phases, told by files:
//
//   NATTER_URL, NATTER_URL_2  two gateways
//   NATTER_READY              this test creates it when its users are in
//   NATTER_RESTARTED          the Go test creates it once Redis restarted

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { BASE, URL2, WS_OPTS as opts, sleep, suffix, withTimeout } from "./helpers.mjs";

test("member lists equal the truth within 30 s of Redis restarting empty", async (t) => {
  const s = suffix();
  const room = `resync-${s}`;
  const users = [];
  for (let i = 0; i < 20; i++) {
    const socket = io(i % 2 ? URL2 : BASE, opts);
    t.after(() => socket.disconnect());
    const res = await withTimeout(socket.emitWithAck("join", { username: `U${i}x${s}`, room }), 5000, "join");
    assert.equal(res.ok, true, JSON.stringify(res));
    users.push({ socket, name: `U${i}x${s}`, color: res.color });
  }
  const truth = users.map((u) => u.name).sort();
  // Four of them are in a second room too, on the same connection.
  const second = `${room}-b`;
  for (const u of users.slice(0, 4)) {
    const res = await withTimeout(u.socket.emitWithAck("join", { room: second, keep: true }), 5000, "join with keep");
    assert.equal(res.ok, true, JSON.stringify(res));
  }
  const truthB = users.slice(0, 4).map((u) => u.name).sort();

  // Load: a user talks all along.
  let talking = true;
  const acks = [];
  const talk = (async () => {
    while (talking) {
      try {
        acks.push(await withTimeout(users[0].socket.emitWithAck("client message", { room, message: "still here" }), 5000, "ack"));
      } catch (e) {
        acks.push({ ok: false, error: { code: String(e.message) } });
      }
      await sleep(150);
    }
  })();

  writeFileSync(process.env.NATTER_READY, "");
  while (!existsSync(process.env.NATTER_RESTARTED)) await sleep(20);
  const restarted = Date.now();

  let members = [];
  while (Date.now() - restarted < 30000) {
    const res = await withTimeout(users[1].socket.emitWithAck("members", { room }), 5000, "members").catch(() => null);
    members = res?.ok ? res.members : [];
    if (JSON.stringify(members.map((m) => m.username).sort()) === JSON.stringify(truth)) break;
    await sleep(200);
  }
  let membersB = [];
  while (Date.now() - restarted < 30000) {
    const res = await withTimeout(users[1].socket.emitWithAck("members", { room: second }), 5000, "members").catch(() => null);
    membersB = res?.ok ? res.members.map((m) => m.username).sort() : [];
    if (JSON.stringify(membersB) === JSON.stringify(truthB)) break;
    await sleep(200);
  }
  talking = false;
  await talk;
  assert.deepEqual(membersB, truthB, "the second room's members after the restart");
  assert.deepEqual(members.map((m) => m.username).sort(), truth, "members after the restart");
  for (const m of members) {
    assert.equal(m.color, users.find((u) => u.name === m.username).color, `${m.username} kept the colour`);
  }
  // Chat went on among joined users: messages kept being stored.
  assert.ok(acks.filter((a) => a.ok).length > 0);
  // Names are still held: nobody can take one.
  const other = io(BASE, opts);
  t.after(() => other.disconnect());
  const taken = await withTimeout(other.emitWithAck("join", { username: users[3].name, room }), 5000, "join");
  assert.equal(taken.ok, false);
  assert.equal(taken.error.code, "name_taken");
});
