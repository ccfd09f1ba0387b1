// Redis goes down (the Go test kills it once NATTER_READY exists, then
// creates NATTER_DONE): joins fail fast with "unavailable", and users who
// had joined go on chatting.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { BASE, WS_OPTS as opts, sleep, suffix, withTimeout } from "./helpers.mjs";

test("with Redis down, joins fail fast and joined users chat on", async (t) => {
  const s = suffix();
  const room = `down-${s}`;
  const a = io(BASE, opts);
  const b = io(BASE, opts);
  t.after(() => [a, b].forEach((x) => x.disconnect()));
  for (const [sock, name] of [[a, `A${s}`], [b, `B${s}`]]) {
    const res = await withTimeout(sock.emitWithAck("join", { username: name, room }), 5000, "join");
    assert.equal(res.ok, true, JSON.stringify(res));
  }
  writeFileSync(process.env.NATTER_READY, "");
  while (!existsSync(process.env.NATTER_DONE)) await sleep(20);

  const late = io(BASE, opts);
  t.after(() => late.disconnect());
  const start = Date.now();
  const res = await withTimeout(late.emitWithAck("join", { username: `Late${s}`, room }), 10000, "join");
  const took = Date.now() - start;
  assert.equal(res.ok, false, JSON.stringify(res));
  assert.equal(res.error.code, "unavailable");
  assert.ok(took < 5000, `the join took ${took} ms to fail`);

  const heard = [];
  b.on("server message", (m) => heard.push(m.id));
  const sent = await withTimeout(a.emitWithAck("client message", { message: "still here" }), 5000, "ack");
  assert.equal(sent.ok, true, JSON.stringify(sent));
  while (!heard.includes(sent.id)) await sleep(20);
});
