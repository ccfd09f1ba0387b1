// Shared helpers for the socket.io-client tests against the natter gateway.
//
// Every wait here has a timeout, so a broken server makes a test fail instead
// of hanging, and every client made through `client()` / `manager()` is closed
// when the test that made it ends, so node exits when the tests are done.

import { io, Manager } from "socket.io-client";

/** Base URL of the server under test, e.g. http://127.0.0.1:34567 (no trailing slash). */
export const BASE = (() => {
  const url = process.env.NATTER_URL;
  if (!url) {
    throw new Error(
      "NATTER_URL is not set: point it at a running conformance server, e.g. NATTER_URL=http://127.0.0.1:8080",
    );
  }
  return url.replace(/\/+$/, "");
})();

/**
 * Server for the scenarios that fire thousands of emits at once. While this process
 * encodes such a burst it answers no pings, so a server with the short heartbeats the
 * other scenarios want (pingTimeout 200 ms) could rightly drop it, more so on a busy
 * machine. NATTER_BULK_URL points at the same app run with long heartbeats; it
 * defaults to NATTER_URL.
 */
export const BULK_BASE = (process.env.NATTER_BULK_URL || BASE).replace(/\/+$/, "");

/**
 * The three transport modes every scenario runs in.
 * `final` is the transport the Engine.IO session should end up on.
 */
export const MODES = [
  { name: "polling+upgrade", opts: {}, final: "websocket" },
  { name: "websocket", opts: { transports: ["websocket"] }, final: "websocket" },
  { name: "polling", opts: { transports: ["polling"] }, final: "polling" },
];

/** Options every client gets unless a test overrides them. */
export const BASE_OPTS = {
  forceNew: true,
  reconnection: false,
  timeout: 5000, // connect timeout of the Manager
};

/** BASE_OPTS on WebSocket alone. */
export const WS_OPTS = { ...BASE_OPTS, transports: ["websocket"] };

/**
 * The second gateway of the tests that use two (NATTER_URL_2, no trailing slash);
 * NATTER_URL's where there is one.
 */
export const URL2 = (process.env.NATTER_URL_2 || BASE).replace(/\/+$/, "");

/** A random suffix for names and rooms, so that runs do not meet each other's sessions. */
export const suffix = () => Math.random().toString(36).slice(2, 8);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Timers of pending waits. They are cleared when the test that made the clients ends,
// so that a failed test's leftover waits don't keep node running until they expire.
const waitTimers = new Set();
function startTimer(fn, ms) {
  const h = setTimeout(() => {
    waitTimers.delete(h);
    fn();
  }, ms);
  waitTimers.add(h);
  return h;
}
function stopTimer(h) {
  clearTimeout(h);
  waitTimers.delete(h);
}
function clearWaitTimers() {
  for (const h of waitTimers) clearTimeout(h);
  waitTimers.clear();
}

/** Rejects with a descriptive error when `promise` has not settled within `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = startTimer(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => stopTimer(timer));
}

/**
 * Resolves with the argument list of the next `event` on `emitter`
 * (a socket.io-client Socket, Manager or engine.io-client Socket).
 * Rejects after `ms`. If `failOn` names other events, their arrival rejects.
 */
export function next(emitter, event, ms = 5000, { failOn = [] } = {}) {
  return new Promise((resolve, reject) => {
    const cleanups = [];
    const done = () => cleanups.forEach((f) => f());
    const on = (ev, fn) => {
      emitter.on(ev, fn);
      cleanups.push(() => emitter.off(ev, fn));
    };
    const timer = startTimer(() => {
      done();
      reject(new Error(`timed out after ${ms} ms waiting for "${event}"`));
    }, ms);
    cleanups.push(() => stopTimer(timer));
    on(event, (...args) => {
      done();
      resolve(args);
    });
    for (const ev of failOn) {
      on(ev, (...args) => {
        done();
        const detail = args.map((a) => (a instanceof Error ? a.message : JSON.stringify(a))).join(", ");
        reject(new Error(`got "${ev}" (${detail}) while waiting for "${event}"`));
      });
    }
  });
}

/**
 * Emits `event` with `args` and a plain ack callback; resolves with the ack's argument
 * list. Fails on timeout or when the socket disconnects first.
 */
export function emitAck(socket, event, args, ms = 5000) {
  return new Promise((resolve, reject) => {
    const onDisconnect = (reason) => finish(new Error(`disconnected ("${reason}") before the ack of "${event}"`));
    const timer = startTimer(() => finish(new Error(`timed out after ${ms} ms waiting for the ack of "${event}"`)), ms);
    function finish(err, value) {
      stopTimer(timer);
      socket.off("disconnect", onDisconnect);
      if (err) reject(err);
      else resolve(value);
    }
    socket.on("disconnect", onDisconnect);
    socket.emit(event, ...args, (...a) => finish(null, a));
  });
}

/** Emits `event` with `args` and resolves with the arguments of the next `reply` event. */
export function emitAndWait(socket, event, args, reply, ms = 5000) {
  const p = next(socket, reply, ms, { failOn: ["disconnect"] });
  socket.emit(event, ...args);
  return p;
}

/** Records every occurrence of `event` on `emitter` as an argument list. */
export function record(emitter, event) {
  const seen = [];
  emitter.on(event, (...args) => seen.push(args));
  return seen;
}

function closeSocket(socket) {
  try {
    socket.io.reconnection(false);
    socket.disconnect();
    socket.io.engine?.close();
  } catch {
    // already closed
  }
}

/**
 * Creates a client socket for `nsp` (default "/") on server `base` (default NATTER_URL)
 * with BASE_OPTS + mode options + `opts`,
 * registering it for closing when test `t` ends. It starts connecting at once; listeners
 * attached synchronously after the call see every event.
 * Also captures the Engine.IO handshake as `socket.handshake` when it arrives.
 */
export function client(t, mode, opts = {}, nsp = "/", base = BASE) {
  const socket = io(base + (nsp === "/" ? "" : nsp), { ...BASE_OPTS, ...mode.opts, ...opts });
  trackHandshake(socket.io);
  const stopTrace = traceClose(t, socket.io, `client ${nsp}`);
  t.after(() => {
    stopTrace();
    closeSocket(socket);
    clearWaitTimers();
  });
  return socket;
}

/** Creates a Manager (one Engine.IO session, several namespaces), closed when test `t` ends. */
export function manager(t, mode, opts = {}) {
  const m = new Manager(BASE, { ...BASE_OPTS, ...mode.opts, ...opts });
  trackHandshake(m);
  const stopTrace = traceClose(t, m, "manager");
  const sockets = [];
  const origSocket = m.socket.bind(m);
  m.socket = (nsp, o) => {
    const s = origSocket(nsp, o);
    sockets.push(s);
    return s;
  };
  t.after(() => {
    stopTrace();
    m.reconnection(false);
    for (const s of sockets) closeSocket(s);
    m.engine?.close();
    clearWaitTimers();
  });
  return m;
}

// The Manager creates its engine synchronously when autoConnect is on, and a
// new one on every reconnection; keep the latest handshake on the Manager.
function trackHandshake(m) {
  const hook = () => {
    m.engine?.once("handshake", (data) => {
      m.handshake = data;
    });
  };
  hook();
  m.on("reconnect_attempt", () => setImmediate(hook));
}

/**
 * Reports, as test diagnostics, why each Engine.IO session of Manager `m` ended and any
 * transport error, so that an unexpected failure (a dropped session, an HTTP error on a
 * poll) explains itself. Returns a function that stops the reporting.
 */
function traceClose(t, m, label) {
  let live = true;
  const say = (msg) => live && t.diagnostic(`${label}: ${msg}`);
  const describe = (d) => {
    if (d === undefined || d === null) return "";
    if (d instanceof Error) return d.message;
    if (typeof d === "object") {
      const inner = d.description ?? d.message;
      const status = d.context?.status ?? d.context?.statusCode;
      return [inner instanceof Error ? inner.message : inner, status && `HTTP ${status}`, d.context?.responseText]
        .filter(Boolean)
        .join(", ");
    }
    return String(d);
  };
  const hook = () => {
    const engine = m.engine;
    if (!engine) return;
    let id; // engine.id is reset when the session closes
    engine.on("open", () => (id = engine.id));
    const sid = () => id ?? engine.id ?? "(before the handshake)";
    engine.on("close", (reason, d) => {
      if (reason !== "forced close") say(`Engine.IO session ${sid()} closed: "${reason}" ${describe(d)}`);
    });
    engine.on("error", (err) => say(`Engine.IO error on ${sid()}: ${describe(err)}`));
  };
  hook();
  m.on("reconnect_attempt", () => setImmediate(hook));
  return () => {
    live = false;
  };
}

/**
 * Waits for `connect` (failing fast on `connect_error`), and in the default mode also waits
 * until the transport upgrade has happened when `upgraded` is true.
 */
export async function connected(socket, ms = 5000) {
  if (!socket.connected) await next(socket, "connect", ms, { failOn: ["connect_error"] });
  return socket;
}

/** Waits until the engine has reached `mode.final` (i.e. upgraded, in the default mode). */
export async function onFinalTransport(socket, mode, ms = 5000) {
  const engine = socket.io.engine;
  if (engine.transport?.name === mode.final) return;
  await next(engine, "upgrade", ms, { failOn: ["close", "upgradeError"] });
}

/** Replaces every binary (ArrayBuffer, typed array, Buffer) in a value by a Buffer, for comparison. */
export function normalizeBinary(v) {
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(normalizeBinary);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalizeBinary(x)]));
  }
  return v;
}

/** True when `v` is an ArrayBuffer or a view on one (Buffer, Uint8Array, ...). */
export const isBinary = (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v);

/** Positive integer from the environment, or `dflt`. */
export function envInt(name, dflt) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return n;
}

/**
 * Fires `count` emits of `message-with-ack` carrying a sequence number, without waiting,
 * and resolves with { order, elapsed } once every ack has come back. `order` lists, in the
 * order the ack callbacks ran, [index the emit was made with, value the ack carried].
 */
export function ackedBurst(socket, count, ms, label = "") {
  const order = [];
  const start = performance.now();
  let onDisconnect;
  const all = new Promise((resolve, reject) => {
    // The client drops pending ack callbacks on disconnect: fail at once, with the reason.
    onDisconnect = (reason, details) => {
      const d = details?.description;
      reject(new Error(`disconnected ("${reason}"${d ? `, ${d.message ?? d}` : ""}) while waiting for acks ${label}`));
    };
    socket.once("disconnect", onDisconnect);
    for (let i = 0; i < count; i++) {
      socket.emit("message-with-ack", i, (...args) => {
        order.push([i, args.length === 1 ? args[0] : args]);
        if (order.length === count) resolve();
      });
    }
  });
  return withTimeout(all, ms, `${count} acks ${label}`)
    .finally(() => socket.off("disconnect", onDisconnect))
    .then(
    () => ({ order, elapsed: performance.now() - start }),
    (err) => {
      err.message += ` (${order.length} of ${count} acks arrived)`;
      throw err;
    },
  );
}

/** Asserts that `order` (from ackedBurst) is 0..count-1 in order, each ack carrying its own number. */
export function checkAckOrder(assert, order, count, label = "") {
  assert.equal(order.length, count, `${label}: number of acks`);
  for (let k = 0; k < count; k++) {
    const [i, v] = order[k];
    if (i !== k) assert.fail(`${label}: ack callback #${k} was for emit #${i} (out of order)`);
    if (v !== k) assert.fail(`${label}: ack for emit #${k} carried ${JSON.stringify(v)}, want ${k}`);
  }
}

// ---- chat: the natter events ----

/** A chat client on url, closed (without reconnecting) when test t ends. */
export function chatClient(t, url, mode, opts = {}) {
  const socket = io(url, { ...BASE_OPTS, ...mode.opts, ...opts });
  t.after(() => {
    socket.io.reconnection(false);
    socket.disconnect();
  });
  return socket;
}

/** Emits event with payload and resolves with its ack. */
export const ack = (socket, event, payload, ms = 5000) =>
  withTimeout(socket.emitWithAck(event, payload), ms, `ack of ${event}`);

/**
 * Sends a chat message within the rate limit: while the answer is rate_limited, sends
 * it again 120 ms later. Resolves with the first other answer; each waits up to ms.
 */
export async function sendPaced(socket, message, ms = 5000) {
  for (;;) {
    const res = await ack(socket, "client message", { message }, ms);
    if (res.ok || res.error?.code !== "rate_limited") return res;
    await sleep(120);
  }
}

/** Joins, failing unless the ack says ok; resolves with the ack. */
export async function joined(socket, payload) {
  const res = await ack(socket, "join", payload);
  if (res.ok !== true) throw new Error(`join ${JSON.stringify(payload)}: ${JSON.stringify(res)}`);
  return res;
}

/**
 * Reads a room's whole history through socket, page by page, oldest first. A page
 * answered `unavailable` (history or its NATS connection moving) is asked again, 200 ms
 * later, up to `retries` times in all. Resolves with the messages and how many pages
 * were refused; any other refusal rejects.
 */
export async function readRoom(socket, room, { retries = 0 } = {}) {
  const stored = [];
  let before;
  let refused = 0;
  for (;;) {
    const page = await withTimeout(socket.emitWithAck("history", { room, before, limit: 100 }), 10000, "history");
    if (!page.ok && page.error?.code === "unavailable" && refused < retries) {
      refused++;
      await sleep(200);
      continue;
    }
    if (!page.ok) throw new Error(`history of ${room}: ${JSON.stringify(page)}`);
    stored.unshift(...page.messages);
    if (page.messages.length < 100) return { stored, refused };
    before = page.messages[0].id;
  }
}

/**
 * Compares a room's stored messages with the acked ones (text -> the id its ack gave):
 * the texts stored twice, those acked but not stored, and those stored under another id.
 */
export function storedOnce(stored, ackedIds) {
  const count = new Map();
  for (const m of stored) count.set(m.message, (count.get(m.message) || 0) + 1);
  return {
    twice: [...count].filter(([, n]) => n > 1).map(([m]) => m),
    missing: [...ackedIds.keys()].filter((m) => !count.has(m)),
    wrongID: stored.filter((m) => ackedIds.get(m.message) !== m.id).map((m) => m.message),
  };
}

/** The counts sendUntilStored keeps: a fresh one for a test's clients to share. */
export const newAnswers = () => ({ ok: 0, unavailable: 0, unknown_outcome: 0, timeout: 0, other: 0, errors: new Set() });

/**
 * Sends a chat message under clientId until it is acked ok, and resolves with that ack.
 * A lost ack (none within ms) is counted in answers.timeout and the message sent again at
 * once; a refusal 100 ms later: `unavailable` (not stored) and `unknown_outcome` (perhaps
 * stored), which a store fault brings, in their own counts, any other in answers.other
 * (its error in answers.errors). The same clientId stores it once either way. Rejects
 * when it is not acked ok within giveUpMs.
 */
export async function sendUntilStored(socket, message, clientId, answers, { ms = 5000, giveUpMs = Infinity } = {}) {
  for (const first = Date.now(); ; ) {
    if (Date.now() - first > giveUpMs) throw new Error(`${message} not acked ok within ${giveUpMs} ms`);
    let res;
    try {
      res = await socket.timeout(ms).emitWithAck("client message", { message, clientId });
    } catch {
      answers.timeout++; // the ack is lost: resend
      continue;
    }
    if (res.ok) {
      answers.ok++;
      return res;
    }
    const code = res.error?.code;
    if (code === "unavailable" || code === "unknown_outcome") answers[code]++;
    else {
      answers.other++;
      answers.errors.add(JSON.stringify(res.error));
    }
    await sleep(100);
  }
}

/** POSTs body to op of the server API at base with the key; resolves with {status, body}. */
export async function apiPost(base, key, op, body) {
  const res = await withTimeout(
    fetch(`${base}/api/v1/${op}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }),
    10000,
    `api ${op}`,
  );
  return { status: res.status, body: await res.json() };
}
