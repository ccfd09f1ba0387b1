// 100 long-polling clients in one room, through a balancer without sticky
// sessions (NATTER_URL): each receives every message, in order.
//
//   NATTER_FANOUT_CLIENTS  how many (default 100)

import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { BASE, BASE_OPTS, sendPaced, suffix, withTimeout } from "./helpers.mjs";

const N = Number(process.env.NATTER_FANOUT_CLIENTS || 100);
const MESSAGES = 30;

test(`${N} polling clients each receive every message in order`, async (t) => {
  const s = suffix();
  const room = `poll-${s}`;
  const clients = Array.from({ length: N }, () => {
    const socket = io(BASE, { ...BASE_OPTS, transports: ["polling"], timeout: 20000 });
    t.after(() => socket.disconnect());
    return socket;
  });
  const received = clients.map(() => []);
  clients.forEach((c, i) => c.on("server message", (m) => received[i].push(m.message)));
  const joins = await Promise.all(
    clients.map((c, i) => withTimeout(c.emitWithAck("join", { username: `Poll${i}x${s}`, room }), 30000, "join")),
  );
  joins.forEach((r) => assert.equal(r.ok, true, JSON.stringify(r)));

  const sender = clients[0];
  const sent = [];
  for (let i = 0; i < MESSAGES; i++) {
    const res = await sendPaced(sender, `m${i}`, 10000);
    assert.equal(res.ok, true, JSON.stringify(res));
    sent.push(`m${i}`);
  }
  await withTimeout(
    new Promise((resolve) => {
      const check = () => (received.every((r) => r.length >= MESSAGES) ? resolve() : setTimeout(check, 50));
      check();
    }),
    30000,
    "every client to receive every message",
  );
  received.forEach((r, i) => assert.deepEqual(r, sent, `client ${i}`));
});
