// Renaming a session, with the official socket.io-client over WebSocket on
// two gateways: both tabs of the session take the new name ("renamed"),
// the room hears "user renamed", what the other tab sends then carries the
// new name, and the token and colour stay.
//
//   NATTER_URL, NATTER_URL_2  two gateways of one system

import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { BASE, URL2, WS_OPTS as opts, next, suffix, withTimeout } from "./helpers.mjs";

function tabOf(t, url) {
  const socket = io(url, opts);
  t.after(() => socket.disconnect());
  return socket;
}

const ask = (socket, event, payload) => withTimeout(socket.emitWithAck(event, payload), 5000, `${event} ack`);

test("rename keeps the session on every gateway", async (t) => {
  const x = suffix();
  const room = "rename-" + x;
  const [from, to, bobName] = ["민지" + x, "지수" + x, "Bob" + x];
  const tab1 = tabOf(t, BASE);
  const joined = await ask(tab1, "join", { username: from, room });
  assert.equal(joined.ok, true);
  const tab2 = tabOf(t, URL2);
  assert.equal((await ask(tab2, "join", { room, token: joined.token })).ok, true);
  const bob = tabOf(t, BASE);
  assert.equal((await ask(bob, "join", { username: bobName, room })).ok, true);

  assert.equal((await ask(tab1, "rename", { username: bobName })).error.code, "name_taken");

  const renamed2 = next(tab2, "renamed");
  const heard = next(bob, "user renamed");
  const ack = await ask(tab1, "rename", { username: to });
  assert.deepEqual(ack, { ok: true, username: to, color: joined.color, token: joined.token });
  assert.deepEqual((await renamed2)[0], { from, username: to, color: joined.color });
  assert.deepEqual((await heard)[0], { room, from, username: to, color: joined.color });

  const said = next(bob, "server message");
  assert.equal((await ask(tab2, "client message", { message: "hi " + x })).ok, true);
  assert.equal((await said)[0].username, to);

  const members = await ask(bob, "members", { room });
  assert.deepEqual(members.members.map((m) => m.username).sort(), [bobName, to].sort());
  assert.equal(members.memberCount, 2);
});
