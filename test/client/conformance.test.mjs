// Conformance of the natter gateway against the official socket.io-client.
//
//   NATTER_URL=http://127.0.0.1:PORT [NATTER_BULK_URL=http://127.0.0.1:PORT2] node --test conformance.test.mjs
//
// The server is the conformance app (services/gateway/internal/conformance), run with
// short heartbeats (pingInterval 300 ms, pingTimeout 200 ms) and maxPayload 100000;
// the tests read the actual values from the Engine.IO handshake. The burst of acked
// emits goes to NATTER_BULK_URL if set: the same app with long heartbeats (see helpers.mjs).
// Every scenario runs in each transport mode: polling then upgrade, websocket only,
// polling only. Frames can be traced with DEBUG=engine.io-client*,socket.io-client*.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  BASE,
  BULK_BASE,
  MODES,
  ackedBurst,
  checkAckOrder,
  client,
  connected,
  emitAck,
  emitAndWait,
  envInt,
  isBinary,
  manager,
  next,
  normalizeBinary,
  onFinalTransport,
  record,
  sleep,
} from "./helpers.mjs";

const ACKS = envInt("NATTER_ACKS", 10_000);
const ARGS = [1, "2", { 3: [true] }];
// Generous against a server built with -race on a 2-core machine.
const T = { timeout: 30_000 };

for (const mode of MODES) {
  describe(`transport: ${mode.name}`, () => {
    it("connects to / and gets the auth event with the handshake auth", T, async (t) => {
      const socket = client(t, mode, { auth: { token: "123" } });
      const auth = next(socket, "auth");
      await connected(socket);
      assert.equal(typeof socket.id, "string");
      assert.ok(socket.id.length > 0, "socket.id is empty");
      assert.deepEqual(await auth, [{ token: "123" }]);

      const hs = socket.io.handshake;
      assert.ok(hs, "no Engine.IO handshake seen");
      assert.equal(typeof hs.sid, "string");
      assert.ok(Array.isArray(hs.upgrades), "handshake.upgrades is not an array");
      for (const k of ["pingInterval", "pingTimeout", "maxPayload"]) {
        assert.equal(typeof hs[k], "number", `handshake.${k}`);
      }
      if (mode.name === "polling+upgrade") assert.deepEqual(hs.upgrades, ["websocket"]);

      await onFinalTransport(socket, mode);
      assert.equal(socket.io.engine.transport.name, mode.final);
    });

    it("emit without ack: message -> message-back", T, async (t) => {
      const socket = client(t, mode);
      await connected(socket);
      assert.deepEqual(await emitAndWait(socket, "message", ARGS, "message-back"), ARGS);
      assert.deepEqual(await emitAndWait(socket, "message", [], "message-back"), []);

      // Text that needs escaping and is not ASCII survives the round trip.
      const text = ["quote\" back\\slash \n newline", "ünïcödé ✓ 💬", { "": null, a: [1.5, -2, 0] }];
      assert.deepEqual(await emitAndWait(socket, "message", text, "message-back"), text);
    });

    it("emit with ack: message-with-ack", T, async (t) => {
      const socket = client(t, mode);
      await connected(socket);

      assert.deepEqual(await emitAck(socket, "message-with-ack", ARGS), ARGS);

      assert.deepEqual(await socket.timeout(2000).emitWithAck("message-with-ack", { a: "b" }), { a: "b" });
      assert.deepEqual(await socket.timeout(2000).emitWithAck("message-with-ack", ...ARGS), ARGS[0]);

      const withErr = await new Promise((resolve) =>
        socket.timeout(2000).emit("message-with-ack", ...ARGS, (...a) => resolve(a)),
      );
      assert.deepEqual(withErr, [null, ...ARGS]);

      // No args at all: the ack comes back empty.
      assert.deepEqual(await emitAck(socket, "message-with-ack", []), []);
    });

    it(`${ACKS} acked emits fired at once all come back, in order`, { timeout: 120_000 }, async (t) => {
      const socket = client(t, mode, {}, "/", BULK_BASE);
      await connected(socket);
      const hs = socket.io.handshake;
      if (hs.pingInterval + hs.pingTimeout < 5000) {
        t.diagnostic(`warning: heartbeat ${hs.pingInterval}+${hs.pingTimeout} ms is short for a burst; set NATTER_BULK_URL`);
      }
      // In the default mode the burst starts while the upgrade to websocket is under way.
      const { order, elapsed } = await ackedBurst(socket, ACKS, 100_000, mode.name);
      checkAckOrder(assert, order, ACKS, mode.name);
      t.diagnostic(`${ACKS} acks in ${elapsed.toFixed(0)} ms (${((ACKS / elapsed) * 1000).toFixed(0)}/s)` +
        ` over ${socket.io.engine.transport.name}`);
      // Still usable afterwards, and the upgrade went through despite the burst.
      assert.deepEqual(await socket.timeout(5000).emitWithAck("message-with-ack", "after"), "after");
      await onFinalTransport(socket, mode);
      assert.equal(socket.io.engine.transport.name, mode.final);
    });

    it("server emit with ack: the client acks", T, async (t) => {
      const socket = client(t, mode);
      await connected(socket);
      const payload = { hello: "world", n: [1, 2, 3] };
      const requests = [];
      socket.on("server-ack-request", (...args) => {
        const cb = typeof args.at(-1) === "function" ? args.pop() : null;
        requests.push({ args, withAck: !!cb });
        cb?.("acked", ...args);
      });
      const [res] = await emitAndWait(socket, "server-ack", [payload], "server-ack-result");
      assert.deepEqual(requests, [{ args: [payload], withAck: true }], "server-ack-request with an ack id");
      assert.deepEqual(res, { ok: true, args: ["acked", payload] });
    });

    it("server emit with ack: the client does not ack -> timeout", T, async (t) => {
      const socket = client(t, mode);
      await connected(socket);
      const payload = "no ack for you";
      let gotCb;
      socket.on("server-ack-request", (...args) => {
        gotCb = typeof args.at(-1) === "function";
        // deliberately never calls the ack callback
      });
      const start = performance.now();
      const [res] = await emitAndWait(socket, "server-ack", [payload], "server-ack-result");
      const elapsed = performance.now() - start;
      assert.equal(gotCb, true, "server-ack-request not received, or without an ack id");
      assert.deepEqual(res, { ok: false, error: "timeout" });
      assert.ok(elapsed >= 900, `timeout reported after ${elapsed.toFixed(0)} ms, expected ~1000 ms`);
      // The socket is still fine afterwards.
      assert.deepEqual(await socket.timeout(2000).emitWithAck("message-with-ack", 1), 1);
    });

    it("server emit with ack: a late ack is ignored after the timeout", T, async (t) => {
      const socket = client(t, mode);
      await connected(socket);
      socket.on("server-ack-request", (...args) => {
        const cb = args.at(-1);
        if (typeof cb === "function") setTimeout(() => socket.connected && cb("too late"), 1300);
      });
      const results = record(socket, "server-ack-result");
      const [res] = await emitAndWait(socket, "server-ack", ["late"], "server-ack-result");
      assert.deepEqual(res, { ok: false, error: "timeout" });
      await sleep(600); // the late ack has gone out by now
      assert.equal(socket.connected, true, "a late ack got the client disconnected");
      assert.deepEqual(await socket.timeout(2000).emitWithAck("message-with-ack", "ok"), "ok");
      assert.equal(results.length, 1, "more than one server-ack-result");
    });

    it("namespace /custom on its own", T, async (t) => {
      const socket = client(t, mode, { auth: { token: "custom" } }, "/custom");
      const auth = next(socket, "auth");
      await connected(socket);
      assert.deepEqual(await auth, [{ token: "custom" }]);
      assert.deepEqual(await emitAndWait(socket, "message", ARGS, "message-back"), ARGS);
      assert.deepEqual(await socket.timeout(2000).emitWithAck("message-with-ack", "c"), "c");
    });

    it("namespaces / and /custom multiplexed over one Manager", T, async (t) => {
      const m = manager(t, mode);
      const root = m.socket("/", { auth: { token: "root" } });
      const custom = m.socket("/custom", { auth: { token: "custom" } });
      const rootAuth = next(root, "auth");
      const customAuth = next(custom, "auth");
      await Promise.all([connected(root), connected(custom)]);
      assert.deepEqual(await rootAuth, [{ token: "root" }]);
      assert.deepEqual(await customAuth, [{ token: "custom" }]);
      assert.notEqual(root.id, custom.id);
      assert.equal(root.io, custom.io, "not the same Manager");

      // Events stay in their namespace.
      const rootBacks = record(root, "message-back");
      const customBack = next(custom, "message-back");
      custom.emit("message", "to-custom");
      assert.deepEqual(await customBack, ["to-custom"]);
      const rootBack = next(root, "message-back");
      root.emit("message", "to-root");
      assert.deepEqual(await rootBack, ["to-root"]);
      assert.deepEqual(rootBacks, [["to-root"]]);

      // Interleaved acks on both namespaces.
      const acks = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          (i % 2 ? custom : root).timeout(5000).emitWithAck("message-with-ack", i),
        ),
      );
      assert.deepEqual(acks, Array.from({ length: 50 }, (_, i) => i));
      await onFinalTransport(root, mode);
    });

    it("unknown namespace /random -> connect_error Invalid namespace", T, async (t) => {
      const socket = client(t, mode, {}, "/random");
      const [err] = await next(socket, "connect_error", 5000, { failOn: ["connect"] });
      assert.equal(err.message, "Invalid namespace");
      assert.equal(socket.connected, false);
      assert.equal(socket.active, false, "client would retry a refused namespace");
    });

    it("middleware refusal on /refused -> connect_error with message and data", T, async (t) => {
      const socket = client(t, mode, { auth: { token: "x" } }, "/refused");
      const [err] = await next(socket, "connect_error", 5000, { failOn: ["connect"] });
      assert.equal(err.message, "not allowed");
      assert.deepEqual(err.data, { reason: "test" });
      assert.equal(socket.connected, false);
    });

    it("refused namespace does not disturb / on the same Manager", T, async (t) => {
      const m = manager(t, mode);
      const root = m.socket("/");
      await connected(root);
      const refused = m.socket("/refused");
      const [err] = await next(refused, "connect_error", 5000, { failOn: ["connect"] });
      assert.equal(err.message, "not allowed");
      const random = m.socket("/random");
      const [err2] = await next(random, "connect_error", 5000, { failOn: ["connect"] });
      assert.equal(err2.message, "Invalid namespace");
      assert.equal(root.connected, true);
      assert.deepEqual(await root.timeout(2000).emitWithAck("message-with-ack", "still here"), "still here");
    });

    it("disconnect from the client side", T, async (t) => {
      const m = manager(t, mode);
      const root = m.socket("/");
      const custom = m.socket("/custom");
      await Promise.all([connected(root), connected(custom)]);
      const firstId = root.id;
      const engine = m.engine;

      const disc = next(root, "disconnect");
      root.disconnect();
      assert.equal((await disc)[0], "io client disconnect");
      assert.equal(root.connected, false);

      // The server handled the namespace DISCONNECT without tearing down the session:
      // /custom on the same Engine.IO session still works.
      assert.deepEqual(await custom.timeout(2000).emitWithAck("message-with-ack", "custom ok"), "custom ok");
      assert.equal(m.engine, engine, "Engine.IO session was replaced");

      // ... and / can be joined again over the same session, as a new socket.
      const auth = next(root, "auth");
      root.connect();
      await connected(root);
      await auth;
      assert.notEqual(root.id, firstId, "reconnected / reuses the old socket id");
      assert.deepEqual(await root.timeout(2000).emitWithAck("message-with-ack", "root ok"), "root ok");

      // Closing everything, then a fresh client connects fine.
      const d1 = next(root, "disconnect");
      const d2 = next(custom, "disconnect");
      root.disconnect();
      custom.disconnect();
      assert.equal((await d1)[0], "io client disconnect");
      assert.equal((await d2)[0], "io client disconnect");

      const fresh = client(t, mode, { auth: { token: "fresh" } });
      const freshAuth = next(fresh, "auth");
      await connected(fresh);
      assert.deepEqual(await freshAuth, [{ token: "fresh" }]);
    });

    it("disconnect from the server side: io server disconnect, no reconnect", T, async (t) => {
      const socket = client(t, mode, {
        reconnection: true,
        reconnectionDelay: 50,
        reconnectionDelayMax: 100,
        randomizationFactor: 0,
      });
      await connected(socket);
      const connects = record(socket, "connect");
      const attempts = record(socket.io, "reconnect_attempt");
      const disc = next(socket, "disconnect");
      socket.emit("disconnect-me");
      assert.equal((await disc)[0], "io server disconnect");
      await sleep(500); // several reconnection delays
      assert.equal(connects.length, 0, "client reconnected after io server disconnect");
      assert.equal(attempts.length, 0, "client tried to reconnect after io server disconnect");
      assert.equal(socket.connected, false);
      assert.equal(socket.active, false);
    });

    it("server closes the transport: the client reconnects by itself", T, async (t) => {
      const socket = client(t, mode, {
        auth: { token: "again" },
        reconnection: true,
        reconnectionDelay: 50,
        reconnectionDelayMax: 100,
        randomizationFactor: 0,
      });
      const auths = record(socket, "auth");
      await connected(socket);
      const firstId = socket.id;
      const firstSid = socket.io.engine.id;
      await onFinalTransport(socket, mode);

      const disc = next(socket, "disconnect", 5000);
      const reconnect = next(socket.io, "reconnect", 10_000);
      const start = performance.now();
      socket.emit("close-transport");
      const [reason] = await disc;
      const discMs = performance.now() - start;
      t.diagnostic(`disconnect reason "${reason}" after ${discMs.toFixed(0)} ms`);
      assert.ok(
        ["transport close", "transport error"].includes(reason),
        `disconnect reason "${reason}": the server should close the session itself, not leave it to time out`,
      );
      await reconnect;
      await connected(socket);
      assert.notEqual(socket.id, firstId, "same socket id after reconnection");
      assert.notEqual(socket.io.engine.id, firstSid, "same Engine.IO sid after reconnection");
      assert.deepEqual(await socket.timeout(2000).emitWithAck("message-with-ack", "back"), "back");
      await sleep(50);
      assert.deepEqual(auths, [[{ token: "again" }], [{ token: "again" }]], "one auth event per connection");
    });

    it("a client that stops answering pings is dropped by the server", T, async (t) => {
      const socket = client(t, mode);
      // engine.io-client 6.x answers a ping in Socket#_onPacket with this._sendPacket("pong").
      // Swallow those pongs; everything else still goes out.
      const engine = socket.io.engine;
      assert.equal(typeof engine._sendPacket, "function", "engine.io-client has no _sendPacket to hook");
      const dropped = [];
      const orig = engine._sendPacket;
      engine._sendPacket = function (type, ...rest) {
        if (type === "pong") {
          dropped.push(performance.now());
          return;
        }
        return orig.call(this, type, ...rest);
      };
      await connected(socket);
      const hs = socket.io.handshake;
      const bound = hs.pingInterval + hs.pingTimeout;
      assert.ok(
        bound <= 10_000,
        `this scenario needs a server with short heartbeats (got pingInterval ${hs.pingInterval} + pingTimeout ${hs.pingTimeout} ms)`,
      );
      const connectedAt = performance.now();
      const [reason] = await next(socket, "disconnect", bound + 3000);
      const now = performance.now();
      t.diagnostic(
        `disconnect "${reason}" ${(now - connectedAt).toFixed(0)} ms after connect, ` +
          `${dropped.length ? (now - dropped[0]).toFixed(0) : "?"} ms after the first unanswered ping ` +
          `(pingInterval ${hs.pingInterval}, pingTimeout ${hs.pingTimeout})`,
      );
      assert.ok(dropped.length >= 1, "the server never pinged");
      // The server must drop us pingTimeout after its unanswered ping. The client's own timer
      // would fire pingInterval+pingTimeout after the last ping it got ("ping timeout"),
      // which only means the server neither pinged nor closed.
      assert.notEqual(reason, "ping timeout", "the server did not close the session; the client timed out on its own");
      assert.ok(
        now - dropped[0] <= hs.pingTimeout + 1000,
        `dropped ${(now - dropped[0]).toFixed(0)} ms after the unanswered ping (pingTimeout ${hs.pingTimeout})`,
      );

      if (mode.final === "polling") {
        // The session is really gone: polling it again is refused instead of waiting for data.
        const res = await fetch(`${socket.io.uri}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(hs.sid)}`, {
          signal: AbortSignal.timeout(3000),
        });
        assert.equal(res.status, 400, `poll on the dropped session answered ${res.status}: ${await res.text()}`);
      }
    });

    it("an oversized message closes that session, other clients keep working", T, async (t) => {
      const other = client(t, mode);
      const big = client(t, mode);
      await Promise.all([connected(other), connected(big)]);
      const max = big.io.handshake.maxPayload;
      assert.ok(max > 0, "handshake has no maxPayload");
      await onFinalTransport(big, mode);

      const disc = next(big, "disconnect", 5000);
      const acks = record(big, "message-back");
      big.emit("message", "x".repeat(max + 1000));
      const [reason] = await disc;
      t.diagnostic(`oversized message: disconnect "${reason}"`);
      assert.notEqual(reason, "io client disconnect");
      assert.deepEqual(acks, [], "the server echoed the oversized message");

      assert.equal(other.connected, true);
      assert.deepEqual(await other.timeout(2000).emitWithAck("message-with-ack", "alive"), "alive");
      // A message just under the limit still goes through.
      const fits = "y".repeat(max - 1000);
      assert.equal(await other.timeout(5000).emitWithAck("message-with-ack", fits), fits);
    });

    it("binary attachments round-trip", T, async (t) => {
      const socket = client(t, mode);
      await connected(socket);
      const buf = Buffer.from([0, 1, 2, 253, 254, 255]);
      const u8 = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
      const large = Buffer.alloc(50_000, 7);
      const nested = { name: "file", parts: [Buffer.from("hello"), { deep: u8 }], n: 1 };
      const args = [buf, "text", nested, u8, large];

      const got = await emitAndWait(socket, "message", args, "message-back");
      assert.ok(isBinary(got[0]), `first arg came back as ${typeof got[0]} ${JSON.stringify(got[0])?.slice(0, 80)}`);
      assert.ok(isBinary(got[2].parts[0]), "nested binary came back as non-binary");
      assert.deepEqual(normalizeBinary(got), normalizeBinary(args));

      const acked = await emitAck(socket, "message-with-ack", args);
      assert.ok(isBinary(acked[0]));
      assert.deepEqual(normalizeBinary(acked), normalizeBinary(args));

      // Many binary acks in a row stay matched to the right emits.
      const many = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          socket.timeout(10_000).emitWithAck("message-with-ack", { i, bin: Buffer.from([i & 0xff, 1, 2]) }),
        ),
      );
      assert.deepEqual(
        normalizeBinary(many),
        Array.from({ length: 200 }, (_, i) => ({ i, bin: Buffer.from([i & 0xff, 1, 2]) })),
      );
      // Binary-only event with a plain ArrayBuffer.
      const ab = new Uint8Array([9, 8, 7]).buffer;
      assert.deepEqual(normalizeBinary(await emitAndWait(socket, "message", [ab], "message-back")), [Buffer.from([9, 8, 7])]);
    });
  });
}

// BASE is imported so a missing NATTER_URL fails loudly at load time.
void BASE;
