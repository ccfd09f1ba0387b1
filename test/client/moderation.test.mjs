// Moderation with official socket.io-client users on two gateways (NATTER_URL,
// NATTER_URL_2), which take HS256 tokens and anonymous users too:
//
//   NATTER_AUTH_SECRET  the gateways' secret: this file mints its tokens
//   NATTER_API_KEY      their server API key
//
// A moderator (the token's role, or one granted through the API) mutes, kicks and
// bans; everyone else is refused. A mute ends on time; a kick ends every tab; a ban
// holds on the other gateway, by identity and by name (look-alikes too).

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { BASE, URL2, apiPost, chatClient, joined, ack, next, suffix, withTimeout, sleep } from "./helpers.mjs";

const SECRET = process.env.NATTER_AUTH_SECRET;
const KEY = process.env.NATTER_API_KEY;
if (!SECRET || !KEY) throw new Error("set NATTER_AUTH_SECRET and NATTER_API_KEY");
const WS = { name: "websocket", opts: { transports: ["websocket"] } };
const POLLING = { name: "polling", opts: { transports: ["polling"] } };
const ACTIONS = ["mute", "unmute", "kick", "ban", "unban"];

const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
/** An HS256 token of sub, under name, with role. */
function mint(sub, name, role) {
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub, name, role, exp: Math.floor(Date.now() / 1000) + 600 })}`;
  return `${body}.${createHmac("sha256", SECRET).update(body).digest("base64url")}`;
}

/** A connected chat client on url, authenticated when token is given. */
async function user(t, url, mode, token) {
  const s = chatClient(t, url, mode, token ? { auth: { token } } : {});
  await withTimeout(new Promise((resolve, reject) => {
    s.once("connect", resolve);
    s.once("connect_error", reject);
  }), 5000, "connect");
  return s;
}

/** POSTs body to op of the API at base; resolves with {status, body}. */
const api = (base, op, body) => apiPost(base, KEY, op, body);

/** A room with a moderator (token role) on gateway 1 and a bystander on gateway 2. */
async function room(t, s) {
  const name = `mod-${s}`;
  const mod = await user(t, BASE, WS, mint(`mod-${s}`, `Mod${s}`, "moderator"));
  await joined(mod, { room: name });
  const bystander = await user(t, URL2, POLLING);
  await joined(bystander, { username: `By${s}`, room: name });
  return { name, mod, bystander };
}

test("a non-moderator is refused every moderation event; bad input is bad_request", async (t) => {
  const s = suffix();
  const r = await room(t, s);
  const anon = await user(t, BASE, WS);
  await joined(anon, { username: `Anon${s}`, room: r.name });
  const member = await user(t, URL2, POLLING, mint(`member-${s}`, `Member${s}`, "member"));
  await joined(member, { room: r.name });
  for (const sock of [anon, member]) {
    for (const action of ACTIONS) {
      const res = await ack(sock, action, { username: `By${s}`, seconds: action === "mute" || action === "ban" ? 60 : undefined });
      assert.equal(res.ok, false, `${action}: ${JSON.stringify(res)}`);
      assert.equal(res.error.code, "forbidden", `${action}: ${JSON.stringify(res)}`);
    }
  }
  // Nothing happened to the bystander.
  assert.equal((await ack(r.bystander, "client message", { message: "still here" })).ok, true);

  for (const [what, action, arg] of [
    ["no name", "mute", { seconds: 5 }],
    ["a bad name", "kick", { username: "a\u202eb" }],
    ["negative seconds", "mute", { username: `By${s}`, seconds: -1 }],
    ["seconds over a year", "ban", { username: `By${s}`, seconds: 400 * 24 * 3600 }],
    ["seconds on a kick", "kick", { username: `By${s}`, seconds: 5 }],
    ["a long reason", "mute", { username: `By${s}`, seconds: 5, reason: "x".repeat(201) }],
    ["not an object", "ban", "By"],
  ]) {
    const res = await ack(r.mod, action, arg);
    assert.equal(res.error?.code, "bad_request", `${what}: ${JSON.stringify(res)}`);
  }
  const unmuted = await ack(r.mod, "unmute", { username: `By${s}` });
  assert.equal(unmuted.error?.code, "bad_request", JSON.stringify(unmuted));
});

test("a mute is announced, refuses the user's messages with until, and expires on time", async (t) => {
  const s = suffix();
  const r = await room(t, s);
  const ann = await user(t, URL2, WS);
  await joined(ann, { username: `Ann${s}`, room: r.name });
  const told = [r.mod, r.bystander, ann].map((c) => next(c, "moderation", 5000));

  const res = await ack(r.mod, "mute", { username: `ann${s}`, seconds: 1, reason: "cool down" });
  assert.equal(res.ok, true, JSON.stringify(res));
  const m = res.moderation;
  assert.equal(m.action, "mute");
  assert.equal(m.username, `Ann${s}`); // as she shows it
  assert.equal(m.by, `Mod${s}`);
  assert.equal(m.room, r.name);
  assert.ok(m.until > Date.now() && m.until <= Date.now() + 1500, `until ${m.until}`);
  for (const [n] of await Promise.all(told)) assert.deepEqual(n, m);

  const refused = await ack(ann, "client message", { message: "let me speak" });
  assert.equal(refused.error?.code, "muted", JSON.stringify(refused));
  assert.equal(refused.error.until, m.until);
  // The others still speak.
  assert.equal((await ack(r.bystander, "client message", { message: "we can" })).ok, true);

  // Poll until a message passes: not before until, and within a second of it.
  let sent;
  await withTimeout((async () => {
    for (;;) {
      const at = Date.now();
      const res = await ack(ann, "client message", { message: "am I back?" });
      if (res.ok) {
        sent = at;
        return;
      }
      assert.equal(res.error.code, "muted", JSON.stringify(res));
      await sleep(50);
    }
  })(), 5000, "the mute to end");
  assert.ok(sent >= m.until - 50, `a message passed ${m.until - sent} ms before the mute's end`);

  // Muted again for long, then unmuted: at once. The moderator's ack means
  // stored; Ann's gateway (the other one) holds the mute once it has heard
  // the announcement, which Ann is told with: wait for it, as above.
  const toldAgain = next(ann, "moderation", 5000);
  assert.equal((await ack(r.mod, "mute", { username: `Ann${s}`, seconds: 600 })).ok, true);
  await toldAgain;
  assert.equal((await ack(ann, "client message", { message: "again?" })).error?.code, "muted");
  // A rename would shed the mute, which holds on the name: refused.
  assert.equal((await ack(ann, "rename", { username: `Nan${s}` })).error?.code, "muted");
  const unmute = await ack(r.mod, "unmute", { username: `Ann${s}` });
  assert.equal(unmute.ok, true, JSON.stringify(unmute));
  assert.equal((await ack(ann, "client message", { message: "thanks" })).ok, true);
});

test("a kick disconnects every tab of the user, on both gateways, with the reason", async (t) => {
  const s = suffix();
  const r = await room(t, s);
  const tab1 = await user(t, BASE, WS);
  const j = await joined(tab1, { username: `Kid${s}`, room: r.name });
  const tab2 = await user(t, URL2, POLLING);
  await joined(tab2, { token: j.token, room: r.name });
  const reasons = [tab1, tab2].map((c) => next(c, "disconnect reason", 10000));
  const ends = [tab1, tab2].map((c) => next(c, "disconnect", 10000));
  const told = next(r.bystander, "moderation", 5000);
  const left = next(r.bystander, "leave", 10000);

  const res = await ack(r.mod, "kick", { username: `Kid${s}`, reason: "spam" });
  assert.equal(res.ok, true, JSON.stringify(res));
  assert.equal((await told)[0].action, "kick");
  for (const [reason] of await Promise.all(reasons)) {
    assert.equal(reason.code, "kicked");
    assert.match(reason.message, /spam/);
  }
  for (const [why] of await Promise.all(ends)) assert.equal(why, "io server disconnect");
  assert.equal((await left)[0].username, `Kid${s}`);
  // A kick is no ban: the user may come back.
  const back = await user(t, URL2, WS);
  await joined(back, { username: `Kid${s}`, room: r.name });
});

test("a banned user cannot return through the other gateway: by identity, and by name", async (t) => {
  const s = suffix();
  const r = await room(t, s);
  // An authenticated user, banned for good.
  const bob = await user(t, BASE, WS, mint(`bob-${s}`, `Bob${s}`, "member"));
  await joined(bob, { room: r.name });
  const bobReason = next(bob, "disconnect reason", 10000);
  const ban = await ack(r.mod, "ban", { username: `Bob${s}` });
  assert.equal(ban.ok, true, JSON.stringify(ban));
  assert.equal(ban.moderation.until, undefined); // for good
  assert.equal((await bobReason)[0].code, "banned");
  // Through the other gateway, under another name of his token: refused.
  const bob2 = await user(t, URL2, POLLING, mint(`bob-${s}`, `Robert${s}`, "member"));
  const refused = await ack(bob2, "join", { room: r.name });
  assert.equal(refused.error?.code, "banned", JSON.stringify(refused));
  assert.equal(refused.error.until, undefined);
  // Another room is open to him.
  await joined(bob2, { room: `other-${s}` });

  // An anonymous user, banned for a minute by name: a look-alike is refused too.
  const zoe = await user(t, URL2, WS);
  const zj = await joined(zoe, { username: `Zoe${s}`, room: r.name });
  const zban = await ack(r.mod, "ban", { username: `Zoe${s}`, seconds: 60 });
  assert.equal(zban.ok, true, JSON.stringify(zban));
  // Her token alone (a reload) does not bring her back either.
  const reload = await user(t, BASE, WS);
  const byToken = await ack(reload, "join", { token: zj.token, room: r.name });
  assert.equal(byToken.error?.code, "banned", JSON.stringify(byToken));
  for (const name of [`Zoe${s}`, `Z0E${s}`]) {
    const c = await user(t, URL2, POLLING);
    const res = await ack(c, "join", { username: name, room: r.name });
    assert.equal(res.error?.code, "banned", `${name}: ${JSON.stringify(res)}`);
    assert.equal(res.error.until, zban.moderation.until);
  }
  // Unbanned, she joins.
  assert.equal((await ack(r.mod, "unban", { username: `Zoe${s}` })).ok, true);
  const again = await user(t, BASE, POLLING);
  await joined(again, { username: `Zoe${s}`, room: r.name });
});

test("a role granted through the API holds at once and at the next join; revoked, it is gone", async (t) => {
  const s = suffix();
  const r = await room(t, s);
  const sub = `cara-${s}`;
  const cara = await user(t, URL2, WS, mint(sub, `Cara${s}`, "member"));
  await joined(cara, { room: r.name });
  const target = { username: `By${s}`, seconds: 60 };
  assert.equal((await ack(cara, "mute", target)).error?.code, "forbidden");

  const granted = await api(BASE, "role", { subject: sub, role: "moderator" });
  assert.equal(granted.status, 200, JSON.stringify(granted.body));
  // At once (the grant reaches her gateway over NATS): poll a harmless unmute.
  await withTimeout((async () => {
    while ((await ack(cara, "mute", target)).ok !== true) await sleep(50);
  })(), 5000, "the granted role");
  assert.equal((await ack(cara, "unmute", { username: target.username })).ok, true);
  // At the next join, on the other gateway.
  const cara2 = await user(t, BASE, POLLING, mint(sub, `Cara${s}`, "member"));
  await joined(cara2, { room: r.name });
  assert.equal((await ack(cara2, "kick", { username: `By${s}`, room: `nowhere-${s}` })).ok, true);

  assert.equal((await api(URL2, "role", { subject: sub, role: "" })).status, 200);
  await withTimeout((async () => {
    while ((await ack(cara, "mute", target)).error?.code !== "forbidden") await sleep(50);
  })(), 5000, "the revoked role");
  assert.equal((await api(URL2, "role", { subject: sub, role: "root" })).body.error?.code, "bad_request");
});

test("a backend moderates through the API, and lists the recent actions", async (t) => {
  const s = suffix();
  const r = await room(t, s);
  const told = next(r.bystander, "moderation", 5000);
  const mute = await api(URL2, "mute", { room: r.name, username: `Mod${s}`, seconds: 30, reason: "by the book" });
  assert.equal(mute.status, 200, JSON.stringify(mute.body));
  assert.equal(mute.body.moderation.by, "system");
  assert.deepEqual((await told)[0], mute.body.moderation);
  assert.equal((await ack(r.mod, "client message", { message: "hm" })).error?.code, "muted");
  // A mute in a room nobody is in (no gateway hears it announced): the user's join
  // is told of it.
  const quiet = `quiet-${s}`;
  const qm = await api(BASE, "mute", { room: quiet, username: `Max${s}`, seconds: 600 });
  assert.equal(qm.status, 200, JSON.stringify(qm.body));
  const max = await user(t, URL2, POLLING);
  await joined(max, { username: `Max${s}`, room: quiet });
  const maxSaid = await ack(max, "client message", { message: "hello?" });
  assert.equal(maxSaid.error?.code, "muted", JSON.stringify(maxSaid));
  assert.equal(maxSaid.error.until, qm.body.moderation.until);
  const unmute = await api(BASE, "unmute", { room: r.name, username: `Mod${s}`, by: "Console" });
  assert.equal(unmute.body.moderation.by, "Console");
  assert.equal((await api(BASE, "kick", { room: r.name, username: `nobody${s}` })).status, 404);
  assert.equal((await api(BASE, "ban", { username: `x${s}` })).body.error?.code, "invalid_room");

  const log = await api(BASE, "moderation", { room: r.name });
  assert.equal(log.status, 200, JSON.stringify(log.body));
  assert.deepEqual(log.body.actions.map((a) => [a.action, a.id]), [["unmute", unmute.body.moderation.id], ["mute", mute.body.moderation.id]]);
  assert.equal((await api(BASE, "moderation", { limit: 5000 })).body.error?.code, "bad_request");
});
