"""natter with python-socketio, a Socket.IO client other than the official
one: connect, join, chat, resend, whisper, history, errors and a leave,
across two gateways, in one transport mode.

    NATTER_URL, NATTER_URL_2   two gateways of one system
    argv[1]                    polling, websocket, or default (polling, then
                               the upgrade)

Run by test/e2e/python_test.go; exits non-zero, saying why, on a failure.
"""

import os
import random
import string
import sys
import threading
import time

import socketio

MODES = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "default": ["polling", "websocket"],
}


class Collector:
    """Keeps the payloads of one event, and wakes whoever waits for one."""

    def __init__(self, client, event):
        self.items = []
        self.extra = []
        self.cond = threading.Condition()
        # natter appends the stream offset to stored events (Socket.IO's
        # connection state recovery); a client that does not recover
        # ignores it.
        client.on(event, self.add)

    def add(self, payload, *rest):
        with self.cond:
            self.items.append(payload)
            self.extra.append(rest)
            self.cond.notify_all()

    def wait(self, pred, what, timeout=10):
        with self.cond:
            if not self.cond.wait_for(lambda: pred(self.items), timeout):
                raise AssertionError(f"timed out waiting for {what}; got {self.items}")


def client(url, transports):
    c = socketio.Client(reconnection=False)
    c.connect(url, transports=transports, wait_timeout=10)
    return c


def call(c, event, payload):
    return c.call(event, payload, timeout=5)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    mode = sys.argv[1]
    transports = MODES[mode]
    url1, url2 = os.environ["NATTER_URL"], os.environ["NATTER_URL_2"]
    x = "".join(random.choices(string.ascii_lowercase, k=6))
    room = f"py-{mode}-{x}"
    alice, bora = f"Alice{x}", f"보라{x}"

    a = client(url1, transports)
    b = client(url2, transports)
    try:
        if mode == "default":
            # The upgrade happens in the background once connected.
            deadline = time.time() + 10
            while (a.transport() != "websocket" or b.transport() != "websocket") and time.time() < deadline:
                time.sleep(0.05)
        want = "polling" if mode == "polling" else "websocket"
        expect(a.transport() == want and b.transport() == want,
               f"transports {a.transport()}, {b.transport()}, want {want}")

        b_msgs = Collector(b, "server message")
        b_whispers = Collector(b, "whisper")
        a_whispers = Collector(a, "whisper")
        b_leaves = Collector(b, "leave")

        ja = call(a, "join", {"username": alice, "room": room})
        expect(ja["ok"] and ja["username"] == alice and ja["room"] == room, f"A's join: {ja}")
        jb = call(b, "join", {"username": bora, "room": room})
        expect(jb["ok"], f"B's join: {jb}")
        expect(sorted(m["username"] for m in jb["members"]) == sorted([alice, bora]), f"members {jb['members']}")

        text = "안녕하세요 from Python"
        sent = call(a, "client message", {"message": text, "clientId": f"c-{x}"})
        expect(sent["ok"], f"send: {sent}")
        again = call(a, "client message", {"message": text, "clientId": f"c-{x}"})
        expect((again["id"], again["ts"]) == (sent["id"], sent["ts"]), f"a resend made {again}, not {sent}")

        w = call(a, "whisper", {"to": bora, "message": "psst"})
        expect(w["ok"], f"whisper: {w}")
        marker = call(a, "client message", {"message": "marker"})
        b_msgs.wait(lambda ms: any(m["id"] == marker["id"] for m in ms), "the marker")
        expect([m["id"] for m in b_msgs.items] == [sent["id"], marker["id"]],
               f"B got {b_msgs.items}: the message once, then the marker")
        got = b_msgs.items[0]
        expect(got == {"id": sent["id"], "room": room, "username": alice, "color": ja["color"],
                       "message": text, "ts": sent["ts"]}, f"B got {got}")
        expect(all(len(e) == 1 and isinstance(e[0], str) for e in b_msgs.extra),
               f"offsets {b_msgs.extra}")
        b_whispers.wait(lambda ws: len(ws) == 1, "the whisper")
        expect(b_whispers.items[0]["from"] == alice and b_whispers.items[0]["message"] == "psst",
               f"whisper {b_whispers.items}")
        expect(a_whispers.items == [], "the sender's own connection got its whisper back")

        h = call(b, "history", {"limit": 10})
        expect([m["id"] for m in h["messages"]] == [sent["id"], marker["id"]], f"history {h}")
        bad = call(b, "history", {"limit": 101})
        expect(not bad["ok"] and bad["error"]["code"] == "bad_request", f"limit 101: {bad}")
        empty = call(b, "client message", {"message": "   "})
        expect(not empty["ok"] and empty["error"]["code"] == "invalid_message", f"blank: {empty}")

        # python-socketio may close its transport before its DISCONNECT
        # packet is out: then the server sees a lost connection, and the
        # leave comes after presence's grace (5 s) instead of at once.
        a.disconnect()
        b_leaves.wait(lambda ls: any(l["username"] == alice for l in ls), "A's leave", timeout=20)
        print(f"{mode}: ok ({want})")
    finally:
        for c in (a, b):
            if c.connected:
                c.disconnect()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"{sys.argv[1]}: FAIL: {e}", file=sys.stderr)
        sys.exit(1)
