// Recovery when the gateway a client was on dies: R connects through a
// round-robin balancer over two gateways, A talks on a third. The Go test kills -9 R's gateway once
// NATTER_READY exists, and creates NATTER_DONE. R reconnects through the
// balancer to the other gateway, is recovered (the official client's
// socket.recovered), and gets exactly what it missed, whispers included.
//
//   NATTER_URL    the balancer (R)
//   NATTER_URL_2  the third gateway (A)
//   NATTER_MODE   R's transports: "websocket", "polling" (its requests go to both
//                 gateways, the owner's through the other), or "default" (polling,
//                 then the upgrade)

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { BASE, URL2, joined, sleep, suffix, withTimeout } from "./helpers.mjs";

async function until(pred, what, ms = 10000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test("a client whose gateway is killed is recovered on another with exactly what it missed", async (t) => {
  const x = suffix();
  const room = `crash-recover-${x}`;
  const a = io(URL2, { forceNew: true, transports: ["websocket"] });
  const transports = { websocket: { transports: ["websocket"] }, polling: { transports: ["polling"] } }[process.env.NATTER_MODE] ?? {};
  const r = io(BASE, { forceNew: true, ...transports, reconnectionDelay: 1500, randomizationFactor: 0 });
  t.after(() => [a, r].forEach((s) => s.disconnect()));
  const t0 = Date.now();
  const trace = (what) => console.log(`R +${Date.now() - t0} ms: ${what}`);
  r.on("connect", () => trace(`connect, recovered ${r.recovered}, ${r.io.engine.transport.name}`));
  r.on("disconnect", (reason, d) => trace(`disconnect: ${reason} ${d ? d.message || JSON.stringify(d) : ""}`));
  r.io.on("reconnect_attempt", (n) => trace(`reconnect attempt ${n}`));
  r.io.on("open", () => r.io.engine.on("upgrade", (tr) => trace(`upgraded to ${tr.name}`)));
  const send = async (event, payload) => {
    const res = await withTimeout(a.emitWithAck(event, payload), 5000, event);
    assert.equal(res.ok, true, JSON.stringify(res));
    return res;
  };
  await joined(a, { username: `A${x}`, room });
  await joined(r, { username: `R${x}`, room });
  const got = [];
  const whispers = [];
  r.on("server message", (m) => got.push(m.id));
  r.on("whisper", (w) => whispers.push(w.id));
  const first = await send("client message", { message: "before" });
  await until(() => got.length === 1, "the first message");

  const dropped = new Promise((ok) => r.once("disconnect", ok));
  const back = new Promise((ok) => r.once("connect", ok));
  writeFileSync(process.env.NATTER_READY, "");
  await withTimeout(dropped, 30000, "R's disconnect");
  const missed = [];
  for (let i = 0; i < 15; i++) missed.push((await send("client message", { message: `missed ${i}` })).id);
  const w = await send("whisper", { to: `R${x}`, message: "while you were away" });
  await withTimeout(back, 20000, "R's reconnect");
  assert.equal(r.recovered, true, "recovered");
  while (!existsSync(process.env.NATTER_DONE)) await sleep(10);
  const last = await send("client message", { message: "after" });
  await until(() => got.includes(last.id), "the message after");
  assert.deepEqual(got, [first.id, ...missed, last.id], "each message once, in order");
  assert.deepEqual(whispers, [w.id]);
  const mine = await withTimeout(r.emitWithAck("client message", { message: "still joined" }), 5000, "send");
  assert.equal(mine.ok, true, JSON.stringify(mine));
});
