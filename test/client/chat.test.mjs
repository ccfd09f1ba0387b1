// The chat end to end, with the official socket.io-client, in each transport mode.
//
//   NATTER_URL    a gateway (clients A and B connect here)
//   NATTER_URL_2  another gateway of the same system (client C connects here); default NATTER_URL
//
// Names carry a random suffix so that runs do not meet each other's sessions.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { BASE, MODES, URL2, ack, chatClient, joined, sendPaced, suffix, withTimeout } from "./helpers.mjs";

/** Collects the payloads of event on socket. */
function collect(socket, event) {
  const seen = [];
  socket.on(event, (p) => seen.push(p));
  return seen;
}

/** Waits until pred(seen) holds, checking whenever event arrives. */
function until(socket, event, seen, pred, what, ms = 5000) {
  if (pred(seen)) return Promise.resolve();
  return withTimeout(
    new Promise((resolve) => {
      const check = () => {
        if (pred(seen)) {
          socket.off(event, check);
          resolve();
        }
      };
      socket.on(event, check);
    }),
    ms,
    what,
  );
}

for (const mode of MODES) {
  describe(`chat over ${mode.name}`, () => {
    test("three users: messages, joins, whispers, leaves, unique names", async (t) => {
      const s = suffix();
      const [nameA, nameB, nameC] = [`Alice${s}`, `Bob${s}`, `Chul${s}`];
      const room = "lobby";
      const A = chatClient(t, BASE, mode);
      const B = chatClient(t, BASE, mode);
      const C = chatClient(t, URL2, mode);
      const joinsA = collect(A, "join");
      const joinsB = collect(B, "join");
      const joinsC = collect(C, "join");

      const a = await joined(A, { username: nameA, room });
      assert.equal(a.username, nameA);
      assert.equal(a.room, room);
      assert.match(a.color, /^#[0-9a-f]{6}$/);
      assert.ok(a.token.length >= 20, "a session token");
      assert.ok(a.members.some((m) => m.username === nameA && m.color === a.color), "A among the members");
      assert.ok(Array.isArray(a.history));

      const b = await joined(B, { username: nameB, room });
      await until(A, "join", joinsA, (j) => j.some((x) => x.username === nameB), "A told of B");

      const c = await joined(C, { username: nameC, room });
      assert.ok(c.members.some((m) => m.username === nameA), "C sees A among the members");
      await until(B, "join", joinsB, (j) => j.some((x) => x.username === nameC), "B told of C");
      const cNotice = joinsB.find((x) => x.username === nameC);
      assert.deepEqual(cNotice, { username: nameC, color: c.color, room });

      // A's message reaches A, B and C, with A's colour (the seed's io.emit).
      const msgsA = collect(A, "server message");
      const msgsB = collect(B, "server message");
      const msgsC = collect(C, "server message");
      const text = `안녕하세요 ${s} <b>hi</b>`;
      const sent = await ack(A, "client message", { message: text, clientId: `m-${s}` });
      assert.equal(sent.ok, true, JSON.stringify(sent));
      assert.match(sent.id, /^[0-9A-Z]{26}$/);
      for (const [who, sock, seen] of [["A", A, msgsA], ["B", B, msgsB], ["C", C, msgsC]]) {
        await until(sock, "server message", seen, (m) => m.some((x) => x.id === sent.id), `${who} gets A's message`);
        const got = seen.find((x) => x.id === sent.id);
        assert.deepEqual(got, { id: sent.id, room, username: nameA, color: a.color, message: text, ts: sent.ts });
      }
      // C was not told of its own join.
      assert.ok(!joinsC.some((x) => x.username === nameC), "C told of its own join");
      assert.ok(!joinsA.some((x) => x.username === nameA), "A told of its own join");

      // A second connection of A (another tab) resumes A's session by token.
      const A2 = chatClient(t, URL2, mode);
      const a2 = await joined(A2, { username: nameA, room, token: a.token });
      assert.equal(a2.username, nameA);
      assert.equal(a2.color, a.color);

      // A whispers C: C and A's other tab get it; B and A's sending tab do not.
      const whB = collect(B, "whisper");
      const whA = collect(A, "whisper");
      const whA2 = collect(A2, "whisper");
      const whC = collect(C, "whisper");
      const w = await ack(A, "whisper", { to: nameC.toLowerCase(), message: `psst ${s}` });
      assert.equal(w.ok, true, JSON.stringify(w));
      const want = { id: w.id, from: nameA, to: nameC, message: `psst ${s}`, ts: w.ts };
      await until(C, "whisper", whC, (x) => x.length > 0, "C gets the whisper");
      assert.deepEqual(whC, [want]);
      await until(A2, "whisper", whA2, (x) => x.length > 0, "A's other tab gets the whisper");
      assert.deepEqual(whA2, [want]);
      // A message sent after the whisper reaches B: had B been sent the whisper, it would have come first.
      const after = await ack(A, "client message", { message: `after ${s}` });
      await until(B, "server message", msgsB, (m) => m.some((x) => x.id === after.id), "B gets the later message");
      await until(A, "server message", msgsA, (m) => m.some((x) => x.id === after.id), "A gets the later message");
      assert.deepEqual(whB, [], "B saw the whisper");
      assert.deepEqual(whA, [], "the sending tab got its own whisper back");

      // Whispering someone who is not online.
      const nobody = await ack(A, "whisper", { to: `Nobody${s}`, message: "hello?" });
      assert.equal(nobody.ok, false);
      assert.equal(nobody.error.code, "no_such_user");

      // A fourth client wants A's name, in other case, while A is online.
      const D = chatClient(t, URL2, mode);
      const d = await ack(D, "join", { username: nameA.toLowerCase(), room });
      assert.equal(d.ok, false);
      assert.equal(d.error.code, "name_taken");
      // ... and the connection stays usable.
      const d2 = await joined(D, { username: `Dora${s}`, room });
      assert.equal(d2.username, `Dora${s}`);

      // C leaves: A and B are told.
      const leavesA = collect(A, "leave");
      const leavesB = collect(B, "leave");
      C.disconnect();
      await until(A, "leave", leavesA, (l) => l.some((x) => x.username === nameC), "A told of C's leave");
      await until(B, "leave", leavesB, (l) => l.some((x) => x.username === nameC), "B told of C's leave");
      assert.deepEqual(leavesA.find((x) => x.username === nameC), { username: nameC, room });
    });

    test("a later join moves the connection to another room", async (t) => {
      const s = suffix();
      const [r1, r2] = [`one-${s}`, `two-${s}`];
      const A = chatClient(t, BASE, mode);
      const B = chatClient(t, BASE, mode);
      const C = chatClient(t, URL2, mode);
      const a = await joined(A, { username: `Mover${s}`, room: r1 });
      await joined(B, { username: `Stay${s}`, room: r1 });
      await joined(C, { username: `There${s}`, room: r2 });
      const leavesB = collect(B, "leave");
      const joinsC = collect(C, "join");
      const moved = await joined(A, { username: `Mover${s}`, room: r2, token: a.token });
      assert.equal(moved.room, r2);
      assert.equal(moved.color, a.color);
      assert.ok(moved.members.some((m) => m.username === `There${s}`));
      assert.ok(!moved.members.some((m) => m.username === `Stay${s}`));
      await until(B, "leave", leavesB, (l) => l.some((x) => x.username === `Mover${s}` && x.room === r1), "B told A left");
      await until(C, "join", joinsC, (j) => j.some((x) => x.username === `Mover${s}` && x.room === r2), "C told A came");
      // A hears room two, not room one.
      const heardA = collect(A, "server message");
      const inOne = await ack(B, "client message", { message: `in one ${s}` });
      const inTwo = await ack(C, "client message", { message: `in two ${s}` });
      await until(A, "server message", heardA, (m) => m.some((x) => x.id === inTwo.id), "A hears room two");
      assert.ok(!heardA.some((x) => x.id === inOne.id), "A still hears room one");
    });

    test("history on join: the newest 50 messages, oldest first", async (t) => {
      const s = suffix();
      const room = `hist-${s}`;
      const W = chatClient(t, BASE, mode);
      await joined(W, { username: `Writer${s}`, room });
      const ids = [];
      for (let i = 0; i < 60; i++) {
        // Within the rate limit: the burst allows 20 at once, then 10 a second.
        const res = await sendPaced(W, `n${i}`);
        assert.equal(res.ok, true, JSON.stringify(res));
        ids.push(res.id);
      }
      const R = chatClient(t, URL2, mode);
      const r = await joined(R, { username: `Reader${s}`, room });
      assert.equal(r.memberCount, 2, "the join ack counts the members");
      assert.equal(r.history.length, 50);
      assert.deepEqual(r.history.map((m) => m.id), ids.slice(10));
      assert.deepEqual(r.history.map((m) => m.message), ids.slice(10).map((_, i) => `n${i + 10}`));

      // Paging back: the ten before the oldest the join carried.
      const older = await ack(R, "history", { before: r.history[0].id, limit: 10 });
      assert.equal(older.ok, true, JSON.stringify(older));
      assert.equal(older.room, room);
      assert.deepEqual(older.messages.map((m) => m.id), ids.slice(0, 10));
      const none = await ack(R, "history", { before: ids[0] });
      assert.deepEqual(none.messages, []);
      const tooMany = await ack(R, "history", { limit: 101 });
      assert.equal(tooMany.ok, false);
      assert.equal(tooMany.error.code, "bad_request");

      // Who is here, and which rooms are busy.
      const members = await ack(R, "members", {});
      assert.deepEqual(members.members.map((m) => m.username).sort(), [`Reader${s}`, `Writer${s}`].sort());
      assert.equal(members.memberCount, 2);
      assert.equal(members.more, false);
      // A page at a time, in name order, the count on each.
      const [first, second] = members.members.map((m) => m.username);
      const page1 = await ack(R, "members", { limit: 1 });
      assert.deepEqual([page1.members.map((m) => m.username), page1.memberCount, page1.more], [[first], 2, true]);
      const page2 = await ack(R, "members", { after: first, limit: 1 });
      assert.deepEqual([page2.members.map((m) => m.username), page2.memberCount, page2.more], [[second], 2, false]);
      for (const bad of [{ limit: 101 }, { limit: -1 }, { after: "" + "!".repeat(3) }]) {
        const r = await ack(R, "members", bad);
        assert.equal(r.ok, false, JSON.stringify(bad));
        assert.equal(r.error.code, "bad_request", JSON.stringify(bad));
      }
      const rooms = await ack(R, "rooms", {});
      assert.equal(rooms.ok, true, JSON.stringify(rooms));
      assert.deepEqual(rooms.rooms.find((x) => x.room === room), { room, count: 2 });
    });

    test("bad input gets its error code and the connection stays usable", async (t) => {
      const s = suffix();
      const X = chatClient(t, BASE, mode);
      const cases = [
        ["join", { username: "" }, "invalid_name"],
        ["join", { username: "x".repeat(33) }, "invalid_name"],
        ["join", { username: "<script>" }, "invalid_name"],
        ["join", { username: "a\u202eb" }, "invalid_name"],
        ["join", { username: `Ok${s}`, room: "bad room" }, "invalid_room"],
        ["join", { username: `Ok${s}`, room: "a.b" }, "invalid_room"],
        ["join", { username: `Ok${s}`, room: "r".repeat(33) }, "invalid_room"],
        ["join", "not an object", "bad_request"],
        ["client message", { message: "hi" }, "not_joined"],
        ["whisper", { to: "someone", message: "hi" }, "not_joined"],
      ];
      for (const [event, payload, code] of cases) {
        const res = await ack(X, event, payload);
        assert.equal(res.ok, false, `${event} ${JSON.stringify(payload)} accepted`);
        assert.equal(res.error.code, code, `${event} ${JSON.stringify(payload)}: ${JSON.stringify(res)}`);
        assert.equal(typeof res.error.message, "string");
      }
      const ok = await joined(X, { username: `한글이름${s}`, room: `방-${s}` });
      assert.equal(ok.username, `한글이름${s}`);
      for (const [payload, code] of [
        [{ message: "" }, "invalid_message"],
        [{ message: "   " }, "invalid_message"],
        [{ message: "가".repeat(2001) }, "message_too_long"],
        [{}, "invalid_message"],
        [{ message: "hi", clientId: "c".repeat(129) }, "bad_request"],
      ]) {
        const res = await ack(X, "client message", payload);
        assert.equal(res.ok, false);
        assert.equal(res.error.code, code, JSON.stringify(res));
      }
      for (const [event, payload] of [
        ["history", { before: "not an id" }],
        ["history", { before: "01m8bgnadamxadyzgntcjf27as" }],
        ["history", { limit: 101 }],
        ["history", { limit: -1 }],
        ["whispers", { before: "01M8BGNADAMXADYZGNTCJF27A" }],
        ["whispers", { limit: 1000 }],
        ["whispers", { with: "<b>" }],
      ]) {
        const res = await ack(X, event, payload);
        assert.equal(res.ok, false, `${event} ${JSON.stringify(payload)} accepted`);
        assert.ok(["bad_request", "invalid_name"].includes(res.error.code), `${event} ${JSON.stringify(payload)}: ${JSON.stringify(res)}`);
      }
      const mine = collect(X, "server message");
      const long = await ack(X, "client message", { message: "가".repeat(2000) });
      assert.equal(long.ok, true, "2000 Korean characters are allowed");
      await until(X, "server message", mine, (m) => m.some((x) => x.id === long.id), "the long message back");
      assert.equal(mine.find((x) => x.id === long.id).message, "가".repeat(2000));
    });
  });
}
