// The server API as a backend uses it, with official socket.io-client users on two
// gateways (NATTER_URL, NATTER_URL_2; ids NATTER_GATEWAY_1, _2), one on WebSocket and
// one on long-polling:
//
//   NATTER_API_KEY   the gateways' API key
//
// A backend's message reaches both transports and history, marked bot; a whisper
// reaches only its user (every tab of them); a disconnect ends the user's
// connections on both gateways, or one connection; a backend's delete
// reaches both transports live and leaves a tombstone in history.

import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, URL2, apiPost, chatClient, joined, ack, next, record, suffix, withTimeout, sleep } from "./helpers.mjs";

const KEY = process.env.NATTER_API_KEY;
const GW1 = process.env.NATTER_GATEWAY_1 || "gw1";
const GW2 = process.env.NATTER_GATEWAY_2 || "gw2";
const WS = { name: "websocket", opts: { transports: ["websocket"] } };
const POLLING = { name: "polling", opts: { transports: ["polling"] } };

/** POSTs body to op of the API at base; resolves with {status, body}. */
const api = (base, op, body) => apiPost(base, KEY, op, body);

/** Resolves once check() holds, polling every 50 ms, for at most ms. */
async function until(what, check, ms = 10000) {
  await withTimeout(
    (async () => {
      while (!(await check())) await sleep(50);
    })(),
    ms,
    what,
  );
}

test("a backend's message reaches a WebSocket and a polling client, and history", async (t) => {
  const s = suffix();
  const room = `api-${s}`;
  const ws = chatClient(t, BASE, WS);
  const poll = chatClient(t, URL2, POLLING);
  await joined(ws, { username: `Wes${s}`, room });
  await joined(poll, { username: `Polly${s}`, room });
  const gotWS = next(ws, "server message", 10000);
  const gotPoll = next(poll, "server message", 10000);

  const res = await api(URL2, "publish", { room, message: "deploy finished 🚀", from: "Deploy Bot" });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.ok, true);
  for (const [m] of [await gotWS, await gotPoll]) {
    assert.equal(m.id, res.body.id);
    assert.equal(m.message, "deploy finished 🚀");
    assert.equal(m.username, "Deploy Bot");
    assert.equal(m.bot, true);
    assert.equal(m.room, room);
  }
  // In history, for the API and for a client.
  const h = await api(BASE, "history", { room });
  assert.equal(h.status, 200);
  assert.deepEqual(
    h.body.messages.map((m) => [m.id, m.bot]),
    [[res.body.id, true]],
  );
  const ch = await ack(ws, "history", { room });
  assert.equal(ch.messages.at(-1).id, res.body.id);
  assert.equal(ch.messages.at(-1).bot, true);

  // Without a from, the system's; a client's own message is no bot's.
  const sys = await api(BASE, "publish", { room, message: "maintenance at noon" });
  assert.equal(sys.status, 200);
  const mine = await ack(ws, "client message", { message: "thanks" });
  assert.equal(mine.ok, true);
  const after = await api(BASE, "history", { room });
  const byId = new Map(after.body.messages.map((m) => [m.id, m]));
  assert.equal(byId.get(sys.body.id).username, "system");
  assert.equal(byId.get(sys.body.id).bot, true);
  assert.equal(byId.get(mine.id).bot, undefined);

  // Members and rooms.
  const members = await api(BASE, "members", { room });
  assert.equal(members.status, 200);
  assert.deepEqual(members.body.members.map((m) => m.username).sort(), [`Polly${s}`, `Wes${s}`]);
  assert.equal(members.body.memberCount, 2);
  const rooms = await api(URL2, "rooms", {});
  assert.equal(rooms.status, 200);
  assert.deepEqual(rooms.body.rooms.find((r) => r.room === room), { room, count: 2 });
});

test("a backend's delete reaches a WebSocket and a polling client live, and history keeps the tombstone", async (t) => {
  const s = suffix();
  const room = `apidel-${s}`;
  const ws = chatClient(t, BASE, WS);
  const poll = chatClient(t, URL2, POLLING);
  await joined(ws, { username: `Dee${s}`, room });
  await joined(poll, { username: `Pat${s}`, room });
  const doomed = await ack(ws, "client message", { message: "my card number is 4111" });
  const kept = await ack(ws, "client message", { message: "oops, ignore that" });
  assert.equal(doomed.ok, true);
  const gotWS = next(ws, "message deleted", 10000);
  const gotPoll = next(poll, "message deleted", 10000);

  const res = await api(URL2, "delete", { room, id: doomed.id, by: "Mod Bot" });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.ok, true);
  assert.equal(res.body.message.id, doomed.id);
  assert.equal(res.body.message.deleted, true);
  assert.equal(res.body.message.deletedBy, "Mod Bot");
  for (const [m] of [await gotWS, await gotPoll]) {
    assert.equal(m.id, doomed.id);
    assert.equal(m.deleted, true);
    assert.equal(m.deletedBy, "Mod Bot");
    assert.equal(m.message, "");
  }
  // History holds the tombstone and the untouched message; the text is gone.
  const h = await api(BASE, "history", { room });
  assert.equal(h.status, 200);
  assert.deepEqual(
    h.body.messages.map((m) => [m.id, !!m.deleted, m.message, m.deletedBy]),
    [
      [doomed.id, true, "", "Mod Bot"],
      [kept.id, false, "oops, ignore that", undefined],
    ],
  );
  // Without a by, the deletion is the system's.
  const other = await api(BASE, "delete", { room, id: kept.id });
  assert.equal(other.status, 200, JSON.stringify(other.body));
  assert.equal(other.body.message.deletedBy, "system");
  // Each deletion is in the room's moderation log, newest first.
  const log = await api(BASE, "moderation", { room });
  assert.equal(log.status, 200, JSON.stringify(log.body));
  assert.deepEqual(
    log.body.actions.map((a) => [a.action, a.by, a.messageId, a.username]),
    [
      ["delete", "system", kept.id, `Dee${s}`],
      ["delete", "Mod Bot", doomed.id, `Dee${s}`],
    ],
  );
  // A deleted message is no message to delete again (and no second log entry).
  const again = await api(BASE, "delete", { room, id: doomed.id });
  assert.equal(again.status, 404, JSON.stringify(again.body));
  assert.equal(again.body.error.code, "no_such_message");
  // A message id of another room is no message of this one.
  const elsewhere = await api(BASE, "delete", { room: `${room}-x`, id: doomed.id });
  assert.equal(elsewhere.status, 404, JSON.stringify(elsewhere.body));
  assert.equal(elsewhere.body.error.code, "no_such_message");
});

test("a backend's whisper reaches only its user, on each of their tabs", async (t) => {
  const s = suffix();
  const room = `apiw-${s}`;
  const tab1 = chatClient(t, BASE, WS);
  const tab2 = chatClient(t, URL2, POLLING);
  const other = chatClient(t, BASE, WS);
  const j = await joined(tab1, { username: `Wendy${s}`, room });
  await joined(tab2, { token: j.token, room });
  await joined(other, { username: `Otto${s}`, room });
  const seenByOther = record(other, "whisper");
  const got1 = next(tab1, "whisper", 10000);
  const got2 = next(tab2, "whisper", 10000);

  const res = await api(BASE, "whisper", { to: `wendy${s}`, message: "your order shipped", from: "Shop" });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  for (const [w] of [await got1, await got2]) {
    assert.deepEqual(
      { id: w.id, from: w.from, to: w.to, message: w.message, bot: w.bot },
      { id: res.body.id, from: "Shop", to: `Wendy${s}`, message: "your order shipped", bot: true },
    );
  }
  // In the user's whispers, and nobody else's; not in the room's history.
  const mine = await ack(tab1, "whispers", {});
  assert.deepEqual(
    mine.whispers.map((w) => w.id),
    [res.body.id],
  );
  const theirs = await ack(other, "whispers", {});
  assert.deepEqual(theirs.whispers, []);
  const h = await api(BASE, "history", { room });
  assert.deepEqual(h.body.messages, []);
  // A message after it reaches Otto: had the whisper reached him, it would be first.
  const gotMsg = next(other, "server message", 10000);
  await api(BASE, "publish", { room, message: "after the whisper" });
  await gotMsg;
  assert.deepEqual(seenByOther, []);

  const nobody = await api(BASE, "whisper", { to: `nobody${s}`, message: "hello?" });
  assert.equal(nobody.status, 404);
  assert.equal(nobody.body.error.code, "no_such_user");
});

test("a disconnect ends a user's connections on both gateways, or one connection", async (t) => {
  const s = suffix();
  const room = `apid-${s}`;
  const tab1 = chatClient(t, BASE, WS);
  const tab2 = chatClient(t, URL2, POLLING);
  const bystander = chatClient(t, BASE, WS);
  const j = await joined(tab1, { username: `Kim${s}`, room });
  await joined(tab2, { token: j.token, room });
  await joined(bystander, { username: `Lee${s}`, room });
  const reasons = [tab1, tab2].map((c) => next(c, "disconnect reason", 10000));
  const ends = [tab1, tab2].map((c) => next(c, "disconnect", 10000));
  const left = next(bystander, "leave", 10000);

  const res = await api(URL2, "disconnect", { user: `Kim${s}` });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  for (const [reason] of await Promise.all(reasons)) assert.equal(reason.code, "disconnected");
  for (const [why] of await Promise.all(ends)) assert.equal(why, "io server disconnect");
  // At once, not after the grace period (a minute here): the room hears she left.
  const [l] = await left;
  assert.equal(l.username, `Kim${s}`);
  await until("Kim to be gone from the members", async () => {
    const m = await api(BASE, "members", { room });
    return m.body.members.length === 1;
  });
  assert.equal(bystander.connected, true);

  // One connection of a user with two: by its socket id on its gateway.
  const a = chatClient(t, BASE, WS);
  const b = chatClient(t, URL2, POLLING);
  const ja = await joined(a, { username: `Park${s}`, room });
  await joined(b, { token: ja.token, room });
  const bEnds = next(b, "disconnect", 10000);
  const bID = b.id;
  assert.ok(bID, "the polling tab has a socket id");
  // A connection named with another gateway's id is not this one: nothing happens.
  const none = await api(BASE, "disconnect", { gateway: GW1, conn: bID });
  assert.equal(none.status, 200, JSON.stringify(none.body));
  const one = await api(BASE, "disconnect", { gateway: GW2, conn: bID });
  assert.equal(one.status, 200, JSON.stringify(one.body));
  assert.equal((await bEnds)[0], "io server disconnect");
  // The other tab lives, and its user is still in the room.
  assert.equal(a.connected, true);
  const ok = await ack(a, "client message", { message: "still here" });
  assert.equal(ok.ok, true);
  const m = await api(BASE, "members", { room });
  assert.deepEqual(m.body.members.map((x) => x.username).sort(), [`Lee${s}`, `Park${s}`]);
});
