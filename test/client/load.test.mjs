// Load: many clients at once, each firing many acked emits without waiting.
//
//   NATTER_URL=http://127.0.0.1:PORT node --test load.test.mjs
//
// Defaults: 100 clients x 10000 acked emits each, in each of the three transport modes.
// Tunable with NATTER_LOAD_CLIENTS, NATTER_LOAD_EMITS and NATTER_LOAD_TIMEOUT_MS
// (per mode). Every ack must arrive, and on each client the ack callbacks must run
// in the order of the emits. A client that gets disconnected fails the test at once.
//
// All clients live in this one Node process, which answers no ping while it encodes a
// client's burst, and the server reads each client's pong only after the thousands of
// emits queued before it: run the server with a pingTimeout of minutes (the Go test uses
// pingInterval 5 s, pingTimeout 3 min), or slow clients get dropped, not broken ones.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MODES, ackedBurst, checkAckOrder, client, connected, envInt, next } from "./helpers.mjs";

const CLIENTS = envInt("NATTER_LOAD_CLIENTS", 100);
const EMITS = envInt("NATTER_LOAD_EMITS", 10_000);
const TIMEOUT = envInt("NATTER_LOAD_TIMEOUT_MS", 300_000);

for (const mode of MODES) {
  describe(`transport: ${mode.name}`, () => {
    it(`${CLIENTS} clients x ${EMITS} acked emits, all acks in order`, { timeout: TIMEOUT + 60_000 }, async (t) => {
      const t0 = performance.now();
      const sockets = Array.from({ length: CLIENTS }, (_, i) => client(t, mode, { auth: { client: i }, timeout: 20_000 }));

      // Any disconnect during the run fails the test immediately, with its reason.
      let failDisconnected;
      const disconnected = new Promise((_, reject) => (failDisconnected = reject));
      disconnected.catch(() => {}); // observed below via Promise.race
      sockets.forEach((s, i) =>
        s.on("disconnect", (reason, details) =>
          failDisconnected(
            new Error(`client ${i} disconnected during the load: "${reason}"` +
              (details ? ` (${details.description?.message ?? details.description ?? details.context ?? ""})` : "")),
          ),
        ),
      );
      const guard = (p) => Promise.race([p, disconnected]);

      const auths = Promise.all(sockets.map((s) => next(s, "auth", 60_000)));
      auths.catch(() => {}); // awaited below; don't let a connect failure leave it unhandled
      await guard(Promise.all(sockets.map((s) => connected(s, 60_000))));
      assert.equal(new Set(sockets.map((s) => s.id)).size, CLIENTS, "socket ids are not unique");
      (await guard(auths)).forEach((a, i) => assert.deepEqual(a, [{ client: i }], `auth of client ${i}`));
      const t1 = performance.now();

      // Each client fires its whole burst synchronously, without waiting for acks; the
      // bursts of successive clients start on successive event-loop turns, so the process
      // still gets to do I/O (flush writes, read acks and pings) between them.
      const bursts = [];
      await new Promise((resolve) => {
        let i = 0;
        const step = () => {
          bursts.push(ackedBurst(sockets[i], EMITS, TIMEOUT, `client ${i}`));
          bursts.at(-1).catch(() => {}); // awaited below
          if (++i < CLIENTS) setImmediate(step);
          else resolve();
        };
        step();
      });
      const results = await guard(Promise.all(bursts));
      const t2 = performance.now();
      results.forEach(({ order }, i) => checkAckOrder(assert, order, EMITS, `client ${i}`));

      const total = CLIENTS * EMITS;
      const slowest = Math.max(...results.map((r) => r.elapsed));
      const transports = {};
      for (const s of sockets) {
        const name = s.io.engine.transport.name;
        transports[name] = (transports[name] ?? 0) + 1;
      }
      t.diagnostic(
        `${mode.name}: connected ${CLIENTS} clients in ${(t1 - t0).toFixed(0)} ms; ` +
          `${total} acks in ${(t2 - t1).toFixed(0)} ms (${((total / (t2 - t1)) * 1000).toFixed(0)}/s), ` +
          `slowest client ${slowest.toFixed(0)} ms; transports at the end ${JSON.stringify(transports)}`,
      );
      for (const s of sockets) assert.equal(s.connected, true, "a client got disconnected during the load");
    });
  });
}
