// Look-alike names, with the official socket.io-client over WebSocket: while
// the original is online, each variant is refused (name_taken when it is a
// valid name with the original's key, invalid_name when it is no valid name
// at all); once the original has left and its name is free, each valid
// variant is accepted.
//
//   NATTER_URL, NATTER_URL_2  two gateways of one system
//   NATTER_FREE_MS            how long a name stays held after its holder left

import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { BASE, URL2, WS_OPTS as opts, sleep, withTimeout } from "./helpers.mjs";

const FREE = Number(process.env.NATTER_FREE_MS || 5000);

// [what, original, variant, code while the original is online]
const VARIANTS = [
  ["capital I for l", "alice", "aIice", "name_taken"],
  ["dental click for l", "alice", "a\u01c0ice", "name_taken"],
  ["Latin capital iota for l", "alice", "a\u0196ice", "name_taken"],
  ["small capital C", "alice", "ali\u1d04e", "name_taken"],
  ["combining dot below", "alice", "alic\u0323e", "name_taken"],
  ["combining macron below", "alice", "al\u0331ice", "name_taken"],
  ["capital", "alice", "ALICE", "name_taken"],
  ["fullwidth", "alice", "ａｌｉｃｅ", "name_taken"],
  ["Cyrillic che for e", "alice", "alic\u04bde", "invalid_name"],
  ["Cyrillic iota for i", "alice", "al\ua647ce", "invalid_name"],
  ["Cyrillic a", "alice", "\u0430lice", "invalid_name"],
  ["stroke overlay", "alice", "a\u0336lice", "invalid_name"],
  ["zero-width space", "alice", "ali\u200bce", "invalid_name"],
  ["right-to-left override", "alice", "\u202ealice", "invalid_name"],
  ["Cherokee", "ADMIN", "\u13aa\u13a0\u13b7\u13c6\u13c1", "invalid_name"],
  ["m as rn", "ADMIN", "adrnin", "name_taken"],
  ["doubled inner space", "alice b", "alice  b", "name_taken"],
  ["all Cyrillic", "papa", "\u0440\u0430\u0440\u0430", "name_taken"],
  ["Greek capitals", "NINA", "\u039d\u0399\u039d\u0391", "name_taken"],
];

function tabOf(t, url) {
  const socket = io(url, opts);
  t.after(() => socket.disconnect());
  return socket;
}

const joinAck = (socket, username) =>
  withTimeout(socket.emitWithAck("join", { username }), 5000, `join ack for ${JSON.stringify(username)}`);

// joinOnceFree joins as username, asking again until the name is free or
// the deadline passes; it resolves with the last ack.
async function joinOnceFree(socket, username) {
  const deadline = Date.now() + FREE + 5000;
  for (;;) {
    const res = await joinAck(socket, username);
    if (res.ok || res.error.code !== "name_taken" || Date.now() > deadline) return res;
    await sleep(100);
  }
}

for (const original of [...new Set(VARIANTS.map((v) => v[1]))]) {
  const variants = VARIANTS.filter((v) => v[1] === original);
  test(`look-alikes of ${JSON.stringify(original)}`, async (t) => {
    const owner = tabOf(t, BASE);
    const held = await joinOnceFree(owner, original);
    assert.equal(held.ok, true, JSON.stringify(held));

    for (const [what, , variant, code] of variants) {
      const other = tabOf(t, URL2);
      const res = await joinAck(other, variant);
      assert.equal(res.ok, false, `${what}: ${JSON.stringify(variant)} was let in while ${original} is online`);
      assert.equal(res.error.code, code, `${what}: ${JSON.stringify(res)}`);
      assert.ok(res.error.message, `${what}: no message`);
      other.disconnect();
    }

    // The original leaves: each valid variant may now have the name, one
    // after the other (each holds it, then leaves it).
    owner.disconnect();
    for (const [what, , variant, code] of variants) {
      if (code !== "name_taken") continue;
      const other = tabOf(t, URL2);
      const res = await joinOnceFree(other, variant);
      assert.equal(res.ok, true, `${what}: ${JSON.stringify(variant)} after ${original} left: ${JSON.stringify(res)}`);
      other.disconnect();
    }
  });
}
