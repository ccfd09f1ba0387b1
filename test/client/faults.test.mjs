// Acked means stored, through faults: three clients send NATTER_TOTAL
// numbered messages in all, each resending (same clientId) until it gets
// an ack with ok:true, while the Go test kills and restarts the history
// service, then NATS, then the history service again. Afterwards every
// message is in the room's history exactly once.
//
//   NATTER_URL, NATTER_URL_2  two gateways
//   NATTER_TOTAL              messages in all (10000)
//   NATTER_PROGRESS           this test writes how many were acked to it
//   NATTER_READY              created when the clients have joined
//   NATTER_DONE               created by the Go test when the faults are over

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { BASE, URL2, envInt, newAnswers, readRoom, sendUntilStored, sleep, storedOnce, suffix, withTimeout } from "./helpers.mjs";

const TOTAL = envInt("NATTER_TOTAL", 10000);

test(`${TOTAL} messages through NATS and history restarts: acked means stored, once`, async (t) => {
  const run = suffix();
  const room = `faults-${run}`;
  const sockets = [BASE, BASE, URL2].map((url) => io(url, { forceNew: true, transports: ["websocket"] }));
  t.after(() => sockets.forEach((s) => s.disconnect()));
  for (const [i, s] of sockets.entries()) {
    const res = await withTimeout(s.emitWithAck("join", { username: `F${i}x${run}`, room }), 5000, "join");
    assert.equal(res.ok, true, JSON.stringify(res));
  }
  writeFileSync(process.env.NATTER_READY, "");

  let acked = 0;
  const answers = newAnswers();
  const ackedIds = new Map(); // text -> id
  // unavailable and unknown_outcome may be answered while NATS or history
  // restarts; sendUntilStored resends under the same clientId.
  const send = async (s, i, n) => {
    for (let k = 0; k < n; k++) {
      const text = `${i}:${k}`;
      const res = await sendUntilStored(s, text, `${run}-${text}`, answers, { ms: 10000 });
      ackedIds.set(text, res.id);
      if (++acked % 100 === 0) writeFileSync(process.env.NATTER_PROGRESS, String(acked));
    }
  };
  const per = Math.ceil(TOTAL / 3);
  await Promise.all(sockets.map((s, i) => send(s, i, Math.min(per, TOTAL - i * per))));
  writeFileSync(process.env.NATTER_PROGRESS, String(acked));
  console.log("answers", JSON.stringify({ ...answers, errors: [...answers.errors] }));
  assert.equal(answers.other, 0, "only unavailable and unknown_outcome may refuse a message");
  while (!existsSync(process.env.NATTER_DONE)) await sleep(20);

  // Read the whole room back, from a new connection.
  const reader = io(URL2, { forceNew: true, transports: ["websocket"] });
  t.after(() => reader.disconnect());
  const { stored } = await readRoom(reader, room);
  const { twice, missing, wrongID } = storedOnce(stored, ackedIds);
  assert.deepEqual(twice.slice(0, 10), [], `${twice.length} stored twice`);
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acked but missing`);
  assert.deepEqual(wrongID.slice(0, 10), [], `${wrongID.length} stored under another id than acked`);
  assert.equal(stored.length, TOTAL);
  // One sender's messages in the order sent.
  for (let i = 0; i < 3; i++) {
    const ks = stored.filter((m) => m.message.startsWith(`${i}:`)).map((m) => Number(m.message.split(":")[1]));
    assert.deepEqual(ks, [...ks].sort((a, b) => a - b), `client ${i}'s messages out of order`);
  }
});
