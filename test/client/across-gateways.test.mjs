// Sessions that live on one gateway and are reached through a balancer:
// run by TestClusterAcrossGateways through the nginx of make cluster-up,
// which sends a session's requests to its owner (the gateways' forwarding,
// for balancers that do not, is run by TestPollingAcrossGatewaysInProcess).
//
//   NATTER_URL        the balancer
//   NATTER_SIDS_FILE  every Engine.IO session id used is appended here as
//                     "<mode> <sid>", for the Go test to find in nginx's log
//   NATTER_CLIENTS    clients per test (default 8)
//
// In each mode: connect, join one room, chat with acks, whisper, then every
// client loses its connection (its engine is closed under it), reconnects
// by itself, joins again with its token and chats on. With default options
// every client must end on WebSocket, each time: its upgrade reached a
// random gateway, most often not the one owning its session.

import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import { io } from "socket.io-client";
import { BASE, BASE_OPTS, MODES, envInt, next, onFinalTransport, suffix, withTimeout } from "./helpers.mjs";

const N = envInt("NATTER_CLIENTS", 8);
const SIDS = process.env.NATTER_SIDS_FILE;

const ack = (socket, event, payload, ms = 5000) =>
  withTimeout(socket.emitWithAck(event, payload), ms, `ack of ${event}`);

/** Waits until pred() holds, checking every 20 ms; fails after ms. */
async function until(pred, what, ms = 10000) {
  for (const end = Date.now() + ms; !pred(); ) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const mode of [MODES.find((m) => m.name === "polling+upgrade"), MODES.find((m) => m.name === "polling")]) {
  test(`${mode.name === "polling" ? "polling only" : "default options"}: chat, whisper, acks and reconnect across gateways`, async (t) => {
    const s = suffix();
    const room = `across-${s}`;
    const note = (sid) => SIDS && appendFileSync(SIDS, `${mode.name} ${sid}\n`);

    const clients = [];
    for (let i = 0; i < N; i++) {
      const socket = io(BASE, {
        ...BASE_OPTS, ...mode.opts,
        reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500, randomizationFactor: 0,
      });
      const c = { i, socket, name: `Across${i}x${s}`, seen: [], whispers: [] };
      t.after(() => {
        socket.io.reconnection(false);
        socket.disconnect();
      });
      socket.on("server message", (m) => c.seen.push(m.id));
      socket.on("whisper", (w) => c.whispers.push(w));
      clients.push(c);
    }

    // Each client on its final transport, then in the room.
    const settle = async (c) => {
      if (!c.socket.connected) await next(c.socket, "connect", 10000, { failOn: ["connect_error"] });
      await onFinalTransport(c.socket, mode, 10000);
      const engine = c.socket.io.engine;
      assert.equal(engine.transport.name, mode.final, `client ${c.i}'s transport`);
      note(engine.id);
      const r = await ack(c.socket, "join", { username: c.name, room, ...(c.token ? { token: c.token } : {}) });
      assert.equal(r.ok, true, JSON.stringify(r));
      assert.equal(r.username, c.name);
      c.token = r.token;
    };
    await Promise.all(clients.map(settle));

    // Every message, acked, reaches everyone, in the order of the stream.
    const chat = async (round) => {
      const ids = [];
      for (const c of clients) {
        const r = await ack(c.socket, "client message", { message: `${round} from ${c.i}` });
        assert.equal(r.ok, true, JSON.stringify(r));
        ids.push(r.id);
      }
      await until(() => clients.every((c) => ids.every((id) => c.seen.includes(id))), `everyone to see the ${round} messages`);
      for (const c of clients) {
        const got = c.seen.filter((id) => ids.includes(id));
        assert.deepEqual(got, ids, `client ${c.i} got the ${round} messages in order`);
      }
    };
    await chat("first");

    // A whisper, acked, reaches its recipient only.
    const [from, to, other] = clients;
    const w = await ack(from.socket, "whisper", { to: to.name, message: `psst ${s}` });
    assert.equal(w.ok, true, JSON.stringify(w));
    await until(() => to.whispers.some((x) => x.id === w.id), "the whisper");
    assert.equal(other.whispers.length, 0, "a bystander got the whisper");

    // Every client loses its connection and comes back by itself.
    for (const c of clients) {
      const back = next(c.socket, "connect", 10000);
      c.socket.io.engine.close();
      await back;
    }
    await Promise.all(clients.map(settle));
    await chat("second");
  });
}
