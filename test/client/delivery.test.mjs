// Delivery you can count on, with the official socket.io-client: a resend
// is stored once, whispers stay between their two users, a join resumes
// after the last message seen, and a dropped connection is recovered with
// exactly what it missed. Each scenario runs in every transport mode.
//
//   NATTER_URL              a gateway
//   NATTER_URL_2            another gateway of the same system; default NATTER_URL
//   NATTER_DEDUP_WINDOW_MS  JetStream's deduplication window of the system under test
//   NATTER_SESSION_TTL_MS   presence's session time to live, when the system
//                           under test has a short one: the test of a freed
//                           name runs only then (it waits for a name to free)

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { BASE, MODES, URL2, ack, chatClient, envInt, joined, sleep, suffix, withTimeout } from "./helpers.mjs";

const WINDOW = envInt("NATTER_DEDUP_WINDOW_MS", 0);
const SESSION_TTL = envInt("NATTER_SESSION_TTL_MS", 0);

async function sent(socket, event, payload) {
  const res = await ack(socket, event, payload);
  assert.equal(res.ok, true, `${event} ${JSON.stringify(payload)}: ${JSON.stringify(res)}`);
  return res;
}

/** Collects [payload, offset] of event on socket. */
function collect(socket, event) {
  const seen = [];
  socket.on(event, (p, offset) => seen.push([p, offset]));
  return seen;
}

async function until(pred, what, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Every message of room, paging back through history. */
async function wholeHistory(socket, room) {
  const all = [];
  let before;
  for (;;) {
    const page = await ack(socket, "history", { room, before, limit: 100 });
    assert.equal(page.ok, true, JSON.stringify(page));
    all.unshift(...page.messages);
    if (page.messages.length < 100) return all;
    before = page.messages[0].id;
  }
}

for (const mode of MODES) {
  describe(`delivery (${mode.name})`, () => {
    const s = suffix;

    test("a resend with the same clientId is stored and delivered once, within and past JetStream's window", async (t) => {
      const x = s();
      const room = `once-${x}`;
      const a = chatClient(t, BASE, mode);
      const b = chatClient(t, URL2, mode);
      await joined(a, { username: `A${x}`, room });
      await joined(b, { username: `B${x}`, room });
      const seen = collect(b, "server message");

      const first = await sent(a, "client message", { message: "only once", clientId: `k-${x}` });
      const again = await sent(a, "client message", { message: "only once", clientId: `k-${x}` });
      assert.equal(again.id, first.id, "a resend within the window answers with the stored message");
      assert.equal(again.ts, first.ts);
      const bWhispers = collect(b, "whisper");
      const w1 = await sent(a, "whisper", { to: `B${x}`, message: "once, privately", clientId: `w-${x}` });
      const w2 = await sent(a, "whisper", { to: `B${x}`, message: "once, privately", clientId: `w-${x}` });
      assert.deepEqual([w2.id, w2.ts], [w1.id, w1.ts], "a resent whisper answers with the stored one");
      if (WINDOW > 0) {
        await sleep(WINDOW + 500); // past JetStream's window: only the bucket remembers
        const late = await sent(a, "client message", { message: "only once", clientId: `k-${x}` });
        assert.equal(late.id, first.id, "a resend past the window answers with the stored message");
      }
      // The same clientId from another user is another message.
      const other = await sent(b, "client message", { message: "only once", clientId: `k-${x}` });
      assert.notEqual(other.id, first.id);

      await sent(a, "client message", { message: "marker" });
      await until(() => seen.some(([m]) => m.message === "marker"), "the marker");
      assert.deepEqual(seen.filter(([m]) => m.id === first.id).length, 1, "delivered once");
      assert.deepEqual(bWhispers.map(([w]) => w.id), [w1.id], "the whisper delivered once");
      const history = await wholeHistory(a, room);
      assert.equal(history.filter((m) => m.id === first.id).length, 1, "stored once");
      assert.equal(history.filter((m) => m.message === "only once").length, 2, "A's and B's");
    });

    test("whispers reach only their two users; nobody else can read them by any request", async (t) => {
      const x = s();
      const room = `private-${x}`;
      const [A, B, C] = [`A${x}`, `B${x}`, `C${x}`];
      const a = chatClient(t, BASE, mode);
      const b = chatClient(t, URL2, mode);
      const c = chatClient(t, URL2, mode);
      await joined(a, { username: A, room });
      await joined(b, { username: B, room });
      await joined(c, { username: C, room });
      const cGot = [];
      c.onAny((event, ...args) => cGot.push(JSON.stringify([event, ...args])));
      const bWhispers = collect(b, "whisper");

      const secret = `secret ${x} <b>between A and B</b>`;
      const w = await sent(a, "whisper", { to: B, message: secret });
      await until(() => bWhispers.length === 1, "B's whisper");
      assert.equal(bWhispers[0][0].message, secret);
      assert.equal(typeof bWhispers[0][1], "string", "a whisper carries its recovery offset");

      // A and B read it back; only them.
      const mine = await sent(a, "whispers", {});
      assert.deepEqual(mine.whispers.map((v) => v.id), [w.id]);
      const withA = await sent(b, "whispers", { with: A });
      assert.deepEqual(withA.whispers.map((v) => v.id), [w.id]);
      assert.deepEqual((await sent(b, "whispers", { with: C })).whispers, []);

      const answers = [];
      for (const q of [{}, { with: A }, { with: B }, { with: A.toUpperCase() }, { user: B }, { user: A, with: B }, { limit: 100 }]) {
        answers.push(await ack(c, "whispers", q));
      }
      for (const q of [{}, { room }, { room, limit: 100 }, { room: "lobby" }, { room: B }, { room: `${A}/${B}` }]) {
        answers.push(await ack(c, "history", q));
      }
      answers.push(await ack(c, "join", { username: B, room })); // B's name: refused
      answers.push(await ack(c, "join", { username: C, room, since: w.id }));
      // A recovery with made-up pids, from a new connection of C's.
      for (const pid of [A, B, w.id, "", "0"]) {
        const r = chatClient(t, URL2, mode, { auth: { pid, offset: "0" } });
        r.onAny((event, ...args) => cGot.push(JSON.stringify([event, ...args])));
        await withTimeout(new Promise((ok) => r.on("connect", ok)), 5000, "connect");
        assert.equal(r.recovered, false, `pid ${JSON.stringify(pid)} recovered nothing`);
        answers.push(await ack(r, "whispers", {}));
        answers.push(await ack(r, "history", { room }));
      }
      await sent(a, "client message", { message: `marker ${x}` });
      await until(() => cGot.some((e) => e.includes(`marker ${x}`)), "C's marker");
      const leaked = [...answers.map((v) => JSON.stringify(v)), ...cGot].filter((v) => v.includes(`secret ${x}`));
      assert.deepEqual(leaked, [], "C saw the whisper");
      assert.ok(!(await wholeHistory(a, room)).some((m) => m.message === secret), "a whisper in room history");
    });

    test("a session's whispers reach all its tabs, and come back to it after a reconnect with its token", async (t) => {
      const x = s();
      const room = `tabs-${x}`;
      const [A, B] = [`A${x}`, `B${x}`];
      const a1 = chatClient(t, BASE, mode);
      const a2 = chatClient(t, URL2, mode);
      const b = chatClient(t, URL2, mode);
      const { token } = await joined(a1, { username: A, room });
      assert.equal((await joined(a2, { token, room: `${room}-other` })).username, A, "the second tab is A");
      await joined(b, { username: B, room });
      const [got1, got2, gotB] = [collect(a1, "whisper"), collect(a2, "whisper"), collect(b, "whisper")];

      const w1 = await sent(b, "whisper", { to: A, message: `to both tabs ${x}` });
      await until(() => got1.length === 1 && got2.length === 1, "both of A's tabs get B's whisper");
      const w2 = await sent(a1, "whisper", { to: B, message: `from a tab ${x}` });
      await until(() => gotB.length === 1 && got2.length === 2, "B and A's other tab get A's whisper");
      assert.deepEqual(got1.map(([w]) => w.id), [w1.id], "the sending tab got its own whisper back");
      assert.deepEqual(got2.map(([w]) => w.id), [w1.id, w2.id]);
      assert.deepEqual(gotB.map(([w]) => w.id), [w2.id], "B's own whisper echoed to B");
      for (const tab of [a1, a2]) {
        assert.deepEqual((await sent(tab, "whispers", {})).whispers.map((w) => w.id), [w1.id, w2.id]);
      }

      // Both tabs gone; the session lives on, and its token brings it back,
      // through the other gateway, with its whispers.
      for (const tab of [a1, a2]) {
        const gone = new Promise((ok) => tab.once("disconnect", ok));
        tab.disconnect();
        await gone;
      }
      const a3 = chatClient(t, URL2, mode);
      assert.equal((await joined(a3, { username: A, token, room })).token, token, "the same session");
      const got3 = collect(a3, "whisper");
      assert.deepEqual((await sent(a3, "whispers", {})).whispers.map((w) => w.id), [w1.id, w2.id]);
      assert.deepEqual((await sent(a3, "whispers", { with: B })).whispers.map((w) => w.id), [w1.id, w2.id]);
      const w3 = await sent(b, "whisper", { to: A, message: `after the reconnect ${x}` });
      await until(() => got3.length === 1, "the reconnected A gets B's whisper");
      assert.equal(got3[0][0].id, w3.id);
    });

    test("a freed name carries none of its old holder's whispers, and the old token reaches none of the new holder's",
      { skip: SESSION_TTL === 0 && "needs a short session TTL: NATTER_SESSION_TTL_MS" }, async (t) => {
      const x = s();
      const room = `freed-${x}`;
      const [A, B] = [`A${x}`, `B${x}`];
      const old = chatClient(t, BASE, mode);
      const b = chatClient(t, URL2, mode);
      const { token: oldToken } = await joined(old, { username: A, room });
      await joined(b, { username: B, room });
      const [gotOld, gotB] = [collect(old, "whisper"), collect(b, "whisper")];
      const w1 = await sent(old, "whisper", { to: B, message: `secret ${x} from the first A` });
      const w2 = await sent(b, "whisper", { to: A, message: `secret ${x} to the first A` });
      await until(() => gotB.length === 1 && gotOld.length === 1, "the first A and B whisper");
      const pid = old._pid;
      const offset = old._lastOffset;
      assert.ok(pid && offset, "the client keeps a pid and an offset");
      old.io.engine.close(); // the transport is lost, and no reconnection: the session ends in time

      // Another user takes the name as soon as it is free, on the gateway
      // where the old token comes back below.
      const neu = chatClient(t, BASE, mode);
      const gotNew = collect(neu, "whisper");
      const answers = [];
      const deadline = Date.now() + SESSION_TTL + 20000;
      for (;;) {
        const res = await ack(neu, "join", { username: A, room });
        if (res.ok) {
          assert.notEqual(res.token, oldToken);
          break;
        }
        assert.equal(res.error?.code, "name_taken", JSON.stringify(res));
        if (Date.now() > deadline) throw new Error(`the name ${A} was never freed`);
        await sleep(500); // within the join budget of a connection (1/s, burst 10)
      }
      // The old token, by a join and by recovery, on a client that listens.
      const byToken = chatClient(t, BASE, mode);
      const gotByToken = [];
      byToken.onAny((event, ...args) => gotByToken.push(JSON.stringify([event, ...args])));
      await withTimeout(new Promise((ok) => byToken.on("connect", ok)), 5000, "connect");
      for (const q of [{ token: oldToken, room }, { username: A, token: oldToken, room }]) {
        const res = await ack(byToken, "join", q);
        assert.equal(res.ok, false, `the old token joined again: ${JSON.stringify(res)}`);
        answers.push(res);
      }
      answers.push(await ack(byToken, "whispers", {}));
      const back = chatClient(t, BASE, mode, { auth: { pid, offset } });
      back.onAny((event, ...args) => gotByToken.push(JSON.stringify([event, ...args])));
      await withTimeout(new Promise((ok) => back.on("connect", ok)), 5000, "connect");
      assert.notEqual(back._pid, pid, "the old connection was recovered");
      answers.push(await ack(back, "whispers", {}));

      // The new A reads nothing of the first one's; a whisper to A now is the new A's only.
      const mine = await sent(neu, "whispers", {});
      answers.push(mine);
      assert.deepEqual(mine.whispers, [], "the new A reads the first A's whispers");
      assert.deepEqual((await sent(neu, "whispers", { with: B })).whispers, []);
      const w3 = await sent(b, "whisper", { to: A, message: `secret ${x} to the new A` });
      await until(() => gotNew.length === 1, "the new A gets B's whisper");
      assert.equal(gotNew[0][0].id, w3.id);
      assert.deepEqual((await sent(neu, "whispers", {})).whispers.map((w) => w.id), [w3.id]);
      // B's session is the same throughout: B has all three, and B's
      // conversation with A is the one with whoever holds the name now.
      assert.deepEqual((await sent(b, "whispers", {})).whispers.map((w) => w.id), [w1.id, w2.id, w3.id]);
      // The old token's connections, on the new A's gateway, were sent
      // nothing: a last whisper marks when they would have been.
      const w4 = await sent(b, "whisper", { to: A, message: `secret ${x} marker` });
      await until(() => gotNew.length === 2, "the marker whisper");
      assert.equal(gotNew[1][0].id, w4.id);
      const leaked = [...answers.map((v) => JSON.stringify(v)), ...gotByToken].filter((v) => v.includes(`secret ${x}`));
      assert.deepEqual(leaked, [], "the old token or the new A saw what was not theirs");
    });

    test("a join with since gets what came after it, or a gap and the newest page", async (t) => {
      const x = s();
      const room = `since-${x}`;
      const a = chatClient(t, BASE, mode);
      await joined(a, { username: `A${x}`, room });
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push((await sent(a, "client message", { message: `m${i}` })).id);

      const b = chatClient(t, URL2, mode);
      const res = await joined(b, { username: `B${x}`, room, since: ids[1] });
      assert.deepEqual(res.history.map((m) => m.id), ids.slice(2));
      assert.equal(res.gap ?? false, false);

      const c = chatClient(t, URL2, mode);
      const gap = await joined(c, { username: `C${x}`, room, since: "01NOTANIDTHATWASEVERSTORED" });
      assert.equal(gap.gap, true);
      assert.deepEqual(gap.history.map((m) => m.id), ids, "the newest page");
    });

    test("a dropped connection is recovered with exactly what it missed, whispers included", async (t) => {
      const x = s();
      const room = `recover-${x}`;
      const a = chatClient(t, BASE, mode);
      await joined(a, { username: `A${x}`, room });
      const notices = [];
      for (const ev of ["join", "leave"]) a.on(ev, (n) => notices.push(`${ev} ${n.username}`));
      const r = chatClient(t, URL2, mode, { reconnection: true, reconnectionDelay: 1500, randomizationFactor: 0 });
      const rj = await joined(r, { username: `R${x}`, room });
      // R's join notice reaches A on another gateway, possibly after R's ack.
      await until(() => notices.length === 1, "A told of R's join");
      const got = collect(r, "server message");
      const whispers = collect(r, "whisper");
      const before = await sent(a, "client message", { message: "before" });
      await until(() => got.length === 1, "the first message");

      const dropped = new Promise((ok) => r.once("disconnect", ok));
      r.io.engine.close(); // the transport is lost; the client reconnects
      await dropped;
      const missed = [];
      for (let i = 0; i < 10; i++) missed.push((await sent(a, "client message", { message: `missed ${i}` })).id);
      const wm = await sent(a, "whisper", { to: `R${x}`, message: "missed whisper" });
      await withTimeout(new Promise((ok) => r.once("connect", ok)), 10000, "reconnect");
      assert.equal(r.recovered, true, "recovered");
      const after = await sent(a, "client message", { message: "after" });
      await until(() => got.some(([m]) => m.id === after.id), "the message after");

      assert.deepEqual(got.map(([m]) => m.id), [before.id, ...missed, after.id], "each message once, in order");
      assert.deepEqual(whispers.map(([w]) => w.id), [wm.id]);
      // Still joined, as the same user: no join needed to talk.
      const mine = await sent(r, "client message", { message: "still here" });
      assert.ok(mine.id);
      const members = await sent(r, "members", {});
      assert.deepEqual(members.members.map((m) => m.username).sort(), [`A${x}`, `R${x}`].sort());
      assert.equal(rj.username, `R${x}`);
      assert.deepEqual(notices, [`join R${x}`], "the room was told nothing more: R never left");
    });

    test("a connection dropped before it received any message is recovered too", async (t) => {
      const x = s();
      const room = `fresh-${x}`;
      const a = chatClient(t, BASE, mode);
      await joined(a, { username: `A${x}`, room });
      const old = await sent(a, "client message", { message: "from before R came" });
      const r = chatClient(t, URL2, mode, { reconnection: true, reconnectionDelay: 1000, randomizationFactor: 0 });
      const rj = await joined(r, { username: `R${x}`, room });
      assert.deepEqual(rj.history.map((m) => m.id), [old.id]);
      const got = collect(r, "server message");
      const dropped = new Promise((ok) => r.once("disconnect", ok));
      r.io.engine.close();
      await dropped;
      const missed = (await sent(a, "client message", { message: "missed" })).id;
      await withTimeout(new Promise((ok) => r.once("connect", ok)), 10000, "reconnect");
      assert.equal(r.recovered, true, "recovered without an offset");
      await until(() => got.length === 1, "the missed message");
      assert.deepEqual(got.map(([m]) => m.id), [missed], "only what came after the join");
    });

    test("a recovery that the client never saw through does not move its position", async (t) => {
      const x = s();
      const room = `twice-${x}`;
      const a = chatClient(t, BASE, mode);
      await joined(a, { username: `A${x}`, room });
      const r = chatClient(t, URL2, mode);
      await joined(r, { username: `R${x}`, room });
      const got = collect(r, "server message");
      await sent(a, "client message", { message: "seen" });
      await until(() => got.length === 1, "the first message");
      const pid = r._pid;
      const offset = r._lastOffset;
      assert.ok(pid && offset, "the client keeps a pid and an offset");
      r.io.engine.close(); // lost, and no reconnection
      const missed = [];
      for (let i = 0; i < 3; i++) missed.push((await sent(a, "client message", { message: `missed ${i}` })).id);
      // Two comebacks with the same pid and offset; the first is lost before
      // the client could take note of what it was sent.
      for (const attempt of [1, 2]) {
        const back = chatClient(t, URL2, mode, { auth: { pid, offset } });
        const seen = collect(back, "server message");
        await withTimeout(new Promise((ok) => back.on("connect", ok)), 5000, "connect");
        // A new client object cannot call itself recovered (it had no pid);
        // the server saying the same pid back is what recovered means.
        assert.equal(back._pid, pid, `attempt ${attempt} recovered`);
        await until(() => seen.length === missed.length, `attempt ${attempt}: the missed messages`);
        assert.deepEqual(seen.map(([m]) => m.id), missed, `attempt ${attempt}`);
        back.io.engine.close();
      }
    });
  });
}
