#!/usr/bin/env python3
"""A fake post-copy destination that sends garbage page requests.

pcfake.py   listen on 127.0.0.1 (an ephemeral port), print "listening PORT",
            take one plaintext migration (docs/migration.md): answer its
            hello, take its request connection, read pre-copy, acknowledge
            the post-copy switch-over, then send on the request connection a
            well-formed PageRequest for a page far outside guest RAM; print
            "sent garbage" and read the main connection until the source
            closes it.

Only the bytes the test needs are encoded here, by hand (no protobuf module).
"""
import os
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wirepb import msg, varint  # noqa: E402

from wirepb import MSG, STATE  # noqa: E402
STREAM_END = 3


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError("the source closed the connection")
        buf += d
    return buf


def read_frame(s):
    t, n = struct.unpack("<II", read_exact(s, 8))
    return t, read_exact(s, n)


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    print("listening %d" % ls.getsockname()[1], flush=True)
    main_c, _ = ls.accept()
    read_exact(main_c, 16)                      # prelude
    read_frame(main_c)                          # Hello
    main_c.sendall(msg(2, b"\x08\x01"))         # HelloReply{ok}
    req_c, _ = ls.accept()                      # Hello.postcopy: the request connection
    read_exact(req_c, 16)
    read_frame(req_c)                           # DataHello{requests}
    while True:                                 # rounds, discards, until Switchover (field 7)
        t, body = read_frame(main_c)
        if t == MSG and body[:1] == b"\x3a":
            break
    t, _ = read_frame(main_c)
    if t != STATE:
        print("no state after the switch-over", flush=True)
        return 1
    read_exact(main_c, 16)                      # the state stream: prelude, frames to END
    while read_frame(main_c)[0] != STREAM_END:
        pass
    main_c.sendall(msg(8, b"\x08\x01"))         # Ack{ok}: post-copy begins
    far = 1 << 40                               # page-aligned, far outside any test guest's RAM
    packed = varint(far)
    req_c.sendall(msg(12, b"\x0a" + varint(len(packed)) + packed))
    print("sent garbage", flush=True)
    try:
        while read_frame(main_c):
            pass
    except (EOFError, OSError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
