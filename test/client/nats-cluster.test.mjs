// Chat through a NATS node's fault (test/e2e/natscluster_fault_test.go):
// NATTER_CLIENTS clients in one room, through nginx, each sending numbered
// messages one after another, resending each (same clientId) until it is
// acked ok, while the Go test kills -9 or stops the NATS node that leads
// the stream. Afterwards: every acked message is in the room's history
// exactly once, under the id its ack gave, every client was delivered
// each acked message once, and the figures of the fault are printed.
//
//   NATTER_URL       nginx
//   NATTER_CLIENTS   clients (6)
//   NATTER_PROGRESS  this test writes how many messages were acked to it
//   NATTER_FAULT     the Go test writes the fault's start and end into it
//                    (milliseconds since the epoch, "start end")
//   NATTER_READY     created when the clients have joined and chat
//   NATTER_DONE      created by the Go test when the fault is over and
//                    the chat went on: the clients stop sending
//   NATTER_MEMBERS   1: afterwards every client must be connected, and
//                    presence's members of the room the clients' names
//                    (the rolling restart, test/e2e/rolling_restart_test.go)

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { BASE, envInt, newAnswers, readRoom, sendUntilStored, sleep, storedOnce, suffix, withTimeout } from "./helpers.mjs";

const CLIENTS = envInt("NATTER_CLIENTS", 6);
// A message not acked ok within this long, resends included, fails the test.
const GIVE_UP_MS = 60000;

test(`${CLIENTS} clients chat through a NATS node's fault: acked means stored once, delivered once`, async (t) => {
  const run = suffix();
  const room = `natsfault-${run}`;
  const clients = [];
  t.after(() => clients.forEach((c) => c.s.disconnect()));
  for (let i = 0; i < CLIENTS; i++) {
    const s = io(BASE, { forceNew: true, transports: ["websocket"], reconnectionDelay: 100, reconnectionDelayMax: 500 });
    const c = { i, s, name: `N${i}x${run}`, seen: new Map(), reconnects: 0, acks: [] };
    s.on("server message", (m) => {
      if (m.room === undefined || m.room === room) c.seen.set(m.message, (c.seen.get(m.message) || 0) + 1);
    });
    await withTimeout(new Promise((res, rej) => { s.once("connect", res); s.once("connect_error", rej); }), 10000, "connect");
    const r = await withTimeout(s.emitWithAck("join", { username: c.name, room }), 10000, "join");
    assert.equal(r.ok, true, JSON.stringify(r));
    c.token = r.token;
    // A connection lost anyway (its gateway cut it) comes back recovered,
    // or joins again with its token.
    s.on("connect", async () => {
      c.reconnects++;
      if (s.recovered) return;
      const again = await s.timeout(10000).emitWithAck("join", { username: c.name, room, token: c.token }).catch((e) => ({ ok: false, error: String(e) }));
      if (!again.ok) console.log(`client ${i}: join again: ${JSON.stringify(again)}`);
    });
    clients.push(c);
  }

  let acked = 0;
  // Whole, by rename: the Go test reads it while the clients chat.
  const progress = () => {
    writeFileSync(process.env.NATTER_PROGRESS + ".new", String(acked));
    renameSync(process.env.NATTER_PROGRESS + ".new", process.env.NATTER_PROGRESS);
  };
  const answers = newAnswers();
  const ackedIds = new Map(); // text -> id
  const ackedAt = new Map(); // text -> when its ack came
  const done = () => existsSync(process.env.NATTER_DONE);
  // unavailable (no leader: not stored) and unknown_outcome (perhaps
  // stored) may be answered while the stream has no leader or a service's
  // NATS connection moves; sendUntilStored resends under the same clientId.
  const send = async (c) => {
    for (let k = 0; !done(); k++) {
      const text = `${c.i}:${k}`;
      const sent = Date.now();
      const res = await sendUntilStored(c.s, text, `${run}-${text}`, answers, { giveUpMs: GIVE_UP_MS });
      ackedIds.set(text, res.id);
      ackedAt.set(text, Date.now());
      c.acks.push({ sent, at: Date.now() });
      if (++acked % 10 === 0) progress();
      await sleep(20);
    }
  };
  writeFileSync(process.env.NATTER_READY, "");
  await Promise.all(clients.map(send));
  progress();

  // The figures of the fault.
  const [faultStart, faultEnd] = readFileSync(process.env.NATTER_FAULT, "utf8").trim().split(" ").map(Number);
  const all = clients.flatMap((c) => c.acks).sort((a, b) => a.at - b.at);
  let gap = 0;
  for (let j = 1; j < all.length; j++) gap = Math.max(gap, all[j].at - all[j - 1].at);
  // Chat resumes for a client at its first ack ok after the fault of a
  // message it sent after the fault began.
  const resumed = clients.map((c) => (c.acks.find((a) => a.sent >= faultStart) || { at: NaN }).at - faultStart);
  const figures = {
    acked, answers: { ...answers, errors: undefined }, longestAckGapMs: gap,
    everyClientResumedMs: Math.max(...resumed), firstResumedMs: Math.min(...resumed),
    faultMs: faultEnd - faultStart, reconnects: clients.reduce((n, c) => n + c.reconnects, 0),
  };
  console.log("FIGURES " + JSON.stringify(figures));
  assert.deepEqual([...answers.errors], [], "only unavailable and unknown_outcome may refuse a message");
  assert.ok(resumed.every((ms) => ms >= 0), `every client had a message acked after the fault: ${resumed}`);

  // No client gets a message twice, nor misses one. JetStream republishes
  // a stored message from its leader, once, and a leader killed between
  // its ack and the republish takes the copies still on their way to other
  // nodes with it (seen before the gateways filled such gaps: 2 messages
  // missed by 2 clients of 6, in 1 run of 9). A gateway now sees the gap in
  // the next message of the room (its Nats-Last-Sequence) and reads what
  // it missed back from the stream first. A settle time first, for the
  // last ones in flight.
  const undelivered = (c) => [...ackedIds.keys()].filter((m) => !c.seen.has(m));
  for (const end = Date.now() + 10000; Date.now() < end && clients.some((c) => undelivered(c).length > 0); ) await sleep(50);
  const twice = clients.flatMap((c) => [...c.seen].filter(([, n]) => n > 1).map(([m, n]) => `client ${c.i}: ${m} ×${n}`));
  const missed = clients.map((c) => undelivered(c).length);
  console.log(`delivered twice: ${twice.length}; acked but not delivered, per client: ${missed}`);
  for (const c of clients) {
    const when = undelivered(c).slice(0, 5).map((m) => `${m} acked ${ackedAt.get(m) - faultStart} ms after the fault began`);
    if (when.length) console.log(`client ${c.i} was not delivered: ${when.join("; ")}`);
  }
  assert.deepEqual(twice.slice(0, 10), [], `${twice.length} deliveries of a message a client had already had`);
  assert.deepEqual(missed, clients.map(() => 0), "acked messages some client was not delivered");
  if (process.env.NATTER_MEMBERS === "1") await membersAreTheClients(clients, room);

  // The whole room, from history, through a new connection.
  const reader = io(BASE, { forceNew: true, transports: ["websocket"] });
  t.after(() => reader.disconnect());
  // History, whose NATS connection may have moved too, can be briefly
  // unavailable: it is asked again, for a while.
  const { stored, refused } = await readRoom(reader, room, { retries: 50 });
  const { twice: dup, missing: lost, wrongID } = storedOnce(stored, ackedIds);
  console.log(`history: ${stored.length} stored, ${ackedIds.size} acked, ${lost.length} lost, ${dup.length} stored twice; ${refused} queries refused (unavailable)`);
  assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acked but not in history`);
  assert.deepEqual(dup.slice(0, 10), [], `${dup.length} stored twice`);
  assert.deepEqual(wrongID.slice(0, 10), [], `${wrongID.length} stored under another id than acked`);
  assert.equal(stored.length, ackedIds.size, "history holds only the acked messages");
});

// Every client ends connected, and presence's members of the room are the
// clients' names: no one left over from a connection that is gone, no one
// missing. Presence may take a moment to hear of the last moves: asked
// again for up to 20 s.
async function membersAreTheClients(clients, room) {
  const truth = clients.map((c) => c.name).sort();
  const start = Date.now();
  let got;
  for (const end = start + 20000; ; await sleep(500)) {
    const down = clients.filter((c) => !c.s.connected).map((c) => c.i);
    const res = down.length ? { ok: false } : await clients[0].s.timeout(5000).emitWithAck("members", { room }).catch((e) => ({ ok: false, error: String(e) }));
    got = res.ok ? res.members.map((m) => m.username).sort() : { down, res };
    if (res.ok && JSON.stringify(got) === JSON.stringify(truth)) break;
    if (Date.now() > end) break;
  }
  console.log(`members: ${JSON.stringify(got)} after ${Date.now() - start} ms`);
  assert.ok(clients.every((c) => c.s.connected), `clients not connected: ${clients.filter((c) => !c.s.connected).map((c) => c.i)}`);
  assert.deepEqual(got, truth, "presence's members of the room are the connected clients");
}
