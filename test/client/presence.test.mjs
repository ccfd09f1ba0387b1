// Presence that tells the truth, with the official socket.io-client over WebSocket.
//
//   NATTER_URL, NATTER_URL_2  two gateways of one system
//   NATTER_GRACE_MS           the presence grace period the system runs with

import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { BASE, URL2, WS_OPTS as opts, suffix, withTimeout } from "./helpers.mjs";

const GRACE = Number(process.env.NATTER_GRACE_MS || 5000);

function tabOf(t, url) {
  const socket = io(url, opts);
  t.after(() => socket.disconnect());
  return socket;
}

async function join(socket, payload) {
  const res = await withTimeout(socket.emitWithAck("join", payload), 5000, "join ack");
  assert.equal(res.ok, true, JSON.stringify(res));
  return res;
}

function collect(socket, event) {
  const seen = [];
  socket.on(event, (p) => seen.push(p));
  return seen;
}

/** Resolves when pred() holds, polling every 20 ms, or rejects after ms. */
function eventually(pred, what, ms = 5000) {
  return withTimeout(
    new Promise((resolve) => {
      const check = () => (pred() ? resolve() : setTimeout(check, 20));
      check();
    }),
    ms,
    what,
  );
}

/** A round trip through the room: once it is back, earlier notices have arrived too. */
async function settle(observer) {
  const seen = collect(observer, "server message");
  const res = await withTimeout(observer.emitWithAck("client message", { message: "sync" }), 5000, "sync ack");
  await eventually(() => seen.some((m) => m.id === res.id), "sync message back");
}

test("three tabs, one reloading: listed once, announced once; closing the last announces one leave at once", async (t) => {
  const s = suffix();
  const room = `tabs-${s}`;
  const name = `Tabby${s}`;
  const watcher = tabOf(t, URL2);
  await join(watcher, { username: `Watch${s}`, room });
  const joins = collect(watcher, "join");
  const leaves = collect(watcher, "leave");

  const tab1 = tabOf(t, BASE);
  const first = await join(tab1, { username: name, room });
  const tab2 = tabOf(t, URL2);
  await join(tab2, { username: name, room, token: first.token });
  const tab3 = tabOf(t, BASE);
  const third = await join(tab3, { username: name, room, token: first.token });
  assert.equal(third.members.filter((m) => m.username === name).length, 1, "listed once");

  // Tab 3 reloads: its transport is lost, and it comes back within the grace.
  tab3.io.engine.close();
  const tab3b = tabOf(t, URL2);
  await join(tab3b, { username: name, room, token: first.token });
  await settle(watcher);
  assert.equal(joins.filter((j) => j.username === name).length, 1, "announced once");
  assert.equal(leaves.filter((l) => l.username === name).length, 0, "a reload is not a leave");
  const members = await withTimeout(watcher.emitWithAck("members", {}), 5000, "members");
  assert.equal(members.members.filter((m) => m.username === name).length, 1);

  // Closing tabs deliberately: nothing until the last.
  tab1.disconnect();
  tab2.disconnect();
  await settle(watcher);
  assert.equal(leaves.filter((l) => l.username === name).length, 0, "left with a tab still open");
  const closed = Date.now();
  tab3b.disconnect();
  await eventually(() => leaves.some((l) => l.username === name), "the leave");
  assert.ok(Date.now() - closed < GRACE, `a deliberate leave waited ${Date.now() - closed} ms`);
  // Past the grace of the reloaded tab's lost transport: still exactly one leave.
  await new Promise((r) => setTimeout(r, GRACE + 1000));
  await settle(watcher);
  assert.equal(leaves.filter((l) => l.username === name).length, 1, "exactly one leave");
});

test("a lost transport announces the leave after the grace", async (t) => {
  const s = suffix();
  const room = `lost-${s}`;
  const watcher = tabOf(t, URL2);
  await join(watcher, { username: `Watch${s}`, room });
  const leaves = collect(watcher, "leave");
  const tab = tabOf(t, BASE);
  tab.io.reconnection(false);
  await join(tab, { username: `Gone${s}`, room });
  const lost = Date.now();
  tab.io.engine.close();
  await eventually(() => leaves.some((l) => l.username === `Gone${s}`), "the leave", GRACE + 5000);
  const after = Date.now() - lost;
  assert.ok(after >= GRACE - 100, `announced after ${after} ms, before the ${GRACE} ms grace`);
  assert.equal(leaves.filter((l) => l.username === `Gone${s}`).length, 1);
});

test("impostor names are refused while the name is online", async (t) => {
  const s = suffix();
  const owner = tabOf(t, BASE);
  await join(owner, { username: `alice${s}` });
  for (const impostor of [`Alice${s}`, `\u0430lice${s}`, `ali\u200bce${s}`, `ａｌｉｃｅ${s}`, `ALİCE${s}`.replace("İ", "I")]) {
    const other = tabOf(t, URL2);
    const res = await withTimeout(other.emitWithAck("join", { username: impostor }), 5000, "join ack");
    assert.equal(res.ok, false, `${JSON.stringify(impostor)} was let in`);
    assert.ok(["name_taken", "invalid_name"].includes(res.error.code), JSON.stringify(res));
  }
});
