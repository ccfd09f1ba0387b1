// 200 clients join and leave at once across two gateways (and, in the Go
// test, two presence replicas): every join and leave is announced exactly
// once, and the member list ends equal to the truth.

import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { BASE, URL2, WS_OPTS as opts, joined, sleep, suffix, withTimeout } from "./helpers.mjs";

test("200 clients churn: each join and leave once, members true", async (t) => {
  const s = suffix();
  const room = `churn-${s}`;
  const watcher = io(URL2, opts);
  t.after(() => watcher.disconnect());
  await joined(watcher, { username: `Watch${s}`, room });
  const joins = new Map();
  const leaves = new Map();
  const count = (m, name) => m.set(name, (m.get(name) || 0) + 1);
  watcher.on("join", (j) => count(joins, j.username));
  watcher.on("leave", (l) => count(leaves, l.username));

  const clients = Array.from({ length: 200 }, (_, i) => {
    const socket = io(i % 2 ? URL2 : BASE, opts);
    t.after(() => socket.disconnect());
    return { socket, name: `P${i}x${s}` };
  });
  const results = await Promise.all(
    clients.map((c) => withTimeout(c.socket.emitWithAck("join", { username: c.name, room }), 20000, "join")),
  );
  results.forEach((r, i) => assert.equal(r.ok, true, `${clients[i].name}: ${JSON.stringify(r)}`));
  // Half of them leave at once, deliberately.
  const leavers = clients.filter((_, i) => i % 2 === 0);
  leavers.forEach((c) => c.socket.disconnect());
  const stayers = clients.filter((_, i) => i % 2 === 1).map((c) => c.name);

  const deadline = Date.now() + 20000;
  while (Date.now() < deadline && (joins.size < 200 || leaves.size < 100)) await sleep(50);
  await sleep(1000); // time for a duplicate announcement to show itself
  assert.equal(joins.size, 200, "joins announced");
  assert.deepEqual([...joins.values()].filter((n) => n !== 1), [], "a join announced twice");
  assert.deepEqual([...leaves.keys()].sort(), leavers.map((c) => c.name).sort(), "leaves announced");
  assert.deepEqual([...leaves.values()].filter((n) => n !== 1), [], "a leave announced twice");
  // Members come a page (of 100 at most) at a time.
  const names = [];
  for (let after = ""; ; ) {
    const page = await withTimeout(watcher.emitWithAck("members", after ? { after } : {}), 5000, "members");
    assert.equal(page.ok, true, JSON.stringify(page));
    names.push(...page.members.map((m) => m.username));
    if (!page.more) break;
    after = page.members[page.members.length - 1].username;
  }
  assert.deepEqual(names.sort(), [...stayers, `Watch${s}`].sort());
});
