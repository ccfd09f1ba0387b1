// Authentication with the official socket.io-client, over WebSocket and
// polling: a JWT in the CONNECT's auth payload, checked before the CONNECT
// is answered.
//
//   NATTER_URL            a gateway with HS256 auth required (aud natter,
//                         iss https://id.example, leeway NATTER_LEEWAY_S)
//   NATTER_AUTH_SECRET    its secret: this file mints its HS256 tokens
//   NATTER_JWKS_URL_1/2   two gateways of another system: keys from a JWKS
//                         (same aud and iss), anonymous clients allowed
//   NATTER_JWKS_ROTATE    a URL whose POST rotates that key set
//   NATTER_JWKS_TOKENS    JSON: tokens the Go test minted for it
//                         {k1, k2, k2Alice, unknownKid, pem, pemOther}
//   NATTER_PEM_URL        a gateway whose key is an ES256 public key file
//   NATTER_PEM_PUBLIC     that public key, PEM

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { BASE, MODES, client, connected, emitAck, next, suffix } from "./helpers.mjs";

const SECRET = process.env.NATTER_AUTH_SECRET;
const LEEWAY_S = Number(process.env.NATTER_LEEWAY_S || 1);
const JWKS_1 = process.env.NATTER_JWKS_URL_1;
const JWKS_2 = process.env.NATTER_JWKS_URL_2;
const ROTATE = process.env.NATTER_JWKS_ROTATE;
const JWKS_TOKENS = JSON.parse(process.env.NATTER_JWKS_TOKENS || "{}");
const PEM_URL = process.env.NATTER_PEM_URL;
const PEM_PUBLIC = process.env.NATTER_PEM_PUBLIC;
if (!SECRET || !JWKS_1 || !JWKS_2 || !ROTATE || !PEM_URL || !PEM_PUBLIC) {
  throw new Error("set NATTER_AUTH_SECRET, NATTER_JWKS_URL_1/2, NATTER_JWKS_ROTATE, NATTER_PEM_URL and NATTER_PEM_PUBLIC");
}

const TRANSPORTS = MODES.filter((m) => m.name === "websocket" || m.name === "polling");

const b64 = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const nowS = () => Math.floor(Date.now() / 1000);

/** An HS256 token (or one with header alg, signed with secret; alg none unsigned). */
function mint(claims, { alg = "HS256", secret = SECRET } = {}) {
  const body = `${b64({ alg, typ: "JWT" })}.${b64(claims)}`;
  const sig = alg === "none" ? "" : createHmac("sha256", secret).update(body).digest("base64url");
  return `${body}.${sig}`;
}

const claims = (extra = {}) => ({
  sub: `user-${suffix()}`,
  name: `Ann ${suffix()}`,
  role: "member",
  iss: "https://id.example",
  aud: "natter",
  exp: nowS() + 600,
  ...extra,
});

/** Waits for the socket's connect_error and returns it. */
async function refused(socket) {
  const [err] = await next(socket, "connect_error", 5000, { failOn: ["connect"] });
  return err;
}

for (const mode of TRANSPORTS) {
  test(`${mode.name}: a valid token connects; the join takes the token's name, whatever the client asks`, async (t) => {
    const c = claims();
    const s = client(t, mode, { auth: { token: mint(c) } });
    await connected(s);
    const [ack] = await emitAck(s, "join", [{ username: `Mallory${suffix()}`, room: `a${suffix()}` }]);
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.username, c.name);
  });

  test(`${mode.name}: without a name claim the subject is the name`, async (t) => {
    const c = claims({ name: undefined, sub: `sub_${suffix()}` });
    const s = client(t, mode, { auth: { token: mint(c) } });
    await connected(s);
    const [ack] = await emitAck(s, "join", [{ room: `a${suffix()}` }]);
    assert.equal(ack.ok, true, JSON.stringify(ack));
    assert.equal(ack.username, c.sub);
  });

  const cases = [
    ["no token", undefined, "token_missing"],
    ["an empty token", "", "token_missing"],
    ["a token that is not a string", 42, "token_malformed"],
    ["garbage", "not.a.jwt", "token_malformed"],
    ["a forged signature", mint(claims(), { secret: "another secret, 32 bytes or more!!" }), "token_signature"],
    ["alg none", mint(claims(), { alg: "none" }), "token_algorithm"],
    ["an RS256 header on an HMAC", mint(claims(), { alg: "RS256" }), "token_algorithm"],
    ["an expired token", mint(claims({ exp: nowS() - 60 })), "token_expired"],
    ["a token not yet valid", mint(claims({ nbf: nowS() + 600 })), "token_not_yet_valid"],
    ["the wrong audience", mint(claims({ aud: "another-app" })), "token_audience"],
    ["the wrong issuer", mint(claims({ iss: "https://evil.example" })), "token_issuer"],
    ["no subject", mint(claims({ sub: undefined })), "token_subject"],
    ["a name against the rules", mint(claims({ name: "a\u200bb" })), "invalid_name"],
  ];
  for (const [what, token, code] of cases) {
    test(`${mode.name}: ${what} is refused at CONNECT with ${code}`, async (t) => {
      const s = client(t, mode, { auth: token === undefined ? {} : { token } });
      const err = await refused(s);
      assert.equal(err.message, code);
      assert.equal(err.data?.code, code, JSON.stringify(err.data));
      assert.equal(typeof err.data?.message, "string");
      assert.equal(s.connected, false);
    });
  }

  test(`${mode.name}: expiry ends a live connection with token_expired; a fresh token through the auth callback recovers it`, async (t) => {
    const base = claims();
    const tokens = [mint({ ...base, exp: nowS() + 2 }), mint(base)];
    const s = client(t, mode, { auth: (cb) => cb({ token: tokens.shift() }) });
    await connected(s);
    const [ack] = await emitAck(s, "join", [{ room: `x${suffix()}` }]);
    assert.equal(ack.ok, true, JSON.stringify(ack));
    const reason = next(s, "disconnect reason", (3 + LEEWAY_S + 5) * 1000);
    const gone = next(s, "disconnect", (3 + LEEWAY_S + 5) * 1000);
    const [why] = await reason;
    assert.equal(why.code, "token_expired");
    const [how] = await gone;
    assert.equal(how, "io server disconnect"); // the client does not reconnect on its own
    s.connect(); // calls the auth callback again
    await connected(s);
    assert.equal(s.recovered, true, "the connection comes back as it was");
    const [again] = await emitAck(s, "members", [{}]);
    assert.equal(again.ok, true, JSON.stringify(again));
    assert.deepEqual(again.members.map((m) => m.username), [base.name]);
  });
}

for (const mode of TRANSPORTS) {
  test(`${mode.name}: an ES256 key file: its tokens pass; another key's, HS256 made with the public key, and alg none do not`, async (t) => {
    const ok = client(t, mode, { auth: { token: JWKS_TOKENS.pem } }, "/", PEM_URL);
    await connected(ok);
    const [ack] = await emitAck(ok, "join", [{ room: `p${suffix()}` }]);
    assert.equal(ack.username, "Carol", JSON.stringify(ack));
    for (const [token, code] of [
      [JWKS_TOKENS.pemOther, "token_signature"],
      [mint(claims(), { secret: PEM_PUBLIC }), "token_algorithm"],
      [mint(claims(), { alg: "none" }), "token_algorithm"],
    ]) {
      const s = client(t, mode, { auth: { token } }, "/", PEM_URL);
      assert.equal((await refused(s)).message, code);
    }
  });
}

test("JWKS: keys from a key set; a rotated key is found; an unknown kid is refused", async (t) => {
  const mode = TRANSPORTS[0];
  const first = client(t, mode, { auth: { token: JWKS_TOKENS.k1 } }, "/", JWKS_1);
  await connected(first);
  // k2 is not in the set yet: refused (the set is fetched again, and lacks it).
  const early = client(t, mode, { auth: { token: JWKS_TOKENS.k2 } }, "/", JWKS_1);
  assert.equal((await refused(early)).message, "token_unknown_key");
  const res = await fetch(ROTATE, { method: "POST" });
  assert.equal(res.status, 204);
  for (const m of TRANSPORTS) {
    const s = client(t, m, { auth: { token: JWKS_TOKENS.k2 } }, "/", JWKS_2);
    await connected(s);
  }
  const forged = client(t, mode, { auth: { token: JWKS_TOKENS.unknownKid } }, "/", JWKS_1);
  assert.equal((await refused(forged)).message, "token_unknown_key");
});

test("an authenticated user's name is theirs: one session over tabs and gateways; no anonymous look-alike takes it", async (t) => {
  const room = `own${suffix()}`;
  const mode = TRANSPORTS[0];
  const tab1 = client(t, mode, { auth: { token: JWKS_TOKENS.k1 } }, "/", JWKS_1);
  const tab2 = client(t, TRANSPORTS[1], { auth: { token: JWKS_TOKENS.k1 } }, "/", JWKS_2);
  await connected(tab1);
  await connected(tab2);
  const [a1] = await emitAck(tab1, "join", [{ room }]);
  const [a2] = await emitAck(tab2, "join", [{ room, username: "Someone Else" }]);
  assert.equal(a1.ok && a2.ok, true, JSON.stringify([a1, a2]));
  assert.equal(a1.username, "Alice");
  assert.equal(a2.username, "Alice");
  assert.equal(a2.memberCount, 1, "two tabs of one identity are one user");

  for (const name of ["Alice", "alice", "ａｌｉｃｅ", "aIice"]) {
    const anon = client(t, mode, {}, "/", JWKS_1);
    await connected(anon);
    const [ack] = await emitAck(anon, "join", [{ room, username: name }]);
    assert.equal(ack.ok, false, `${name}: ${JSON.stringify(ack)}`);
    assert.equal(ack.error.code, "name_taken");
  }
  // Nor can an anonymous client present the identity's session token.
  const anon = client(t, mode, {}, "/", JWKS_2);
  await connected(anon);
  const [stolen] = await emitAck(anon, "join", [{ room, token: a1.token }]);
  assert.equal(stolen.ok, false, JSON.stringify(stolen));
  assert.equal(stolen.error.code, "bad_request");

  // Another identity with the same name claim is name_taken too.
  const bob = client(t, mode, { auth: { token: JWKS_TOKENS.k2Alice } }, "/", JWKS_2);
  await connected(bob);
  const [other] = await emitAck(bob, "join", [{ room }]);
  assert.equal(other.ok, false, JSON.stringify(other));
  assert.equal(other.error.code, "name_taken");

  // Alice closes both tabs; the room hears her leave (presence has let
  // her connections go). Her name stays hers while her session lives.
  const watcher = client(t, mode, {}, "/", JWKS_1);
  await connected(watcher);
  const [w] = await emitAck(watcher, "join", [{ room, username: `Watcher${suffix()}` }]);
  assert.equal(w.ok, true, JSON.stringify(w));
  const left = next(watcher, "leave", 5000);
  tab1.disconnect();
  tab2.disconnect();
  const [l] = await left;
  assert.equal(l.username, "Alice");
  const late = client(t, mode, {}, "/", JWKS_2);
  await connected(late);
  const [taken] = await emitAck(late, "join", [{ room, username: "alice" }]);
  assert.equal(taken.ok, false, JSON.stringify(taken));
  assert.equal(taken.error.code, "name_taken");
  // And she comes back to it.
  const back = client(t, mode, { auth: { token: JWKS_TOKENS.k1 } }, "/", JWKS_2);
  await connected(back);
  const [again] = await emitAck(back, "join", [{ room }]);
  assert.equal(again.ok, true, JSON.stringify(again));
  assert.equal(again.username, "Alice");
});

// BASE is the HS256 gateway; referenced so a missing NATTER_URL fails at once.
void BASE;
