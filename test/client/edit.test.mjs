// Editing and deleting room messages, with official socket.io-client users on two
// gateways (NATTER_URL on WebSocket, NATTER_URL_2 on long-polling):
//
//   NATTER_EDIT_SECRET  a word the original texts hold; the Go test that runs this
//                       file reads the stream raw afterwards and finds it nowhere, but
//                       in upper case, as the one message left as it was holds it
//
// An edit and a deletion reach the other client live, on the other transport, are in
// history after (the edited text, a tombstone), reach a client that reconnects through
// connection state recovery and one that joins again with `since`; only the sender may
// edit or delete, and the answers say why not.

import { test } from "node:test";
import assert from "node:assert/strict";
import { BASE, URL2, chatClient, joined, ack, next, record, suffix, withTimeout, sleep } from "./helpers.mjs";

const SECRET = process.env.NATTER_EDIT_SECRET || "edit-secret";
const WS = { name: "websocket", opts: { transports: ["websocket"] } };
const POLLING = { name: "polling", opts: { transports: ["polling"] } };

async function until(what, check, ms = 10000) {
  await withTimeout(
    (async () => {
      while (!check()) await sleep(25);
    })(),
    ms,
    what,
  );
}

/** Sends and fails unless it is stored; resolves with the ack. */
async function said(socket, message) {
  const res = await ack(socket, "client message", { message });
  assert.equal(res.ok, true, JSON.stringify(res));
  return res;
}

test("an edit and a deletion reach the room live, on both transports, and history after", async (t) => {
  const s = suffix();
  const room = `edit-${s}`;
  const ann = chatClient(t, BASE, WS);
  const bob = chatClient(t, URL2, POLLING);
  await joined(ann, { username: `Ann${s}`, room });
  await joined(bob, { username: `Bob${s}`, room });

  const first = await said(ann, `첫 글 ${SECRET} one`);
  const second = await said(ann, `second ${SECRET} two`);
  const bobs = await said(bob, `bob's ${SECRET} three`);

  const editedAtBob = next(bob, "message edited", 10000);
  const editedAtAnn = next(ann, "message edited", 10000);
  const res = await ack(ann, "edit message", { id: first.id, message: "고친 글" });
  assert.equal(res.ok, true, JSON.stringify(res));
  assert.equal(res.message.id, first.id);
  assert.equal(res.message.message, "고친 글");
  for (const [m, offset] of [await editedAtBob, await editedAtAnn]) {
    assert.equal(m.id, first.id);
    assert.equal(m.room, room);
    assert.equal(m.message, "고친 글");
    assert.ok(m.editedAt >= first.ts, "editedAt");
    assert.equal(typeof offset, "string", "an offset, as any stored event");
  }

  const deletedAtBob = next(bob, "message deleted", 10000);
  const del = await ack(ann, "delete message", { id: second.id });
  assert.equal(del.ok, true, JSON.stringify(del));
  const [tomb] = await deletedAtBob;
  assert.equal(tomb.id, second.id);
  assert.equal(tomb.deleted, true);
  assert.equal(tomb.message, "");

  // Not hers, not there, not an id, not a message.
  const cases = [
    [ann, "edit message", { id: bobs.id, message: "mine" }, "forbidden"],
    [ann, "delete message", { id: bobs.id }, "forbidden"],
    [ann, "edit message", { id: second.id, message: "back" }, "no_such_message"],
    [ann, "delete message", { id: "01J00000000000000000000000" }, "no_such_message"],
    [ann, "delete message", { id: "<b>" }, "bad_request"],
    [ann, "delete message", "just a string", "bad_request"],
    [ann, "edit message", { id: first.id, message: "  " }, "invalid_message"],
    [ann, "edit message", { id: first.id, message: "가".repeat(2001) }, "message_too_long"],
  ];
  for (const [who, event, payload, code] of cases) {
    const r = await ack(who, event, payload);
    assert.equal(r.ok, false, `${event} ${JSON.stringify(payload).slice(0, 60)}`);
    assert.equal(r.error.code, code, `${event} ${JSON.stringify(payload).slice(0, 60)}: ${JSON.stringify(r.error)}`);
  }
  const stranger = chatClient(t, URL2, POLLING);
  const r = await ack(stranger, "delete message", { id: bobs.id });
  assert.equal(r.error?.code, "not_joined");

  for (const who of [ann, bob]) {
    const h = await ack(who, "history", {});
    assert.deepEqual(
      h.messages.map((m) => [m.id, m.deleted ? "(deleted)" : m.message]),
      [
        [first.id, "고친 글"],
        [second.id, "(deleted)"],
        [bobs.id, `bob's ${SECRET} three`],
      ],
    );
  }
  // Bob's message is left for the Go test: deleted there by him, after this file.
  const gone = await ack(bob, "delete message", { id: bobs.id });
  assert.equal(gone.ok, true, JSON.stringify(gone));
});

test("a client that was away sees the change, by recovery or by joining with since", async (t) => {
  const s = suffix();
  const room = `edit-away-${s}`;
  const ann = chatClient(t, BASE, WS);
  await joined(ann, { username: `Ann${s}`, room });
  const kept = await said(ann, `kept ${SECRET} a`);
  const edited = await said(ann, `to edit ${SECRET} b`);
  const last = await said(ann, `last ${SECRET.toUpperCase()}`);

  // Recovery: the transport drops, the change comes meanwhile, the client comes back.
  const rec = chatClient(t, URL2, POLLING, { reconnection: true, reconnectionDelay: 500, randomizationFactor: 0 });
  await joined(rec, { username: `Rec${s}`, room });
  const edits = record(rec, "message edited");
  const deletes = record(rec, "message deleted");
  const dropped = new Promise((ok) => rec.once("disconnect", ok));
  rec.io.engine.close();
  await dropped;
  assert.equal((await ack(ann, "edit message", { id: edited.id, message: "edited while away" })).ok, true);
  assert.equal((await ack(ann, "delete message", { id: kept.id })).ok, true);
  await withTimeout(new Promise((ok) => rec.once("connect", ok)), 10000, "reconnect");
  assert.equal(rec.recovered, true, "recovered");
  await until("the changes, replayed", () => edits.length === 1 && deletes.length === 1);
  assert.equal(edits[0][0].id, edited.id);
  assert.equal(edits[0][0].message, "edited while away");
  assert.equal(deletes[0][0].id, kept.id);

  // A join with since: the changes before it come in `changed`.
  const again = chatClient(t, BASE, WS);
  const j = await joined(again, { username: `Again${s}`, room, since: last.id });
  assert.equal(j.gap, undefined);
  assert.deepEqual(j.history, []);
  assert.deepEqual(
    j.changed.map((m) => [m.id, m.deleted ? "(deleted)" : m.message]),
    [
      [kept.id, "(deleted)"],
      [edited.id, "edited while away"],
    ],
  );
  // And a plain join has none of the old texts.
  const fresh = await joined(chatClient(t, URL2, POLLING), { username: `Fresh${s}`, room });
  assert.ok(!JSON.stringify(fresh.history).includes(SECRET), JSON.stringify(fresh.history));
});

// With NATTER_MOD_TOKEN (a token whose role is moderator) and NATTER_USER_TOKEN (one
// without a role), on a gateway that lets anonymous clients in too.
const MOD = process.env.NATTER_MOD_TOKEN;
const USER = process.env.NATTER_USER_TOKEN;

test("a moderator deletes anyone's message, and edits none; a user without the role neither; a muted user edits nothing", { skip: !MOD && "no NATTER_MOD_TOKEN" }, async (t) => {
  const s = suffix();
  const room = `edit-mod-${s}`;
  const anon = chatClient(t, URL2, POLLING);
  await joined(anon, { username: `Anon${s}`, room });
  const mod = chatClient(t, BASE, WS, { auth: { token: MOD } });
  const modJoin = await joined(mod, { username: "ignored", room });
  assert.equal(modJoin.moderator, true, "the join ack says so");
  const user = chatClient(t, BASE, POLLING, { auth: { token: USER } });
  const userJoin = await joined(user, { username: "ignored", room });
  assert.equal(userJoin.moderator, undefined);

  const m = await said(anon, `anon's ${SECRET} text`);
  assert.equal((await ack(mod, "edit message", { id: m.id, message: "moderated" })).error?.code, "forbidden");
  assert.equal((await ack(user, "delete message", { id: m.id })).error?.code, "forbidden");
  const told = next(anon, "message deleted", 10000);
  const logged = next(anon, "moderation", 10000);
  const res = await ack(mod, "delete message", { id: m.id });
  assert.equal(res.ok, true, JSON.stringify(res));
  const [tomb] = await told;
  assert.equal(tomb.id, m.id);
  assert.equal(tomb.deletedBy, modJoin.username);
  assert.equal(tomb.username, `Anon${s}`, "still the writer's");
  // The deletion is a moderation action: announced to the room, as presence logged it.
  const [action] = await logged;
  assert.deepEqual([action.action, action.by, action.messageId, action.username, action.room], ["delete", modJoin.username, m.id, `Anon${s}`, room]);
  const h = await ack(user, "history", {});
  assert.deepEqual(h.messages.map((x) => [x.id, x.deleted, x.message, x.deletedBy]), [[m.id, true, "", modJoin.username]]);

  // Muted, a user edits nothing (a new text is a message), and still deletes their own.
  const mine = await said(anon, "before the mute");
  const announced = next(anon, "moderation", 10000);
  assert.equal((await ack(mod, "mute", { username: `Anon${s}`, seconds: 60 })).ok, true);
  await announced;
  const refused = await ack(anon, "edit message", { id: mine.id, message: "around the mute" });
  assert.equal(refused.error?.code, "muted", JSON.stringify(refused));
  assert.equal((await ack(anon, "delete message", { id: mine.id })).ok, true);
});
