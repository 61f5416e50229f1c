"""Draws load.py's figures against N as a PNG, with Python's standard
library alone (zlib and struct): the harness must run wherever Python does,
and the crate's `plotters` would mean compiling a Rust example with the
release profile's fat LTO (minutes) or a whole debug build, for three small
charts. Hand-written for that reason: a 5x7 bitmap font (upper case, digits
and a few signs), lines and points on a log10 axis of N.
"""
import math
import struct
import zlib

# 5x7 glyphs, one byte per column, bit 0 at the top (the classic LCD font).
FONT = {
    " ": "0000000000", "0": "3e5149453e", "1": "00427f4000", "2": "4261514946", "3": "2141454b31",
    "4": "1814127f10", "5": "2745454539", "6": "3c4a494930", "7": "0171090503", "8": "3649494936",
    "9": "064949291e", "A": "7e1111117e", "B": "7f49494936", "C": "3e41414122", "D": "7f4141221c",
    "E": "7f49494941", "F": "7f09090901", "G": "3e4149497a", "H": "7f0808087f", "I": "00417f4100",
    "J": "2040413f01", "K": "7f08142241", "L": "7f40404040", "M": "7f020c027f", "N": "7f0408107f",
    "O": "3e4141413e", "P": "7f09090906", "Q": "3e4151215e", "R": "7f09192946", "S": "4649494931",
    "T": "01017f0101", "U": "3f4040403f", "V": "1f2040201f", "W": "3f4038403f", "X": "6314081463",
    "Y": "0708700807", "Z": "6151494543", ".": "0060600000", "%": "2313086462", "-": "0808080808",
    "/": "2010080402", "(": "001c224100", ")": "0041221c00", ":": "0036360000", ",": "0050300000",
    ">": "4122140800", "=": "1414141414",
}
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207)]


class Canvas:
    def __init__(self, w, h):
        self.w, self.h = w, h
        self.px = bytearray(b"\xff" * (w * h * 3))

    def dot(self, x, y, c):
        x, y = int(round(x)), int(round(y))
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i:i + 3] = bytes(c)

    def line(self, x0, y0, x1, y1, c, width=1):
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for k in range(n + 1):
            x = x0 + (x1 - x0) * k / n
            y = y0 + (y1 - y0) * k / n
            for d in range(width):
                self.dot(x, y + d - width // 2, c)

    def box(self, x, y, w, h, c):
        for yy in range(int(y), int(y + h)):
            for xx in range(int(x), int(x + w)):
                self.dot(xx, yy, c)

    def text(self, x, y, s, c=(0, 0, 0), scale=1):
        for ch in s.upper():
            g = FONT.get(ch, FONT[" "])
            for col in range(5):
                bits = int(g[2 * col:2 * col + 2], 16)
                for row in range(7):
                    if bits >> row & 1:
                        self.box(x + col * scale, y + row * scale, scale, scale, c)
            x += 6 * scale

    def png(self, path):
        raw = b"".join(b"\x00" + bytes(self.px[y * self.w * 3:(y + 1) * self.w * 3]) for y in range(self.h))

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        with open(path, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def nice(v):
    """A round upper bound for an axis."""
    if v <= 0 or v != v:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * e >= v:
            return m * e
    return 10 * e


def fmt(v):
    return f"{v:.3f}".rstrip("0").rstrip(".") if v < 1 else f"{v:.0f}"


def panel(cv, x0, y0, w, h, title, ns, series):
    """series: [(label, [(n, value)])]; x is log10(N)."""
    cv.text(x0, y0 - 18, title, scale=1)
    top = nice(max([v for _, pts in series for _, v in pts if v == v] or [1]))
    lo, hi = 0.0, math.log10(max(ns)) if max(ns) > 1 else 1.0
    X = lambda n: x0 + (math.log10(n) - lo) / (hi - lo or 1) * w  # noqa: E731
    Y = lambda v: y0 + h - v / top * h  # noqa: E731
    grey = (200, 200, 200)
    for k in range(5):
        v = top * k / 4
        cv.line(x0, Y(v), x0 + w, Y(v), grey)
        cv.text(x0 - 6 * len(fmt(v)) - 4, Y(v) - 3, fmt(v))
    for n in ns:
        cv.line(X(n), y0, X(n), y0 + h, grey)
        cv.text(X(n) - 3 * len(str(n)), y0 + h + 6, str(n))
    cv.text(x0 + w // 2 - 42, y0 + h + 18, "CALLS (LOG)")
    cv.line(x0, y0 + h, x0 + w, y0 + h, (0, 0, 0))
    cv.line(x0, y0, x0, y0 + h, (0, 0, 0))
    for k, (label, pts) in enumerate(series):
        c = COLOURS[k % len(COLOURS)]
        pts = [(n, v) for n, v in pts if v == v]
        for (n0, v0), (n1, v1) in zip(pts, pts[1:]):
            cv.line(X(n0), Y(v0), X(n1), Y(v1), c, width=2)
        for n, v in pts:
            cv.box(X(n) - 2, Y(v) - 2, 5, 5, c)
        cv.text(x0 + 8, y0 + 6 + 11 * k, label, c)


def draw(rows, path):
    ns = sorted({r["calls"] for r in rows})
    modes = sorted({r["mode"] for r in rows})
    cv = Canvas(1140, 330)
    cv.text(20, 8, "HOLDMIX LOAD: PER CALL AGAINST CALLS HELD", scale=2)

    def s(key, label):
        return [(f"{label} {m}" if len(modes) > 1 else label,
                 [(r["calls"], r[key]) for r in sorted(rows, key=lambda r: r["calls"]) if r["mode"] == m])
                for m in modes]
    panel(cv, 70, 70, 290, 200, "CPU PER CALL, % OF A CORE", ns, s("cpu_per_call", "CPU"))
    panel(cv, 450, 70, 290, 200, "MEMORY PER CALL, KIB", ns, s("pss_per_call", "PSS") + s("uss_per_call", "USS"))
    panel(cv, 830, 70, 290, 200, "LATENCY, MS", ns,
          s("first_p95", "FIRST FRAME P95") + s("key_p99", "KEY P99") + s("lead_p99", "LEAD P99"))
    cv.png(path)
