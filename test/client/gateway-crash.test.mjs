// A gateway dies without a word (kill -9, by the Go test when NATTER_READY
// exists; it creates NATTER_DONE after).
//
//   NATTER_URL    the gateway that is killed: 50 users
//   NATTER_URL_2  the gateway that lives: the watcher, and 10 of the 50 move
//                 here as soon as their connection drops

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { BASE, URL2, WS_OPTS as opts, joined, sleep, suffix, withTimeout } from "./helpers.mjs";

test("leaves of a killed gateway's users within 15 s; not of those who moved", async (t) => {
  const s = suffix();
  const room = `crash-${s}`;
  const watcher = io(URL2, opts);
  t.after(() => watcher.disconnect());
  await joined(watcher, { username: `Watch${s}`, room });
  const leaves = [];
  watcher.on("leave", (l) => leaves.push({ ...l, at: Date.now() }));

  const movers = new Set();
  const moved = [];
  for (let i = 0; i < 50; i++) {
    const name = `C${i}x${s}`;
    const socket = io(BASE, opts);
    t.after(() => socket.disconnect());
    const res = await withTimeout(socket.emitWithAck("join", { username: name, room }), 5000, "join");
    assert.equal(res.ok, true, JSON.stringify(res));
    if (i < 10) {
      movers.add(name);
      socket.on("disconnect", async () => {
        const again = io(URL2, opts);
        t.after(() => again.disconnect());
        const r = await withTimeout(again.emitWithAck("join", { username: name, room, token: res.token }), 5000, "rejoin");
        moved.push(r.ok ? name : `${name}: ${JSON.stringify(r)}`);
      });
    }
  }

  writeFileSync(process.env.NATTER_READY, "");
  while (!existsSync(process.env.NATTER_DONE)) await sleep(10);
  const killed = Date.now();

  const stayers = 40;
  while (leaves.length < stayers && Date.now() - killed < 20000) await sleep(50);
  const late = leaves.filter((l) => l.at - killed > 15000);
  assert.equal(leaves.length, stayers, `leaves seen: ${leaves.length}`);
  assert.deepEqual(late, [], "leaves after 15 s");
  assert.deepEqual(moved.sort(), [...movers].sort(), "every mover rejoined elsewhere");
  // Past every grace: still no mover announced as leaving, nobody twice.
  await sleep(3000);
  assert.deepEqual(leaves.filter((l) => movers.has(l.username)), []);
  assert.equal(new Set(leaves.map((l) => l.username)).size, leaves.length, "a leave announced twice");
  const members = await withTimeout(watcher.emitWithAck("members", {}), 5000, "members");
  assert.deepEqual(members.members.map((m) => m.username).sort(), [...movers, `Watch${s}`].sort());
});
