// History across restarts, in two phases that a Go test runs around them.
//
//   NATTER_URL    a gateway
//   NATTER_STATE  a file where the write phase leaves what it sent
//   NATTER_PHASE  "write": join a fresh room and send 60 messages;
//                 "down":  with the history service down, join that room
//                          (with since, as a client coming back): the join
//                          holds, says history is unavailable, and a message
//                          sent now is still acked (stored by JetStream);
//                 "read":  join that room as a new user and check that the
//                          join ack carries the last 50, oldest first.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { BASE, BASE_OPTS, sendPaced, suffix, withTimeout } from "./helpers.mjs";

const phase = process.env.NATTER_PHASE;
const statePath = process.env.NATTER_STATE;

async function joinedClient(t, username, room) {
  const socket = io(BASE, { ...BASE_OPTS, transports: ["websocket"] });
  t.after(() => socket.disconnect());
  const res = await withTimeout(socket.emitWithAck("join", { username, room }), 10000, "join ack");
  assert.equal(res.ok, true, JSON.stringify(res));
  return [socket, res];
}

test(`history restart phase ${phase}`, async (t) => {
  assert.ok(statePath, "NATTER_STATE is set");
  if (phase === "write") {
    const s = suffix();
    const room = `restart-${s}`;
    const [socket] = await joinedClient(t, `W${s}`, room);
    const sent = [];
    for (let i = 0; i < 60; i++) {
      const res = await sendPaced(socket, `m${i}`, 10000);
      assert.equal(res.ok, true, JSON.stringify(res));
      sent.push({ id: res.id, message: `m${i}` });
    }
    writeFileSync(statePath, JSON.stringify({ room, sent }));
  } else if (phase === "down") {
    const state = JSON.parse(readFileSync(statePath, "utf8"));
    const s = suffix();
    const socket = io(BASE, { ...BASE_OPTS, transports: ["websocket"] });
    t.after(() => socket.disconnect());
    const res = await withTimeout(
      socket.emitWithAck("join", { username: `D${s}`, room: state.room, since: state.sent.at(-1).id }), 10000, "join ack");
    assert.equal(res.ok, true, JSON.stringify(res));
    assert.deepEqual(res.history, []);
    assert.equal(res.historyError?.code, "unavailable", "the ack says why there is no history");
    assert.equal(res.gap ?? false, false, "no gap is claimed: nothing is known");
    const later = await withTimeout(socket.emitWithAck("history", {}), 10000, "history ack");
    assert.equal(later.ok, false);
    assert.equal(later.error.code, "unavailable");
    const sent = await withTimeout(socket.emitWithAck("client message", { message: "while history was down" }), 10000, "message ack");
    assert.equal(sent.ok, true, JSON.stringify(sent));
    state.sent.push({ id: sent.id, message: "while history was down" });
    writeFileSync(statePath, JSON.stringify(state));
  } else if (phase === "read") {
    const { room, sent } = JSON.parse(readFileSync(statePath, "utf8"));
    const s = suffix();
    const [, res] = await joinedClient(t, `R${s}`, room);
    assert.deepEqual(
      res.history.map((m) => ({ id: m.id, message: m.message })),
      sent.slice(-50),
    );
  } else {
    assert.fail(`NATTER_PHASE must be write, down or read, not ${phase}`);
  }
});
