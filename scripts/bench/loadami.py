"""The replaying AMI server of the load harness (scripts/bench/load.py):
what Asterisk 22.10.1 sent in the byte-exact capture
tests/ami/session-queue-dtmf.raw, Alice's events made each call's own (its
channel, Uniqueid, Linkedid, number and place in the queue), and answers to
the hub's actions. Apart from load.py so that each file has one job.
"""
import os
import socket
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CAPTURE = os.path.join(ROOT, "tests", "ami", "session-queue-dtmf.raw")
# The held half of Alice's Local channel in the capture, and her identity.
ALICE_CHAN = "Local/200@test-00000000"
ALICE_UID = "1795452414.1"
ALICE_LINKED = "1795452414.0"
ALICE_NUM = "79001112233"
KEY = "6"
SECRET = "load-secret"


def capture_messages():
    with open(CAPTURE, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    _, rest = text.split("\r\n", 1)
    return [m + "\r\n\r\n" for m in rest.split("\r\n\r\n") if m]


def field(m, key):
    for line in m.split("\r\n"):
        if line.startswith(key + ": "):
            return line[len(key) + 2:]
    return None


class Templates:
    """One held call's events, from the capture: Alice's, up to her
    MusicOnHoldStart (arrive), her first key (dtmf) and her end (leave)."""

    def __init__(self):
        msgs = capture_messages()
        mine = [m for m in msgs if m.startswith("Event: ") and field(m, "Channel") == ALICE_CHAN + ";2"]
        names = [field(m, "Event") for m in mine]
        hold = names.index("MusicOnHoldStart")
        self.arrive = mine[:hold + 1]
        begin = next(m for m in mine if field(m, "Event") == "DTMFBegin")
        end = next(m for m in mine if field(m, "Event") == "DTMFEnd")
        self.dtmf = [begin.replace("Digit: 1\r\n", f"Digit: {KEY}\r\n"),
                     end.replace("Digit: 1\r\n", f"Digit: {KEY}\r\n")]
        stop = names.index("MusicOnHoldStop")
        self.leave = mine[stop:]
        self.login = next(m for m in msgs if m.startswith("Response: Success\r\nActionID: 1\r\n"))
        booted = [m for m in msgs if m.startswith("Event: FullyBooted")]
        self.booted = booted[0] if booted else ""

    @staticmethod
    def call(msgs, i, position=None):
        out = []
        for m in msgs:
            m = (m.replace(ALICE_CHAN, f"Local/200@load-{i:08x}")
                 .replace(f"Uniqueid: {ALICE_UID}\r\n", f"Uniqueid: {uid(i)}\r\n")
                 .replace(f"Linkedid: {ALICE_LINKED}\r\n", f"Linkedid: {linked(i)}\r\n")
                 .replace(ALICE_NUM, number(i)))
            if position is not None:
                m = (m.replace("Position: 1\r\n", f"Position: {position}\r\n")
                     .replace("Count: 1\r\n", f"Count: {position}\r\n"))
            out.append(m)
        return "".join(out).encode()


def uid(i):
    return f"1795460000.{2 * i + 1}"


def linked(i):
    return f"1795460000.{2 * i}"


def number(i):
    return f"7900{i:07d}"


class AmiServer:
    """Speaks what Asterisk 22 speaks to the hub: the banner, answers to its
    actions (Login, CoreShowChannels, QueueStatus, anything else Success),
    and the calls' events when the harness says so, to every hub logged in
    (a standby hub follows the same calls)."""

    def __init__(self, templates):
        self.t = templates
        self.lock = threading.Lock()
        self.conns = []
        self.logged_in = threading.Event()
        self.queue = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.conns.append(c)
                c.sendall(b"Asterisk Call Manager/11.0.0\r\n")
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        while True:
            try:
                got = c.recv(65536)
            except OSError:
                return
            if not got:
                return
            buf += got
            while b"\r\n\r\n" in buf:
                m, buf = buf.split(b"\r\n\r\n", 1)
                self._answer(c, m.decode("utf-8", "replace") + "\r\n\r\n")

    def _answer(self, c, m):
        action, aid = field(m, "Action") or "", field(m, "ActionID") or ""
        if action == "Login":
            out = self.t.login.replace("ActionID: 1\r\n", f"ActionID: {aid}\r\n") + self.t.booted
        elif action == "CoreShowChannels":
            # No call is up when the hub logs in (each step starts a new hub).
            out = (f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
                   f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n")
        elif action == "QueueStatus":
            out = (f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\nMessage: Queue status will follow\r\n\r\n"
                   f"Event: QueueStatusComplete\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n")
        else:
            out = f"Response: Success\r\nActionID: {aid}\r\nMessage: ok\r\n\r\n"
        with self.lock:
            try:
                c.sendall(out.encode())
            except OSError:
                pass
        if action == "Login":
            self.logged_in.set()

    def send(self, data):
        """Sends whole messages; returns the monotonic time just after."""
        with self.lock:
            for c in self.conns:
                try:
                    c.sendall(data)
                except OSError:
                    pass
            return time.monotonic_ns()

    def arrive(self, i):
        self.queue += 1
        self.send(Templates.call(self.t.arrive, i, self.queue))

    def press(self, i):
        return self.send(Templates.call(self.t.dtmf, i))

    def leave(self, i):
        self.queue = max(0, self.queue - 1)
        self.send(Templates.call(self.t.leave, i, 1))

    def close(self):
        self.stop = True
        self.listener.close()
        with self.lock:
            for c in self.conns:
                c.close()
