// The seed's chat server as the seed builds it (express, socket.io, the Redis
// adapter: "서버 확장"), with natter's event names and acks (proto/README.md),
// so that one load generator drives both: join, client message, rooms,
// members; server message to the room (the seed's io.emit), join and leave
// notices to the others (its socket.broadcast.emit). Nothing is stored.
//
//   PORT=3101 REDIS_URL=redis://127.0.0.1:6379 node server.js
//
// Run two (or more) on different ports with one Redis: the adapter carries
// each emit to the other processes.
"use strict";

const http = require("http");
const express = require("express");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || "127.0.0.1";
const redisURL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const colors = ["#e21400", "#91580f", "#f8a700", "#f78b00", "#58dc00", "#287b00",
  "#a8f07a", "#4ae8c4", "#3b88eb", "#3824aa", "#a700ff", "#d300e7"];

function fail(ack, code, message) {
  ack({ ok: false, error: { code, message } });
}

function onChat(io, socket) {
  let next = 0;
  const ackOf = (ack) => (typeof ack === "function" ? ack : () => {});

  socket.on("join", (data, ack) => {
    ack = ackOf(ack);
    const username = data && typeof data.username === "string" ? data.username.trim() : "";
    if (!username) return fail(ack, "invalid_name", "a name is needed");
    const room = (data && typeof data.room === "string" && data.room) || "lobby";
    const prev = socket.data.room;
    if (prev) {
      socket.leave(prev);
      socket.to(prev).emit("leave", { username: socket.data.username, room: prev });
    }
    const color = colors[Math.floor(Math.random() * colors.length)];
    socket.data = { username, color, room };
    socket.join(room);
    socket.to(room).emit("join", { username, color, room });
    ack({ ok: true, username, color, room });
  });

  socket.on("client message", (data, ack) => {
    ack = ackOf(ack);
    const { username, color, room } = socket.data;
    if (!room) return fail(ack, "not_joined", "join first");
    const message = data && typeof data.message === "string" ? data.message : "";
    if (!message.trim()) return fail(ack, "invalid_message", "empty");
    const id = `${process.pid}-${socket.id}-${++next}`;
    const ts = Date.now();
    io.to(room).emit("server message", { id, room, username, color, message, ts });
    ack({ ok: true, id, ts });
  });

  socket.on("rooms", async (_data, ack) => {
    ack = ackOf(ack);
    try {
      const counts = new Map();
      for (const s of await io.fetchSockets()) {
        if (s.data && s.data.room) counts.set(s.data.room, (counts.get(s.data.room) || 0) + 1);
      }
      ack({ ok: true, rooms: [...counts].map(([room, count]) => ({ room, count })) });
    } catch (err) {
      fail(ack, "unavailable", String(err));
    }
  });

  socket.on("members", async (data, ack) => {
    ack = ackOf(ack);
    const room = (data && data.room) || socket.data.room;
    if (!room) return fail(ack, "not_joined", "join first");
    try {
      const members = (await io.in(room).fetchSockets())
        .map((s) => ({ username: s.data.username, color: s.data.color }));
      ack({ ok: true, room, members });
    } catch (err) {
      fail(ack, "unavailable", String(err));
    }
  });

  socket.on("disconnect", () => {
    const { username, room } = socket.data;
    if (room) socket.to(room).emit("leave", { username, room });
  });
}

async function main() {
  const pub = createClient({ url: redisURL });
  const sub = pub.duplicate();
  pub.on("error", (err) => console.error("redis:", err.message));
  sub.on("error", (err) => console.error("redis:", err.message));
  await Promise.all([pub.connect(), sub.connect()]);

  const app = express();
  app.get("/readyz", (_req, res) => res.send("ok"));
  const server = http.createServer(app);
  const io = new Server(server, { maxHttpBufferSize: 1e6 });
  io.adapter(createAdapter(pub, sub));
  io.on("connection", (socket) => onChat(io, socket));
  server.listen(port, host, () => console.log(`seed: listening on ${host}:${port}, pid ${process.pid}`));

  const stop = () => {
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
