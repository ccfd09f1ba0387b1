// Presence through NATS trouble. A Go test (test/e2e/nats_trouble_test.go)
// makes the trouble between the phases, told by files:
//
//   NATTER_URL, NATTER_URL_2  two gateways; users on both, the canary on the first
//   NATTER_READY              this test creates it when its users are in
//   NATTER_DONE               the Go test creates it the moment NATS is back
//   NATTER_DOOMED=1           the second gateway was killed meanwhile: its users'
//                             leaves are due, after the dead-gateway bounds
//   NATTER_CUT=1              the second gateway's own link was cut, for longer than
//                             presence can tell it from dead: its users may be
//                             announced as leaving, but then as joining again
//   NATTER_FIGURES            where this test writes what it measured (JSON)
//
// Within 5 s of NATS returning, `members` lists everyone who is connected, a
// whisper to each of them is delivered, and the canary's messages are stored
// and heard again; past every bound of presence's (gateway timeout and grace),
// no one who stayed connected was announced as leaving. One user (on the first
// gateway) leaves 3 s into the trouble, when its gateway's leave may not reach
// presence: by then it is announced as leaving, once, and no longer a member.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { io } from "socket.io-client";
import { BASE, URL2, WS_OPTS as opts, sleep, suffix, withTimeout } from "./helpers.mjs";

const DOOMED = process.env.NATTER_DOOMED === "1";
const CUT = process.env.NATTER_CUT === "1";
const sorted = (xs) => [...xs].sort();

// converge is the Goal's bound after NATS returns; watch is how long after it
// returns this test keeps watching for leaves: past where a presence that let
// every gateway go would announce them (gateway timeout 6 s + grace 5 s after
// the trouble began), and past where a presence that syncs with a gateway
// once heard again (up to 2 s for a beat, then 11 s) reaps the leaver's
// connection if its leave never arrived; with a gateway killed, past the
// bounds of its users' leaves counted from NATS's return.
const converge = 5000;
const watch = 20000;
const doomedBound = 15000;

test("presence equals the truth within 5 s of NATS returning", async (t) => {
  const s = suffix();
  const room = `trouble-${s}`;
  const users = [];
  for (let i = 0; i < 16; i++) {
    const name = i === 0 ? `Canary${s}` : `U${i}x${s}`;
    const socket = io(i % 2 ? URL2 : BASE, opts);
    t.after(() => socket.disconnect());
    const u = { socket, name, doomed: DOOMED && i % 2 === 1, cut: CUT && i % 2 === 1, leaves: [], joins: [], whispers: [], heard: new Set() };
    socket.on("leave", (l) => u.leaves.push({ ...l, at: Date.now() }));
    socket.on("join", (j) => u.joins.push({ ...j, at: Date.now() }));
    socket.on("whisper", (w) => u.whispers.push(w.message));
    socket.on("server message", (m) => u.heard.add(m.id));
    const res = await withTimeout(socket.emitWithAck("join", { username: name, room }), 5000, "join");
    assert.equal(res.ok, true, JSON.stringify(res));
    users.push(u);
  }
  const canary = users[0];
  const leaver = users[2];
  const alive = users.filter((u) => !u.doomed && u !== leaver);
  const doomed = users.filter((u) => u.doomed);
  // It hears the notices presence sends while the second gateway is cut off.
  const listener = alive.filter((u) => !u.cut).at(-1);

  // The canary chats all along.
  const acks = [];
  let talking = true;
  const talk = (async () => {
    for (let n = 0; talking; n++) {
      const at = Date.now();
      const a = await withTimeout(canary.socket.emitWithAck("client message", { message: `canary ${n}` }), 5000, "ack").catch(
        (e) => ({ ok: false, error: { code: e.message } }),
      );
      acks.push({ ...a, at, back: Date.now() });
      await sleep(200);
    }
  })();

  // The joins each user saw were the others joining; from here on, none is due.
  await sleep(200);
  for (const u of users) u.joins.length = 0;
  writeFileSync(process.env.NATTER_READY, "");
  const leaving = sleep(3000).then(() => leaver.socket.disconnect());
  while (!existsSync(process.env.NATTER_DONE)) await sleep(10);
  await leaving;
  const back = Date.now();

  // Each alive user whispers the next, round after round, until every
  // whisper of a round is delivered; then the member list must equal the
  // truth, and the canary must be stored and heard again.
  const truth = sorted(alive.map((u) => u.name));
  const doomedNamesOf = (n) => doomed.some((u) => u.name === n);
  let whispered = false;
  let membersOK = false;
  let canaryOK = false;
  let members = [];
  let converged = 0;
  for (let round = 0; Date.now() - back < converge + 5000; round++) {
    if (!whispered) {
      const results = await Promise.all(
        alive.map(async (u, i) => {
          const to = alive[(i + 1) % alive.length];
          const text = `w${round}-${u.name}`;
          const a = await withTimeout(u.socket.emitWithAck("whisper", { to: to.name, message: text }), 2000, "whisper").catch(() => null);
          return { a, to, text };
        }),
      );
      await sleep(300);
      whispered = results.every((r) => r.a?.ok && r.to.whispers.includes(r.text));
    }
    const m = await withTimeout(listener.socket.emitWithAck("members", {}), 2000, "members").catch(() => null);
    members = m?.ok ? m.members.map((x) => x.username) : [];
    // Alive users must be there. The doomed and the leaver may still be,
    // until presence lets them go (after the bounds checked below).
    const extra = members.filter((n) => !truth.includes(n) && !(doomedNamesOf(n) || n === leaver.name));
    membersOK = truth.every((n) => members.includes(n)) && extra.length === 0;
    canaryOK = acks.some((a) => a.ok && a.at >= back && listener.heard.has(a.id));
    if (whispered && membersOK && canaryOK) {
      converged = Date.now() - back;
      break;
    }
    await sleep(100);
  }
  const figures = { converged, whispered, membersOK, canaryOK };

  // Watch on: no alive user is announced as leaving; the doomed are, each once.
  const doomedNames = new Set(doomed.map((u) => u.name));
  const doomedLeaves = () => listener.leaves.filter((l) => doomedNames.has(l.username));
  while (Date.now() - back < watch || (DOOMED && doomedLeaves().length < doomed.length && Date.now() - back < doomedBound + 2000)) {
    await sleep(100);
  }
  talking = false;
  await talk;
  const final = await withTimeout(listener.socket.emitWithAck("members", {}), 5000, "members");

  figures.canaryAcked = acks.filter((a) => a.ok).length;
  figures.canaryFailed = acks.filter((a) => !a.ok).length;
  const firstOK = acks.find((a) => a.ok && a.at >= back);
  figures.canaryBackAfter = firstOK ? firstOK.back - back : null;
  figures.doomedLeavesAfter = doomedLeaves().map((l) => l.at - back);
  const cutNames = new Set(users.filter((u) => u.cut).map((u) => u.name));
  const excused = (n) => doomedNames.has(n) || cutNames.has(n) || n === leaver.name;
  const wrongLeaves = alive.flatMap((u) => u.leaves.filter((l) => !excused(l.username)).map((l) => `${u.name} told ${l.username} left`));
  figures.wrongLeaves = wrongLeaves.length;
  figures.members = `${final.members.length} of ${truth.length}`;
  figures.leaverLeftAfter = listener.leaves.filter((l) => l.username === leaver.name).map((l) => l.at - back);
  // The listener is told each cut user left (if presence let them go) and,
  // after, joined again.
  const last = new Map();
  const notices = [...listener.leaves.map((l) => ({ ...l, ev: "leave" })), ...listener.joins.map((j) => ({ ...j, ev: "join" }))];
  for (const n of notices.sort((a, b) => a.at - b.at)) last.set(n.username, n.ev);
  figures.cutLeft = listener.leaves.filter((l) => cutNames.has(l.username)).length;
  figures.cutRejoinedAfter = listener.joins.filter((j) => cutNames.has(j.username)).map((j) => j.at - back);
  if (process.env.NATTER_FIGURES) writeFileSync(process.env.NATTER_FIGURES, JSON.stringify(figures));

  assert.deepEqual(wrongLeaves.slice(0, 5), [], `${wrongLeaves.length} leaves of users who never left`);
  const joins = alive.flatMap((u) => u.joins.filter((j) => !cutNames.has(j.username)).map((j) => `${u.name} told ${j.username} joined`));
  assert.deepEqual(joins.slice(0, 5), [], "joins of users who never left");
  assert.ok(whispered, "every alive user got a whisper within 5 s of NATS returning");
  assert.ok(membersOK, `members within 5 s: ${JSON.stringify(sorted(members))}`);
  assert.ok(canaryOK, "the canary was stored and heard within 5 s");
  assert.ok(converged <= converge, `converged ${converged} ms after NATS returned`);
  assert.deepEqual(sorted(final.members.map((m) => m.username)), truth, "members at the end");
  const leaverLeaves = listener.leaves.filter((l) => l.username === leaver.name);
  assert.equal(leaverLeaves.length, 1, `${leaver.name}, who left during the trouble, announced as leaving ${leaverLeaves.length} times`);
  if (CUT) {
    const wrong = [...cutNames].filter((n) => last.has(n) && last.get(n) !== "join");
    assert.deepEqual(wrong, [], "cut users last announced as leaving");
  }
  if (DOOMED) {
    const leaves = doomedLeaves();
    assert.deepEqual(sorted(leaves.map((l) => l.username)), sorted(doomedNames), "every user of the killed gateway left once");
    assert.ok(
      leaves.every((l) => l.at - back <= doomedBound),
      `their leaves came ${JSON.stringify(figures.doomedLeavesAfter)} ms after NATS returned`,
    );
    // Gone offline, their session lives: the whisper is kept for their next join.
    const gone = await withTimeout(canary.socket.emitWithAck("whisper", { to: doomed[0].name, message: "gone?" }), 5000, "whisper");
    assert.equal(gone.ok, true, `a whisper to ${doomed[0].name}, offline: ${JSON.stringify(gone)}`);
  }
});
