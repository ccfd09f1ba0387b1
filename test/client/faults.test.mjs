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
import { BASE, URL2, envInt, sleep, suffix, withTimeout } from "./helpers.mjs";

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
  const answers = { ok: 0, unavailable: 0, unknown_outcome: 0, other: 0, timeout: 0 };
  const ackedIds = new Map(); // text -> id
  const send = async (s, i, n) => {
    for (let k = 0; k < n; k++) {
      const text = `${i}:${k}`;
      for (;;) {
        let res;
        try {
          res = await s.timeout(10000).emitWithAck("client message", { message: text, clientId: `${run}-${text}` });
        } catch {
          answers.timeout++; // the ack is lost: resend
          continue;
        }
        if (res.ok) {
          answers.ok++;
          ackedIds.set(text, res.id);
          if (++acked % 100 === 0) writeFileSync(process.env.NATTER_PROGRESS, String(acked));
          break;
        }
        // Either may be answered while NATS or history restarts: unavailable
        // (not stored) and unknown_outcome (perhaps stored); the resend
        // under the same clientId stores it once either way.
        if (res.error?.code === "unavailable") answers.unavailable++;
        else if (res.error?.code === "unknown_outcome") answers.unknown_outcome++;
        else answers.other++;
        await sleep(100);
      }
    }
  };
  const per = Math.ceil(TOTAL / 3);
  await Promise.all(sockets.map((s, i) => send(s, i, Math.min(per, TOTAL - i * per))));
  writeFileSync(process.env.NATTER_PROGRESS, String(acked));
  console.log("answers", JSON.stringify(answers));
  assert.equal(answers.other, 0, "only unavailable and unknown_outcome may refuse a message");
  while (!existsSync(process.env.NATTER_DONE)) await sleep(20);

  // Read the whole room back, from a new connection.
  const reader = io(URL2, { forceNew: true, transports: ["websocket"] });
  t.after(() => reader.disconnect());
  const stored = [];
  let before;
  for (;;) {
    const page = await withTimeout(reader.emitWithAck("history", { room, before, limit: 100 }), 10000, "history");
    assert.equal(page.ok, true, JSON.stringify(page));
    stored.unshift(...page.messages);
    if (page.messages.length < 100) break;
    before = page.messages[0].id;
  }
  const count = new Map();
  for (const m of stored) count.set(m.message, (count.get(m.message) || 0) + 1);
  const twice = [...count].filter(([, n]) => n > 1).map(([m]) => m);
  const missing = [...ackedIds.keys()].filter((m) => !count.has(m));
  const wrongID = stored.filter((m) => ackedIds.get(m.message) !== m.id).map((m) => m.message);
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
