#!/usr/bin/env python3
"""Writes the seed corpora of the receivers' fuzz targets.

mkseeds.py SRCDIR   writes SRCDIR/tests/fuzz/corpus/incoming/* (fuzz_incoming,
                    from the state streams in corpus/state/) and
                    SRCDIR/tests/fuzz/corpus/postcopy/* (fuzz_postcopy) and
                    SRCDIR/tests/fuzz/corpus/pcdst/* (fuzz_pcdst).

An incoming seed is a conversation: byte 0 (bit 0 standby, bit 1 the fence
expects peer generation 1), then chunks (u8 connection, u16 LE length,
bytes).  A post-copy seed: two bytes of owed pages, then links (u8 flags,
u16 length + main bytes, u16 length + request bytes); see the targets.  The
protobuf messages of replication/migration.proto are encoded by hand.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "migration"))
from wirepb import MSG, PAGES, PRELUDE, STATE, b, msg, u, varint  # noqa: E402,F401

NONCE = bytes(range(1, 17))
NONCE2 = bytes(range(101, 117))   # a resume's hello has its own
MEM = 2 << 20


def hello(nr_data=0, checkpoint=0, generation=0, postcopy=0, nonce=NONCE, resume=0,
          session=77):
    h = (u(1, 1) + u(2, MEM) + u(3, 1) + u(5, nr_data) + u(6, session) + u(8, checkpoint) +
         u(9, generation) + u(12, postcopy) + u(13, resume) + (b(16, nonce) if nonce else b""))
    return msg(1, h)


def data_hello(index, requests=0, nonce=NONCE):
    return msg(3, u(1, 77) + u(2, index) + u(3, requests) + b(4, nonce))


def rnd(n):
    return msg(4, u(1, n))


def zero(offsets):
    packed = b"".join(varint(o) for o in offsets)
    return msg(5, b(1, packed))


def drain(n=1):
    return msg(6, u(1, n))


def switchover(postcopy=0):
    return msg(7, u(1, 1) + u(3, postcopy))


def discard(first, bitmap):
    return msg(11, u(1, first) + b(2, bitmap))


def checkpoint(epoch, gen, stopped=None):
    return msg(10, u(1, epoch) + u(2, gen) + (b(4, stopped) if stopped is not None else b""))


def pages(offset, npages, fill):
    hdr = u(1, offset) + u(2, npages) + u(4, npages * 4096)
    body = struct.pack("<I", len(hdr)) + hdr + bytes([fill]) * (npages * 4096)
    return struct.pack("<II", PAGES, len(body)) + body


def state_frame(stream):
    return struct.pack("<II", STATE, 0) + stream


def chunks(conv):
    out = b""
    for conn, data in conv:
        while True:
            part, data = data[:65535], data[65535:]
            out += bytes([conn]) + struct.pack("<H", len(part)) + part
            if not data:
                break
    return out


def main():
    src = sys.argv[1]
    st = open(os.path.join(src, "tests/fuzz/corpus/state/good-1vcpu-1page"), "rb").read()
    st0 = open(os.path.join(src, "tests/fuzz/corpus/state/good-no-pages"), "rb").read()
    final = switchover() + state_frame(st0)
    main_ok = (PRELUDE + hello() + rnd(1) + pages(0, 1, 0xAB) + zero([4096]) + switchover() +
               state_frame(st))
    garbage = bytes((i * 37 + 11) % 256 for i in range(200))
    seeds = {
        "migrate-ok": (0, [(0, main_ok)]),
        "connect-close-then-ok": (0, [(0, b""), (1, main_ok)]),
        "garbage-then-ok": (0, [(0, garbage), (1, main_ok)]),
        "no-hello-then-ok": (0, [(0, PRELUDE + rnd(1)), (1, main_ok)]),
        "no-nonce": (0, [(0, PRELUDE + hello(nonce=b"") + final)]),
        "two-data-ok": (0, [(0, PRELUDE + hello(nr_data=2)),
                            (1, PRELUDE + data_hello(0) + pages(8192, 2, 1) + drain()),
                            (2, PRELUDE + data_hello(1) + zero([0]) + drain()),
                            (0, rnd(1) + final)]),
        # issue 15 item 1: the data connection fails before its first frame.
        "data-garbage": (0, [(0, PRELUDE + hello(nr_data=1) + rnd(1) + final),
                             (1, garbage)]),
        "data-strays-then-ok": (0, [(0, PRELUDE + hello(nr_data=1)),
                                    (1, b""),
                                    (2, PRELUDE + data_hello(0, nonce=b"\x5a" * 16)),
                                    (3, garbage),
                                    (4, PRELUDE + data_hello(0) + pages(0, 1, 2) + drain()),
                                    (0, rnd(1) + final)]),
        "data-twice": (0, [(0, PRELUDE + hello(nr_data=2) + final),
                           (1, PRELUDE + data_hello(0) + drain()),
                           (2, PRELUDE + data_hello(0) + drain())]),
        "postcopy": (0, [(0, PRELUDE + hello(postcopy=1) + rnd(1) + pages(0, 1, 3) +
                          discard(0, b"\x01") + switchover(postcopy=1) + state_frame(st0)),
                         (1, PRELUDE + data_hello(0, requests=1))]),
        # checkpoint 2's digest is wrong: refused, the stream goes on.
        "standby-ok": (1, [(0, PRELUDE + hello(checkpoint=1, generation=2) + final +
                            checkpoint(1, 2) + state_frame(st) +
                            checkpoint(2, 2) + state_frame(st0[:-1] + bytes([st0[-1] ^ 1])) +
                            checkpoint(3, 2, stopped=u(1, 1) + b(3, b"powered off")) +
                            state_frame(st0))]),
        "standby-stale-checkpoint": (1, [(0, PRELUDE + hello(checkpoint=1, generation=2) +
                                          final + checkpoint(1, 1) + state_frame(st0))]),
        "standby-fenced-then-ok": (3, [(0, PRELUDE + hello(checkpoint=1, generation=5) + final),
                                       (1, PRELUDE + hello(checkpoint=1, generation=1) + final +
                                        checkpoint(1, 1) + state_frame(st0) +
                                        checkpoint(2, 1) + state_frame(st[:-40]))]),
        "standby-migration-refused": (1, [(0, main_ok)]),
    }
    out = os.path.join(src, "tests/fuzz/corpus/incoming")
    os.makedirs(out, exist_ok=True)
    for name, (flags, conv) in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([flags]) + chunks(conv))
    postcopy(src)
    pcdst(src)


def link(flags, main, req):
    return (bytes([flags]) + struct.pack("<H", len(main)) + main +
            struct.pack("<H", len(req)) + req)


def page_request(offsets):
    return msg(12, b(1, b"".join(varint(o) for o in offsets)))


def have(first, bitmap, last=1):
    return msg(14, u(1, first) + b(2, bitmap) + u(3, last))


def postcopy(src):
    ack_ok = msg(8, u(1, 1))
    seeds = {
        "done": b"\xff\x00" + link(0, ack_ok, page_request([3 * 4096])),
        "requests-then-done": b"\x0f\x55" + link(0, ack_ok, page_request([0, 4096]) +
                                                  page_request([60 * 4096, 3 * 4096])),
        "ack-refused": b"\xff\x00" + link(0, msg(8, b""), b""),
        "link-breaks-resume": b"\xff\x11" + link(1, b"", b"") +
                              link(0, have(0, b"\x0f") + ack_ok, page_request([5 * 4096])),
        "resume-without-have": b"\xff\x00" + link(1, b"", b"") + link(0, ack_ok, b""),
        "request-outside-ram": b"\xff\x00" + link(0, ack_ok, page_request([1 << 40])),
        "have-outside-ram": b"\x01\x00" + link(1, b"", b"") +
                            link(0, have(1 << 20, b"\xff") + ack_ok, b""),
        "have-in-parts": b"\xff\xff" + link(1, b"", b"") +
                         link(0, have(0, b"\x03", 0) + have(8, b"\xff") + ack_ok, b""),
    }
    out = os.path.join(src, "tests/fuzz/corpus/postcopy")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def pcdst(src):
    done = msg(13, u(1, 5))
    resume = PRELUDE + hello(resume=1, postcopy=1, nonce=NONCE2)
    req = PRELUDE + data_hello(0, requests=1, nonce=NONCE2)

    def seed(present, main, conv=()):
        return present + struct.pack("<H", len(main)) + main + chunks(conv)

    seeds = {
        "done": seed(bytes(8), pages(0, 4, 1) + pages(40960, 1, 2) + done),
        "done-some-present": seed(b"\xff" + bytes(7), pages(0, 2, 1) + done),
        "unexpected-frame": seed(bytes(8), pages(0, 1, 1) + rnd(2)),
        "pages-outside-ram": seed(bytes(8), pages(MEM, 1, 1) + done),
        "resume": seed(bytes(8), pages(0, 1, 1),
                       [(0, resume + pages(4096, 1, 3) + done), (1, req)]),
        "resume-after-strays": seed(bytes(8), pages(0, 1, 1),
                                    [(0, b""), (1, bytes(100)), (2, resume),
                                     (3, PRELUDE + data_hello(0, requests=1)),
                                     (4, b"\x16\x03\x01"), (5, req),
                                     (2, pages(8192, 2, 4) + done)]),
        "resume-other-session": seed(bytes(8), b"",
                                     [(0, PRELUDE + hello(resume=1, session=78,
                                                          nonce=NONCE2)),
                                      (1, resume + done), (2, req)]),
        "resume-not-requests": seed(bytes(8), b"",
                                    [(0, resume), (1, PRELUDE + data_hello(0, nonce=NONCE2))]),
    }
    out = os.path.join(src, "tests/fuzz/corpus/pcdst")
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
